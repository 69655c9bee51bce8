"""Windowed self-attention with ALiBi: every frame sees the frames within +-window, with a per-head distance penalty.

The student's audio encoder and the motion denoiser both attend this way (no absolute positions: any length runs).
Dense attention with a -inf band mask forms n^2 scores to use about n (2 window + 1); here queries go in blocks of
`window` frames, each against only the span of keys it can see, so the cost grows linearly with the length:

    local_attention    the frames alone, einsum over the blocks: the audio encoder's (training and inference)
    banded_attention   one fused scaled_dot_product_attention call over the blocks, with `shared` leading tokens that
                       every frame also sees: the denoiser at inference (its condition tokens), the numbers of its
                       dense attention to float round-off. Its bias (`band_bias`) depends on the length and batch
                       size only, so the denoiser keeps it (`cached`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F

T = TypeVar("T")


def alibi_slopes(heads: int) -> torch.Tensor:
    """Per-head distance penalties 2^(-8/heads * h), h = 1..heads (Press et al. 2022): from local to broad heads."""
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)])


def local_attention_bias(block: int, window: int, slopes: torch.Tensor) -> torch.Tensor:
    """(heads, block, block + 2 window) ALiBi bias of a query block against its key span; -inf beyond the window.

    Query q of a block sits at frame q, key k of its span at frame k - window (relative to the block start).
    """
    q = torch.arange(block, device=slopes.device)[:, None]
    k = torch.arange(block + 2 * window, device=slopes.device)[None, :]
    distance = (q - (k - window)).abs().float()  # (block, block + 2 window)
    bias = -slopes[:, None, None] * distance
    return bias.masked_fill(distance > window, float("-inf"))


def _blocks(frames: int, window: int) -> tuple[int, int, int, int]:
    """(block, blocks, pad, span): queries in `blocks` blocks of `block` frames (the last padded by `pad`), each
    seeing a span of `span` key frames starting `window` frames before it."""
    block = max(window, 1)
    blocks = -(-frames // block)
    return block, blocks, blocks * block - frames, block + 2 * window


def _span_frames(frames: int, window: int, device: torch.device) -> torch.Tensor:
    """(blocks, span) the frame each block's key span position stands for: < 0 or >= frames is padding."""
    block, blocks, _, span = _blocks(frames, window)
    return torch.arange(blocks, device=device)[:, None] * block + torch.arange(span, device=device) - window


def local_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: torch.Tensor, window: int
) -> torch.Tensor:
    """Softmax attention of every frame over the frames within +-window, with ALiBi: (batch, heads, frames, head_dim).

    q, k, v: (batch, heads, frames, head_dim). Exactly dense attention with an ALiBi + window mask, in blocks.
    """
    b, h, n, d = q.shape
    block, blocks, pad, span = _blocks(n, window)
    q_blocks = F.pad(q, (0, 0, 0, pad)).view(b, h, blocks, block, d)
    k_spans = F.pad(k, (0, 0, window, pad + window)).unfold(2, span, block)  # (b, h, blocks, d, span)
    v_spans = F.pad(v, (0, 0, window, pad + window)).unfold(2, span, block)
    scores = torch.einsum("bhnqd,bhndk->bhnqk", q_blocks, k_spans) / d**0.5  # (b, h, blocks, block, span)
    key_frame = _span_frames(n, window, q.device)
    outside = (key_frame < 0) | (key_frame >= n)  # (blocks, span): padding, never attended
    scores = scores + local_attention_bias(block, window, slopes).to(scores.dtype)[None, :, None]
    # A finite floor, not -inf: a row left without a key must not turn into NaN (or NaN gradients).
    scores = scores.masked_fill(outside[None, None, :, None, :] | torch.isinf(scores), torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)
    out = torch.einsum("bhnqk,bhndk->bhnqd", weights, v_spans)  # (b, h, blocks, block, d)
    return out.reshape(b, h, blocks * block, d)[:, :, :n]


@dataclass(frozen=True)
class BandBias:
    """What `banded_attention` needs for one length and batch size: `band_bias`."""

    bias: torch.Tensor  # (batch * blocks, heads, block, shared + span) added to the scores
    query_index: torch.Tensor  # (blocks * block,) the token of each query row (padding rows repeat the last frame)
    key_index: torch.Tensor  # (blocks * (shared + span),) each block's key tokens: the shared ones, then its span
    window: int
    shared: int  # leading tokens that see only each other, and that every frame sees unbiased


def band_bias(
    frames: int,
    window: int,
    slopes: torch.Tensor,
    shared: int = 0,
    batch: int = 1,
    dtype: torch.dtype = torch.float32,
) -> BandBias:
    """`banded_attention`'s bias over `shared` tokens + `frames` frames: 0 on the shared tokens, ALiBi within +-window,
    -inf beyond it and on span positions outside the frames (their keys are the nearest frame's, hidden). No row is
    all -inf (a padded query is less than a block past the last frame, so within its window): the fused kernel never
    meets a row without a key."""
    heads, device = slopes.shape[0], slopes.device
    block, blocks, _, span = _blocks(frames, window)
    one_block = torch.zeros(heads, block, shared + span, device=device)
    one_block[..., shared:] = local_attention_bias(block, window, slopes)
    bias = one_block.to(dtype).expand(blocks, -1, -1, -1).contiguous()  # (blocks, heads, block, shared + span)
    key_frame = _span_frames(frames, window, device)  # (blocks, span)
    outside = (key_frame < 0) | (key_frame >= frames)
    edges = outside.any(dim=1).nonzero().squeeze(1)  # the first block and the last one or two: masked alone, cheaper
    bias[edges, :, :, shared:] = bias[edges, :, :, shared:].masked_fill(outside[edges, None, None], float("-inf"))
    bias = bias.expand(batch, -1, -1, -1, -1).reshape(batch * blocks, heads, block, shared + span)
    key_index = torch.cat(
        [torch.arange(shared, device=device).expand(blocks, -1), shared + key_frame.clamp(0, frames - 1)], 1
    )
    query_index = shared + torch.arange(blocks * block, device=device).clamp(max=frames - 1)
    return BandBias(bias, query_index, key_index.reshape(-1), window, shared)


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, band: BandBias) -> torch.Tensor:
    """Dense attention over (batch, heads, shared + frames, head_dim) q, k, v under `band`'s mask, without the scores
    the mask hides: (batch, heads, shared + frames, head_dim). The shared tokens attend among themselves; the frames'
    query blocks, gathered with their key spans (one copy each, no padding), are folded into the batch dimension and
    go through one scaled_dot_product_attention call."""
    b, h, n, d = q.shape
    shared = band.shared
    block, blocks, _, span = _blocks(n - shared, band.window)

    def gather(x: torch.Tensor, index: torch.Tensor, rows: int) -> torch.Tensor:  # (b * blocks, h, rows, d)
        return x.transpose(1, 2).index_select(1, index).view(b * blocks, rows, h, d).transpose(1, 2)

    y = F.scaled_dot_product_attention(
        gather(q, band.query_index, block), gather(k, band.key_index, shared + span),
        gather(v, band.key_index, shared + span), band.bias,
    )  # fmt: skip
    # written once, token-major (batch, tokens, heads, head_dim): the layout the output projection reads
    out = q.new_empty(b, shared + blocks * block, h, d)
    out[:, shared:].view(b, blocks, block, h, d).copy_(y.view(b, blocks, h, block, d).transpose(2, 3))
    if shared:
        head = F.scaled_dot_product_attention(q[:, :, :shared], k[:, :, :shared], v[:, :, :shared])
        out[:, :shared] = head.transpose(1, 2)
    return out[:, :n].transpose(1, 2)


def cached(cache: dict, key: Hashable, build: Callable[[], T], size: int = 4) -> T:
    """cache[key], built on a miss; the oldest entry goes past `size`. A sampler asks for the same attention bias at
    every step of every full window, and building one can cost as much as a layer."""
    if key not in cache:
        if len(cache) >= size:
            cache.pop(next(iter(cache)))
        cache[key] = build()
    return cache[key]
