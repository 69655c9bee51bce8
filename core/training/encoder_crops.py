"""Random crops of the clips the student's encoder hears, and its features on motion frames: what phases A, A2 and C
(core/training/distill.py, adapt_ears.py) draw their batches from."""

from __future__ import annotations

import numpy as np
import torch

from core.training.corpus_features import TrainingClip


def motion_frame_positions(frames: int, fps: float, rate: float = 50.0) -> tuple[torch.Tensor, torch.Tensor]:
    """For motion frames 0..frames-1, the lower encoder frame and the interpolation fraction (the project clock)."""
    position = torch.arange(frames, dtype=torch.float64) * rate / fps
    lower = position.floor().long()
    return lower, (position - lower).float()


def encoder_to_motion_frames(features: torch.Tensor, frames: int, fps: float) -> torch.Tensor:
    """(batch, enc_frames, dim) at 50/s -> (batch, frames, dim) at fps, linear interpolation, clamped at the end."""
    lower, fraction = motion_frame_positions(frames, fps)
    last = features.shape[1] - 1
    lo, hi = lower.clamp_max(last), (lower + 1).clamp_max(last)
    f = fraction.to(features.device)[None, :, None]
    return features[:, lo] * (1 - f) + features[:, hi] * f


def usable_for_encoder(n: int, clips: list[TrainingClip]) -> list[TrainingClip]:
    """The clips long enough for crops of n motion frames (at 30 fps)."""
    if n % 3:
        raise ValueError(f"encoder_crop_frames must be a multiple of 3 (30 fps vs 100 mel frames/s), got {n}")
    usable = [c for c in clips if c.frames >= n and abs(c.fps - 30.0) < 1e-6]
    if not usable:
        raise ValueError(f"no 30 fps clip has {n} frames; lower encoder_crop_frames")
    return usable


def encoder_crops(
    rng: np.random.Generator,
    usable: list[TrainingClip],
    mels: dict[str, list[np.ndarray]] | None,
    n: int,
    count: int,
    clean_view_prob: float = 1.0,
    with_views: bool = False,
):
    """`count` random crops of n motion frames, each starting on a multiple of 3 (so it starts on a mel frame at
    30 fps), as (clip, start frame) pairs, and their log-mel (count, 80, n * 10 / 3) (None without `mels`).
    `mels[clip_id]` lists a clip's views (clean first, then degraded copies: _mel_views); a crop reads the clean one
    with `clean_view_prob`, else a degraded one (no draw when a clip has one view). with_views: also return which
    view each crop read (a third item, a list of view indices); the draws are the same either way."""
    crops, mel_batch, chosen = [], [], []
    for index in rng.integers(0, len(usable), count):
        clip = usable[int(index)]
        start = 3 * int(rng.integers(0, (clip.frames - n) // 3 + 1))  # motion frame, a multiple of 3
        crops.append((clip, start))
        if mels is not None:
            views = mels[clip.clip_id]
            view = 0
            if len(views) > 1 and rng.random() >= clean_view_prob:
                view = int(rng.integers(1, len(views)))
            mel_batch.append(mel_crop(views[view], start, n))
            chosen.append(view)
    mel = torch.from_numpy(np.stack(mel_batch)) if mel_batch else None
    return (crops, mel, chosen) if with_views else (crops, mel)


def mel_crop(view: np.ndarray, start: int, n: int) -> np.ndarray:
    """The log-mel (80, n * 10 / 3) under motion frames [start, start + n) of a view, padded with its minimum."""
    m0 = start * 10 // 3
    mel = view[:, m0 : m0 + n * 10 // 3].astype(np.float32)
    return np.pad(mel, ((0, 0), (0, n * 10 // 3 - mel.shape[1])), constant_values=mel.min())
