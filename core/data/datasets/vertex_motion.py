"""Vertex-motion clips (VOCASET-style): NOT ARKit clips.

`VertexMotionClip` is what a loader reads: per-frame vertex offsets from the subject's neutral template.
`BasisMotionClip` is what is stored for training: the same motion as (frames, k) coefficients of a
`MotionBasis` (motion_basis.npz in the same import folder). On disk, `ID.npz` (+ `ID.wav`, 16 kHz mono), readable
with `np.load(..., allow_pickle=False)`:
  kind = "vertex_motion_basis"; weights (T, k) float32 coefficients (unbounded, not in [0, 1]);
  names (k,) str: the basis shape keys ('motion_pc00', ...); fps;
  basis: path of the basis npz relative to the clip; subject (whose template the offsets are from);
  speaker, emotion, text: str scalars.
`core.data.clip.load_clip` refuses these files (their names are not ARKit's), which is intended: the kinds never mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import load_audio, save_wav
from core.data.clip import SAMPLE_RATE
from core.data.datasets.motion_basis import basis_key_names

VERTEX_MOTION_KIND = "vertex_motion_basis"


@dataclass
class VertexMotionClip:
    offsets: np.ndarray  # (frames, V, 3) float32: vertex positions minus the subject's template
    fps: float
    template: np.ndarray  # (V, 3) float32: the subject's neutral mesh
    audio: np.ndarray | None = None  # (samples,) float32 mono at 16 kHz
    subject: str = "unknown"
    speaker: str = "unknown"
    emotion: str = "neutral"
    text: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.offsets.shape[0])


@dataclass
class BasisMotionClip:
    weights: np.ndarray  # (frames, k) float32 coefficients of the motion basis
    fps: float
    basis: str = "motion_basis.npz"  # path of the MotionBasis npz, relative to the clip's folder
    audio: np.ndarray | None = None  # (samples,) float32 mono at 16 kHz
    subject: str = "unknown"
    speaker: str = "unknown"
    emotion: str = "neutral"
    text: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.weights.shape[0])


def save_basis_motion_clip(clip: BasisMotionClip, path_stem: Path | str) -> Path:
    """Write `STEM.npz` (+ `STEM.wav` when the clip has audio). Returns the npz path."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    npz = stem.with_suffix(".npz")
    np.savez_compressed(
        npz,
        kind=np.array(VERTEX_MOTION_KIND),
        weights=np.asarray(clip.weights, dtype=np.float32),
        names=np.array(basis_key_names(clip.weights.shape[1])),
        fps=np.float32(clip.fps),
        basis=np.array(clip.basis),
        subject=np.array(clip.subject),
        speaker=np.array(clip.speaker),
        emotion=np.array(clip.emotion),
        text=np.array(clip.text),
    )
    if clip.audio is not None:
        save_wav(stem.with_suffix(".wav"), clip.audio, SAMPLE_RATE)
    return npz


def load_basis_motion_clip(npz_path: Path | str, with_audio: bool = True) -> BasisMotionClip:
    """Read a clip written by `save_basis_motion_clip` (audio from the sibling wav when present and asked for)."""
    npz_path = Path(npz_path)
    with np.load(npz_path, allow_pickle=False) as data:
        if "kind" not in data.files or str(data["kind"]) != VERTEX_MOTION_KIND:
            raise ValueError(f"'{npz_path}' is not a vertex-motion clip (for ARKit clips use core.data.clip.load_clip)")
        clip = BasisMotionClip(
            weights=data["weights"],
            fps=float(data["fps"]),
            basis=str(data["basis"]),
            subject=str(data["subject"]),
            speaker=str(data["speaker"]),
            emotion=str(data["emotion"]),
            text=str(data["text"]),
        )
    wav = npz_path.with_suffix(".wav")
    if with_audio and wav.exists():
        clip.audio = load_audio(wav)
    return clip
