"""Fitting the template face to a target: a similarity from the landmarks, then a smooth landmark-driven warp.

The warp maps the target's face coordinates into the template's: q = s R p + t + sum_i w_i g(|s R p + t - c_i|),
g a Gaussian whose width is a quarter of the face height, so each landmark pulls its neighbourhood exactly onto the
template's landmark and the pull fades with distance (far from the face the map is the similarity alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def similarity_transform(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R, t with target ~ s R source + t (Umeyama; R a proper rotation). (K, 3), (K, 3)."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    a, b = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(b.T @ a / len(a))
    d = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2, 2] = -1.0
    rotation = u @ d @ vt
    variance = (a**2).sum() / len(a)
    scale = float(np.trace(np.diag(sigma) @ d) / variance) if variance > 0 else 1.0
    return scale, rotation, mu_t - scale * rotation @ mu_s


@dataclass(frozen=True)
class LandmarkWarp:
    """Target face coordinates -> template face coordinates (see the module docstring)."""

    scale: float
    rotation: np.ndarray  # (3, 3)
    shift: np.ndarray  # (3,)
    centers: np.ndarray  # (K, 3) the target's landmarks after the similarity
    weights: np.ndarray  # (K, 3)
    width: float  # Gaussian width, template units

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) -> (N, 3)."""
        p = np.asarray(points, dtype=np.float64) @ (self.scale * self.rotation).T + self.shift
        return p + self._kernel(p) @ self.weights

    def similarity(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) -> (N, 3): the similarity part alone."""
        return np.asarray(points, dtype=np.float64) @ (self.scale * self.rotation).T + self.shift

    def vectors_to_target(self, vectors: np.ndarray) -> np.ndarray:
        """(N, 3) offsets in template units -> the target's face coordinates (the similarity's inverse)."""
        return np.asarray(vectors, dtype=np.float64) @ self.rotation / self.scale

    def _kernel(self, p: np.ndarray) -> np.ndarray:
        d2 = ((p[:, None, :] - self.centers[None, :, :]) ** 2).sum(axis=2)  # (N, K)
        return np.exp(-0.5 * d2 / self.width**2)


def fit_landmark_warp(target: np.ndarray, template: np.ndarray, face_height: float) -> LandmarkWarp:
    """The warp taking each target landmark onto its template landmark. (K, 3) each; face_height in template units."""
    scale, rotation, shift = similarity_transform(target, template)
    centers = target @ (scale * rotation).T + shift
    width = 0.25 * face_height
    warp = LandmarkWarp(scale, rotation, shift, centers, np.zeros((len(centers), 3)), width)
    kernel = warp._kernel(centers) + 1e-6 * np.eye(len(centers))
    weights = np.linalg.solve(kernel, template - centers)
    return LandmarkWarp(scale, rotation, shift, centers, weights, width)
