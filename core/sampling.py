"""Windowed sampling: the one loop that turns a per-window DDIM sampler into motion of any length.

Every generation runs through `windowed_sample` with noise from a `NoiseSource` and a `WindowPlan`:
`DiffusionTalker.generate` (torch: the engine's torch backend, evaluation, bench, training checks) and its numpy
mirror `NumpyTalker.generate` (the engine's numpy backend). Only the per-window DDIM differs between the two (torch
or numpy ops); noise, windows, prefix handoff, cross-fade, progress and cancel are this module's, so a seed gives
the same take on either backend.

numpy only (no torch import): the numpy backend runs in a stock Blender.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NoiseSource = Callable[[tuple[int, ...]], np.ndarray]  # shape -> float32 standard normal noise
WindowSampler = Callable[[int, int, "np.ndarray | None"], np.ndarray]  # (start, end, known prefix) -> window
FramesProgress = Callable[[int, int], None]  # (frames done, frames total); raise from it to cancel


def seeded_noise(seed: int) -> NoiseSource:
    """Reproducible noise shared by the torch and numpy samplers: successive draws of one numpy Generator."""
    rng = np.random.default_rng(int(seed))
    return lambda shape: rng.standard_normal(tuple(shape), dtype=np.float32)


@dataclass(frozen=True)
class WindowPlan:
    """How long audio is cut for generation, in model frames (see `windowed_sample`)."""

    window_frames: int = 240
    prefix_frames: int = 30
    crossfade_frames: int = 8

    def __post_init__(self) -> None:
        overlap = self.prefix_frames + self.crossfade_frames
        if self.window_frames <= overlap:
            raise ValueError(
                f"window_frames ({self.window_frames}) must exceed prefix_frames + crossfade_frames ({overlap})"
            )


def windowed_sample(
    sample_window: WindowSampler,
    batch: int,
    total: int,
    motion_dim: int,
    plan: WindowPlan,
    prefix: np.ndarray | None = None,
    progress: FramesProgress | None = None,
) -> np.ndarray:
    """Normalised motion (batch, total, motion_dim) of any length, one window at a time.

    sample_window(start, end, known) samples frames [start, end) given `known` (batch, k, motion_dim) normalised
    first frames (or None); `prefix` is the first window's known frames. Each window after the first starts
    plan.prefix_frames + plan.crossfade_frames before the end of what is written: its first prefix_frames are the
    previous output as a known prefix (the model continues it), the next crossfade_frames are cross-faded linearly
    (the new window's weight rising towards 1), the rest is new. Memory is bounded by the window, not the audio.
    progress(frames_done, total) after each window (raise from it to cancel).
    """
    overlap = plan.prefix_frames + plan.crossfade_frames
    out = np.empty((batch, total, motion_dim), dtype=np.float32)
    known = prefix
    written, start = 0, 0
    while written < total:
        end = min(start + plan.window_frames, total)
        window = sample_window(start, end, known)  # (batch, end - start, motion_dim)
        blend_end = min(written, end)
        blend_start = min(start + (0 if known is None else known.shape[1]), blend_end)
        if blend_end > blend_start:
            length = blend_end - blend_start
            ramp = (np.arange(1, length + 1, dtype=np.float32) / np.float32(length + 1))[None, :, None]
            old, new = out[:, blend_start:blend_end], window[:, blend_start - start : blend_end - start]
            out[:, blend_start:blend_end] = old + ramp * (new - old)
        out[:, written:end] = window[:, written - start :]
        written = end
        if progress is not None:
            progress(written, total)
        start = max(written - overlap, 0)
        known = out[:, start : start + plan.prefix_frames].copy() if written < total else None
    return out
