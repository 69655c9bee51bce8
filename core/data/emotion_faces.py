"""The face side of each corpus emotion (labels in core.data.emotions): what it does to the upper face and
the mouth corners, how it changes articulation, and how its intensity drifts over a clip.

Amounts are for full intensity; a clip's intensity is about 0.6 to 1.1 (speaker expressiveness times a
per-take level, slowly varying), so expressions stay visible without turning into caricature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data.articulation_styles import SpeakerArticulation
from core.data.emotions import EMOTIONS
from core.data.slow_noise import slow_noise


@dataclass(frozen=True)
class EmotionFace:
    name: str
    channels: dict[str, float] = field(default_factory=dict)  # ARKit channel -> added weight at intensity 1
    jaw_gain: float = 1.0  # sad and angry (tension) open less, surprise more
    lid_droop: float = 0.0  # resting eyeBlink (lowered lids)
    gaze_down: float = 0.0  # resting downward gaze
    # What pitch accents do to the brows: "raise" (browInnerUp/OuterUp) or "frown" (browDown, for anger).
    brow_accent: str = "raise"
    brow_accent_gain: float = 1.0
    blink_rate_gain: float = 1.0


def _both(stem: str, value: float) -> dict[str, float]:
    return {f"{stem}Left": value, f"{stem}Right": value}


EMOTION_FACES: dict[str, EmotionFace] = {
    "neutral": EmotionFace("neutral"),
    "happy": EmotionFace(
        "happy",
        {**_both("mouthSmile", 0.42), **_both("cheekSquint", 0.3), **_both("eyeSquint", 0.16),
         **_both("mouthDimple", 0.1), "browInnerUp": 0.04},
        jaw_gain=1.05, brow_accent_gain=1.1,
    ),
    "sad": EmotionFace(
        "sad",
        {**_both("mouthFrown", 0.32), "browInnerUp": 0.42, **_both("browDown", 0.08), "mouthShrugLower": 0.18,
         **_both("mouthPress", 0.06)},
        jaw_gain=0.82, lid_droop=0.2, gaze_down=0.06, brow_accent_gain=0.7, blink_rate_gain=0.9,
    ),
    "angry": EmotionFace(
        "angry",
        {**_both("browDown", 0.5), **_both("noseSneer", 0.22), **_both("eyeSquint", 0.22),
         **_both("cheekSquint", 0.08), **_both("mouthPress", 0.22), **_both("mouthStretch", 0.05),
         **_both("mouthUpperUp", 0.05)},
        jaw_gain=0.85, brow_accent="frown", brow_accent_gain=1.2, blink_rate_gain=0.85,
    ),
    "surprised": EmotionFace(
        "surprised",
        {"browInnerUp": 0.5, **_both("browOuterUp", 0.5), **_both("eyeWide", 0.42), "mouthFunnel": 0.04},
        jaw_gain=1.18, brow_accent_gain=1.2, blink_rate_gain=0.8,
    ),
}  # fmt: skip
assert set(EMOTION_FACES) == set(EMOTIONS)


def emotion_face(emotion: str) -> EmotionFace:
    try:
        return EMOTION_FACES[emotion]
    except KeyError:
        raise ValueError(f"unknown emotion '{emotion}'; use one of {', '.join(EMOTIONS)}") from None


def emotion_intensity(
    rng: np.random.Generator, speech_activity: np.ndarray, fps: float, style: SpeakerArticulation
) -> np.ndarray:
    """(frames,) intensity of the clip's emotion: speaker expressiveness x a per-take level, drifting slowly
    (seconds) by about +-12 %, and a little stronger while speaking than in pauses."""
    n = len(speech_activity)
    level = style.expressiveness * rng.uniform(0.8, 1.0)
    drift = 0.12 * slow_noise(rng, n, fps, timescale_s=1.5)
    speaking = 0.9 + 0.1 * np.asarray(speech_activity, dtype=np.float64)
    return np.clip(level * (1.0 + drift) * speaking, 0.3, 1.3)
