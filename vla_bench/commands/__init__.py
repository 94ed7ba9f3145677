"""Subcommands of the vla-bench CLI, one module each."""
