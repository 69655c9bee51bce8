"""The two pieces every training loop here shares: a progress bar and one optimiser step."""

from __future__ import annotations

import sys

import torch


def optimizer_step(optimizer, params, total: torch.Tensor, losses: dict, bar, shown: str) -> dict[str, float]:
    """Backward, clip, step; the losses as floats (the `shown` one on the progress bar)."""
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    last = {k: float(v.detach()) for k, v in losses.items()}
    if bar is not None:
        bar.update(1)
        bar.set_postfix_str(f"{shown} {last[shown]:.4f}")
    return last


def progress_bar(total: int, desc: str, progress: bool):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr)
