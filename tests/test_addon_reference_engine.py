"""ReferenceTargetsEngine: the add-on's stand-in engine replays a clip's stored targets, resampled, and says so."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.animation_job import AnimationJob, AnimationRequest, JobCancelled
from core.data.clip import Clip, save_clip
from core.reference_engine import REFERENCE_SOURCE_LABEL, ReferenceTargetsEngine


def write_targets(folder, fps=30.0, frames=31):
    weights = np.zeros((frames, 52), dtype=np.float32)
    weights[:, 0] = np.linspace(0.0, 1.0, frames)
    save_clip(Clip(weights=weights, fps=fps), folder / "line")
    (folder / "line.wav").write_bytes(b"")  # the engine only needs the npz beside the audio path
    return folder / "line.wav", weights


def test_engine_returns_the_targets_at_the_requested_rate_labelled_as_not_the_model(tmp_path):
    audio, weights = write_targets(tmp_path)
    progress = []
    animation = ReferenceTargetsEngine().animate(
        AnimationRequest(audio_path=audio, fps=60.0), lambda f, m: progress.append(f), threading.Event()
    )
    assert animation.fps == 60.0 and animation.weights.shape == (61, 52)
    assert animation.source == REFERENCE_SOURCE_LABEL == "reference targets (not the model)"
    np.testing.assert_allclose(animation.weights[::2, 0], weights[:, 0], atol=1e-6)
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_engine_explains_what_is_missing_when_there_are_no_targets(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"expected 'talk.npz' in the same folder.*model is not in use.*backend line"
    ):
        ReferenceTargetsEngine().animate(
            AnimationRequest(audio_path=tmp_path / "talk.wav"), lambda *_: None, threading.Event()
        )


def test_engine_honours_cancel(tmp_path):
    audio, _ = write_targets(tmp_path)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(JobCancelled):
        ReferenceTargetsEngine().animate(AnimationRequest(audio_path=audio), lambda *_: None, cancel)
    job = AnimationJob(ReferenceTargetsEngine(), AnimationRequest(audio_path=audio))
    assert job.start().wait(timeout=10).weights.shape == (31, 52)
