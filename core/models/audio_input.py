"""How a network reads audio features: `LayerNorm + Linear`, or their exact fold into one width-sized map.

The denoiser and the personalizer both read the audio encoder's features through `audio_input`. A distilled student
ships with that path folded (core/models/feature_fold.py derives the fold and applies it at export); this module holds
only what the networks need at run time, so the models import it and the fold imports the models, never the reverse.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class FoldedFeatureProjection(nn.Module):
    """`Linear(in -> D) -> LayerNorm(D) -> Linear(D -> out)` as one map from `in` features (see the module docstring)."""

    def __init__(self, in_dim: int, out_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.norm_factor = nn.Parameter(torch.zeros(in_dim + 1, in_dim + 1))  # R: var(x) = |R [h; 1]|^2
        self.weight = nn.Parameter(torch.zeros(out_dim, in_dim))  # M
        self.shift = nn.Parameter(torch.zeros(out_dim))  # m (divided by s with M h)
        self.bias = nn.Parameter(torch.zeros(out_dim))  # k

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # h: (..., in_dim) -> (..., out_dim)
        z = h @ self.norm_factor[:, :-1].T + self.norm_factor[:, -1]  # R [h; 1]: (..., in_dim + 1)
        scale = ((z * z).sum(-1, keepdim=True) + self.eps).rsqrt()  # 1 / s
        return (h @ self.weight.T + self.shift) * scale + self.bias


def audio_input(audio_dim: int, width: int, folded: bool) -> tuple[nn.Module, nn.Module]:
    """The (norm, projection) pair through which a network reads audio features: LayerNorm + Linear, or their fold
    (the shipped student's denoiser and personalizer)."""
    if folded:
        return nn.Identity(), FoldedFeatureProjection(audio_dim, width)
    return nn.LayerNorm(audio_dim), nn.Linear(audio_dim, width)
