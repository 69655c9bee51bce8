"""BEAT facial capture: `{"names": [...], "frames": [{"weights": [...], "time": t}, ...]}` at 60 fps + a wav.

File names follow `<speaker id>_<speaker name>_<recording type>_<start>_<end>.json` (e.g. `2_scott_0_1_1.json`);
the speaker name becomes the clip's speaker. BEAT's emotion labels live in a separate annotation, not in
these files, so the emotion is "neutral" unless the caller passes one. BEAT's json has 51 names (no
tongueOut): that channel comes back as missing, filled with 0.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from core.data.clip import Clip
from core.data.datasets.channels import match_arkit_channels
from core.data.datasets.imported_clip import (
    DatasetError,
    ImportedClip,
    audio_beside,
    length_mismatch_note,
    load_clip_audio,
    require_numeric,
)
from core.data.resample import resample_timed_weights, resample_weights

BEAT_FPS = 60.0
_BEAT_NAME = re.compile(r"^(?P<id>\d+)_(?P<speaker>[A-Za-z]+)_(?P<type>\d+)_(?P<start>\d+)_(?P<end>\d+)$")


def beat_speaker(path: Path) -> str | None:
    """The speaker name from a BEAT file name (`2_scott_0_1_1.json` -> 'scott'), or None if it is not one."""
    match = _BEAT_NAME.match(path.stem)
    return match.group("speaker").lower() if match else None


def load_beat_clip(
    json_path: Path | str,
    fps: float = 30.0,
    audio_path: Path | str | None = None,
    speaker: str | None = None,
    emotion: str | None = None,
) -> ImportedClip:
    """Read one BEAT json (+ the same-stem audio beside it unless `audio_path` is given) at `fps`.

    Frames with `time` stamps are placed by them (robust to dropped frames); otherwise 60 fps is assumed.
    """
    path = Path(json_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        names = [str(n) for n in doc["names"]]
        frames = doc["frames"]
        values = np.array([frame["weights"] for frame in frames], dtype=np.float32)  # (frames, names)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DatasetError(
            f"'{path}' is not a BEAT facial json ({type(exc).__name__}: {exc}); expected "
            '{"names": [...], "frames": [{"weights": [...], "time": t}, ...]}.'
        ) from None
    if values.ndim != 2 or values.shape[1] != len(names) or values.shape[0] == 0:
        raise DatasetError(
            f"'{path}': every frame must have one weight per name ({len(names)}); got shape {values.shape}"
        )
    match = match_arkit_channels(names, source=str(path))
    weights = require_numeric(match.to_arkit(values), path)

    notes: list[str] = []
    times = _frame_times(frames)
    if times is not None:
        weights = resample_timed_weights(weights, times, fps)
    else:
        notes.append(f"no usable per-frame 'time'; assumed {BEAT_FPS:g} fps")
        weights = resample_weights(weights, BEAT_FPS, fps)

    audio_file = Path(audio_path) if audio_path is not None else audio_beside(path)
    audio = load_clip_audio(audio_file, path)
    if audio is None:
        notes.append("no audio found beside it")
    notes += length_mismatch_note(len(weights), fps, audio)
    clip = Clip(
        weights=np.clip(weights, 0.0, 1.0),
        fps=fps,
        audio=audio,
        speaker=speaker or beat_speaker(path) or "unknown",
        emotion=emotion or "neutral",
    )
    return ImportedClip(clip, path, match.missing, match.unknown, notes)


def _frame_times(frames: list) -> np.ndarray | None:
    """Per-frame times when every frame has one and they increase, else None."""
    try:
        times = np.array([float(frame["time"]) for frame in frames], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if times.size < 2 or np.any(np.diff(times) <= 0):
        return None
    return times
