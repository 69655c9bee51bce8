"""Landmarks proposed on a head mesh from its vertices and triangles alone, in face coordinates (face_frame.py).

The midline ones come from the face's profile, the curve where the mesh crosses the mid-sagittal plane through the
nose tip: walking down from the nose tip the profile dips under the nose, rises to the upper lip, dips where the lips
meet (or gaps, for a mouth left open in the mesh), rises to the lower lip, dips at the chin's fold and rises to the
chin; walking up, the first dip is the nasion between the eyes. The eye and mouth corners are placed where a template
face has them, scaled by a similarity fitted on the midline landmarks, then moved to where the mesh's own mouth line
and eye openings end (openings.py), where the mesh shows them. Ears, where present, are the
lateral extremes between brow and lip height behind the eyes. The user can move any of them before generating keys.
"""

from __future__ import annotations

import numpy as np

from core.rig.key_transfer.face_frame import FaceNotFoundError
from core.rig.key_transfer.fit import similarity_transform
from core.rig.key_transfer.openings import track_opening
from core.rig.key_transfer.profile import surface_profile

MIDLINE_LANDMARKS = ("nasion", "nose_tip", "upper_lip", "mouth_center", "lower_lip", "chin")
CORNER_LANDMARKS = (
    "eye_left_inner",
    "eye_left_outer",
    "eye_right_inner",
    "eye_right_outer",
    "mouth_left",
    "mouth_right",
)
FIT_LANDMARKS = MIDLINE_LANDMARKS + CORNER_LANDMARKS  # the ones the template fit uses
EAR_LANDMARKS = ("ear_left", "ear_right")  # proposed where present; shown, not used by the fit
LANDMARK_NAMES = FIT_LANDMARKS + EAR_LANDMARKS

_BINS_PER_WIDTH = 400  # profile resolution: a 15 cm face gives 0.4 mm bins
_SMOOTH_BINS = 2.0  # Gaussian smoothing of the profile (bins)
_EXTREMUM = 0.003  # a dip or rise counts once the profile turns back by this fraction of the face width


def midline_landmarks(face: np.ndarray, triangles: np.ndarray) -> dict[str, np.ndarray]:
    """The MIDLINE_LANDMARKS of a mesh given in face coordinates: name -> (3,) point on the profile.

    face: (V, 3) face coordinates; triangles: (F, 3) int. Raises FaceNotFoundError when the profile has no
    nose-lips-chin sequence."""
    width = float(np.ptp(face[:, 0]))
    central = np.abs(face[:, 0] - (face[:, 0].min() + face[:, 0].max()) / 2) < 0.12 * width
    if not central.any():
        raise FaceNotFoundError("no vertices near the middle of the mesh: is it a head?")
    nose_vertex = face[np.flatnonzero(central)[np.argmax(face[central, 2])]]
    x0 = float(nose_vertex[0])
    ys, zs = surface_profile(face, triangles, x0, width / _BINS_PER_WIDTH, _SMOOTH_BINS)
    if len(ys) < 20:
        raise FaceNotFoundError("the mesh barely crosses its own mid-plane: is it a closed or open head surface?")
    tip = int(np.argmin(np.abs(ys - nose_vertex[1])))
    window = max(int(0.03 * width / (ys[1] - ys[0])), 1)
    near = slice(max(tip - window, 0), tip + window + 1)
    tip = near.start + int(np.argmax(zs[near]))
    delta = _EXTREMUM * width
    below = _extrema(zs[tip::-1], delta)  # walking down from the nose tip: min, max, min, max, ...
    above = _extrema(zs[tip:], delta)
    # Below the tip: [subnasale dip, upper lip,] lips' meeting dip, lower lip, chin's fold, chin. Many faces (the
    # template too) have no dip under the nose; a first dip less than 0.65 nose lengths down is that dip. A low-poly
    # head may have no dip between the eyes: the nasion is then put as far above the tip as the lips are below it.
    nose_length = above[0] if above else None  # bins from the nose tip up to the nasion
    first = 2 if len(below) >= 6 and nose_length is not None and below[0] < 0.65 * nose_length else 0
    if len(below) < first + 4:
        raise FaceNotFoundError(
            "no nose, lips and chin found on the face's profile (the midline below the most forward point); "
            "check the head faces the chosen front axis, or place the landmarks by hand"
        )
    mouth, lower_lip, chin = below[first], below[first + 1], below[first + 3]
    # The upper lip: the most forward point over the lowest 40% of the way from the nose tip to the lips' meeting.
    reach = int(0.6 * mouth)
    upper_lip = reach + int(np.argmax(zs[tip - reach : tip - mouth : -1]))
    at = {
        "nose_tip": tip,
        "upper_lip": tip - upper_lip,
        "mouth_center": tip - mouth,
        "lower_lip": tip - lower_lip,
        "chin": tip - chin,
        "nasion": min(tip + (nose_length if nose_length is not None else round(1.05 * mouth)), len(ys) - 1),
    }
    return {name: np.array([x0, ys[at[name]], zs[at[name]]]) for name in MIDLINE_LANDMARKS}


def propose_landmarks(
    face: np.ndarray,
    triangles: np.ndarray,
    template_landmarks: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """All LANDMARK_NAMES found on a mesh in face coordinates (ears only where present): name -> (3,) point.

    template_landmarks: the template face's FIT_LANDMARKS (its own face coordinates), used to place the corners."""
    points = midline_landmarks(face, triangles)
    names = list(MIDLINE_LANDMARKS)
    scale, rotation, shift = similarity_transform(
        np.stack([template_landmarks[n] for n in names]), np.stack([points[n] for n in names])
    )
    points.update({n: scale * rotation @ template_landmarks[n] + shift for n in CORNER_LANDMARKS})
    points = refine_corners(face, triangles, points)
    points.update(_ears(face, points, float(np.ptp(face[:, 0]))))
    return points


def refine_corners(face: np.ndarray, triangles: np.ndarray, points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The CORNER_LANDMARKS moved from their first guesses in `points` to where the mesh's mouth line and eye
    openings end (openings.py), where the mesh shows them, and onto the surface seen from the front."""
    points = dict(points)
    width = float(np.ptp(face[:, 0]))
    for left, right, middle_y, window, min_depth in (
        ("mouth_left", "mouth_right", points["mouth_center"][1], 0.12, 0.002),
        ("eye_left_outer", "eye_left_inner", None, 0.35, 0.01),
        ("eye_right_inner", "eye_right_outer", None, 0.35, 0.01),
    ):
        a, b = points[left], points[right]
        span = abs(a[0] - b[0])
        middle = np.array([(a[0] + b[0]) / 2, (a[1] + b[1]) / 2 if middle_y is None else middle_y])
        ends = (min(a[0], b[0]) - 0.3 * span, max(a[0], b[0]) + 0.3 * span)
        track = track_opening(face, triangles, middle, ends, window * span, True, min_depth * width)
        if track.found and np.ptp(track.points[:, 0]) >= 0.5 * span:
            low, high = np.append(track.points[0], 0.0), np.append(track.points[-1], 0.0)
            points[left], points[right] = (high, low) if a[0] > b[0] else (low, high)
        for name in (left, right):  # on the rim seen from the front (not down the opening), as the template's
            points[name] = onto_front_surface(face, triangles, points[name], 0.1 * span)
    return points


def _extrema(z: np.ndarray, delta: float) -> list[int]:
    """Indices of alternating minima and maxima along z (starting with a minimum, z[0] being a maximum), each kept
    once the curve has turned back from it by `delta` (hysteresis, so ripples smaller than delta are ignored)."""
    found, looking_for_min = [], True
    best, best_i = z[0], 0
    for i in range(1, len(z)):
        if looking_for_min:
            if z[i] < best:
                best, best_i = z[i], i
            elif z[i] > best + delta:
                found.append(best_i)
                looking_for_min, best, best_i = False, z[i], i
        else:
            if z[i] > best:
                best, best_i = z[i], i
            elif z[i] < best - delta:
                found.append(best_i)
                looking_for_min, best, best_i = True, z[i], i
    return found


def onto_front_surface(face: np.ndarray, triangles: np.ndarray, point: np.ndarray, radius: float) -> np.ndarray:
    """`point` moved along z onto the most forward surface over its (x, y) and 8 points `radius` around it (so a
    point over an opening lands on its rim); kept as it is where there is no surface."""
    angles = np.arange(8) * np.pi / 4
    probes = np.concatenate([point[None, :2], point[:2] + radius * np.stack([np.cos(angles), np.sin(angles)], 1)])
    tri = face[triangles]  # (F, 3, 3)
    reach = np.abs(tri[:, :, :2] - point[:2]).min(axis=1).max(axis=1) <= radius + np.ptp(tri[:, :, :2], axis=1).max(1)
    tri = tri[reach]  # only triangles that can lie under a probe
    a = tri[:, 0, :2]
    v0, v1 = tri[:, 1, :2] - a, tri[:, 2, :2] - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    best = -np.inf
    for probe in probes:
        v2 = probe - a
        u = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        w = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        inside = ok & (u >= 0) & (w >= 0) & (u + w <= 1)
        if inside.any():
            z = (1 - u - w) * tri[:, 0, 2] + u * tri[:, 1, 2] + w * tri[:, 2, 2]
            best = max(best, float(z[inside].max()))
    return point.copy() if best == -np.inf else np.array([point[0], point[1], best])


def _ears(face: np.ndarray, points: dict[str, np.ndarray], width: float) -> dict[str, np.ndarray]:
    """The lateral extreme on each side between mouth and brow height, far behind the eyes (ears sit about half a
    head's width behind them), where it reaches well beyond the eye's outer corner (a face mask has none)."""
    ears = {}
    low, high = points["mouth_center"][1], points["nasion"][1] + 0.3 * (points["nasion"][1] - points["mouth_center"][1])
    for side, sign in (("left", 1.0), ("right", -1.0)):
        corner = points[f"eye_{side}_outer"]
        behind = (face[:, 1] > low) & (face[:, 1] < high) & (face[:, 2] < corner[2] - 0.45 * width)
        if not behind.any():
            continue
        candidates = np.flatnonzero(behind)
        extreme = candidates[np.argmax(sign * face[candidates, 0])]
        if sign * (face[extreme, 0] - corner[0]) > 0.15 * width:
            ears[f"ear_{side}"] = face[extreme].copy()
    return ears
