"""An attention for padding-free rows that scores only the pairs within each example.

A padding-free row (batching.collate_padding_free) lays a step's examples end to end; with
sdpa, the model builds a packed-sequence mask from the position ids and SDPA scores every
pair of the row's positions, the mask hiding those across examples: T² pairs for T real
tokens, where a padded batch scores B·L² (docs/performance.md, "Where ours is not ahead").
`segment_attention` runs SDPA once per example instead, causal and unmasked, on that
example's queries, keys and values alone: Σ Lᵢ² pairs, fewer than either, and the same
attention (each example attends to itself alone either way; the sums come in another
order, so the outputs agree to float rounding).

It is registered with transformers as SEGMENTS, and `attending_by_segments` switches a
model to it for a training run and back to sdpa after. A call it does not serve (an
attention mask given, a KV cache, no position ids, or a sliding window shorter than an
example) goes to sdpa with the mask transformers built for it, which SEGMENTS also
registers as sdpa's."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

SEGMENTS = "bibleft_segments"

_bounds_cache: list = []  # [(position_ids, its version, bounds)]: the last forward's


def segment_bounds(position_ids: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Per row of `position_ids` [B, T], the (start, end) of each example: a new one starts
    wherever the position does not follow the one before (transformers' own test,
    masking_utils.find_packed_sequence_indices), so a row's pads, positions from 0, are an
    example of their own."""
    rows = []
    for row in position_ids.tolist():
        starts = [0] + [i for i in range(1, len(row)) if row[i] != row[i - 1] + 1]
        rows.append(list(zip(starts, starts[1:] + [len(row)])))
    return rows


def _cached_bounds(position_ids: torch.Tensor, batch: int) -> list[list[tuple[int, int]]]:
    # Every layer of a forward gets the same position_ids tensor: its bounds are read once
    # (one device-to-host copy a step, not one a layer). The cache holds the tensor itself,
    # so no other tensor can be it.
    if not (_bounds_cache and _bounds_cache[0][0] is position_ids
            and _bounds_cache[0][1] == position_ids._version):
        _bounds_cache[:] = [(position_ids, position_ids._version,
                             segment_bounds(position_ids.expand(batch, -1)))]
    return _bounds_cache[0][2]


def segment_attention(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, dropout: float = 0.0,
                      scaling: float | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' attention interface: query [B, H, T, D], key and value [B, KV, T, D]
    in; the output [B, T, H, D] out, as sdpa_attention_forward returns it."""
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    position_ids = kwargs.get("position_ids")
    served = (position_ids is not None and query.shape[2] == key.shape[2] > 1
              and kwargs.get("softcap") is None)
    bounds = _cached_bounds(position_ids, query.shape[0]) if served else None
    window = kwargs.get("sliding_window")
    if not served or (window and max(e - s for row in bounds for s, e in row) > window):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    rows = [torch.cat([F.scaled_dot_product_attention(
                query[b:b + 1, :, s:e], key[b:b + 1, :, s:e], value[b:b + 1, :, s:e],
                dropout_p=dropout, is_causal=True, scale=scaling)
            for s, e in row], dim=2) for b, row in enumerate(bounds)]
    return torch.cat(rows).transpose(1, 2).contiguous(), None


def register() -> None:
    """SEGMENTS as transformers' attention (and, for the calls it hands to sdpa, sdpa's mask)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(SEGMENTS, segment_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(SEGMENTS, sdpa_mask)


def _configs(model) -> list:
    """The config of `model` (or of the model a peft wrapper holds) and its sub-configs."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    subs = [getattr(config, name) for name in getattr(config, "sub_configs", {}) or {}]
    return [config] + [c for c in subs if c is not None]


@contextlib.contextmanager
def attending_by_segments(model, on: bool = True):
    """`model` attends with SEGMENTS inside the block (if `on`), with what it had after
    (sdpa as load_causal_lm loads it), so a saved or returned model is as loaded."""
    if not on:
        yield model
        return
    register()
    configs = _configs(model)
    before = [c._attn_implementation for c in configs]
    try:
        for c in configs:
            c._attn_implementation = SEGMENTS
        yield model
    finally:
        for c, implementation in zip(configs, before):
            c._attn_implementation = implementation
        _bounds_cache.clear()
