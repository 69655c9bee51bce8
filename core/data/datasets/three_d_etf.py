"""3D-ETF (EmoTalk's RAVDESS + HDTF blendshape captures): per-frame ARKit-52 weights at 30 fps + a wav.

Two file kinds:
- `.csv` with a header row of channel names (matched by name; extra columns such as a frame index are ignored);
- `.npy` of shape (frames, 52). It carries no names, so its columns are taken to be in Apple's ARKit order
  (the order 3D-ETF ships); pass `channel_names` when a file uses another order or fewer channels.
RAVDESS-style names (`01-01-03-02-01-01-12`: modality, channel, emotion, intensity, statement, repetition, actor)
give the emotion and the actor as speaker; other files keep the caller's speaker/emotion (default "neutral").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.data.clip import Clip
from core.data.datasets.channels import match_arkit_channels
from core.data.datasets.csv_table import read_csv_table
from core.data.datasets.imported_clip import (
    DatasetError,
    ImportedClip,
    audio_beside,
    length_mismatch_note,
    load_clip_audio,
    require_numeric,
)
from core.data.resample import resample_weights
from core.rig.arkit import ARKIT_NAMES

THREE_D_ETF_FPS = 30.0
_RAVDESS_NAME = re.compile(r"^(\d{2})-(\d{2})-(?P<emotion>\d{2})-(\d{2})-(\d{2})-(\d{2})-(?P<actor>\d{2})$")
# RAVDESS emotion codes -> this project's labels (core.data.emotions); "calm" is closest to neutral,
# fearful/disgust have no counterpart there and keep their own names.
RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "neutral", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgusted", "08": "surprised",
}  # fmt: skip


def ravdess_labels(path: Path) -> tuple[str, str] | None:
    """(speaker, emotion) from a RAVDESS file name, e.g. ('ravdess_actor12', 'happy'), or None."""
    match = _RAVDESS_NAME.match(path.stem)
    if not match or match.group("emotion") not in RAVDESS_EMOTIONS:
        return None
    return f"ravdess_actor{match.group('actor')}", RAVDESS_EMOTIONS[match.group("emotion")]


def load_3detf_clip(
    path: Path | str,
    fps: float = 30.0,
    audio_path: Path | str | None = None,
    speaker: str | None = None,
    emotion: str | None = None,
    channel_names: Sequence[str] | None = None,
    source_fps: float = THREE_D_ETF_FPS,
) -> ImportedClip:
    """Read one 3D-ETF `.csv`/`.npy` (+ the same-stem audio beside it unless `audio_path` is given) at `fps`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if channel_names is not None:
            raise DatasetError(f"'{path}': a .csv names its own columns; channel_names is only for .npy files.")
        table = read_csv_table(path)
        names, values = table.names, table.numbers()
    elif suffix == ".npy":
        values = _read_weight_matrix(path)
        names = list(channel_names) if channel_names is not None else list(ARKIT_NAMES)
        if values.shape[1] != len(names):
            raise DatasetError(
                f"'{path}' has {values.shape[1]} columns but {len(names)} channel names; an unnamed .npy must be "
                "(frames, 52) in ARKit order, otherwise pass channel_names in the file's column order."
            )
    else:
        raise DatasetError(f"'{path}': 3D-ETF files are .csv (named columns) or .npy (frames, 52), not '{suffix}'.")
    match = match_arkit_channels(names, source=str(path))
    weights = resample_weights(require_numeric(match.to_arkit(values), path), source_fps, fps)

    labels = ravdess_labels(path)
    audio_file = Path(audio_path) if audio_path is not None else audio_beside(path)
    audio = load_clip_audio(audio_file, path)
    notes = [] if audio is not None else ["no audio found beside it"]
    notes += length_mismatch_note(len(weights), fps, audio)
    clip = Clip(
        weights=np.clip(weights, 0.0, 1.0),
        fps=fps,
        audio=audio,
        speaker=speaker or (labels[0] if labels else "unknown"),
        emotion=emotion or (labels[1] if labels else "neutral"),
    )
    return ImportedClip(clip, path, match.missing, match.unknown, notes)


def _read_weight_matrix(path: Path) -> np.ndarray:
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"'{path}' is not a readable .npy array ({exc}).") from None
    if values.ndim != 2 or values.shape[0] == 0:
        raise DatasetError(f"'{path}' must hold a (frames, channels) array, got shape {values.shape}.")
    return values.astype(np.float32)
