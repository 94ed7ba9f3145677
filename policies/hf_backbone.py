"""A HuggingFace ``transformers`` causal LM behind the shared backbone contract.

:class:`HFBackbone` wraps e.g. ``LlamaForCausalLM`` so every decoder runs on it unchanged: the same
``forward(ids, segment, causal, layout, cache, images, pad, use_cache) -> BackboneOutput``, the same
:class:`~policies.backbone.KVCache` (per-layer keys/values held as plain tensors, so ``crop`` and
``repeat`` work; they are handed to the LM as a ``DynamicCache`` and read back after the forward),
the same attention layouts (a 4D additive mask built by :func:`policies.attention.allowed`, which
transformers passes through untouched), explicit position ids (cache length + arange) and image
placeholders replaced by :class:`~policies.backbone.ImageEncoder` features through ``inputs_embeds``.

Nothing is downloaded: :func:`tiny_llama` builds a small ``LlamaConfig`` locally. To wrap a pretrained
LM, load it yourself (``from_pretrained`` with a local path) and resize its embeddings to the unified
vocabulary (``lm.resize_token_embeddings(vocab.size)``).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from policies.backbone import (BackboneConfig, BackboneOutput, ImageEncoder, KVCache, extend_blocks,
                               place_image_features)
from policies.vocab import Vocab


class HFBackbone(nn.Module):
    """``lm`` (a transformers causal LM with ``.model`` and ``.lm_head``) as a vla_bench backbone.

    ``config`` describes the vocabulary, image settings and ``pred_offset``; its ``d_model`` must be
    the LM's hidden size (the image encoder emits features of that width).
    """

    def __init__(self, lm: nn.Module, config: BackboneConfig) -> None:
        super().__init__()
        hidden = lm.config.hidden_size
        if config.d_model != hidden:
            raise ValueError(f"config.d_model {config.d_model} != the LM's hidden size {hidden}")
        if lm.get_input_embeddings().num_embeddings < config.vocab.size:
            raise ValueError(f"the LM's embedding table has {lm.get_input_embeddings().num_embeddings} rows, "
                             f"the vocabulary needs {config.vocab.size}; resize_token_embeddings first")
        self.config = config
        self.lm = lm
        self.images = ImageEncoder(config)
        params = inspect.signature(lm.model.forward).parameters
        # transformers 5 renamed ``past_key_values`` to ``cache`` in the model forward
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    @property
    def pred_offset(self) -> int:
        return self.config.pred_offset

    def embed_inputs(self, ids: torch.Tensor, images: torch.Tensor | None) -> torch.Tensor:
        x = self.lm.get_input_embeddings()(ids)
        return place_image_features(x, ids, self.config.vocab, self.images, images)

    def forward(self, ids: torch.Tensor, segment: torch.Tensor, causal: torch.Tensor, layout: str,
                cache: KVCache | None = None, images: torch.Tensor | None = None,
                pad: torch.Tensor | None = None, use_cache: bool = False) -> BackboneOutput:
        """Same contract as :meth:`policies.backbone.Backbone.forward`."""
        from transformers import DynamicCache

        b, l = ids.shape
        p = 0 if cache is None else cache.length
        full_seg, full_causal, full_pad, ok = extend_blocks(segment, causal, pad, layout, cache,
                                                            self.config.max_len)  # ok: [B, 1, Q, T]
        x = self.embed_inputs(ids, images)
        mask = torch.zeros(ok.shape, dtype=x.dtype, device=x.device).masked_fill_(~ok, torch.finfo(x.dtype).min)
        pos = torch.arange(p, p + l, device=ids.device)[None].expand(b, l)
        hf_cache = None
        if cache is not None:
            hf_cache = DynamicCache(ddp_cache_data=list(zip(cache.keys, cache.values)))
        elif use_cache:
            hf_cache = DynamicCache()
        out = self.lm.model(inputs_embeds=x, attention_mask=mask, position_ids=pos, use_cache=use_cache,
                            **{self._cache_kw: hf_cache})
        hidden = out.last_hidden_state
        new_cache = None
        if use_cache:
            got = getattr(out, "cache", None) or getattr(out, "past_key_values", None) or hf_cache
            keys, values = _layers(got)
            new_cache = KVCache(keys, values, full_seg, full_causal, full_pad)
        return BackboneOutput(self.lm.lm_head(hidden), new_cache, hidden)


def _layers(cache: Any) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per-layer keys and values of a transformers cache (5.x ``layers`` or 4.x ``key_cache``)."""
    if hasattr(cache, "layers"):
        return [layer.keys for layer in cache.layers], [layer.values for layer in cache.layers]
    return list(cache.key_cache), list(cache.value_cache)


def tiny_llama(vocab: Vocab, *, hidden_size: int = 64, num_hidden_layers: int = 2, num_attention_heads: int = 4,
               intermediate_size: int | None = None, max_len: int = 512, pred_offset: int = 1,
               image_size: int = 64, n_cameras: int = 1, image_grid: int = 4,
               attn_implementation: str = "sdpa", seed: int | None = None, **llama_kw: Any) -> HFBackbone:
    """A randomly initialised small Llama over the unified vocabulary, built locally (no download)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    if seed is not None:
        torch.manual_seed(seed)
    lcfg = LlamaConfig(vocab_size=vocab.size, hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
                       num_attention_heads=num_attention_heads, num_key_value_heads=llama_kw.pop(
                           "num_key_value_heads", num_attention_heads),
                       intermediate_size=intermediate_size or 4 * hidden_size, max_position_embeddings=max_len,
                       pad_token_id=vocab.special("pad"), bos_token_id=None, eos_token_id=None,
                       attn_implementation=attn_implementation, **llama_kw)
    lm = LlamaForCausalLM(lcfg)
    cfg = BackboneConfig(vocab, d_model=hidden_size, n_layers=num_hidden_layers, n_heads=num_attention_heads,
                         max_len=max_len, pred_offset=pred_offset, image_size=image_size, n_cameras=n_cameras,
                         image_grid=image_grid)
    return HFBackbone(lm, cfg).eval()
