"""What every dataset loader returns: the clip plus an honest account of what the conversion did."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio import AudioError, load_audio, supported_extensions
from core.data.clip import SAMPLE_RATE, Clip
from core.rig.arkit import ARKIT_NAMES


class DatasetError(ValueError):
    """A dataset file that cannot be converted; the message names the file and what to do."""


@dataclass
class ImportedClip:
    clip: Clip  # ARKit-ordered weights at the requested fps (+ 16 kHz audio when found)
    source: Path  # the motion file it came from
    missing_channels: tuple[str, ...] = ()  # ARKit channels the source lacks, filled with 0
    ignored_columns: tuple[str, ...] = ()  # source columns that are not ARKit channels (head pose, timecode, ...)
    notes: list[str] = field(default_factory=list)  # anything else worth knowing (dropped frames, length mismatch)

    def report(self) -> dict:
        """A JSON-ready summary for the import report."""
        clip = self.clip
        return {
            "source": str(self.source),
            "frames": clip.num_frames,
            "fps": clip.fps,
            "motion_seconds": round(clip.num_frames / clip.fps, 3),
            "audio_seconds": None if clip.audio is None else round(len(clip.audio) / SAMPLE_RATE, 3),
            "speaker": clip.speaker,
            "emotion": clip.emotion,
            "missing_channels": list(self.missing_channels),
            "ignored_columns": list(self.ignored_columns),
            "notes": list(self.notes),
        }


def audio_beside(motion_path: Path) -> Path | None:
    """The audio file with the same stem in the same folder (any format libsndfile reads), if there is one."""
    extensions = set(supported_extensions())
    candidates = sorted(
        p for p in motion_path.parent.glob(motion_path.stem + ".*") if p.suffix.lower().lstrip(".") in extensions
    )
    return candidates[0] if candidates else None


def load_clip_audio(audio_path: Path | None, motion_path: Path) -> np.ndarray | None:
    """16 kHz mono audio for a motion file, or None when `audio_path` is None; errors name both files."""
    if audio_path is None:
        return None
    try:
        return load_audio(audio_path, sample_rate=SAMPLE_RATE)
    except AudioError as exc:
        raise DatasetError(f"audio for '{motion_path}': {exc}") from None


def length_mismatch_note(num_frames: int, fps: float, audio: np.ndarray | None, tolerance: float = 0.1) -> list[str]:
    """A note when motion and audio durations differ by more than `tolerance` seconds (they are not trimmed)."""
    if audio is None or num_frames == 0:
        return []
    motion_seconds, audio_seconds = num_frames / fps, len(audio) / SAMPLE_RATE
    if abs(motion_seconds - audio_seconds) <= tolerance:
        return []
    return [f"motion lasts {motion_seconds:.2f} s but audio {audio_seconds:.2f} s (kept as is; frame k is at k/fps)"]


def require_numeric(weights: np.ndarray, path: Path) -> np.ndarray:
    """`weights` (frames, 52) unchanged, or DatasetError naming the ARKit channels holding non-numbers."""
    bad = ~np.isfinite(weights).all(axis=0)
    if np.any(bad):
        names = ", ".join(name for name, is_bad in zip(ARKIT_NAMES, bad, strict=True) if is_bad)
        raise DatasetError(f"'{path}': channel(s) {names} contain empty or non-numeric values; fix or drop those rows.")
    return weights
