"""A model file names its own audio encoder ("audio_encoder": {"kind": ...}) and load_engine builds that one: new
files carry the entry, files written before it (the shipped weights/ among them) load unchanged, a student may ship
any encoder kind the runtime knows, and an unknown kind is refused before anything loads."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from test_inference import randomize, tiny_styles, write_tiny_student

from core.animation_job import AnimationRequest
from core.audio import save_wav
from core.inference import (
    STUDENT_FILE,
    STYLES_FILE,
    DiffusionTalkerEngine,
    audio_encoder_spec,
    load_engine,
    whisper_encoder_spec,
)
from core.models.talker import DiffusionTalker, TalkerConfig
from core.style_library import StyleLibrary
from core.weights_io import (
    WeightsError,
    load_listed_weights,
    load_weights,
    read_manifest,
    save_weights,
    verify_manifest,
    write_manifest,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def new_weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("new_weights")
    write_tiny_student(folder)
    return folder


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    """1.2 s of a gliding buzz at 16 kHz."""
    t = np.arange(int(1.2 * 16_000)) / 16_000
    phase = 2 * np.pi * np.cumsum(110 + 30 * np.sin(2 * np.pi * 2 * t)) / 16_000
    buzz = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.4 + 0.6 * np.sin(2 * np.pi * 2.5 * t) ** 2)
    path = tmp_path_factory.mktemp("audio") / "line.wav"
    save_wav(path, (0.3 * buzz / np.abs(buzz).max()).astype(np.float32), 16_000)
    return path


def take(weights: Path | DiffusionTalkerEngine, backend: str, wav: Path) -> np.ndarray:
    engine = load_engine(weights, "cpu", backend) if isinstance(weights, Path) else weights
    request = AnimationRequest(wav, identity="alice", emotion="happy", seed=3, blinks_per_minute=0.0)
    return engine.animate(request, lambda *_: None, threading.Event()).weights  # (frames, 52)


def rewrite_model_metadata(source: Path, target: Path, change) -> None:
    """Copy a weights folder with the student file's metadata changed by `change(metadata) -> metadata`; the styles are
    re-tied to the new file and the manifest rewritten, so only the metadata differs."""
    tensors, metadata, _ = load_listed_weights(source, STUDENT_FILE)
    target.mkdir(parents=True)
    model_sha = save_weights(target / STUDENT_FILE, tensors, change(dict(metadata)))
    styles = StyleLibrary.load(source / STYLES_FILE)
    StyleLibrary(styles.identities, styles.emotions, model_sha).save(target / STYLES_FILE)
    write_manifest(target, [STUDENT_FILE, STYLES_FILE])


def test_save_student_writes_the_encoder_spec_and_no_loose_encoder_keys(new_weights):
    _, metadata, _ = load_listed_weights(new_weights, STUDENT_FILE)
    assert metadata["audio_encoder"]["kind"] == "student"
    assert metadata["audio_encoder"]["config"]["out_dim"] == 16
    assert "student_encoder_config" not in metadata


def test_a_file_written_before_the_spec_gives_the_same_take_on_both_backends(new_weights, speech_wav, tmp_path):
    def old_layout(metadata: dict) -> dict:
        spec = metadata.pop("audio_encoder")
        return {**metadata, "student_encoder_config": spec["config"]}

    old = tmp_path / "old"
    rewrite_model_metadata(new_weights, old, old_layout)
    _, metadata, _ = load_listed_weights(old, STUDENT_FILE)
    assert "audio_encoder" not in metadata and audio_encoder_spec(metadata, old)["kind"] == "student"
    for backend in ("torch", "numpy"):
        new_take, old_take = take(new_weights, backend, speech_wav), take(old, backend, speech_wav)
        assert new_take.std() > 0 and np.array_equal(new_take, old_take), backend


def test_the_shipped_weights_load_through_the_fallback_unchanged():
    weights = REPO / "weights"
    if not (weights / "manifest.json").is_file():
        pytest.skip("no trained weights in this checkout")
    verify_manifest(weights)  # every shipped file still has the sha256 its manifest lists: nothing was rewritten
    for name, kind in (("student.safetensors", "student"), ("teacher.safetensors", "whisper")):
        if name in read_manifest(weights)["files"]:
            _, metadata = load_weights(weights / name)
            assert audio_encoder_spec(metadata, weights / name)["kind"] == kind
    engine = load_engine(weights, "cpu", "numpy")
    assert engine.identities() and engine.name == "student-2step (numpy, cpu)"


def test_an_unknown_encoder_kind_is_refused_by_name_before_anything_loads(new_weights, tmp_path):
    def future_layout(metadata: dict) -> dict:
        return {**metadata, "audio_encoder": {"kind": "wav2vec-2030", "config": {}}}

    future = tmp_path / "future"
    rewrite_model_metadata(new_weights, future, future_layout)
    for backend in ("torch", "numpy"):
        with pytest.raises(WeightsError, match="audio encoder 'wav2vec-2030'.*runs student, whisper"):
            load_engine(future, "cpu", backend)


def test_a_student_may_ship_a_whisper_encoder_named_in_its_spec(speech_wav, tmp_path):
    from core.models.audio_features import WhisperAudioEncoder, WhisperWindowing

    torch.manual_seed(0)
    talker = randomize(DiffusionTalker(TalkerConfig.tiny(audio_dim=384)), 1)  # tiny.en's 384 features
    cache_id = WhisperAudioEncoder("tiny.en", WhisperWindowing(4, 1.0)).cache_id
    metadata = {
        "format_version": 1, "kind": "student", "talker_config": talker.config.to_dict(), "steps": 2, "fps": 30.0,
        "audio_encoder": whisper_encoder_spec("tiny.en", 4, 1.0, True, cache_id),
    }  # fmt: skip
    tensors = {f"talker.{k}": v for k, v in talker.state_dict().items()}
    model_sha = save_weights(tmp_path / STUDENT_FILE, tensors, metadata)
    styles = tiny_styles(talker, 0)
    StyleLibrary(styles.identities, styles.emotions, model_sha).save(tmp_path / STYLES_FILE)
    write_manifest(tmp_path, [STUDENT_FILE, STYLES_FILE])

    engine = load_engine(tmp_path, "cpu", "torch")
    assert type(engine.backend.encoder).__name__ == "WhisperAudioEncoder" and engine.backend.feature_rate == 50.0
    animation = take(engine, "torch", speech_wav)
    assert animation.shape == (36, 52) and animation.std() > 0
    with pytest.raises(RuntimeError, match="student needs torch .*whisper audio encoder"):
        load_engine(tmp_path, "cpu", "numpy")
