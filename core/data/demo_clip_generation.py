"""Regenerate the bundled demo clip (core/assets/demo/demo_line.*): festival speech + the corpus generator's face
targets. Data generation (it runs the TTS wrappers), so it lives apart from core/data/demo_clip.py, which the
runtime imports."""

from __future__ import annotations

from pathlib import Path

from core.data.clip import SAMPLE_RATE, Clip, save_clip
from core.data.demo_clip import DEMO_ASSETS, DEMO_CLIP_STEM, DEMO_EMOTION, DEMO_FPS, DEMO_SEED, DEMO_TEXT, DEMO_VOICE
from core.data.face_targets import synthesize_face_targets
from core.data.speech_synthesis import synthesize


def make_demo_clip(folder: Path = DEMO_ASSETS) -> Path:
    """Regenerate the bundled clip: festival speech + the corpus generator's face targets. Returns the npz."""
    spoken = synthesize(DEMO_TEXT, DEMO_VOICE, DEMO_EMOTION, seed=DEMO_SEED)
    duration = len(spoken.audio) / SAMPLE_RATE
    weights = synthesize_face_targets(
        spoken.phones, spoken.phone_times, duration, DEMO_FPS, speaker=DEMO_VOICE, emotion=DEMO_EMOTION,
        audio=spoken.audio, seed=DEMO_SEED,
    )  # fmt: skip  # (frames, 52)
    clip = Clip(
        weights=weights, fps=DEMO_FPS, audio=spoken.audio, phones=list(spoken.phones),
        phone_times=spoken.phone_times, speaker=DEMO_VOICE, emotion=DEMO_EMOTION, text=DEMO_TEXT,
    )  # fmt: skip
    return save_clip(clip, folder / DEMO_CLIP_STEM)
