"""LoRA on vLLM's CPU backend as one matrix product per adapter, not one per token.

vLLM's CPU backend runs LoRA through its PyTorch fallback ops (vllm/lora/ops/torch_ops), which
copy the adapter's weight matrix once per token (`weights[indices]`) and multiply token by token.
vLLM's V1 runner sends every step down that path (prefill and decode alike), so a 1,300-token
retrieval prompt copied about 17 GB through memory on the default 135M model: 5-10 s to the
first token against 1-2 s without the adapter (bench/chat_overhead.py). The tokens of one
request share one adapter and vLLM already groups them into runs, so each run is one matrix
product here. Runs without an adapter (index -1) get nothing added; the fallback reads the last
adapter slot for them, which holds another adapter once every slot is in use.

Loaded by vLLM in each of its processes through the `vllm.general_plugins` entry point; it only
touches the CPU backend's wrapper, and hands batches of many runs (decode steps across many
requests) back to vLLM's own ops, where copying a few rows is cheap.
"""
from __future__ import annotations

import torch

MAX_RUNS = 8  # above this many runs in one step, vLLM's per-token ops are as quick


def _runs(starts: torch.Tensor, lengths: torch.Tensor, indices: torch.Tensor) -> list[tuple[int, int, int]]:
    return list(zip(indices.tolist(), starts.tolist(), lengths.tolist()))


def _weights(w: torch.Tensor) -> torch.Tensor:
    return w.squeeze(1) if w.dim() == 4 else w


def shrink(x, w_all, out, starts, lengths, indices, scale: float) -> bool:
    """out[:, :rank] = scale * x @ A.T per run; False when the caller should use vLLM's op."""
    runs = _runs(starts, lengths, indices)
    if len(runs) > MAX_RUNS or sum(n for *_, n in runs) != x.shape[0]:
        return False
    w_all = _weights(w_all)
    rank = w_all.shape[1]
    x = x.to(out.dtype)
    for i, s, n in runs:
        if i < 0:
            out[s:s + n, :rank] = 0
        else:
            out[s:s + n, :rank] = torch.mm(x[s:s + n], w_all[i].to(out.dtype).t()).mul_(scale)
    return True


def expand(x, w_all, out, starts, lengths, indices, offset: int | None, size: int | None,
           add: bool) -> bool:
    """out[:, offset:offset+size] (+)= x @ B.T per run (the whole width when offset is None)."""
    runs = _runs(starts, lengths, indices)
    if len(runs) > MAX_RUNS or x.shape[0] != out.shape[0] or sum(n for *_, n in runs) != x.shape[0]:
        return False
    w_all = _weights(w_all)
    width = w_all.shape[1]
    if offset is None:
        offset, size = 0, min(width, out.shape[1])
    elif size != width:
        return False
    x = x.to(out.dtype)
    for i, s, n in runs:
        dst = out[s:s + n, offset:offset + size]
        if i < 0:
            if not add:
                dst.zero_()
            continue
        y = torch.mm(x[s:s + n], w_all[i][:size].to(out.dtype).t())
        dst.add_(y) if add else dst.copy_(y)
    return True


def register() -> None:
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from vllm.lora.ops.torch_ops import lora_ops as ref
    from vllm.lora.punica_wrapper import punica_cpu

    def sgmv_shrink(inputs, w, out, starts, lengths, indices, batches, max_len, tokens, scale):
        if not shrink(inputs, w, out, starts, lengths, indices, scale):
            ref.sgmv_shrink(inputs, w, out, starts, lengths, indices, batches, max_len, tokens, scale)

    def sgmv_expand(inputs, w, out, starts, lengths, indices, batches, max_len, tokens, add_inputs=False):
        if not expand(inputs, w, out, starts, lengths, indices, None, None, add_inputs):
            ref.sgmv_expand(inputs, w, out, starts, lengths, indices, batches, max_len, tokens, add_inputs)

    def sgmv_expand_slice(inputs, w, out, starts, lengths, indices, batches, max_len, tokens,
                          offset, size, add_inputs=False):
        if not expand(inputs, w, out, starts, lengths, indices, offset, size, add_inputs):
            ref.sgmv_expand_slice(inputs, w, out, starts, lengths, indices, batches, max_len, tokens,
                                  offset, size, add_inputs)

    punica_cpu.sgmv_shrink = sgmv_shrink
    punica_cpu.sgmv_expand = sgmv_expand
    punica_cpu.sgmv_expand_slice = sgmv_expand_slice
