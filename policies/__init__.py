"""Policies: reference policies, tokenizers, the shared backbone, decoders and training."""
