"""`python -m core plot-takes A.npz B.npz ... --out takes.png`: animations side by side, one column per take.

Rows: jaw and lips (jawOpen, lip aperture, mouthClose), mouth shape (smile, frown, pucker, funnel) and the upper face
(brows, squint, wide, blink), on the same axes scales, so a style swap (same audio, another identity or emotion) reads
at a glance: the lips should agree, the upper face should not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.rig.arkit import channel_index

ROWS: dict[str, tuple[str, ...]] = {
    "jaw & lips": ("jawOpen", "mouthClose"),
    "mouth shape": ("mouthSmileLeft", "mouthFrownLeft", "mouthPucker", "mouthFunnel", "mouthStretchLeft"),
    "upper face": ("browInnerUp", "browOuterUpLeft", "browDownLeft", "eyeSquintLeft", "eyeWideLeft", "eyeBlinkLeft"),
}


def plot_takes(takes: list[Path], out: Path, labels: list[str] | None = None) -> Path:
    from matplotlib.figure import Figure

    from core.rig.lip_measures import lip_aperture

    labels = labels or [Path(t).stem for t in takes]
    if len(labels) != len(takes):
        raise ValueError(f"{len(takes)} takes but {len(labels)} labels")
    data = []
    for path in takes:
        with np.load(path, allow_pickle=False) as z:
            data.append((np.asarray(z["weights"], np.float32), float(z["fps"])))
    figure = Figure(figsize=(5.5 * len(takes), 7.5), layout="constrained")
    axes = figure.subplots(len(ROWS), len(takes), squeeze=False, sharey="row")
    for column, ((weights, fps), label) in enumerate(zip(data, labels, strict=True)):
        t = np.arange(len(weights)) / fps
        for row, (title, names) in enumerate(ROWS.items()):
            ax = axes[row][column]
            for name in names:
                ax.plot(t, weights[:, channel_index(name)], label=name, linewidth=1.2)
            if row == 0:
                ax.plot(t, lip_aperture(weights), color="black", linewidth=1.8, label="lip aperture")
                ax.set_title(label, fontsize=11)
            ax.set_ylabel(title if column == 0 else "")
            ax.grid(alpha=0.3)
            if column == len(takes) - 1:
                ax.legend(fontsize=7, loc="upper right")
        axes[-1][column].set_xlabel("time (s)")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    return out
