"""Writing an Animation to disk: `.npz` (weights, names, fps) or a Live Link Face style `.csv`.

The csv is what Live Link Face exports and Unreal / iClone / most ARKit pipelines read:
`Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut` with capitalised ARKit names and `HH:MM:SS:FF.fff`
timecodes at the animation's frame rate (core/data/datasets/live_link_face.py reads it back).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.animation_job import Animation
from core.rig.arkit import ARKIT_NAMES


def _timecode(frame: int, fps: float) -> str:
    """`HH:MM:SS:FF.fff` of a frame: FF counts frames within the second, .fff is a fraction of a frame."""
    time = frame / fps
    whole_seconds = int(time + 1e-9)
    frames_in = round((time - whole_seconds) * fps, 3)
    hours, rest = divmod(whole_seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{int(frames_in):02d}.{round((frames_in % 1) * 1000):03d}"


def write_animation(animation: Animation, out: Path) -> Path:
    """Write to `out` by its suffix (.npz or .csv); the folder is created."""
    out = Path(out)
    weights = np.asarray(animation.weights, np.float32)  # (frames, 52)
    if weights.ndim != 2 or weights.shape[1] != len(ARKIT_NAMES):
        raise ValueError(f"animation weights must be (frames, 52), got {weights.shape}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npz":
        np.savez_compressed(out, weights=weights, names=np.array(ARKIT_NAMES), fps=np.float32(animation.fps))
    elif out.suffix.lower() == ".csv":
        header = ["Timecode", "BlendShapeCount", *[n[0].upper() + n[1:] for n in ARKIT_NAMES]]
        lines = [",".join(header)]
        for frame, row in enumerate(weights):
            values = ",".join(f"{v:.6f}" for v in row)
            lines.append(f"{_timecode(frame, animation.fps)},{len(ARKIT_NAMES)},{values}")
        out.write_text("\n".join(lines) + "\n")
    else:
        raise ValueError(f"cannot write '{out.name}': use a .npz or .csv output file")
    return out
