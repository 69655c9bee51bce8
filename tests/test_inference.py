"""load_engine on a tiny saved student: real audio in, ARKit curves out, on both backends, with every refusal."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
import torch

from core.animation_job import AnimationJob, AnimationRequest, JobCancelled
from core.audio import save_wav
from core.data.resample import resampled_frame_count
from core.inference import (
    STUDENT_FILE,
    STYLES_FILE,
    TEACHER_FILE,
    WindowPlan,
    load_engine,
    save_student,
    save_teacher,
    set_default_guidance,
)
from core.models.audio_features import frames_for_samples
from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig
from core.models.talker import DiffusionTalker, TalkerConfig
from core.sampling import seeded_noise
from core.style_library import StyleLibrary, build_style_library
from core.weights_io import MANIFEST_NAME, WeightsError, read_manifest, write_manifest

SECONDS, RATE = 1.5, 22_050


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.dtype.is_floating_point and name not in ("motion_std", "motion_mean"):
                tensor.add_(0.2 * torch.randn(tensor.shape, generator=generator))
    return module.eval().requires_grad_(False)


def tiny_styles(talker: DiffusionTalker, seed: int) -> StyleLibrary:
    rng = np.random.default_rng(seed)
    dim = talker.config.personalizer.embed_dim
    clips = [f"clip{i}" for i in range(8)]
    return build_style_library(
        {c: rng.standard_normal(dim) for c in clips},
        {c: rng.standard_normal(dim) for c in clips},
        {c: ("alice", "bob")[i % 2] for i, c in enumerate(clips)},
        {c: ("neutral", "happy", "sad", "happy")[i % 4] for i, c in enumerate(clips)},
    )


def tiny_prosody_config() -> TalkerConfig:
    """The tiny talker with what the shipped one has: a personalizer that reads the reference clip's prosody."""
    from core.models.personalizer import PersonalizerConfig
    from core.prosody_features import PROSODY_DIM

    tiny = TalkerConfig.tiny(audio_dim=16)
    personalizer = {**tiny.personalizer.__dict__, "prosody_dim": PROSODY_DIM, "statistics_pooling": True}
    return TalkerConfig(personalizer=PersonalizerConfig(**personalizer), denoiser=tiny.denoiser)


def write_tiny_student(weights_dir, seed: int = 0, still_eyes: bool = False) -> dict[str, str]:
    """still_eyes: eyelid channels pinned near 0 (as a trained model's are between blinks)."""
    torch.manual_seed(seed)
    encoder = randomize(StudentAudioEncoder(StudentEncoderConfig.tiny(out_dim=16)), seed + 1)
    talker = randomize(DiffusionTalker(tiny_prosody_config()), seed + 2)
    mean, std = torch.full((52,), 0.3), torch.full((52,), 0.2)
    if still_eyes:
        from core.rig.arkit import channel_index

        for name in ("eyeBlinkLeft", "eyeBlinkRight"):
            mean[channel_index(name)], std[channel_index(name)] = 0.05, 0.02
    talker.set_motion_stats(mean, std)
    return save_student(
        weights_dir, encoder, talker, tiny_styles(talker, seed),
        window=WindowPlan(window_frames=20, prefix_frames=5, crossfade_frames=3),
        manifest_extra={"training_command": "pytest"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    write_tiny_student(folder)
    return folder


@pytest.fixture(scope="module")
def voice_wav(tmp_path_factory):
    """1.5 s of a vowel-like buzz with noise bursts, 22.05 kHz stereo: exercises mix-down and resampling."""
    t = np.arange(int(SECONDS * RATE)) / RATE
    f0 = 120 + 20 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    noise = np.random.default_rng(0).standard_normal(t.size) * (np.sin(2 * np.pi * 2 * t) > 0.8)
    mono = 0.3 * voice / np.abs(voice).max() + 0.05 * noise
    path = tmp_path_factory.mktemp("audio") / "line.wav"
    save_wav(path, np.stack([mono, 0.8 * mono], axis=1).astype(np.float32), RATE)
    return path


@pytest.fixture(scope="module")
def engines(weights_dir):
    return {backend: load_engine(weights_dir, "cpu", backend) for backend in ("torch", "numpy")}


def animate(engine, path, cancel=None, **request):
    messages = []
    animation = engine.animate(
        AnimationRequest(path, **request), lambda f, m: messages.append((f, m)), cancel or threading.Event()
    )
    return animation, messages


def test_manifest_lists_both_files_with_hashes_and_extras(weights_dir):
    manifest = read_manifest(weights_dir)
    assert set(manifest["files"]) == {STUDENT_FILE, STYLES_FILE}
    assert all(len(entry["sha256"]) == 64 and entry["bytes"] > 0 for entry in manifest["files"].values())
    assert manifest["training_command"] == "pytest"


def test_animation_has_the_requested_fps_and_length_in_range(engines, voice_wav):
    model_frames = frames_for_samples(round(SECONDS * 16_000), 30.0)
    for engine in engines.values():
        animation, messages = animate(engine, voice_wav, fps=24.0, identity="alice", emotion="happy")
        assert animation.fps == 24.0
        assert animation.weights.shape == (resampled_frame_count(model_frames, 30.0, 24.0), 52)
        assert animation.weights.dtype == np.float32
        assert 0.0 <= animation.weights.min() and animation.weights.max() <= 1.0
        assert animation.weights.std() > 0
        assert animation.source == engine.name and "2step" in engine.name
        assert messages[-1][0] == 1.0
        assert sum("animating:" in m for _, m in messages) >= 3  # one per window (20-frame windows)


def test_torch_and_numpy_backends_give_the_same_take(engines, voice_wav):
    takes = [animate(e, voice_wav, seed=3, emotion="sad", emotion_strength=0.7)[0].weights for e in engines.values()]
    assert np.max(np.abs(takes[0] - takes[1])) < 1e-4


def test_same_seed_same_take_and_different_seeds_differ(engines, voice_wav):
    engine = engines["torch"]
    a, b, c = (animate(engine, voice_wav, seed=s)[0].weights for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_unknown_style_names_list_the_choices(engines, voice_wav):
    engine = engines["numpy"]
    with pytest.raises(ValueError, match="alice, bob, default"):
        animate(engine, voice_wav, identity="carol")
    with pytest.raises(ValueError, match="happy, neutral, sad"):
        animate(engine, voice_wav, emotion="furious")
    assert engine.identities() == ["alice", "bob", "default"]


def test_cancel_during_generation_raises_job_cancelled(engines, voice_wav):
    for engine in engines.values():
        cancel = threading.Event()

        def progress(fraction, message, cancel=cancel):
            if message.startswith("animating:"):
                cancel.set()

        with pytest.raises(JobCancelled):
            engine.animate(AnimationRequest(voice_wav), progress, cancel)


def test_engine_runs_as_a_background_job(engines, voice_wav):
    job = AnimationJob(engines["torch"], AnimationRequest(voice_wav, fps=60.0)).start()
    animation = job.wait(timeout=60)
    assert animation.fps == 60.0 and job.progress == 1.0


def test_a_corrupted_byte_in_the_student_is_refused_before_anything_loads(weights_dir, tmp_path, monkeypatch):
    broken = tmp_path / "weights"
    shutil.copytree(weights_dir, broken)
    data = bytearray((broken / STUDENT_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / STUDENT_FILE).write_bytes(bytes(data))
    import core.weights_io

    def never(*args, **kwargs):
        raise AssertionError("a file with a wrong checksum must not be parsed")

    monkeypatch.setattr(core.weights_io, "decode_safetensors", never)
    for backend in ("torch", "numpy"):
        with pytest.raises(WeightsError, match="sha256 [0-9a-f]{64}, expected [0-9a-f]{64}.*re-install the extension"):
            load_engine(broken, "cpu", backend)


def test_set_default_guidance_keeps_the_tensors_and_every_front_end_samples_with_it(weights_dir, voice_wav, tmp_path):
    from core.weights_io import load_weights

    guided = tmp_path / "guided"
    shutil.copytree(weights_dir, guided)
    write_manifest(guided, [STUDENT_FILE, STYLES_FILE], {"student": {"training_command": "python -m core distill"}})
    set_default_guidance(guided, "student", 1.5)
    shas = set_default_guidance(guided, "student", 2.0)  # the second setting replaces the first, in the recipe too
    command = read_manifest(guided)["student"]["training_command"]
    assert command == f"python -m core distill && python -m core set-guidance 2 --weights {guided} --model student"
    before, _ = load_weights(weights_dir / STUDENT_FILE)
    after, metadata = load_weights(guided / STUDENT_FILE, shas[STUDENT_FILE])
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert metadata["guidance_scale"] == 2.0 and read_manifest(guided)["student"]["guidance_scale"] == 2.0
    guided_takes = []
    for backend in ("torch", "numpy"):
        plain, default = load_engine(weights_dir, "cpu", backend), load_engine(guided, "cpu", backend)
        assert (plain.guidance_scale, default.guidance_scale) == (1.0, 2.0)
        assert default.styles.model_sha256 == shas[STUDENT_FILE]  # the styles follow the rewritten file
        take, _ = animate(default, voice_wav, seed=3)
        assert take.info["guidance_scale"] == 2.0
        np.testing.assert_allclose(animate(plain, voice_wav, seed=3, guidance=2.0)[0].weights, take.weights, atol=1e-5)
        unguided, _ = animate(default, voice_wav, seed=3, guidance=1.0)
        np.testing.assert_allclose(unguided.weights, animate(plain, voice_wav, seed=3)[0].weights, atol=1e-5)
        assert np.abs(unguided.weights - take.weights).max() > 1e-3  # the scale changes the take
        guided_takes.append(take.weights)
    np.testing.assert_allclose(*guided_takes, atol=1e-4)  # the numpy port guides as torch does


def test_set_default_guidance_refuses_bad_scales_and_damaged_files_changing_nothing(weights_dir, tmp_path):
    from core.animate_options import OptionValueError

    folder = tmp_path / "weights"
    shutil.copytree(weights_dir, folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    for scale in (0.5, 9.0, float("nan")):
        with pytest.raises(OptionValueError, match="Guidance"):
            set_default_guidance(folder, "student", scale)
    data = bytearray(files[STUDENT_FILE])
    data[len(data) // 2] ^= 0xFF
    (folder / STUDENT_FILE).write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        set_default_guidance(folder, "student", 2.0)
    files[STUDENT_FILE] = bytes(data)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_a_styles_file_from_another_model_is_refused(weights_dir, tmp_path):
    other = tmp_path / "other"
    write_tiny_student(other, seed=7)
    mixed = tmp_path / "mixed"
    shutil.copytree(weights_dir, mixed)
    shutil.copy(other / STYLES_FILE, mixed / STYLES_FILE)
    write_manifest(mixed, [STUDENT_FILE, STYLES_FILE])  # checksums fine: only the model link is wrong
    with pytest.raises(WeightsError, match="belongs to another model"):
        load_engine(mixed, "cpu", "numpy")


def test_missing_weights_give_an_actionable_error(tmp_path):
    with pytest.raises(WeightsError, match="no manifest.json"):
        load_engine(tmp_path, "cpu")
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"format_version": 1, "files": {}}))
    with pytest.raises(WeightsError, match="does not list 'student.safetensors'"):
        load_engine(tmp_path, "cpu")


def test_user_styles_from_a_reference_clip_animate_on_both_backends(engines, voice_wav):
    reference = {name: e.style_from_reference(voice_wav) for name, e in engines.items()}
    for identity, emotion in reference.values():
        assert identity.shape == (16,) and abs(np.linalg.norm(emotion) - 1) < 1e-5
    np.testing.assert_allclose(reference["torch"][0], reference["numpy"][0], atol=1e-4)
    for engine in engines.values():
        user = engine.user_style_library().add("me", *reference["torch"])
        styled = engine.with_user_styles(user)
        assert "me" in styled.identities() and "me" not in engine.identities()
        animation, _ = animate(styled, voice_wav, identity="me", emotion="me")
        assert animation.weights.shape[1] == 52
    foreign = StyleLibrary({"x": np.ones(16)}, {}, model_sha256="0" * 64)
    with pytest.raises(WeightsError, match="another model"):
        engines["torch"].with_user_styles(foreign)


def test_out_of_memory_on_the_gpu_falls_back_to_the_cpu(weights_dir, voice_wav):
    engine = load_engine(weights_dir, "cpu", "torch")
    real = engine.backend

    class FlakyGpu:
        name, device, feature_rate, motion_dim = "torch", "cuda", real.feature_rate, real.motion_dim

        def audio_features(self, audio):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        def to_cpu(self):
            return real

    engine.backend = FlakyGpu()
    with pytest.warns(RuntimeWarning, match="out of memory"):
        animation, _ = animate(engine, voice_wav)
    assert "out of memory" in animation.info["warning"] and animation.info["device"] == "cpu"
    assert engine.name.endswith("(torch, cpu)")


def test_teacher_shares_the_code_path_with_whisper_features(tmp_path, voice_wav):
    from core.models.audio_features import WhisperAudioEncoder, WhisperWindowing

    torch.manual_seed(0)
    talker = randomize(DiffusionTalker(TalkerConfig.tiny(audio_dim=384)), 1)
    whisper = WhisperAudioEncoder("tiny.en", WhisperWindowing(4, 1.0))
    save_teacher(
        tmp_path, talker, tiny_styles(talker, 0), whisper_size="tiny.en", whisper_window_seconds=4,
        whisper_overlap_seconds=1.0, audio_encoder_cache_id=whisper.cache_id, steps=3,
    )  # fmt: skip
    assert set(read_manifest(tmp_path)["files"]) == {TEACHER_FILE, "teacher_styles.safetensors"}
    teacher = load_engine(tmp_path, "cpu", model="teacher")
    assert teacher.name == "teacher-3step (torch, cpu)"
    animation, _ = animate(teacher, voice_wav)
    assert animation.weights.shape == (frames_for_samples(round(SECONDS * 16_000), 30.0), 52)
    with pytest.raises(RuntimeError, match="needs torch"):
        load_engine(tmp_path, "cpu", "numpy", model="teacher")


def test_both_backends_sample_the_same_windows_from_the_same_noise(engines):
    """One window loop (core.sampling.windowed_sample) and one noise source behind both backends: equal takes."""
    torch_backend, numpy_backend = engines["torch"].backend, engines["numpy"].backend
    talker = torch_backend.talker
    feats = np.random.default_rng(0).standard_normal((1, 70, 16)).astype(np.float32)
    with torch.no_grad():
        tokens = talker.style_tokens(talker.encode_style(torch.randn(1, 20, 16), prosody=torch.randn(1, 20, 6)))
    plan = WindowPlan(window_frames=30, prefix_frames=6, crossfade_frames=4)
    windows = []
    got = torch_backend.generate(feats, tokens, 2, seeded_noise(4), 1.0, plan, lambda done, total: windows.append(done))
    expected = numpy_backend.generate(feats, tokens.numpy(), 2, seeded_noise(4), 1.0, plan, None)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert windows == [30, 50, 70]  # each window after the first writes 30 - 6 - 4 new frames
    direct = talker.generate(torch.from_numpy(feats), tokens, steps=2, seed=4, window=plan).numpy()
    np.testing.assert_array_equal(got, direct)


def test_blinks_change_only_the_eyelids_and_zero_keeps_the_model_take(voice_wav, tmp_path):
    from core.audio import load_audio
    from core.blink_layer import add_blinks
    from core.rig.arkit import channel_index

    write_tiny_student(tmp_path / "weights", still_eyes=True)
    engine = load_engine(tmp_path / "weights", "cpu", "numpy")
    longer = tmp_path / "six_seconds.wav"  # long enough for several blinks at 60 a minute
    save_wav(longer, np.tile(load_audio(voice_wav), 4), 16_000)
    voice_wav = longer
    plain, _ = animate(engine, voice_wav, seed=5, blinks_per_minute=0.0)
    blinking, _ = animate(engine, voice_wav, seed=5, blinks_per_minute=60.0)
    lids = [channel_index("eyeBlinkLeft"), channel_index("eyeBlinkRight"), channel_index("eyeWideLeft"),
            channel_index("eyeWideRight")]  # fmt: skip
    others = [i for i in range(52) if i not in lids]
    np.testing.assert_array_equal(plain.weights[:, others], blinking.weights[:, others])
    # The engine's take is the model's take with exactly the blink layer on top, seeded by the take's seed.
    expected = add_blinks(plain.weights, plain.fps, load_audio(voice_wav), seed=5, per_minute=60.0)
    np.testing.assert_allclose(blinking.weights, expected, atol=1e-6)
    assert not np.allclose(blinking.weights, plain.weights)  # and the layer did change this take
    assert blinking.info["blinks_per_minute"] == 60.0
