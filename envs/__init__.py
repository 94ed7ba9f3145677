"""Benchmark adapters: one module per benchmark, each a gymnasium.Env speaking the uniform contract."""
