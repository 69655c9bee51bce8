"""The lines where a target's lips meet and its lids meet, found on the target itself.

Keeping upper and lower lips apart needs the target's own mouth line to within a fraction of a millimetre, finer
than any landmark fit: it is tracked column by column (vertical slices of the mesh, x fixed) as the deepest notch of
the surface near the previous column's, from the middle of the mouth out to its corners. A closed mouth is a crease,
an open or hollow one a gap or a deep tunnel: all are notches. The eyes are tracked the same way when their opening
is a hole or a socket (game and MakeHuman heads); a scan's eyeball bulges instead, and then the template's lid line
is used (found is False).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.rig.key_transfer.profile import surface_profile

_STEPS = 14  # columns per half opening
_FADE = 0.25  # an opening ends where its notch is shallower than this fraction of its depth in the middle


@dataclass(frozen=True)
class OpeningTrack:
    points: np.ndarray  # (K, 2) x, y of the notch, sorted by x, face coordinates
    depths: np.ndarray  # (K,) notch depth at each point
    found: bool  # a clear notch in the middle
    aperture: float = 0.0  # the notch height where 95% as deep, in the middle (how far apart the lids are)


def track_opening(
    face: np.ndarray,
    triangles: np.ndarray,
    middle: np.ndarray,
    ends_x: tuple[float, float],
    window: float,
    stop_when_faded: bool,
    min_depth: float,
) -> OpeningTrack:
    """Track the notch from `middle` (x, y) towards ends_x[0] and ends_x[1]; window: how far up or down (face
    units) the notch is looked for around the previous column's. With stop_when_faded the track ends where the
    notch fades (finding the corners); without it, it runs to ends_x (corners given)."""
    lo, hi = min(ends_x) - window, max(ends_x) + window
    near = (face[triangles][:, :, 0].max(axis=1) >= lo) & (face[triangles][:, :, 0].min(axis=1) <= hi)
    region = triangles[near]  # only the triangles over the opening's columns
    center = _notch(face, region, float(middle[0]), float(middle[1]), 1.5 * window)
    if center is None or center[1] < min_depth:
        return OpeningTrack(np.array([[middle[0], middle[1]]]), np.zeros(1), False)
    aperture = center[2]
    points, depths = [(float(middle[0]), center[0])], [center[1]]
    for end in ends_x:
        y_prev = center[0]
        for x in np.linspace(float(middle[0]), end, _STEPS + 1)[1:]:
            found = _notch(face, region, float(x), y_prev, window)
            if found is None or (stop_when_faded and found[1] < _FADE * center[1]):
                break
            y_prev = found[0]
            points.append((float(x), y_prev))
            depths.append(found[1])
    order = np.argsort([p[0] for p in points])
    return OpeningTrack(np.array(points)[order], np.array(depths)[order], True, aperture)


def _notch(
    face: np.ndarray, triangles: np.ndarray, x: float, y: float, window: float
) -> tuple[float, float, float] | None:
    """The deepest notch of the slice x = const within y +- window: (its y, its depth below the lower of the
    highest points on either side, its height where it is 95% as deep), or None where the slice has no notch."""
    ys, zs = surface_profile(
        face, triangles, x, bin_size=window / 40, smooth_bins=1.0, y_range=(y - window, y + window)
    )
    if len(ys) < 5:
        return None
    i = int(np.argmin(zs))
    if i == 0 or i == len(zs) - 1:
        return None
    depth = min(zs[:i].max(), zs[i + 1 :].max()) - zs[i]
    # A gap or a filled opening has a flat bottom: the line is the middle of the run within 15% of the bottom.
    bottom = zs <= zs[i] + 0.15 * depth
    top_end = i + (int(np.argmin(bottom[i:])) if not bottom[i:].all() else len(zs) - i)
    low_end = i - (int(np.argmin(bottom[i::-1])) if not bottom[i::-1].all() else i + 1)
    i = (top_end - 1 + low_end + 1) // 2
    shallow = zs > zs[i] + 0.95 * depth
    top = i + (int(np.argmax(shallow[i:])) if shallow[i:].any() else len(zs) - 1 - i)
    bottom = i - (int(np.argmax(shallow[i::-1])) if shallow[i::-1].any() else i)
    return float(ys[i]), float(depth), float(ys[top] - ys[bottom])
