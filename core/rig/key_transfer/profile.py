"""Vertical slices of a mesh: where its surface crosses a plane x = const, seen from the front."""

from __future__ import annotations

import numpy as np


def surface_profile(
    face: np.ndarray,
    triangles: np.ndarray,
    x0: float,
    bin_size: float,
    smooth_bins: float,
    y_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The most forward z of the surface where it crosses x = x0, at heights bin_size apart: (B,) ys, (B,) zs.

    face: (V, 3) face coordinates (x left, y up, z front); triangles: (F, 3). Heights where nothing crosses (a
    mouth left open, a hole) become a notch deeper than either side, so an opening reads like a crease."""
    tri = face[triangles]  # (F, 3, 3)
    side = tri[:, :, 0] >= x0
    tri = tri[side.any(axis=1) & ~side.all(axis=1)]
    if len(tri) == 0:
        return np.zeros(0), np.zeros(0)
    ends = []
    for a, b in ((0, 1), (1, 2), (2, 0)):  # a crossing triangle has two crossing edges: its segment's ends
        pa, pb = tri[:, a], tri[:, b]
        crosses = (pa[:, 0] >= x0) != (pb[:, 0] >= x0)
        t = np.where(crosses, (x0 - pa[:, 0]) / np.where(crosses, pb[:, 0] - pa[:, 0], 1.0), np.nan)
        ends.append(pa[:, 1:] + t[:, None] * (pb[:, 1:] - pa[:, 1:]))  # (F', 2) y, z; nan where not crossing
    ends = np.stack(ends, axis=1)  # (F', 3, 2)
    ok = ~np.isnan(ends[:, :, 0])
    first = np.argmax(ok, axis=1)
    second = 2 - np.argmax(ok[:, ::-1], axis=1)
    seg = np.stack([ends[np.arange(len(ends)), first], ends[np.arange(len(ends)), second]], axis=1)  # (F', 2, 2)
    lo, hi = (seg[:, :, 0].min(), seg[:, :, 0].max()) if y_range is None else y_range
    keep = (seg[:, :, 0].max(axis=1) >= lo) & (seg[:, :, 0].min(axis=1) <= hi)
    seg = seg[keep]
    ys = np.arange(lo, hi + bin_size, bin_size)
    if len(seg) == 0 or len(ys) < 2:
        return np.zeros(0), np.zeros(0)
    zs = np.full(len(ys), -np.inf)
    # Rasterise the segments: sample each at half-bin spacing and keep the most forward z per bin.
    samples = np.minimum(np.ceil(np.abs(seg[:, 1, 0] - seg[:, 0, 0]) / (0.5 * bin_size)).astype(int), 4 * len(ys)) + 2
    owner = np.repeat(np.arange(len(seg)), samples)
    t = np.concatenate([np.linspace(0.0, 1.0, n) for n in samples])
    y = seg[owner, 0, 0] + t * (seg[owner, 1, 0] - seg[owner, 0, 0])
    z = seg[owner, 0, 1] + t * (seg[owner, 1, 1] - seg[owner, 0, 1])
    inside = (y >= lo - 0.5 * bin_size) & (y <= ys[-1] + 0.5 * bin_size)
    np.maximum.at(zs, np.clip(((y[inside] - lo) / bin_size).round().astype(int), 0, len(ys) - 1), z[inside])
    empty = ~np.isfinite(zs)
    if empty.all():
        return np.zeros(0), np.zeros(0)
    if empty.any():  # gaps: a notch below the lower of the two sides
        filled = np.flatnonzero(~empty)
        left = np.searchsorted(filled, np.flatnonzero(empty)) - 1
        lz = zs[filled[np.clip(left, 0, len(filled) - 1)]]
        rz = zs[filled[np.clip(left + 1, 0, len(filled) - 1)]]
        depth = 0.05 * (ys[-1] - ys[0])
        zs[empty] = np.minimum(lz, rz) - depth
    if smooth_bins > 0:
        half = int(np.ceil(2 * smooth_bins))
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / smooth_bins) ** 2)
        zs = np.convolve(np.pad(zs, half, mode="edge"), kernel / kernel.sum(), mode="valid")
    return ys, zs
