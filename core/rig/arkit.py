"""The ARKit-52 blendshape set: the channel names every model in this project speaks, and face regions by name.

Regions are defined by channel *name*, never by index, so a rig or dataset that orders its channels
differently still gets the right region (see ../shared/METHOD.md, "Metrics").
"""

from __future__ import annotations

import fnmatch

import numpy as np

# Apple ARKit / Live Link Face order. Code must never rely on this order for meaning: look names up.
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)  # fmt: skip
NUM_CHANNELS = len(ARKIT_NAMES)
assert NUM_CHANNELS == 52

_INDEX = {name.lower(): i for i, name in enumerate(ARKIT_NAMES)}

# Anatomical regions (glob patterns over names). Every channel belongs to exactly one.
REGION_PATTERNS: dict[str, tuple[str, ...]] = {
    "jaw": ("jaw*",),
    "mouth": ("mouth*",),
    "tongue": ("tongueOut",),
    "eyes": ("eye*",),
    "brows": ("brow*",),
    "cheeks_nose": ("cheek*", "noseSneer*"),
}

# The two evaluation regions of METHOD.md.
LOWER_FACE_PATTERNS = ("jaw*", "mouth*", "cheekPuff", "tongueOut")
UPPER_FACE_PATTERNS = ("brow*", "eye*", "cheekSquint*", "noseSneer*")

# How each lip channel parts (+) or closes (-) the lips, in jawOpen units, on top of the jaw gap
# max(jawOpen - mouthClose, 0); the reasoning is in core/rig/lip_measures.py. "Mean of a Left/Right pair" is written as
# half the coefficient on each.
LIP_APERTURE_TERMS: dict[str, float] = {
    "mouthLowerDownLeft": 0.25, "mouthLowerDownRight": 0.25,
    "mouthUpperUpLeft": 0.175, "mouthUpperUpRight": 0.175,
    "mouthFunnel": 0.25,
    "mouthPressLeft": -0.075, "mouthPressRight": -0.075,
    "mouthRollLower": -0.2, "mouthRollUpper": -0.2,
}  # fmt: skip


def channel_index(name: str) -> int:
    """Index of an ARKit channel by (case-insensitive) name; KeyError names the bad channel."""
    try:
        return _INDEX[name.lower()]
    except KeyError:
        raise KeyError(f"'{name}' is not an ARKit-52 blendshape name") from None


def channels_matching(patterns: tuple[str, ...] | list[str], names: tuple[str, ...] = ARKIT_NAMES) -> np.ndarray:
    """Indices (into `names`) of the channels whose name matches any glob pattern, case-insensitively."""
    pats = [p.lower() for p in patterns]
    return np.array(
        [i for i, n in enumerate(names) if any(fnmatch.fnmatchcase(n.lower(), p) for p in pats)], dtype=np.int64
    )


def region_of(name: str) -> str:
    """The anatomical region ('jaw', 'mouth', 'tongue', 'eyes', 'brows', 'cheeks_nose') of a channel."""
    channel_index(name)  # validate
    for region, pats in REGION_PATTERNS.items():
        if any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in pats):
            return region
    raise AssertionError(f"channel {name} has no region")  # unreachable for the 52 names


def lower_face_indices(names: tuple[str, ...] = ARKIT_NAMES) -> np.ndarray:
    return channels_matching(LOWER_FACE_PATTERNS, names)


def upper_face_indices(names: tuple[str, ...] = ARKIT_NAMES) -> np.ndarray:
    return channels_matching(UPPER_FACE_PATTERNS, names)
