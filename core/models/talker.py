"""DiffusionTalker: personalizer + motion denoiser + DDIM sampler, with its training losses and generation.

Motion enters and leaves as the weights of the config's rig (core/rig/descriptor.py; ARKit-52 unless the config
names another) in [0, 1]; inside, it is normalised per channel by the dataset mean and
std (buffers, saved with the weights; set them with `set_motion_stats`). Audio features arrive already aligned to the
motion frames, (batch, frames, audio_dim), from whatever encoder the config was built for (Whisper or a student).

    talker = DiffusionTalker(TalkerConfig())
    losses = talker.training_loss(batch)          # dict of named losses, "total" to backpropagate
    style = talker.encode_style(ref_audio, ref_mask, ref_motion)
    motion = talker.generate(audio, style, steps=16, seed=0)    # (batch, frames, 52) in [0, 1], any length

Generation is core/sampling.py's windowed_sample around `sample` (one window's DDIM): the same loop, noise
(numpy's default_rng for a seed) and window plan the engine, evaluation and the numpy port (NumpyTalker) run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn

from core.models.denoiser import DenoiserConfig, MotionDenoiser
from core.models.diffusion import DDIMSampler, q_sample
from core.models.losses import (
    acceleration_loss,
    supervised_contrastive_loss,
    velocity_loss,
    weighted_reconstruction_loss,
)
from core.models.personalizer import PersonalizationEncoder, PersonalizerConfig, Style
from core.rig.descriptor import RigDescriptor, model_rig
from core.sampling import FramesProgress, NoiseSource, WindowPlan, seeded_noise, windowed_sample


@dataclass
class TalkerConfig:
    personalizer: PersonalizerConfig = field(default_factory=PersonalizerConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    # losses
    # The rig the model speaks: a RigDescriptor.to_dict(), or None for ARKit-52 (configs from before rigs were data).
    # Its loss weights are the reconstruction loss's channel weights.
    rig: dict | None = None
    # ARKit-52 only (rig None): reconstruction weight of jaw/mouth/cheekPuff/tongue channels (others 1); a rig
    # descriptor carries its own per-channel loss weights instead.
    mouth_loss_weight: float = 2.0
    velocity_loss_weight: float = 1.0
    acceleration_loss_weight: float = 0.0
    identity_loss_weight: float = 0.1
    emotion_loss_weight: float = 0.1
    # condition dropout: drop audio and style together (classifier-free guidance), or the style alone ("no style")
    unconditional_prob: float = 0.1
    style_drop_prob: float = 0.1
    reference_motion_drop_prob: float = 0.5  # so the personalizer also learns to work from audio alone
    prefix_prob: float = 0.5  # how often a training clip gets its first k ground-truth frames as a known prefix
    max_prefix_frames: int = 30
    neutral_emotion_label: int = 0  # core.data.emotions.EMOTIONS.index("neutral")
    neutral_ema: float = 0.99  # running mean of neutral clips' emotion embeddings: emotion_strength = 0
    min_motion_std: float = 0.02  # floor for channels that barely move, so normalising does not blow them up
    sampling_steps: int = 16
    # The baseline (FaceFormer-style deterministic regressor): same networks, but always t = 1 with x_t = 0, so one
    # forward pass maps audio + style straight to motion. No noise, no diversity.
    deterministic: bool = False

    def __post_init__(self) -> None:
        p, d = self.personalizer, self.denoiser
        if isinstance(p, dict) or isinstance(d, dict):
            raise TypeError("use TalkerConfig.from_dict for nested dicts")
        mismatches = [
            f"{name}: personalizer {a} != denoiser {b}"
            for name, a, b in (
                ("audio_dim", p.audio_dim, d.audio_dim),
                ("motion_dim", p.motion_dim, d.motion_dim),
                ("style width", p.width, d.style_dim),
                ("style_tokens", p.style_tokens, d.style_tokens),
            )
            if a != b
        ]
        channels = self.rig_descriptor().num_channels
        mismatches += [f"rig has {channels} channels, {part} motion_dim {m}" for part, m in (
            ("personalizer", p.motion_dim), ("denoiser", d.motion_dim)) if m != channels]  # fmt: skip
        if mismatches:
            raise ValueError("inconsistent TalkerConfig: " + "; ".join(mismatches))

    def rig_descriptor(self) -> RigDescriptor:
        return model_rig(self.rig, self.mouth_loss_weight)

    @classmethod
    def for_audio_dim(cls, audio_dim: int, rig: RigDescriptor | None = None, **overrides) -> TalkerConfig:
        """The default (teacher) config for an audio encoder with `audio_dim` features (rig: default ARKit-52)."""
        channels = _rig_channels(rig)
        return cls(
            personalizer=PersonalizerConfig(audio_dim=audio_dim, **channels),
            denoiser=DenoiserConfig(audio_dim=audio_dim, **channels),
            rig=None if rig is None else rig.to_dict(),
            **overrides,
        )

    @classmethod
    def tiny(cls, audio_dim: int = 16, rig: RigDescriptor | None = None, **overrides) -> TalkerConfig:
        """A few-thousand-parameter config for tests and toy runs (rig: default ARKit-52)."""
        channels = _rig_channels(rig)
        personalizer = PersonalizerConfig(
            audio_dim=audio_dim, width=32, conv_layers=2, kernel_size=3, embed_dim=16, style_tokens=2,
            fusion_layers=1, fusion_heads=2, dropout=0.0, **channels,
        )  # fmt: skip
        denoiser = DenoiserConfig(
            audio_dim=audio_dim, style_dim=32, style_tokens=2, width=48, layers=2, heads=4, ff_mult=2,
            attention_window=16, dropout=0.0, **channels,
        )  # fmt: skip
        return cls(
            personalizer=personalizer, denoiser=denoiser, rig=None if rig is None else rig.to_dict(), **overrides
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TalkerConfig:
        values = dict(values)
        personalizer = PersonalizerConfig(**values.pop("personalizer"))
        denoiser = DenoiserConfig(**values.pop("denoiser"))
        return cls(personalizer=personalizer, denoiser=denoiser, **values)


def _rig_channels(rig: RigDescriptor | None) -> dict[str, int]:
    """motion_dim for a sub-config: the rig's channel count, or the sub-config's own default (52) without a rig."""
    return {} if rig is None else {"motion_dim": rig.num_channels}


def random_prefix_mask(
    b: int, frames: int, prob: float, max_frames: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """(batch, frames) bool: a known prefix of 1..max_frames frames (at most half the crop) on a `prob` share of rows."""
    length = torch.randint(1, max_frames + 1, (b,), device=device).clamp_max(frames // 2)
    length = length * (torch.rand(b, device=device) < prob)
    return torch.arange(frames, device=device)[None, :] < length[:, None]


class DiffusionTalker(nn.Module):
    def __init__(self, config: TalkerConfig) -> None:
        super().__init__()
        self.config = config
        self.personalizer = PersonalizationEncoder(config.personalizer)
        self.denoiser = MotionDenoiser(config.denoiser)
        c = config.denoiser.motion_dim
        # Default stats map [0, 1] to [-1, 1]; set_motion_stats replaces them with the dataset's.
        self.register_buffer("motion_mean", torch.full((c,), 0.5))
        self.register_buffer("motion_std", torch.full((c,), 0.5))
        self.rig = config.rig_descriptor()  # what the c motion channels are
        channel_weights = torch.tensor(self.rig.loss_weights, dtype=torch.float32)  # (c,)
        self.register_buffer("channel_weights", channel_weights, persistent=False)

    # ---- motion space -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def set_motion_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-channel mean and std (52,) of the training motion, in [0, 1] units."""
        self.motion_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.motion_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(self.config.min_motion_std))

    def normalize(self, motion: torch.Tensor) -> torch.Tensor:
        return (motion - self.motion_mean) / self.motion_std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.motion_std + self.motion_mean).clamp(0.0, 1.0)

    # ---- style --------------------------------------------------------------------------------------------------

    def encode_style(
        self,
        audio_feats: torch.Tensor,
        mask: torch.Tensor | None = None,
        motion: torch.Tensor | None = None,
        prosody: torch.Tensor | None = None,
    ) -> Style:
        """Identity and emotion of reference clips: audio (batch, ref_frames, audio_dim), motion in [0, 1] or None,
        prosody (batch, ref_frames, prosody_dim) when the personalizer takes it."""
        return self.personalizer.encode_style(
            audio_feats, mask, None if motion is None else self.normalize(motion), prosody=prosody
        )

    def style_tokens(self, style: Style | torch.Tensor | None, emotion_strength: float = 1.0) -> torch.Tensor | None:
        """Denoiser conditioning from a Style (fused here, with emotion_strength), ready tokens, or None (no style)."""
        if isinstance(style, Style):
            return self.personalizer.fuse(style.identity, style.emotion, emotion_strength)
        return style

    # ---- training -----------------------------------------------------------------------------------------------

    def training_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Named losses of one batch, and their weighted sum as "total".

        batch: "motion" (batch, frames, 52) in [0, 1]; "audio" (batch, frames, audio_dim); optional "frame_mask"
        (batch, frames) bool; optional reference clip "ref_audio" (batch, ref_frames, audio_dim), "ref_mask",
        "ref_motion", "ref_prosody" (another clip of the same speaker and emotion; without it the clip is its own
        reference, its prosody "prosody");
        optional "speaker", "emotion" (batch,) int labels (-1 unknown) for the contrastive losses.
        """
        cfg = self.config
        motion, audio = batch["motion"], batch["audio"]
        frame_mask = batch.get("frame_mask")
        b, frames, _ = motion.shape
        device = motion.device
        x0 = self.normalize(motion)  # (batch, frames, 52)

        if "ref_audio" in batch:
            ref_audio, ref_mask, ref_motion = batch["ref_audio"], batch.get("ref_mask"), batch.get("ref_motion")
            ref_prosody = batch.get("ref_prosody")
        else:
            ref_audio, ref_mask, ref_motion, ref_prosody = audio, frame_mask, motion, batch.get("prosody")
        motion_available = torch.rand(b, device=device) >= cfg.reference_motion_drop_prob
        style = self.personalizer.encode_style(
            ref_audio, ref_mask, None if ref_motion is None else self.normalize(ref_motion), motion_available,
            prosody=ref_prosody,
        )  # fmt: skip
        losses: dict[str, torch.Tensor] = {}
        temperature = cfg.personalizer.temperature
        if "speaker" in batch:
            losses["identity_nce"] = supervised_contrastive_loss(style.identity, batch["speaker"], temperature)
        if "emotion" in batch:
            losses["emotion_nce"] = supervised_contrastive_loss(style.emotion, batch["emotion"], temperature)
            self._update_neutral_emotion(style.emotion, batch["emotion"])
        tokens = self.personalizer.fuse(style.identity, style.emotion)

        if cfg.deterministic:
            t, x_t = torch.ones(b, device=device), torch.zeros_like(x0)
        else:
            t = 1.0 - torch.rand(b, device=device)  # (batch,) in (0, 1]
            x_t = q_sample(x0, t, torch.randn_like(x0))

        prefix_mask = random_prefix_mask(b, frames, cfg.prefix_prob, cfg.max_prefix_frames, device)

        draw = torch.rand(b, device=device)
        unconditional = draw < cfg.unconditional_prob
        style_dropped = draw < cfg.unconditional_prob + cfg.style_drop_prob
        x0_pred = self.denoiser(
            x_t, t, audio, tokens,
            audio_keep=~unconditional, style_keep=~style_dropped,
            prefix=x0, prefix_mask=prefix_mask, frame_mask=frame_mask,
        )  # fmt: skip

        new_frames = ~prefix_mask if frame_mask is None else frame_mask & ~prefix_mask
        losses["reconstruction"] = weighted_reconstruction_loss(x0_pred, x0, self.channel_weights, new_frames)
        # Over all frames: the step from the last prefix frame into the new ones is where seams would show.
        losses["velocity"] = velocity_loss(x0_pred, x0, frame_mask)
        if cfg.acceleration_loss_weight > 0:
            losses["acceleration"] = acceleration_loss(x0_pred, x0, frame_mask)

        weights = {
            "reconstruction": 1.0,
            "velocity": cfg.velocity_loss_weight,
            "acceleration": cfg.acceleration_loss_weight,
            "identity_nce": cfg.identity_loss_weight,
            "emotion_nce": cfg.emotion_loss_weight,
        }
        losses["total"] = sum(weights[name] * value for name, value in losses.items())
        return losses

    @torch.no_grad()
    def _update_neutral_emotion(self, emotion: torch.Tensor, labels: torch.Tensor) -> None:
        neutral = labels == self.config.neutral_emotion_label
        if not neutral.any():
            return
        batch_mean = emotion[neutral].mean(dim=0)
        stored = self.personalizer.neutral_emotion
        momentum = self.config.neutral_ema if stored.norm() > 0 else 0.0
        stored.copy_(torch.nn.functional.normalize(momentum * stored + (1 - momentum) * batch_mean, dim=0))

    # ---- sampling -----------------------------------------------------------------------------------------------

    def denoise(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor | float,
        audio_feats: torch.Tensor,
        style_tokens: torch.Tensor | None,
        guidance_scale: float = 1.0,
        prefix: torch.Tensor | None = None,
        prefix_mask: torch.Tensor | None = None,
        audio_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x0 prediction in normalised space, with classifier-free guidance (against null audio and null style).

        The sampler's "model": the teacher in progressive distillation is exactly this call. audio_embedding: the
        denoiser's `embed_audio(audio_feats)`, which a sampler computes once.
        """
        if guidance_scale == 1.0:
            conditions = dict(prefix=prefix, prefix_mask=prefix_mask, audio_embedding=audio_embedding)
            return self.denoiser(x_t, t, audio_feats, style_tokens, **conditions)
        b, frames = x_t.shape[:2]

        def twice(x: torch.Tensor | None) -> torch.Tensor | None:  # one batched pass for both predictions
            return None if x is None else torch.cat([x, x])

        keep = torch.arange(2 * b, device=x_t.device) < b  # first half conditional, second half null
        t = twice(t) if isinstance(t, torch.Tensor) and t.ndim == 1 else t  # per-item times (distillation)
        if audio_embedding is not None:  # the null half's is the null audio's (what audio_keep would swap in)
            audio_embedding = torch.cat([audio_embedding, self.denoiser.embed_audio(None, b, frames)])
            audio_feats = None
        x0_pred = self.denoiser(
            twice(x_t), t, twice(audio_feats), twice(style_tokens),
            audio_keep=keep, style_keep=keep, prefix=twice(prefix), prefix_mask=twice(prefix_mask),
            audio_embedding=audio_embedding,
        )  # fmt: skip
        conditional, unconditional = x0_pred[:b], x0_pred[b:]
        return unconditional + guidance_scale * (conditional - unconditional)

    def sample(
        self,
        audio_feats: torch.Tensor,
        tokens: torch.Tensor | None,
        steps: int,
        noise: NoiseSource,
        guidance_scale: float = 1.0,
        prefix: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One window's DDIM from noise to normalised motion (batch, frames, 52); `prefix` (batch, k, 52) normalised,
        k <= frames. The initial noise is drawn from `noise` (numpy), so the numpy port can draw the same."""
        b, frames, _ = audio_feats.shape
        device = audio_feats.device
        prefix_full, prefix_mask = None, None
        if prefix is not None:
            k = prefix.shape[1]
            if k > frames:
                raise ValueError(f"prefix has {k} frames but the audio only {frames}")
            prefix_full = torch.zeros(b, frames, prefix.shape[2], device=device)
            prefix_full[:, :k] = prefix
            prefix_mask = (torch.arange(frames, device=device) < k).expand(b, frames)
        shape = (b, frames, self.config.denoiser.motion_dim)
        if self.config.deterministic:  # one pass from x_t = 0 at t = 1 (see TalkerConfig.deterministic)
            steps, x = 1, torch.zeros(shape, device=device)
        else:
            x = torch.from_numpy(np.asarray(noise(shape), np.float32)).to(device)  # (batch, frames, 52) at t = 1
        sampler = DDIMSampler(steps)
        audio = self.denoiser.embed_audio(audio_feats, b, frames)  # the same at every step: computed once
        for t in sampler.timesteps:
            x0_pred = self.denoise(x, t, audio_feats, tokens, guidance_scale, prefix_full, prefix_mask, audio)
            x = sampler.step(x0_pred, t, x)
        return x

    @torch.no_grad()
    def generate(
        self,
        audio_feats: torch.Tensor,
        style: Style | torch.Tensor | None = None,
        *,
        emotion_strength: float = 1.0,
        steps: int | None = None,
        seed: int = 0,
        noise: NoiseSource | None = None,
        guidance_scale: float = 1.0,
        prefix: torch.Tensor | None = None,
        window: WindowPlan | None = None,
        progress: FramesProgress | None = None,
    ) -> torch.Tensor:
        """Facial animation (batch, frames, 52) in [0, 1] for audio features (batch, frames, audio_dim) of any length.

        style: a Style (identity, emotion; mixed with emotion_strength), ready style tokens, or None for no style.
        noise: where the initial noise comes from (default `seeded_noise(seed)`: deterministic for a seed).
        prefix: (batch, k, 52) in [0, 1], known first frames (returned as given). window: how long audio is cut
        (default WindowPlan(); memory is bounded by the window, not the audio). progress(frames_done, frames_total)
        after every window (raise from it to cancel).
        """
        b, total, _ = audio_feats.shape
        device = audio_feats.device
        steps = steps or self.config.sampling_steps
        noise = seeded_noise(seed) if noise is None else noise
        tokens = self.style_tokens(style, emotion_strength)  # one style for the whole take

        def sample_window(start: int, end: int, known: np.ndarray | None) -> np.ndarray:
            known_prefix = None if known is None else torch.from_numpy(known).to(device)
            x = self.sample(audio_feats[:, start:end], tokens, steps, noise, guidance_scale, known_prefix)
            return x.float().cpu().numpy()

        normalized_prefix = None if prefix is None else self.normalize(prefix).float().cpu().numpy()
        out = windowed_sample(
            sample_window, b, total, self.config.denoiser.motion_dim, window or WindowPlan(), normalized_prefix,
            progress,
        )  # fmt: skip
        return self.denormalize(torch.from_numpy(out).to(device))
