"""The one clip type every data source produces: 16 kHz mono speech plus per-frame ARKit-52 weights.

On disk a clip is two files with the same stem: `ID.wav` (16 kHz mono PCM) and `ID.npz`, readable with
`np.load(..., allow_pickle=False)`, holding:
  weights (T, 52) float32 in [0, 1]; names (52,) str; fps float; phones (N,) ARPAbet str;
  phone_times (N, 2) float start/end seconds; speaker, emotion, text: str scalars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio import SAMPLE_RATE
from core.rig.arkit import ARKIT_NAMES, NUM_CHANNELS

DEFAULT_FPS = 30.0


@dataclass
class Clip:
    weights: np.ndarray  # (frames, 52) float32 in [0, 1], ARKit order
    fps: float
    audio: np.ndarray | None = None  # (samples,) float32 mono at SAMPLE_RATE
    phones: list[str] = field(default_factory=list)  # ARPAbet, stress stripped, "SIL" for silence
    phone_times: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))  # (N, 2) seconds
    speaker: str = "unknown"
    emotion: str = "neutral"
    text: str = ""
    names: tuple[str, ...] = ARKIT_NAMES

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=np.float32)
        if self.weights.ndim != 2 or self.weights.shape[1] != len(self.names):
            raise ValueError(f"weights must be (frames, {len(self.names)}), got {self.weights.shape}")
        self.phone_times = np.asarray(self.phone_times, dtype=np.float32).reshape(-1, 2)
        if len(self.phones) != len(self.phone_times):
            raise ValueError(f"{len(self.phones)} phones but {len(self.phone_times)} phone times")
        if self.audio is not None:
            self.audio = np.asarray(self.audio, dtype=np.float32).reshape(-1)

    @property
    def num_frames(self) -> int:
        return int(self.weights.shape[0])

    @property
    def duration(self) -> float:
        if self.audio is not None:
            return len(self.audio) / SAMPLE_RATE
        return self.num_frames / self.fps


def save_clip(clip: Clip, path_stem: Path | str) -> Path:
    """Write `STEM.npz` (+ `STEM.wav` when the clip has audio). Returns the npz path."""
    import soundfile as sf

    if tuple(clip.names) != ARKIT_NAMES:
        raise ValueError("save_clip writes ARKit-ordered clips only; map channels first (core.rig.name_mapping)")
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    npz = stem.with_suffix(".npz")
    np.savez_compressed(
        npz,
        weights=np.clip(clip.weights, 0.0, 1.0).astype(np.float32),
        names=np.array(ARKIT_NAMES),
        fps=np.float32(clip.fps),
        phones=np.array(clip.phones, dtype=str).reshape(-1),
        phone_times=clip.phone_times.astype(np.float32),
        speaker=np.array(clip.speaker),
        emotion=np.array(clip.emotion),
        text=np.array(clip.text),
    )
    if clip.audio is not None:
        sf.write(stem.with_suffix(".wav"), clip.audio, SAMPLE_RATE, subtype="PCM_16")
    return npz


def load_clip(npz_path: Path | str, with_audio: bool = True) -> Clip:
    """Read a clip written by `save_clip` (audio from the sibling wav when present and asked for)."""
    npz_path = Path(npz_path)
    with np.load(npz_path, allow_pickle=False) as z:
        names = tuple(str(n) for n in z["names"])
        weights = z["weights"]
        if names != ARKIT_NAMES:
            raise ValueError(f"{npz_path}: channel names are not ARKit-52 order")
        if weights.shape[1] != NUM_CHANNELS:
            raise ValueError(f"{npz_path}: weights has {weights.shape[1]} channels, expected 52")
        clip = Clip(
            weights=weights,
            fps=float(z["fps"]),
            phones=[str(p) for p in z["phones"]],
            phone_times=z["phone_times"],
            speaker=str(z["speaker"]),
            emotion=str(z["emotion"]),
            text=str(z["text"]),
        )
    wav = npz_path.with_suffix(".wav")
    if with_audio and wav.exists():
        from core.audio import load_audio

        clip.audio = load_audio(wav)
    return clip
