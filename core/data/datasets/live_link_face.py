"""Live Link Face (iPhone ARKit capture) CSV: `Timecode, BlendShapeCount, EyeBlinkLeft, ..., TongueOut, HeadYaw, ...`.

One row per captured frame. The timecode is `HH:MM:SS:FF.fff`: FF counts frames within the second at the
capture rate and `.fff` is a fraction of a frame. Frames are placed by their timecodes (robust to dropped
frames); the capture rate comes from the `capture_fps` argument or is inferred from where the frame counter
wraps to the next second. Head and eye rotation columns are not blendshapes: they are ignored and reported.
The app records audio into the take's .mov; extract it next to the csv with the same stem
(`ffmpeg -i take.mov -ac 1 -ar 16000 take.wav`).
"""

from __future__ import annotations

import re
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
from core.data.resample import resample_timed_weights

STANDARD_CAPTURE_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 120.0)
_TIMECODE = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})[:;.](\d+(?:\.\d+)?)\s*$")
_SECONDS_PER_DAY = 86_400.0


def load_live_link_face_csv(
    path: Path | str,
    fps: float = 30.0,
    capture_fps: float | None = None,
    audio_path: Path | str | None = None,
    speaker: str | None = None,
    emotion: str | None = None,
) -> ImportedClip:
    """Read one Live Link Face csv (+ the same-stem audio beside it unless `audio_path` is given) at `fps`."""
    path = Path(path)
    table = read_csv_table(path)
    timecodes = table.column_text("Timecode")
    if timecodes is None:
        raise DatasetError(f"'{path}' has no 'Timecode' column; is it a Live Link Face export?")
    match = match_arkit_channels(table.names, source=str(path))
    weights = require_numeric(match.to_arkit(table.numbers()), path)

    seconds, frame_numbers = parse_timecodes(timecodes, path)
    rate = capture_fps or infer_capture_fps(seconds, frame_numbers, path)
    times = seconds + frame_numbers / rate
    times = np.where(times < times[0] - 1.0, times + _SECONDS_PER_DAY, times)  # a take across midnight

    notes: list[str] = [f"capture rate {rate:g} fps" + ("" if capture_fps else " (inferred from timecodes)")]
    keep = _rows_that_advance(times)
    if not np.all(keep):
        notes.append(f"dropped {int((~keep).sum())} rows whose timecode did not advance (repeated or out of order)")
    weights = resample_timed_weights(weights[keep], times[keep], fps)

    audio_file = Path(audio_path) if audio_path is not None else audio_beside(path)
    audio = load_clip_audio(audio_file, path)
    if audio is None:
        notes.append("no audio found beside it (extract it from the take's .mov)")
    notes += length_mismatch_note(len(weights), fps, audio)
    ignored = tuple(n for n in match.unknown if n.lower() not in ("timecode", "blendshapecount"))
    clip = Clip(
        weights=np.clip(weights, 0.0, 1.0),
        fps=fps,
        audio=audio,
        speaker=speaker or "unknown",
        emotion=emotion or "neutral",
    )
    return ImportedClip(clip, path, match.missing, ignored, notes)


def parse_timecodes(timecodes: list[str], path: Path | str = "csv") -> tuple[np.ndarray, np.ndarray]:
    """`HH:MM:SS:FF.fff` strings -> (whole seconds, frame number within the second incl. fraction)."""
    seconds = np.empty(len(timecodes), dtype=np.float64)
    frames = np.empty(len(timecodes), dtype=np.float64)
    for i, text in enumerate(timecodes):
        match = _TIMECODE.match(text)
        if not match:
            raise DatasetError(f"'{path}' row {i + 2}: timecode '{text}' is not HH:MM:SS:FF(.fff).")
        hours, minutes, secs, frame = match.groups()
        seconds[i] = int(hours) * 3600 + int(minutes) * 60 + int(secs)
        frames[i] = float(frame)
    return seconds, frames


def infer_capture_fps(seconds: np.ndarray, frame_numbers: np.ndarray, path: Path | str = "csv") -> float:
    """The standard capture rate under which the timecodes advance most evenly.

    Needs the take to cross at least one second boundary: before that, every rate fits equally well.
    """
    highest_frame = int(np.floor(frame_numbers.max()))
    candidates = [rate for rate in STANDARD_CAPTURE_RATES if rate > highest_frame]
    crosses_second = np.any(np.diff(seconds) > 0)
    if not candidates or not crosses_second or len(seconds) < 3:
        raise DatasetError(
            f"'{path}': cannot infer the capture frame rate from its timecodes "
            f"(highest frame number {highest_frame}); pass capture_fps (e.g. 60 for a 60 fps Live Link Face take)."
        )

    def unevenness(rate: float) -> float:
        steps = np.diff(seconds + frame_numbers / rate)
        return float(np.max(np.abs(steps - np.median(steps))))

    return min(candidates, key=unevenness)  # ties (equally even) go to the lowest rate that fits the frame numbers


def _rows_that_advance(times: np.ndarray) -> np.ndarray:
    """Mask of the rows later than every row before them (repeated or backwards timecodes are dropped)."""
    keep = np.zeros(times.shape, dtype=bool)
    latest = -np.inf
    for i, t in enumerate(times):
        if t > latest:
            keep[i], latest = True, t
    return keep
