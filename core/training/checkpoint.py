"""Resumable training checkpoints as safetensors (no pickle): model, EMA model, optimizer moments, RNG states, step.

AdamW's state is flattened to tensors named `optimizer/<param index>/<key>`; the step counter and the run's config
go into the metadata as JSON. Writes are atomic (temp file + rename) so an interrupted save never leaves a torn file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    ema: torch.nn.Module | None,
    optimizer: torch.optim.Optimizer,
    step: int,
    rng: np.random.Generator,
    extra: dict,
) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        tensors[f"model/{name}"] = value.detach().contiguous().clone()
    if ema is not None:
        for name, value in ema.state_dict().items():
            tensors[f"ema/{name}"] = value.detach().contiguous().clone()
    state = optimizer.state_dict()
    for index, moments in state["state"].items():
        for key, value in moments.items():
            tensors[f"optimizer/{index}/{key}"] = torch.as_tensor(value).detach().contiguous().clone()
    tensors["rng/torch"] = torch.get_rng_state()
    metadata = {
        "step": str(step),
        "numpy_rng": json.dumps(rng.bit_generator.state),
        "param_groups": json.dumps([{k: v for k, v in g.items() if k != "params"} for g in state["param_groups"]]),
        "extra": json.dumps(extra),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    save_file(tensors, str(temporary), metadata=metadata)
    os.replace(temporary, path)


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    ema: torch.nn.Module | None,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
) -> tuple[int, dict]:
    """Restore everything `save_checkpoint` wrote; returns (step, extra)."""
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    if ema is not None:
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema/")})
    state = optimizer.state_dict()
    moments: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            moments.setdefault(int(index), {})[name] = value
    groups = json.loads(metadata["param_groups"])
    for group, saved in zip(state["param_groups"], groups, strict=True):
        group.update(saved)
    state["state"] = moments
    optimizer.load_state_dict(state)
    torch.set_rng_state(tensors["rng/torch"])
    rng.bit_generator.state = json.loads(metadata["numpy_rng"])
    return int(metadata["step"]), json.loads(metadata["extra"])
