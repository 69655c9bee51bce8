"""How open the lips are, from ARKit-52 weights alone (channels looked up by name).

ARKit convention: jawOpen drops the jaw *and* the lips with it, while mouthClose is the lip seal that
cancels it: jawOpen = w with mouthClose = w means the jaw is open by w but the lips touch. So the gap the
jaw makes between the lips is max(jawOpen - mouthClose, 0). The lips then part further on their own
(mouthLowerDown*, mouthUpperUp*, mouthFunnel) and close or thin on their own (mouthPress*, mouthRoll*):

    aperture = max(0, (jawOpen - mouthClose)_+
                      + 0.5 mean(mouthLowerDownL/R) + 0.35 mean(mouthUpperUpL/R) + 0.25 mouthFunnel
                      - 0.15 mean(mouthPressL/R) - 0.2 mouthRollLower - 0.2 mouthRollUpper)

in "jawOpen units": about 0.4-0.7 on an open vowel (AA), 0.1-0.2 on a close one (IY), 0 with sealed
lips. The lip-part coefficients are below 1 because a lower lip pulled down parts the lips less than the
same weight of jaw drop does. Frames with aperture below LIPS_CLOSED_APERTURE count as closed lips
(core.metrics uses the same threshold for bilabial closure and mouth-closed-in-silence).
"""

from __future__ import annotations

import numpy as np

from core.rig.arkit import ARKIT_NAMES

LIPS_CLOSED_APERTURE = 0.1

# channel name -> coefficient; "mean of a Left/Right pair" is written as half the coefficient on each.
APERTURE_TERMS: dict[str, float] = {
    "mouthLowerDownLeft": 0.25, "mouthLowerDownRight": 0.25,
    "mouthUpperUpLeft": 0.175, "mouthUpperUpRight": 0.175,
    "mouthFunnel": 0.25,
    "mouthPressLeft": -0.075, "mouthPressRight": -0.075,
    "mouthRollLower": -0.2, "mouthRollUpper": -0.2,
}  # fmt: skip


def _column(weights: np.ndarray, names: tuple[str, ...], name: str) -> np.ndarray:
    index = {n.lower(): i for i, n in enumerate(names)}
    try:
        return weights[:, index[name.lower()]]
    except KeyError:
        raise KeyError(f"lip_aperture needs the ARKit channel '{name}', which these weights do not have") from None


def lip_aperture(weights: np.ndarray, names: tuple[str, ...] = ARKIT_NAMES) -> np.ndarray:
    """(T,) scalar lip opening of (T, C) weights whose channels are `names` (ARKit-52 order by default)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(names):
        raise ValueError(f"weights must be (frames, {len(names)}), got {w.shape}")
    jaw_gap = np.clip(_column(w, names, "jawOpen") - _column(w, names, "mouthClose"), 0.0, None)
    lips = sum(coef * _column(w, names, name) for name, coef in APERTURE_TERMS.items())
    return np.clip(jaw_gap + lips, 0.0, None)


def is_lips_closed(
    weights: np.ndarray, threshold: float = LIPS_CLOSED_APERTURE, names: tuple[str, ...] = ARKIT_NAMES
) -> np.ndarray:
    """(T,) bool: the lips touch (aperture below `threshold`)."""
    return lip_aperture(weights, names) < threshold
