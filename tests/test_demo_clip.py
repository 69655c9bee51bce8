"""The bundled demo clip and the frames a preview shows of a take."""

from __future__ import annotations

import numpy as np

from core.data.clip import load_clip
from core.data.demo_clip import demo_clip_paths, extreme_lip_frames, marked_phone_frames
from core.rig.arkit import channel_index
from core.rig.lip_measures import lip_aperture


def test_bundled_clip_is_small_mono_speech_with_bilabials():
    wav, npz = demo_clip_paths()
    clip = load_clip(npz)
    assert wav.stat().st_size + npz.stat().st_size < 300_000
    assert 4.0 < clip.duration < 7.0
    assert {"P", "B", "M"} <= set(clip.phones)


def test_marked_frames_show_closed_bilabials_and_open_vowels():
    _, npz = demo_clip_paths()
    clip = load_clip(npz)
    marked = marked_phone_frames(npz, clip.weights, start_frame=1, count=12)
    aperture = lip_aperture(clip.weights)
    closed = [aperture[f - 1] for f, label in marked if label in ("P", "B", "M")]
    opened = [aperture[f - 1] for f, label in marked if label not in ("P", "B", "M", "rest")]
    assert closed and opened and max(closed) < min(opened)


def test_extreme_lip_frames_alternate_closed_and_open_moments():
    t = np.arange(300) / 30.0
    weights = np.zeros((300, 52), np.float32)
    weights[:, channel_index("jawOpen")] = 0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t)  # the lips open and close
    marked = extreme_lip_frames(weights, start_frame=1, count=5)
    aperture = lip_aperture(weights)
    assert marked[0] == (1, "start") and len(marked) == 5
    closed = [aperture[f - 1] for f, label in marked if label.startswith("closed")]
    opened = [aperture[f - 1] for f, label in marked if label.startswith("open")]
    assert max(closed) < min(opened)
