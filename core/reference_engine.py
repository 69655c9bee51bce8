"""An AnimationEngine that is not the model: it replays the ground-truth targets stored beside an audio file.

For `voice.wav` it reads `voice.npz` (the core.data.clip format) and returns its weights resampled to the
requested frame rate. The add-on falls back to it (with a visible label) until trained weights exist, and tests
use it because its output is known exactly. It ignores identity, emotion and seed: it has no style.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from core.animation_job import Animation, AnimationRequest, JobCancelled, ProgressCallback
from core.data.emotions import EMOTIONS
from core.data.resample import resample_weights
from core.rig.descriptor import ARKIT52

REFERENCE_SOURCE_LABEL = "reference targets (not the model)"


def reference_targets_path(audio_path: Path | str) -> Path:
    """Where the reference targets of an audio file live: the `.npz` with the same stem beside it."""
    return Path(audio_path).with_suffix(".npz")


class ReferenceTargetsEngine:
    """Replays `STEM.npz` beside `STEM.wav` (see module docstring). Not the model; labelled as such."""

    name = "reference-targets"
    rig = ARKIT52  # stored targets are ARKit-52 (core.data.clip)

    def identities(self) -> list[str]:
        return ["default"]

    def emotions(self) -> list[str]:
        return list(EMOTIONS)

    def animate(self, request: AnimationRequest, progress: ProgressCallback, cancel: threading.Event) -> Animation:
        from core.data.clip import load_clip

        npz = reference_targets_path(request.audio_path)
        if not npz.is_file():
            raise FileNotFoundError(
                f"No reference targets beside '{request.audio_path}': expected '{npz.name}' in the same folder. "
                "The trained model is not in use, so DiffusionTalker can only replay a clip's stored targets; "
                "see why in the panel's backend line (Preferences > Add-ons > DiffusionTalker), or pick an audio file "
                "that has an .npz beside it"
            )
        _check_cancel(cancel)
        progress(0.05, f"reading {npz.name}")
        clip = load_clip(npz, with_audio=False)
        if clip.num_frames == 0:
            raise ValueError(f"Reference targets '{npz}' hold no frames; regenerate the clip")
        if tuple(clip.names) != self.rig.names:
            raise ValueError(
                f"Reference targets '{npz}' have {clip.weights.shape[1]} channels, expected the "
                f"{self.rig.num_channels} of rig '{self.rig.name}'; regenerate the clip"
            )

        _check_cancel(cancel)
        progress(0.5, f"resampling {clip.fps:g} -> {request.fps:g} fps")
        weights = np.clip(resample_weights(clip.weights, clip.fps, request.fps), 0.0, 1.0).astype(np.float32)
        _check_cancel(cancel)  # (frames at request.fps, 52)
        progress(1.0, "reference targets ready")
        return Animation(
            weights=weights,
            fps=float(request.fps),
            source=REFERENCE_SOURCE_LABEL,
            info={"targets": str(npz), "targets_fps": clip.fps, "speaker": clip.speaker, "emotion": clip.emotion},
            rig=self.rig,
        )


def _check_cancel(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise JobCancelled()
