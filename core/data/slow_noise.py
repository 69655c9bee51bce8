"""Smooth random signals for the small, slow motions of a living face (idle brows, gaze drift, intensity)."""

from __future__ import annotations

import numpy as np


def slow_noise(rng: np.random.Generator, num_frames: int, fps: float, timescale_s: float) -> np.ndarray:
    """(frames,) Gaussian-smoothed white noise with unit standard deviation (in expectation, not re-normalised
    per clip, so a short clip does not get exaggerated). `timescale_s` is the smoothing sigma: about the
    time the signal takes to change its mind."""
    if num_frames <= 0:
        return np.zeros(0)
    sigma = max(timescale_s * fps, 1e-3)
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= np.sqrt((kernel**2).sum())  # unit variance of the filtered white noise
    white = rng.standard_normal(num_frames + 2 * radius)
    return np.convolve(white, kernel, mode="valid")[:num_frames]


def seeded_rng(*keys: int) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, speaker, component) key tuple."""
    return np.random.default_rng(np.random.SeedSequence([int(k) % (2**63) for k in keys]))
