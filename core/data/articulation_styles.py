"""How one speaker moves their face: a small set of habits drawn deterministically from the speaker's name.

Every TTS voice of the corpus, and any user whose recording is aligned into a clip, gets a stable style
from the sha256 of their name, so the same name always animates the same way and the personalizer has
real per-identity regularities to learn (jaw range, rounding, smile, asymmetry, timing, blinking, brows).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpeakerArticulation:
    name: str
    jaw_range: float  # multiplies every jaw opening (0.75 small mouth .. 1.3 wide-mouthed speaker)
    lip_rounding: float  # multiplies pucker/funnel on rounded sounds (0.7 .. 1.3)
    lip_spread: float  # multiplies stretch/smile on spread vowels (0.7 .. 1.3)
    smile_bias: float  # resting smile added to both corners (0 .. 0.12)
    asymmetry: float  # > 0: the left side moves more, < 0: the right (-0.12 .. 0.12)
    anticipation_s: float  # how far visual motion leads the audio (0.04 .. 0.08 s)
    precision: float  # sharpness of coarticulation: > 1 reaches targets more fully (0.8 .. 1.25)
    # When speaking fast: < 0 hyperarticulates, 0 keeps its targets, up to 0.8 undershoots them (-0.3 .. 0.8).
    hypoarticulation: float
    rest_jaw: float  # jaw opening at rest, lips still sealed (0.01 .. 0.05)
    blink_rate_per_min: float  # 15 .. 20
    brow_expressiveness: float  # scales brow raises on pitch accents and idle brow motion (0.5 .. 1.5)
    gaze_activity: float  # scales saccade size and frequency (0.6 .. 1.4)
    expressiveness: float  # scales the emotional expression (0.75 .. 1.1)


def stable_name_seed(name: str) -> int:
    """A seed from a name that is the same in every process and Python version (unlike `hash`)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


def articulation_for_speaker(speaker: str) -> SpeakerArticulation:
    """The speaker's articulation style, a pure function of the name."""
    rng = np.random.default_rng(stable_name_seed(speaker))

    def between(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    return SpeakerArticulation(
        name=speaker,
        jaw_range=between(0.75, 1.3),
        lip_rounding=between(0.7, 1.3),
        lip_spread=between(0.7, 1.3),
        smile_bias=between(0.0, 0.12),
        asymmetry=between(-0.12, 0.12),
        anticipation_s=between(0.04, 0.08),
        precision=between(0.8, 1.25),
        hypoarticulation=between(-0.3, 0.8),
        rest_jaw=between(0.01, 0.05),
        blink_rate_per_min=between(15.0, 20.0),
        brow_expressiveness=between(0.5, 1.5),
        gaze_activity=between(0.6, 1.4),
        expressiveness=between(0.75, 1.1),
    )
