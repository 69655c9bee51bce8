"""How open the lips are, from a rig's weights alone (ARKit-52 by default; channels looked up by name and role).

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

Another rig says the same through its descriptor (core/rig/descriptor.py): its 'jaw_open' and 'lip_seal' roles
make the jaw gap and its lip_aperture_terms the rest; a vertex-basis rig can give the lip gap's linear
coefficients there.
"""

from __future__ import annotations

import numpy as np

from core.rig.arkit import ARKIT_NAMES, LIP_APERTURE_TERMS
from core.rig.descriptor import ARKIT52, RigDescriptor, RigError

LIPS_CLOSED_APERTURE = 0.1

# channel name -> coefficient (kept here under its historic name; the numbers live with the ARKit names)
APERTURE_TERMS: dict[str, float] = LIP_APERTURE_TERMS


def _column(weights: np.ndarray, names: tuple[str, ...], name: str, rig_name: str) -> np.ndarray:
    index = {n.lower(): i for i, n in enumerate(names)}
    try:
        return weights[:, index[name.lower()]]
    except KeyError:
        raise KeyError(f"lip_aperture needs the {rig_name} channel '{name}', which these weights do not have") from None


def lip_aperture(
    weights: np.ndarray, names: tuple[str, ...] | None = None, *, rig: RigDescriptor | None = None
) -> np.ndarray:
    """(T,) scalar lip opening of (T, C) weights.

    The channels are `rig`'s (default ARKit-52), read through its roles: the jaw gap max(sum jaw_open - sum lip_seal,
    0) plus its lip-aperture terms. `names`: ARKit channels in another order (looked up by name). A rig whose
    descriptor says neither how the jaw nor how the lips open raises a RigError: lip metrics cannot run on it.
    """
    if names is not None and rig is not None:
        raise ValueError("give lip_aperture either ARKit channel names or a rig, not both")
    recipe = ARKIT52 if rig is None else rig
    names = ARKIT_NAMES if names is None and rig is None else names if names is not None else rig.names
    if not recipe.has_role("jaw_open") and not recipe.lip_aperture_terms:
        raise RigError(
            f"lip aperture (and every lip-closure metric) needs to know which channels open the lips, and rig "
            f"'{recipe.name}' says neither (no 'jaw_open' role, no lip_aperture_terms); add them to its descriptor"
        )
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(names):
        raise ValueError(f"weights must be (frames, {len(names)}), got {w.shape}")

    def total(channels: tuple[str, ...]) -> np.ndarray | float:
        return sum((_column(w, names, n, recipe.name) for n in channels), 0.0)

    jaw_gap = np.clip(total(recipe.roles.get("jaw_open", ())) - total(recipe.roles.get("lip_seal", ())), 0.0, None)
    lips = sum((coef * _column(w, names, n, recipe.name) for n, coef in recipe.lip_aperture_terms.items()), 0.0)
    return np.clip(jaw_gap + lips, 0.0, None)


def is_lips_closed(
    weights: np.ndarray,
    threshold: float = LIPS_CLOSED_APERTURE,
    names: tuple[str, ...] | None = None,
    *,
    rig: RigDescriptor | None = None,
) -> np.ndarray:
    """(T,) bool: the lips touch (aperture below `threshold`)."""
    return lip_aperture(weights, names, rig=rig) < threshold
