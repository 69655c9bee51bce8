"""A small linear basis for vertex motion (PCA of per-frame offsets from each subject's neutral template).

VOCASET-style data moves 5023 vertices; in Blender that becomes k basis shape keys (mean offset + components)
whose weights are animated, so a model predicts (frames, k) coefficients instead of (frames, 5023, 3).

The fit never holds all frames in memory: the mean and a subspace iteration stream over the sequences
(sequences may be numpy memmaps or lazily loaded), so a full VOCASET (~120k frames x 15k values) fits
in a few hundred MB. Small inputs use an exact SVD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

_EXACT_LIMIT = 20_000_000  # frames x values up to which the exact SVD is used (80 MB in float32)
_CHUNK_FRAMES = 2048


def basis_key_names(num_components: int) -> tuple[str, ...]:
    """Shape-key / channel names of the basis components in Blender: 'motion_pc00', 'motion_pc01', ..."""
    return tuple(f"motion_pc{i:02d}" for i in range(num_components))


@dataclass
class MotionBasis:
    mean_offset: np.ndarray  # (V, 3) float32: average offset from the template over all fitted frames
    components: np.ndarray  # (k, V, 3) float32: orthonormal directions (as flat vectors), largest variance first
    explained_variance: np.ndarray  # (k,) float32: variance of the coefficient of each component
    total_variance: float  # summed variance of all offsets, so explained_ratio needs no second pass
    template: np.ndarray | None = None  # (V, 3) float32 neutral mesh the offsets are added to (for Blender)

    @property
    def num_components(self) -> int:
        return int(self.components.shape[0])

    @property
    def num_vertices(self) -> int:
        return int(self.components.shape[1])

    @property
    def key_names(self) -> tuple[str, ...]:
        return basis_key_names(self.num_components)

    @property
    def explained_ratio(self) -> float:
        """Fraction of the fitted motion's variance the k components keep."""
        return float(self.explained_variance.sum() / self.total_variance) if self.total_variance > 0 else 1.0

    def project(self, offsets: np.ndarray) -> np.ndarray:
        """(frames, V, 3) offsets from the template -> (frames, k) float32 coefficients."""
        flat = self._flat_frames(offsets) - self.mean_offset.reshape(1, -1)
        return (flat @ self.components.reshape(self.num_components, -1).T).astype(np.float32)

    def reconstruct(self, coefficients: np.ndarray) -> np.ndarray:
        """(frames, k) coefficients -> (frames, V, 3) float32 offsets from the template."""
        coefficients = np.asarray(coefficients, dtype=np.float32).reshape(-1, self.num_components)
        flat = coefficients @ self.components.reshape(self.num_components, -1) + self.mean_offset.reshape(1, -1)
        return flat.reshape(-1, self.num_vertices, 3)

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "mean_offset": self.mean_offset.astype(np.float32),
            "components": self.components.astype(np.float32),
            "explained_variance": self.explained_variance.astype(np.float32),
            "total_variance": np.float64(self.total_variance),
        }
        if self.template is not None:
            arrays["template"] = self.template.astype(np.float32)
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, path: Path | str) -> MotionBasis:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                mean_offset=data["mean_offset"],
                components=data["components"],
                explained_variance=data["explained_variance"],
                total_variance=float(data["total_variance"]),
                template=data["template"] if "template" in data.files else None,
            )

    def _flat_frames(self, offsets: np.ndarray) -> np.ndarray:
        offsets = np.asarray(offsets, dtype=np.float32)
        if offsets.ndim == 2 and offsets.shape[1] == self.num_vertices * 3:
            return offsets
        if offsets.shape[1:] != (self.num_vertices, 3):
            raise ValueError(f"offsets must be (frames, {self.num_vertices}, 3), got {offsets.shape}")
        return offsets.reshape(offsets.shape[0], -1)


def fit_motion_basis(
    offsets_list: Sequence[np.ndarray],
    k: int,
    template: np.ndarray | None = None,
    method: Literal["auto", "exact", "streaming"] = "auto",
    iterations: int = 6,
    seed: int = 0,
) -> MotionBasis:
    """PCA of vertex offsets: k components (float32) from sequences of (frames, V, 3) offsets.

    Each item of `offsets_list` is read once per pass (the streaming method makes `iterations` + 2 passes),
    so items may be memmaps or lazily computed. `template` is stored with the basis for Blender.
    """
    if len(offsets_list) == 0:
        raise ValueError("fit_motion_basis needs at least one sequence of offsets")
    num_vertices = int(np.asarray(offsets_list[0]).shape[1])
    dims = num_vertices * 3

    def chunks():
        for item in offsets_list:
            item = np.asarray(item)
            if item.ndim != 3 or item.shape[1:] != (num_vertices, 3):
                raise ValueError(f"every sequence must be (frames, {num_vertices}, 3), got {item.shape}")
            for start in range(0, item.shape[0], _CHUNK_FRAMES):
                yield np.asarray(item[start : start + _CHUNK_FRAMES], dtype=np.float64).reshape(-1, dims)

    total = np.zeros(dims)
    sum_squares = 0.0
    num_frames = 0
    for chunk in chunks():
        total += chunk.sum(axis=0)
        sum_squares += float(np.square(chunk).sum())
        num_frames += chunk.shape[0]
    if num_frames < 2:
        raise ValueError("fit_motion_basis needs at least 2 frames in all")
    mean = total / num_frames
    total_variance = (sum_squares - num_frames * float(mean @ mean)) / (num_frames - 1)
    k = int(min(k, num_frames - 1, dims))
    if k < 1:
        raise ValueError("k must be at least 1")

    if method == "exact" or (method == "auto" and num_frames * dims <= _EXACT_LIMIT):
        centered = np.concatenate([chunk - mean for chunk in chunks()])
        _, singular, vt = np.linalg.svd(centered, full_matrices=False)
        directions, variances = vt[:k], singular[:k] ** 2 / (num_frames - 1)
    else:
        directions, variances = _streaming_top_components(chunks, mean, k, iterations, seed, num_frames)

    # Fix each component's sign (largest entry positive) so refits give identical shape keys.
    signs = np.sign(directions[np.arange(k), np.argmax(np.abs(directions), axis=1)])
    directions = directions * np.where(signs == 0, 1.0, signs)[:, None]
    return MotionBasis(
        mean_offset=mean.reshape(num_vertices, 3).astype(np.float32),
        components=directions.reshape(k, num_vertices, 3).astype(np.float32),
        explained_variance=variances.astype(np.float32),
        total_variance=float(total_variance),
        template=None if template is None else np.asarray(template, dtype=np.float32).reshape(num_vertices, 3),
    )


def _streaming_top_components(chunks, mean: np.ndarray, k: int, iterations: int, seed: int, num_frames: int):
    """Top-k eigenvectors of the offsets' covariance by subspace iteration, one streamed pass per step."""
    width = min(k + 10, mean.size)  # oversampling makes the top k converge fast
    basis = np.linalg.qr(np.random.default_rng(seed).standard_normal((mean.size, width)))[0]
    for _ in range(max(iterations, 1)):
        product = np.zeros_like(basis)
        for chunk in chunks():
            centered = chunk - mean
            product += centered.T @ (centered @ basis)  # covariance @ basis without forming the covariance
        basis = np.linalg.qr(product)[0]
    small = np.zeros((width, width))
    for chunk in chunks():
        projected = (chunk - mean) @ basis
        small += projected.T @ projected
    eigenvalues, eigenvectors = np.linalg.eigh(small)
    order = np.argsort(eigenvalues)[::-1][:k]
    return (basis @ eigenvectors[:, order]).T, eigenvalues[order] / (num_frames - 1)
