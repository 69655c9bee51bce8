"""Which way a head mesh faces: a frame with x the character's left, y up and z out of the face.

A mesh comes in any units and any of the 24 axis-aligned orientations (Blender's Z up / -Y front, an OBJ's Y up /
+Z front, a scan's own). The frame is chosen from the vertices alone: the up-down axis is the longest (a head is
taller than deep or wide), the left-right axis the one the mesh is mirror-symmetric across, the front the side with
the sharpest peak (the nose tip; a skull's back is a gentle dome), and up the side where the nose's profile falls
gently (the bridge) rather than steeply (under the nose). Either axis can be given instead, which fixes that choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.rig.key_transfer.profile import surface_profile

AXES: dict[str, tuple[float, float, float]] = {
    "+X": (1.0, 0.0, 0.0),
    "-X": (-1.0, 0.0, 0.0),
    "+Y": (0.0, 1.0, 0.0),
    "-Y": (0.0, -1.0, 0.0),
    "+Z": (0.0, 0.0, 1.0),
    "-Z": (0.0, 0.0, -1.0),
}
_SAMPLE = 1500  # vertices sampled for the symmetry test (seeded)


class FaceNotFoundError(ValueError):
    """The mesh does not look like a front-facing head (or its landmarks cannot be found)."""


@dataclass(frozen=True)
class FaceFrame:
    """Mesh coordinates <-> face coordinates (x the character's left, y up, z out of the face; the mesh's units)."""

    rotation: np.ndarray  # (3, 3) rows: the left, up and front unit vectors in mesh coordinates (a proper rotation)
    center: np.ndarray  # (3,) the face frame's origin in mesh coordinates (the bounding box centre)

    @property
    def front(self) -> np.ndarray:
        return self.rotation[2]

    @property
    def up(self) -> np.ndarray:
        return self.rotation[1]

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) mesh coordinates -> (N, 3) face coordinates."""
        return (np.asarray(points, dtype=np.float64) - self.center) @ self.rotation.T

    def to_mesh(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) face coordinates -> (N, 3) mesh coordinates."""
        return np.asarray(points, dtype=np.float64) @ self.rotation + self.center

    def vectors_to_mesh(self, vectors: np.ndarray) -> np.ndarray:
        """(..., 3) offsets in face coordinates -> the same offsets in mesh coordinates."""
        return np.asarray(vectors, dtype=np.float64) @ self.rotation


def face_frame(vertices: np.ndarray, front: str, up: str) -> FaceFrame:
    """The frame for a mesh whose face looks along `front` with `up` up (axis names as in AXES, e.g. "-Y", "+Z")."""
    f, u = _axis(front), _axis(up)
    if abs(float(f @ u)) > 1e-6:
        raise ValueError(f"front {front} and up {up} must be perpendicular axes")
    rotation = np.stack([np.cross(u, f), u, f])  # left = up x front keeps the frame right-handed
    v = np.asarray(vertices, dtype=np.float64)
    return FaceFrame(rotation, (v.min(axis=0) + v.max(axis=0)) / 2)


def guess_face_frame(
    vertices: np.ndarray, front: str | None = None, up: str | None = None, triangles: np.ndarray | None = None
) -> FaceFrame:
    """The most likely face frame among the 24 axis-aligned ones (`front` / `up` fix those axes when given).
    With the (F, 3) triangles the nose's profile is read from the surface, which is surer on a coarse mesh."""
    v = np.asarray(vertices, dtype=np.float64)
    if len(v) < 20 or not np.isfinite(v).all():
        raise FaceNotFoundError(f"a head mesh needs at least 20 finite vertices; this one has {len(v)}")
    candidates = [
        (f, u) for f in AXES for u in AXES if f[1] != u[1] and (front is None or f == front) and (up is None or u == up)
    ]
    if not candidates:
        raise ValueError(f"front {front} and up {up} must be two different axes among {', '.join(AXES)}")
    center = (v.min(axis=0) + v.max(axis=0)) / 2
    extent = np.ptp(v, axis=0)
    # 1. The up-down axis: a head (with or without its neck) is taller than it is deep or wide.
    up_axes = sorted({u[1] for _, u in candidates}, key=lambda a: -extent["XYZ".index(a)])
    candidates = [(f, u) for f, u in candidates if u[1] == up_axes[0]]
    # 2. The left-right axis: the one the mesh is most nearly mirror-symmetric across.
    lateral_axes = sorted({"XYZ".index(({"X", "Y", "Z"} - {f[1], u[1]}).pop()) for f, u in candidates})
    errors = {axis: _mirror_error(v - center, axis) for axis in lateral_axes}
    lateral = min(errors, key=errors.get)
    candidates = [(f, u) for f, u in candidates if "XYZ"[lateral] not in (f[1], u[1])]
    # The front: the side with the sharpest peak (the nose tip; the back of a skull is a gentle dome).
    fronts = sorted({f for f, _ in candidates})
    if len(fronts) > 1:
        sharpness = {f: _peak_sharpness(v - center, _axis(f), lateral) for f in fronts}
        best = max(sharpness, key=sharpness.get)
        candidates = [(f, u) for f, u in candidates if f == best]
    # 3. Up: the nose's profile falls steeply below its tip and gently above it.
    if len(candidates) > 1:
        f = candidates[0][0]
        u = next(u for _, u in candidates if u.startswith("+"))
        frame = face_frame(v, f, u)
        if _profile_says_upside_down(frame.to_face(v), triangles):
            u = "-" + u[1]
        candidates = [(f, u)]
    return face_frame(v, *candidates[0])


def _axis(name: str) -> np.ndarray:
    try:
        return np.array(AXES[name.upper()], dtype=np.float64)
    except KeyError:
        raise ValueError(f"unknown axis {name!r}; use one of {', '.join(AXES)}") from None


def _sample(v: np.ndarray, n: int = _SAMPLE) -> np.ndarray:
    if len(v) <= n:
        return v
    return v[np.random.default_rng(0).choice(len(v), n, replace=False)]


def _mirror_error(centered: np.ndarray, axis: int) -> float:
    """Mean distance from each (sampled) vertex's mirror image across the plane through the centre to the mesh."""
    points = _sample(centered)
    mirrored = points.copy()
    mirrored[:, axis] *= -1.0
    d2 = (mirrored**2).sum(1)[:, None] + (points**2).sum(1)[None, :] - 2.0 * mirrored @ points.T
    return float(np.sqrt(np.clip(d2.min(axis=1), 0.0, None)).mean())


def _peak_sharpness(centered: np.ndarray, front: np.ndarray, lateral: int) -> float:
    """How far the most forward vertex near the midline stands out of the surface around it (front side only)."""
    width = np.ptp(centered[:, lateral])
    depth = centered @ front
    central = np.abs(centered[:, lateral]) < 0.12 * width
    if not central.any():
        return 0.0
    tip = np.flatnonzero(central)[np.argmax(depth[central])]
    across = centered - np.outer(depth, front)  # positions in the plane seen from the front
    offset = across - across[tip]
    radius = np.linalg.norm(offset, axis=1)
    ring = (radius > 0.08 * width) & (radius < 0.16 * width)
    if ring.sum() < 8:
        return 0.0
    # The front surface around the tip: the most forward ring vertex in each of 8 directions.
    a, b = (e for e in np.eye(3) if abs(e @ front) < 0.5)  # the two axes across the front (front is axis-aligned)
    angle = np.arctan2(offset[ring] @ b, offset[ring] @ a)
    sector = ((angle + np.pi) / (2 * np.pi) * 8).astype(int).clip(0, 7)
    fronts = [depth[ring][sector == s].max() for s in range(8) if (sector == s).any()]
    if len(fronts) < 8:
        return 0.0  # an open rim, not a peak
    return float((depth[tip] - np.sort(fronts)[-2]) / width)  # the surface falls away in (nearly) every direction


def _profile_says_upside_down(face: np.ndarray, triangles: np.ndarray | None) -> bool:
    """In face coordinates: True when the surface falls away faster above the nose tip than below it."""
    width = np.ptp(face[:, 0])
    central = np.abs(face[:, 0]) < 0.12 * width
    tip = np.flatnonzero(central)[np.argmax(face[central, 2])]
    x0, y0, z0 = face[tip]
    step = 0.07 * width
    if triangles is not None:
        ys, zs = surface_profile(face, np.asarray(triangles, dtype=np.int64), x0, width / 400, 2.0)
        if len(ys) and ys[0] < y0 - step and ys[-1] > y0 + step:
            return bool(np.interp(y0 + step, ys, zs) < np.interp(y0 - step, ys, zs))
    for band in (0.02, 0.04, 0.08):
        strip = np.abs(face[:, 0] - x0) < band * width
        above = strip & (np.abs(face[:, 1] - (y0 + step)) < 0.02 * width)
        below = strip & (np.abs(face[:, 1] - (y0 - step)) < 0.02 * width)
        if above.any() and below.any():
            return bool(z0 - face[above, 2].max() > z0 - face[below, 2].max())
    return False
