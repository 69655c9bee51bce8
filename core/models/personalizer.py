"""The personalizer: who is speaking (identity) and how (emotion), from a reference clip, fused into style tokens.

A reference clip's audio features (and its motion when the clip has some) go through two small encoders, each a stack
of dilated temporal convolutions with attentive pooling, giving an L2-normalised identity embedding and emotion
embedding. Contrastive InfoNCE (core.models.losses) pulls clips of the same speaker (emotion) together.

Fusion is separate from encoding because the style library stores named embeddings and mixes them at inference:
`fuse(identity, emotion, emotion_strength)` takes ANY identity and emotion embedding. Learned query tokens
cross-attend over [identity token, emotion token] and become the tokens that condition the denoiser.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.models.audio_input import audio_input


@dataclass
class PersonalizerConfig:
    audio_dim: int = 512  # Whisper base; 384 for tiny
    motion_dim: int = 52
    width: int = 128  # hidden width of both encoders and of the fused style tokens
    conv_layers: int = 3  # residual conv blocks per encoder, dilations 1, 2, 4, ...
    kernel_size: int = 5
    embed_dim: int = 64  # size of the identity and of the emotion embedding
    style_tokens: int = 4  # tokens handed to the denoiser
    fusion_layers: int = 2
    fusion_heads: int = 4
    dropout: float = 0.1
    temperature: float = 0.1  # InfoNCE temperature
    # Prosody channels of the reference clip (core/prosody_features.py) added to its audio features; 0 = none.
    prosody_dim: int = 0
    # Pool each encoder's frames to [attentive mean, attentive std] instead of the mean alone: how much pitch and
    # loudness vary over a clip is much of what tells emotions (and voices) apart.
    statistics_pooling: bool = False
    # audio_dim features enter through one FoldedFeatureProjection instead of LayerNorm + Linear (the shipped student)
    audio_input_folded: bool = False


@dataclass
class Style:
    identity: torch.Tensor  # (batch, embed_dim), unit norm
    emotion: torch.Tensor  # (batch, embed_dim), unit norm


class TemporalConvBlock(nn.Module):
    """Pre-norm residual dilated Conv1d over frames; padded frames are zeroed so they never leak in."""

    def __init__(self, width: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.conv = nn.Conv1d(width, width, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # h: (batch, frames, width), mask: (batch, frames) bool
        y = F.gelu(self.norm(h)) * mask[..., None]
        y = self.conv(y.transpose(1, 2)).transpose(1, 2)
        return (h + self.dropout(y)) * mask[..., None]


class AttentivePooling(nn.Module):
    """Weighted average over valid frames, the weights learned: frames that say more about the style count more.

    With `statistics` the weighted standard deviation is appended: (batch, 2 width) instead of (batch, width).
    """

    def __init__(self, width: int, statistics: bool = False) -> None:
        super().__init__()
        self.score = nn.Linear(width, 1)
        self.statistics = statistics

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))  # (batch, frames)
        weights = scores.softmax(dim=1)
        mean = torch.einsum("bf,bfw->bw", weights, h)  # (batch, width)
        if not self.statistics:
            return mean
        variance = torch.einsum("bf,bfw->bw", weights, h * h) - mean * mean
        return torch.cat([mean, variance.clamp_min(1e-6).sqrt()], dim=-1)  # (batch, 2 width)


class ClipEncoder(nn.Module):
    """Frame features of a clip -> one unit-norm embedding (the identity encoder and the emotion encoder are two of these)."""

    def __init__(self, config: PersonalizerConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TemporalConvBlock(config.width, config.kernel_size, 2**i, config.dropout) for i in range(config.conv_layers)
        )
        self.pool = AttentivePooling(config.width, config.statistics_pooling)
        pooled = 2 * config.width if config.statistics_pooling else config.width
        self.head = nn.Sequential(nn.LayerNorm(pooled), nn.Linear(pooled, config.embed_dim))

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h, mask)
        return F.normalize(self.head(self.pool(h, mask)), dim=-1)  # (batch, embed_dim)


class FusionLayer(nn.Module):
    """Query tokens cross-attend over the [identity, emotion] tokens, then a feed-forward."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(width)
        self.norm_kv = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(width)
        self.ff = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )

    def forward(self, queries: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(sources)
        queries = queries + self.attn(self.norm_q(queries), kv, kv, need_weights=False)[0]
        return queries + self.ff(self.norm_ff(queries))


class PersonalizationEncoder(nn.Module):
    def __init__(self, config: PersonalizerConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        # encoders differ in feature scale (Whisper, student): LayerNorm + Linear (or their fold, audio_input.py)
        self.audio_norm, self.audio_in = audio_input(config.audio_dim, w, config.audio_input_folded)
        self.motion_in = nn.Linear(config.motion_dim, w)
        self.no_motion = nn.Parameter(torch.zeros(w))  # stands in for motion when a clip has none
        self.prosody_in = nn.Linear(config.prosody_dim, w) if config.prosody_dim else None
        self.identity_encoder = ClipEncoder(config)
        self.emotion_encoder = ClipEncoder(config)

        self.identity_token = nn.Linear(config.embed_dim, w)
        self.emotion_token = nn.Linear(config.embed_dim, w)
        self.queries = nn.Parameter(torch.randn(config.style_tokens, w) * 0.02)
        self.fusion = nn.ModuleList(
            FusionLayer(w, config.fusion_heads, config.dropout) for _ in range(config.fusion_layers)
        )
        self.fusion_norm = nn.LayerNorm(w)
        # What emotion_strength = 0 means. Zero until set (DiffusionTalker keeps it as the mean neutral embedding).
        self.register_buffer("neutral_emotion", torch.zeros(config.embed_dim))

    def encode_style(
        self,
        audio_feats: torch.Tensor,
        mask: torch.Tensor | None = None,
        motion: torch.Tensor | None = None,
        motion_available: torch.Tensor | None = None,
        prosody: torch.Tensor | None = None,
    ) -> Style:
        """Identity and emotion embeddings of reference clips.

        audio_feats: (batch, ref_frames, audio_dim); mask: (batch, ref_frames) bool, True on real frames.
        motion: (batch, ref_frames, 52) in the model's normalised space, or None (audio only).
        motion_available: (batch,) bool, which clips' motion to use (the others are encoded from audio alone).
        prosody: (batch, ref_frames, prosody_dim) from core.prosody_features; required when prosody_dim > 0.
        """
        batch, frames, _ = audio_feats.shape
        if mask is None:
            mask = torch.ones(batch, frames, dtype=torch.bool, device=audio_feats.device)
        if not mask.any(dim=1).all():
            raise ValueError("every reference clip needs at least one valid frame")
        h = self.audio_in(self.audio_norm(audio_feats))  # (batch, ref_frames, width)
        motion_part = self.no_motion.expand_as(h)
        if motion is not None:
            use = torch.ones(batch, dtype=torch.bool, device=h.device) if motion_available is None else motion_available
            motion_part = torch.where(use[:, None, None], self.motion_in(motion), motion_part)
        h = h + motion_part
        if self.prosody_in is not None:
            if (
                prosody is None
                or prosody.shape[:2] != audio_feats.shape[:2]
                or prosody.shape[2] != self.config.prosody_dim
            ):
                got = None if prosody is None else tuple(prosody.shape)
                raise ValueError(
                    f"this personalizer needs the reference clip's prosody, (batch, frames, {self.config.prosody_dim}) "
                    f"from core.prosody_features.prosody_features, matching its audio features; got {got}"
                )
            h = h + self.prosody_in(prosody)
        h = h * mask[..., None]
        return Style(identity=self.identity_encoder(h, mask), emotion=self.emotion_encoder(h, mask))

    def fuse(
        self,
        identity: torch.Tensor,
        emotion: torch.Tensor,
        emotion_strength: float | torch.Tensor = 1.0,
        neutral: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Style tokens (batch, style_tokens, width) from any identity and emotion embeddings (batch, embed_dim).

        emotion_strength moves the emotion along the sphere from `neutral` (default: the stored neutral embedding)
        at 0 to `emotion` at 1; above 1 exaggerates. A scalar or a (batch,) tensor.
        """
        neutral = self.neutral_emotion if neutral is None else neutral
        strength = torch.as_tensor(emotion_strength, dtype=emotion.dtype, device=emotion.device)
        if strength.ndim == 1:
            strength = strength[:, None]
        emotion = F.normalize(neutral + strength * (emotion - neutral), dim=-1)
        sources = torch.stack([self.identity_token(identity), self.emotion_token(emotion)], dim=1)  # (batch, 2, width)
        tokens = self.queries.expand(identity.shape[0], -1, -1)  # (batch, style_tokens, width)
        for layer in self.fusion:
            tokens = layer(tokens, sources)
        return self.fusion_norm(tokens)

    def forward(
        self,
        audio_feats: torch.Tensor,
        mask: torch.Tensor | None = None,
        motion: torch.Tensor | None = None,
        prosody: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Reference clip -> style tokens, in one call."""
        style = self.encode_style(audio_feats, mask, motion, prosody=prosody)
        return self.fuse(style.identity, style.emotion)
