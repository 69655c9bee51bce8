"""Writing an Animation to disk: `.npz` (weights, names, fps) or a Live Link Face style `.csv`.

The csv is what Live Link Face exports and Unreal / iClone / most ARKit pipelines read:
`Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut` with capitalised ARKit names and `HH:MM:SS:FF.fff`
timecodes at the animation's frame rate (core/data/datasets/live_link_face.py reads it back).

Writing is all or nothing: the file is written under a temporary name in the same folder and renamed into place,
so a full disk or a killed process never leaves a half-written take under the requested name.
"""

from __future__ import annotations

import os
import tempfile
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


OUTPUT_SUFFIXES = (".npz", ".csv")


class OutputPathError(RuntimeError):
    """The output file cannot be written; the message names the path and what to do."""


def check_output_path(out: Path | str, option: str = "--out") -> Path:
    """Refuse, before any work, an output the animation could not be written to: a wrong suffix, a folder of that
    name, a parent that is a file, a folder that does not accept new files. The parent folder is created."""
    out = Path(out).expanduser()
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"{option} '{out}': use a .npz (weights, names, fps) or .csv (Live Link Face) file name")
    if out.is_dir():
        raise OutputPathError(f"{option} '{out}' is a folder; name a file inside it, e.g. '{out / 'take'}{out.suffix}'")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".check"):
            pass  # the folder takes new files (what the atomic write needs)
    except OSError as exc:
        raise OutputPathError(f"{option} '{out}' cannot be written: {_reason(exc)}; choose another folder") from None
    return out


def _reason(exc: OSError) -> str:
    return str(exc.strerror or exc)  # not exc.filename: that is the temporary name, not the user's


def write_animation(animation: Animation, out: Path) -> Path:
    """Write to `out` by its suffix (.npz or .csv); the folder is created. OutputPathError when the write fails,
    with nothing left behind."""
    out = Path(out)
    weights = np.asarray(animation.weights, np.float32)  # (frames, 52)
    if weights.ndim != 2 or weights.shape[1] != len(ARKIT_NAMES):
        raise ValueError(f"animation weights must be (frames, 52), got {weights.shape}")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"cannot write '{out.name}': use a .npz or .csv output file")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".partial", delete=False)
    except OSError as exc:
        raise OutputPathError(f"'{out}' cannot be written: {_reason(exc)}; choose another folder") from None
    partial = Path(handle.name)
    try:
        with handle:
            if out.suffix.lower() == ".npz":
                np.savez_compressed(handle, weights=weights, names=np.array(ARKIT_NAMES), fps=np.float32(animation.fps))
            else:
                handle.write(_live_link_face_csv(weights, animation.fps).encode())
        os.chmod(partial, 0o666 & ~_umask())  # a temporary file is private (0600); the take is an ordinary file
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputPathError(f"writing '{out}' failed: {_reason(exc)}; nothing was written") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _live_link_face_csv(weights: np.ndarray, fps: float) -> str:
    header = ["Timecode", "BlendShapeCount", *[n[0].upper() + n[1:] for n in ARKIT_NAMES]]
    lines = [",".join(header)]
    for frame, row in enumerate(weights):
        values = ",".join(f"{v:.6f}" for v in row)
        lines.append(f"{_timecode(frame, fps)},{len(ARKIT_NAMES)},{values}")
    return "\n".join(lines) + "\n"
