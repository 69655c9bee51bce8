"""What every TTS engine wrapper (core/data/tts_*.py) takes and returns.

An engine renders text with engine-native prosody controls and reports the phones it spoke with their end
times in its own audio. Everything after that (resampling, timbre shift, loudness, timing checks) is shared
and lives in core.data.speech_synthesis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EngineProsody:
    """Engine-level controls for one utterance.

    duration_stretch: > 1 speaks slower (multiplies every phone duration).
    f0_mean_hz / f0_std_hz: intonation targets for engines that take them (None: the voice's own).
    expressiveness: multiplies the engine's variability knobs where it has them (Piper's noise scales).
    """

    duration_stretch: float = 1.0
    f0_mean_hz: float | None = None
    f0_std_hz: float | None = None
    expressiveness: float = 1.0


@dataclass
class EngineSpeech:
    """Audio as the engine made it, with ARPAbet phones ("SIL" for pauses) and their end times in seconds."""

    audio: np.ndarray  # (samples,) float32 mono at sample_rate
    sample_rate: int
    phones: list[str]
    ends: np.ndarray  # (N,) float64 seconds, non-decreasing

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


class EngineUnavailable(RuntimeError):
    """The engine or voice is not installed; the message says what to install."""


_UNSAFE = re.compile(r"[^\x20-\x7e]")


def clean_text(text: str) -> str:
    """Printable ASCII on one line: what every engine here reads reliably (curly quotes become straight)."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = _UNSAFE.sub(" ", text)
    text = " ".join(text.split())
    if not any(c.isalnum() for c in text):
        raise ValueError(f"nothing to speak in {text!r}: give at least one word")
    return text
