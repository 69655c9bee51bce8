"""Evaluation runs through the engine: it scores exactly what `python -m core animate` writes, on a tiny saved student."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_inference import write_tiny_student

from core.audio_augment import DEGRADATIONS
from core.cli import main
from core.data.clip import Clip, save_clip
from core.evaluation import animate_clip, evaluate_real_speech, lip_sync_row, load_eval_clips, real_speech_styles
from core.style_library import unit
from core.training.model_zoo import resolve_engine
from core.weights_io import read_manifest

RATE = 16_000
LIP_SYNC_KEYS = ("bilabial_closure_hit_rate", "vowel_bilabial_aperture_auc", "silence_ratio", "lag_ms")


def voice(seconds: float, f0: float, seed: int) -> np.ndarray:
    """A vowel-like buzz with syllable-rate loudness, pauses and noise bursts: speech enough for the tiny model."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(f0 + 15 * np.sin(2 * np.pi * 1.2 * t)) / RATE
    buzz = sum(np.sin(k * phase) / k for k in range(1, 16)) * np.sin(2 * np.pi * 2.5 * t) ** 2
    buzz *= (t % 1.5) < 1.1  # a pause every 1.5 s
    noise = np.random.default_rng(seed).standard_normal(t.size) * ((t * 4 % 1) < 0.1)
    return (0.3 * buzz / np.abs(buzz).max() + 0.03 * noise).astype(np.float32)


def phone_track(seconds: float) -> tuple[list[str], np.ndarray]:
    """A phone sequence on a fixed rhythm matching `voice`'s pauses (SIL, then syllables P-AA, M-AE, ...)."""
    phones, times, t = [], [], 0.0
    cycle = ["P", "AA", "T", "IY", "M", "AE", "B", "AO", "S", "EH"]
    while t + 1.5 <= seconds + 1e-9:
        for i in range(10):
            phones.append(cycle[i])
            times.append((t + 0.11 * i, t + 0.11 * (i + 1)))
        phones.append("SIL")
        times.append((t + 1.1, t + 1.5))
        t += 1.5
    return phones, np.array(times, np.float32)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    write_tiny_student(folder)
    return folder


@pytest.fixture(scope="module")
def real_dev(tmp_path_factory):
    """clips/<source>/<name>.wav + .npz and splits.json {"real-dev": [...]}: two clips of "ann", one of "ben"."""
    data = tmp_path_factory.mktemp("real_speech")
    ids = []
    for name, speaker, f0, seconds in (("a1", "ann", 190.0, 4.5), ("a2", "ann", 200.0, 3.0), ("b1", "ben", 110.0, 3.0)):
        phones, times = phone_track(seconds)
        frames = int(round(seconds * 30))
        clip = Clip(np.zeros((frames, 52), np.float32), 30.0, voice(seconds, f0, len(ids)), phones, times, speaker)
        save_clip(clip, data / "clips" / "test" / name)
        ids.append(f"clips/test/{name}")
    (data / "splits.json").write_text(json.dumps({"real-dev": ids}))
    return data


def test_eval_scores_exactly_the_take_cli_animate_writes(weights, real_dev, tmp_path):
    out = tmp_path / "take.npz"
    clip_wav, reference_wav = real_dev / "clips/test/a1.wav", real_dev / "clips/test/a2.wav"
    argv = ["animate", str(clip_wav), "--out", str(out), "--model", str(weights), "--ref-audio", str(reference_wav),
            "--seed", "0", "--blinks-per-minute", "0", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    written = np.load(out)["weights"]

    engine, _ = resolve_engine(str(weights))
    pool = load_eval_clips(real_dev, "real-dev")
    clip = pool[0]
    styles = real_speech_styles(engine, [clip], pool)  # ann's other clip, a2: the CLI's --ref-audio
    scored = animate_clip(engine, clip.audio, *styles[clip.clip_id], clip.fps)
    np.testing.assert_array_equal(scored, written)

    report = evaluate_real_speech(engine, [clip], pool)
    expected = lip_sync_row(written, clip)
    for key in LIP_SYNC_KEYS:
        assert report[key] == pytest.approx(expected[key], nan_ok=True), key
    assert not math.isnan(report["lag_ms"]) and abs(report["lag_ms"]) <= 200

    # Another guidance scale: `animate --guidance` and `eval --guidance` still score the same take.
    assert main([*argv, "--guidance", "3"]) == 0
    guided = np.load(out)["weights"]
    assert np.abs(guided - written).max() > 1e-3
    engine.guidance_scale = 3.0  # what `eval --guidance 3` does to the engine (core.training.model_zoo)
    np.testing.assert_array_equal(animate_clip(engine, clip.audio, *styles[clip.clip_id], clip.fps), guided)


def test_a_speaker_with_one_clip_takes_the_default_identity_and_neutral_emotion(weights, real_dev):
    engine, _ = resolve_engine(str(weights))
    pool = load_eval_clips(real_dev, "real-dev")
    styles = real_speech_styles(engine, pool, pool)
    np.testing.assert_array_equal(styles["clips/test/b1"][0], engine.styles.identity("default"))
    np.testing.assert_array_equal(styles["clips/test/b1"][1], engine.styles.emotion("neutral"))
    a2_identity, _ = engine.style_from_reference(pool[1].audio)
    np.testing.assert_array_equal(styles["clips/test/a1"][0], unit(a2_identity))  # stored as the CLI stores it


def test_real_dev_eval_writes_flat_metrics_robustness_and_the_model_hash(weights, real_dev, tmp_path):
    report_path = tmp_path / "real.json"
    argv = ["eval", "--model", str(weights), "--data", str(real_dev), "--split", "real-dev", "--json", str(report_path)]
    assert main(argv) == 0
    report = json.loads(report_path.read_text())
    for key in LIP_SYNC_KEYS:
        assert isinstance(report[key], float), key
    assert report["clips"] == 3 and report["speakers"] == 2 and report["seconds"] == pytest.approx(10.5)
    assert report["weights_sha256"] == read_manifest(weights)["files"]["student.safetensors"]["sha256"]
    assert report["model"] == "student" and report["steps"] == 2 and report["split"] == "real-dev"
    assert set(report["robustness"]) == set(DEGRADATIONS)
    for kind, degraded in report["robustness"].items():
        assert set(degraded) == set(LIP_SYNC_KEYS), kind
    assert degraded != {k: report[k] for k in LIP_SYNC_KEYS}  # the degraded audio gives another take

    quick = tmp_path / "quick.json"
    assert main([*argv[:-1], str(quick), "--no-robustness", "--max-clips", "2"]) == 0
    quick_report = json.loads(quick.read_text())
    assert "robustness" not in quick_report and quick_report["clips"] == 2
    assert report["guidance_scale"] == quick_report["guidance_scale"] == 1.0  # the model's own
    assert main([*argv[:-1], str(quick), "--no-robustness", "--max-clips", "2", "--guidance", "2.5"]) == 0
    assert json.loads(quick.read_text())["guidance_scale"] == 2.5
