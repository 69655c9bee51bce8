"""Closest points on a triangle mesh for many query points, in numpy (no KD-tree): the k nearest vertices by
chunked brute force (a matrix product per chunk), then every triangle around them, exactly (Ericson's regions)."""

from __future__ import annotations

import numpy as np

_CHUNK_ELEMENTS = 4_000_000  # query x point distances held at once (32 MB of float64)


def nearest_vertices(queries: np.ndarray, points: np.ndarray, k: int) -> np.ndarray:
    """(N, k) indices into points of each query's k nearest points (unordered). (N, 3), (M, 3)."""
    k = min(k, len(points))
    q, p = np.asarray(queries, dtype=np.float64), np.asarray(points, dtype=np.float64)
    p_norm = (p**2).sum(axis=1)
    out = np.empty((len(q), k), dtype=np.int64)
    chunk = max(_CHUNK_ELEMENTS // max(len(p), 1), 1)
    for start in range(0, len(q), chunk):
        block = q[start : start + chunk]
        d2 = p_norm[None, :] - 2.0 * block @ p.T  # |q|^2 is the same along a row: not needed to rank
        if k == 1:
            out[start : start + chunk, 0] = d2.argmin(axis=1)
        else:
            out[start : start + chunk] = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return out


def closest_points_on_mesh(
    queries: np.ndarray, vertices: np.ndarray, triangles: np.ndarray, k: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query: the triangle holding its closest surface point among the triangles around its k nearest
    vertices, that point's barycentric coordinates and its distance. Returns (N,) int, (N, 3), (N,)."""
    triangles = np.asarray(triangles, dtype=np.int64)
    used = np.unique(triangles)
    incident = _incident_triangles(triangles, len(vertices))  # (V, D), -1 padded
    nearest = used[nearest_vertices(queries, vertices[used], k)]  # (N, k)
    candidates = incident[nearest].reshape(len(queries), -1)  # (N, k * D)
    rows, slots = np.nonzero(candidates >= 0)
    tri = candidates[rows, slots]
    a, b, c = (vertices[triangles[tri, i]].astype(np.float64) for i in range(3))
    bary = closest_barycentric(np.asarray(queries, dtype=np.float64)[rows], a, b, c)
    point = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    distance = np.linalg.norm(point - queries[rows], axis=1)
    # Per query, the candidate with the smallest distance: sort by (row, distance), keep each row's first.
    order = np.lexsort((distance, rows))
    first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
    best_tri = np.full(len(queries), -1, dtype=np.int64)
    best_bary = np.zeros((len(queries), 3))
    best_distance = np.full(len(queries), np.inf)
    best_tri[rows[first]], best_bary[rows[first]], best_distance[rows[first]] = tri[first], bary[first], distance[first]
    return best_tri, best_bary, best_distance


def closest_barycentric(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (M, 3) of the closest point to p on triangle abc, all (M, 3) (Ericson 5.1.5)."""

    def dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (u * v).sum(axis=1)

    ab, ac, ap, bp, cp = b - a, c - a, p - a, p - b, p - c
    d1, d2, d3, d4, d5, d6 = dot(ab, ap), dot(ac, ap), dot(ab, bp), dot(ac, bp), dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    def safe(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.where(np.abs(den) > 1e-30, num / np.where(np.abs(den) > 1e-30, den, 1.0), 0.0)

    total = va + vb + vc
    v, w = safe(vb, total), safe(vc, total)
    out = np.stack([1.0 - v - w, v, w], axis=1)  # inside the triangle
    regions = (
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), "bc"),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), "ac"),
        ((d6 >= 0) & (d5 <= d6), "c"),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), "ab"),
        ((d3 >= 0) & (d4 <= d3), "b"),
        ((d1 <= 0) & (d2 <= 0), "a"),
    )  # later regions take precedence, as in Ericson's order of tests
    for mask, region in regions:
        if not mask.any():
            continue
        if region == "bc":
            t = safe(d4 - d3, (d4 - d3) + (d5 - d6))
            value = np.stack([np.zeros_like(t), 1.0 - t, t], axis=1)
        elif region == "ac":
            t = safe(d2, d2 - d6)
            value = np.stack([1.0 - t, np.zeros_like(t), t], axis=1)
        elif region == "ab":
            t = safe(d1, d1 - d3)
            value = np.stack([1.0 - t, t, np.zeros_like(t)], axis=1)
        else:
            value = np.tile(np.eye(3)["abc".index(region)], (len(p), 1))
        out = np.where(mask[:, None], value, out)
    return out


def _incident_triangles(triangles: np.ndarray, vertex_count: int) -> np.ndarray:
    """(V, D) indices of the triangles around each vertex, -1 padded (D the largest valence)."""
    corners = triangles.ravel()
    owner = np.repeat(np.arange(len(triangles)), 3)
    order = np.argsort(corners, kind="stable")
    corners, owner = corners[order], owner[order]
    counts = np.bincount(corners, minlength=vertex_count)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(corners)) - starts[corners]
    out = np.full((vertex_count, max(int(counts.max()), 1)), -1, dtype=np.int64)
    out[corners, slot] = owner
    return out
