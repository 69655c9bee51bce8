"""The denoiser: a transformer over motion frames that predicts the clean motion x0 from a noisy x_t.

Conditioning, per frame and per clip:
- diffusion time t: sinusoidal features + MLP, added to every frame and given as one extra token;
- audio features aligned to the frames: projected, a small depthwise conv for local context, added per frame;
- style tokens from the personalizer: prepended to the sequence, every frame attends to them;
- an optional known motion prefix (to continue the previous window): clean values + a mask, concatenated to x_t.
  Prefix frames of the output are replaced by the prefix, so the losses (and the sampler) only see the new frames.

Frames attend to frames through an ALiBi bias (a per-head penalty growing with distance) inside a window: no absolute
positions, so the model runs on sequences longer than it was trained on. The condition tokens attend only among
themselves, so they do not depend on the sequence length either. At inference without padding that attention runs in
bands (core/models/local_attention.py): the same numbers, without forming the scores outside the window.

Condition dropout: `style_keep` / `audio_keep` (batch,) bool swap in learned null tokens / a learned null audio frame.
Training drops them at random; sampling uses them for classifier-free guidance and the "no style" mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.models.audio_input import audio_input
from core.models.local_attention import BandBias, alibi_slopes, band_bias, banded_attention, cached


@dataclass
class DenoiserConfig:
    audio_dim: int = 512  # Whisper base; 384 for tiny
    motion_dim: int = 52
    style_dim: int = 128  # width of the personalizer's style tokens
    style_tokens: int = 4
    width: int = 256
    layers: int = 6
    heads: int = 4
    ff_mult: int = 3
    attention_window: int = 48  # frames each side a frame can see per layer (1.6 s at 30 fps)
    audio_kernel: int = 5  # local audio context of the depthwise conv, in frames
    dropout: float = 0.1
    # audio_dim features enter through one FoldedFeatureProjection instead of LayerNorm + Linear (the shipped student)
    audio_input_folded: bool = False


def timestep_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of diffusion time t in [0, 1] (scaled to [0, 1000] like integer DDPM steps): (batch, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, bias: torch.Tensor | BandBias) -> torch.Tensor:
        # x: (batch, tokens, width); bias: (batch or 1, heads, tokens, tokens) added to the attention logits, or the
        # same mask as a BandBias (inference: only the scores it does not hide are formed)
        b, n, w = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        if isinstance(bias, BandBias):
            y = banded_attention(q, k, v, bias)  # (batch, heads, tokens, head_dim)
        else:
            dropout = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout)
        return self.proj(y.transpose(1, 2).reshape(b, n, w))


class Block(nn.Module):
    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        w = config.width
        self.norm_attn = nn.LayerNorm(w)
        self.attn = SelfAttention(w, config.heads, config.dropout)
        self.norm_ff = nn.LayerNorm(w)
        self.ff = nn.Sequential(
            nn.Linear(w, config.ff_mult * w), nn.GELU(), nn.Linear(config.ff_mult * w, w), nn.Dropout(config.dropout)
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | BandBias) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.norm_attn(x), bias))
        return x + self.ff(self.norm_ff(x))


class MotionDenoiser(nn.Module):
    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        self.config = config
        w, c = config.width, config.motion_dim
        self.motion_in = nn.Linear(3 * c, w)  # [x_t, prefix values, prefix mask (repeated per channel)]
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.audio_norm, self.audio_in = audio_input(config.audio_dim, w, config.audio_input_folded)
        self.audio_conv = nn.Conv1d(w, w, config.audio_kernel, padding=config.audio_kernel // 2, groups=w)
        self.null_audio = nn.Parameter(torch.zeros(w))
        self.style_in = nn.Linear(config.style_dim, w)
        self.null_style = nn.Parameter(torch.randn(config.style_tokens, w) * 0.02)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm_out = nn.LayerNorm(w)
        self.motion_out = nn.Linear(w, c)
        self.register_buffer("slopes", alibi_slopes(config.heads), persistent=False)
        self._bias_cache: dict[tuple, torch.Tensor | BandBias] = {}  # _frame_bias / _band_bias by length

    def attention_bias(self, frames: int, frame_mask: torch.Tensor | None) -> torch.Tensor:
        """(batch or 1, heads, cond + frames, cond + frames) additive bias: ALiBi within the window, -inf outside.

        Rows are queries. Frames see all condition tokens (bias 0) and frames within the window;
        condition tokens see only condition tokens; padded frames are never seen.
        """
        bias = self._frame_bias(frames)
        if frame_mask is None:
            return bias
        cond = 1 + self.config.style_tokens
        key_ok = torch.cat([frame_mask.new_ones(frame_mask.shape[0], cond), frame_mask], dim=1)  # (batch, n)
        return bias.masked_fill(~key_ok[:, None, None, :], float("-inf"))

    def attends_in_bands(self, frames: int, frame_mask: torch.Tensor | None) -> bool:
        """Whether `forward` attends in bands (local_attention.banded_attention, the same numbers): at inference
        without padding, on sequences long enough to pay (measured on CPU: up to ~6 windows, e.g. the teacher's 240
        frames, dense attention costs no more than the bands' gathers). Training keeps the dense path, so its numbers
        (and dropout) stay as they were."""
        return frame_mask is None and not self.training and frames > 6 * self.config.attention_window

    def _frame_bias(self, frames: int) -> torch.Tensor:
        """attention_bias without padding (1, heads, n, n), kept for the last few lengths (`cached`)."""
        key = (frames, self.slopes.device, self.slopes.dtype)
        return cached(self._bias_cache, key, lambda: self._build_frame_bias(frames))

    def _band_bias(self, frames: int, batch: int, dtype: torch.dtype) -> BandBias:
        """attention_bias without padding, for banded_attention (kept like _frame_bias)."""
        cond, window = 1 + self.config.style_tokens, self.config.attention_window
        key = ("band", frames, batch, self.slopes.device, dtype)
        return cached(self._bias_cache, key, lambda: band_bias(frames, window, self.slopes, cond, batch, dtype))

    def _build_frame_bias(self, frames: int) -> torch.Tensor:
        cond = 1 + self.config.style_tokens  # time token + style tokens
        n = cond + frames
        pos = torch.arange(frames, device=self.slopes.device)
        distance = (pos[:, None] - pos[None, :]).abs().float()  # (frames, frames)
        frame_bias = -self.slopes[:, None, None] * distance  # (heads, frames, frames)
        frame_bias = frame_bias.masked_fill(distance > self.config.attention_window, float("-inf"))
        bias = torch.zeros(self.config.heads, n, n, device=self.slopes.device)
        bias[:, cond:, cond:] = frame_bias
        bias[:, :cond, cond:] = float("-inf")
        return bias[None]  # (1, heads, n, n)

    def embed_audio(
        self,
        audio_feats: torch.Tensor | None,
        batch: int,
        frames: int,
        audio_keep: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(batch, frames, width) the audio condition as it is added to the frames (projection + local conv); the
        same at every step of a sampler, which computes it once per window. Arguments as in `forward`."""
        null_audio = self.null_audio.expand(batch, frames, -1)
        if audio_feats is None:
            audio = null_audio
        else:
            audio = self.audio_in(self.audio_norm(audio_feats))  # (batch, frames, width)
            if audio_keep is not None:
                audio = torch.where(audio_keep[:, None, None], audio, null_audio)
        if frame_mask is not None:  # padding must not reach real frames through the conv
            audio = audio * frame_mask[..., None]
        return audio + self.audio_conv(audio.transpose(1, 2)).transpose(1, 2)

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        audio_feats: torch.Tensor | None,
        style_tokens: torch.Tensor | None,
        *,
        audio_keep: torch.Tensor | None = None,
        style_keep: torch.Tensor | None = None,
        prefix: torch.Tensor | None = None,
        prefix_mask: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        audio_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predicted clean motion (batch, frames, 52), in the same (normalised) space as x_t.

        x_t: (batch, frames, 52) noisy motion; t: (batch,) or scalar diffusion time in [0, 1].
        audio_feats: (batch, frames, audio_dim) aligned to the frames, or None for the null audio.
        style_tokens: (batch, style_tokens, style_dim), or None for the null style ("no style" mode).
        audio_keep / style_keep: (batch,) bool, False swaps that item's condition for the null one.
        prefix: (batch, frames, 52) known clean motion on the frames where prefix_mask (batch, frames) is True.
        frame_mask: (batch, frames) bool, True on real (non-padding) frames.
        audio_embedding: `embed_audio` of these audio arguments, when the caller already has it (a sampler's steps).
        """
        b, frames, _ = x_t.shape
        t = torch.as_tensor(t, device=x_t.device).float().expand(b)
        if prefix is None or prefix_mask is None:
            prefix, prefix_mask = torch.zeros_like(x_t), torch.zeros(b, frames, dtype=torch.bool, device=x_t.device)
        known = prefix_mask[..., None].to(x_t.dtype)  # (batch, frames, 1)
        motion = torch.cat([x_t, prefix * known, known.expand_as(x_t)], dim=-1)  # (batch, frames, 3 * 52)

        time = self.time_mlp(timestep_features(t, self.config.width).to(x_t.dtype))  # (batch, width)

        if audio_embedding is None:
            audio_embedding = self.embed_audio(audio_feats, b, frames, audio_keep, frame_mask)

        null_style = self.null_style.expand(b, -1, -1)
        if style_tokens is None:
            style = null_style
        else:
            style = self.style_in(style_tokens)  # (batch, style_tokens, width)
            if style_keep is not None:
                style = torch.where(style_keep[:, None, None], style, null_style)

        h = self.motion_in(motion) + audio_embedding + time[:, None, :]  # (batch, frames, width)
        h = torch.cat([time[:, None, :], style, h], dim=1)  # (batch, 1 + style_tokens + frames, width)
        if self.attends_in_bands(frames, frame_mask):
            bias = self._band_bias(frames, b, h.dtype)
        else:
            bias = self.attention_bias(frames, frame_mask).to(h.dtype)
        for block in self.blocks:
            h = block(h, bias)
        x0 = self.motion_out(self.norm_out(h[:, -frames:]))  # (batch, frames, 52)
        return torch.where(prefix_mask[..., None], prefix, x0)
