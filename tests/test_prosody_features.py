"""Prosody channels of a reference clip: they follow pitch, voicing and loudness of real synthetic signals."""

from __future__ import annotations

import numpy as np
import pytest

from core.prosody_features import PROSODY_DIM, ProsodyEncoder, prosody_features

RATE = 16_000


def vowel(f0: float, seconds: float, level: float = 0.3) -> np.ndarray:
    """A buzzy harmonic tone (like a sustained vowel) at f0."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))).astype(np.float32)


def test_channels_follow_pitch_voicing_and_level():
    silence = np.zeros(int(0.5 * RATE), np.float32)
    audio = np.concatenate([silence, vowel(120.0, 1.0), vowel(240.0, 1.0, level=0.03), silence])
    frames = int(round(3.0 * 30))
    p = prosody_features(audio, frames, 30.0)
    assert p.shape == (frames, PROSODY_DIM) and p.dtype == np.float32
    low, high, quiet = p[20:40], p[50:70], p[80:]  # 0.67-1.3 s, 1.67-2.3 s, the trailing silence
    assert low[:, 0].mean() > 0.9 and high[:, 0].mean() > 0.9 and quiet[:, 0].max() < 0.1
    # f0 channel: octaves above 200 Hz (120 Hz -> -0.74, 240 Hz -> +0.26); one octave apart.
    assert low[:, 1].mean() == pytest.approx(np.log2(120 / 200), abs=0.05)
    assert high[:, 1].mean() - low[:, 1].mean() == pytest.approx(1.0, abs=0.05)
    # The second tone is 20 dB quieter: the level channels (dB / 20) differ by about 1.
    assert low[:, 3].mean() - high[:, 3].mean() == pytest.approx(1.0, abs=0.1)
    assert low[:, 4].mean() > high[:, 4].mean() > quiet[:, 4].mean()


def test_any_frame_rate_and_length_maps_onto_the_motion_clock():
    audio = vowel(150.0, 1.234)
    for fps, frames in ((24.0, 30), (60.0, 75), (30.0, 10)):
        p = prosody_features(audio, frames, fps)
        assert p.shape == (frames, PROSODY_DIM) and np.isfinite(p).all()
    assert ProsodyEncoder().encode(audio).shape == (int(np.ceil(audio.size / 160)), PROSODY_DIM)
    with pytest.raises(ValueError, match="empty"):
        ProsodyEncoder().encode(np.zeros(0, np.float32))
