"""Teacher training, evaluation and distillation end to end on a real (small) generated corpus, with tiny networks."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest
import torch

from core.training.corpus_features import EncoderSpec, load_training_set
from core.weights_io import read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.tts]

TINY_ENCODER = {"kind": "whisper", "whisper_size": "tiny.en", "window_seconds": 8, "overlap_seconds": 2.0}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from core.data.generate import generate_corpus

    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, preset="small", seed=3, jobs=2, progress=False)
    return out


def _teacher_config(corpus, run_dir, **overrides):
    from core.training.train_teacher import TeacherTrainConfig

    values = {
        "data": str(corpus), "run_dir": str(run_dir), "steps": 40, "warmup_steps": 5, "lr": 2e-3,
        "denoiser_width": 32, "denoiser_layers": 1, "personalizer_width": 32, "encoder": TINY_ENCODER,
        "batch": {"groups": 2, "per_group": 4, "crop_frames": 60, "ref_frames": 45},
        "log_every": 5, "eval_every": 40, "checkpoint_every": 20, "cache_dir": str(corpus / "cache"),
        "feature_jobs": 1, **overrides,
    }  # fmt: skip
    return TeacherTrainConfig.from_dict(values)


@pytest.fixture(scope="module")
def trained_teacher(corpus, tmp_path_factory):
    from core.training.train_teacher import train_teacher

    run_dir = tmp_path_factory.mktemp("teacher")
    summary = train_teacher(_teacher_config(corpus, run_dir), progress=False)
    return run_dir, summary


def test_small_corpus_has_held_out_voices_a_manifest_and_regenerates_identically(corpus):
    from core.data.generate import generate_corpus

    splits = json.loads((corpus / "splits.json").read_text())
    manifest = json.loads((corpus / "manifest.json").read_text())
    train_voices = {clip_id.split("/")[1] for clip_id in splits["train"]}
    assert splits["heldout_voices_names"] and not set(splits["heldout_voices_names"]) & train_voices
    assert len(train_voices) >= 2 and splits["heldout_sentences"]
    assert set(manifest["emotions"]) >= {"neutral", "happy", "angry"} and not manifest["failures"]
    assert manifest["seconds_of_audio"] > 60
    # Resuming keeps every clip; the content hash (over every file) is unchanged.
    again = generate_corpus(corpus, preset="small", seed=3, jobs=1, progress=False)
    assert again.content_hash == manifest["content_hash"]


def test_window_join_ratio_sees_a_seam_and_not_smooth_motion():
    from core.bench import window_join_ratio

    t = np.arange(600) / 30.0
    smooth = 0.5 + 0.3 * np.sin(2 * np.pi * 1.3 * t)[:, None] * np.ones((1, 52))
    assert window_join_ratio(smooth, 240, 30, 8) < 1.6
    seam = smooth.copy()
    seam[240 - 8 :] += 0.2  # a jump where the second window takes over
    assert window_join_ratio(seam, 240, 30, 8) > 2  # the bar: a join within 2x the median change


def test_join_statistics_tell_seams_from_speech_motion():
    from core.bench import join_statistics

    rng = np.random.default_rng(0)
    speech = np.cumsum(rng.normal(0, 0.01, (2000, 52)), axis=0)  # moves everywhere, joins or not
    clean = join_statistics(speech, 240, 30, 8)
    assert clean["joins"] == 9 and abs(clean["median_join"] - clean["median_away"]) < 0.5
    seams = speech.copy()
    for j in range(240, 2000, 202):
        seams[j:] += 0.05  # a jump at every join
    broken = join_statistics(seams, 240, 30, 8)
    assert broken["median_join"] > 2 * broken["median_away"]


def test_features_are_aligned_to_motion_frames_and_cached(corpus):
    spec = EncoderSpec(**TINY_ENCODER)
    clips = load_training_set(corpus, "train", spec, corpus / "cache", jobs=1, limit=3, progress=False)
    for clip in clips:
        assert clip.audio.shape == (clip.frames, 384)
        assert np.isfinite(clip.audio).all()
    cached = list((corpus / "cache").rglob("*.safetensors"))
    assert len(cached) >= 3
    again = load_training_set(corpus, "train", spec, corpus / "cache", jobs=1, limit=3, progress=False)
    np.testing.assert_array_equal(again[0].audio, clips[0].audio)


def test_teacher_training_logs_config_data_hash_and_reduces_the_loss(trained_teacher, corpus):
    run_dir, summary = trained_teacher
    record = json.loads((run_dir / "config.json").read_text())
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert record["corpus_hash"] == manifest["content_hash"]
    assert record["train_config"]["steps"] == 40
    lines = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    totals = [entry["total"] for entry in lines if "total" in entry]
    assert len(totals) >= 6
    assert np.mean(totals[-2:]) < np.mean(totals[:2])
    assert "heldout_bilabial_hit_rate" in lines[-1]
    assert (run_dir / "model.safetensors").is_file()
    assert summary["step"] == 40


def test_training_resumes_from_its_checkpoint(corpus, trained_teacher, tmp_path):
    """Same seed: 20 steps + resume to 40 == 40 straight steps (the checkpoint holds model, optimizer and RNGs)."""
    from core.training.train_teacher import load_trained_talker, train_teacher

    run_dir = tmp_path / "resumed"
    interrupted = train_teacher(_teacher_config(corpus, run_dir, steps=40, max_minutes=0.0), progress=False)
    assert interrupted["step"] == 1  # out of time after the first step, with a checkpoint
    train_teacher(_teacher_config(corpus, run_dir, steps=40), progress=False)
    resumed = load_trained_talker(run_dir)
    straight = load_trained_talker(trained_teacher[0])
    for (name, a), (_, b) in zip(resumed.state_dict().items(), straight.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=f"{name} differs after resuming")


def test_evaluation_reports_every_metric(trained_teacher, corpus):
    """A training run evaluated through its engine (the run's Whisper encoder on each clip's audio)."""
    from core.evaluation import evaluate, load_eval_clips
    from core.training.model_zoo import resolve_engine
    from core.weights_io import sha256_of_file

    engine, run_corpus = resolve_engine(str(trained_teacher[0]), steps=4)
    assert run_corpus == corpus
    heldout = load_eval_clips(corpus, ["heldout_voices", "heldout_sentences"])
    train = load_eval_clips(corpus, "train")
    report = evaluate(engine, heldout, train, max_clips=4, diversity_clips=2, seeds=2)
    for key in (
        "lve", "upper_face_error", "fdd", "bilabial_closure_hit_rate", "vowel_bilabial_aperture_auc",
        "speaker_retrieval_top1", "emotion_accuracy", "diversity", "emotion_swap_upper_face_shift",
        "compute_seconds_per_audio_second", "silence_ratio", "lag_ms",
    ):  # fmt: skip
        assert key in report and math.isfinite(report[key]), key
    assert report["diversity"] > 0  # a diffusion model's takes differ across seeds
    assert report["gt_bilabial_closure_hit_rate"] > 0.9  # the targets themselves close the lips
    assert report["weights_sha256"] == sha256_of_file(trained_teacher[0] / "model.safetensors")
    assert report["steps"] == 4


def test_baseline_is_deterministic_across_seeds(corpus, tmp_path):
    from core.training.train_teacher import load_trained_talker, train_teacher

    run_dir = tmp_path / "baseline"
    train_teacher(_teacher_config(corpus, run_dir, steps=10, deterministic=True, eval_every=10), progress=False)
    model = load_trained_talker(run_dir)
    audio = torch.randn(1, 50, 384)
    a = model.generate(audio, None, seed=0)
    b = model.generate(audio, None, seed=1)
    torch.testing.assert_close(a, b)


def test_progressive_distillation_halves_steps_each_round(trained_teacher, corpus, tmp_path):
    from core.training.distill import DistillConfig, distill

    config = DistillConfig.from_dict(
        {
            "data": str(corpus), "teacher": str(trained_teacher[0]), "run_dir": str(tmp_path / "distill"),
            "teacher_steps": 8, "rounds": [4, 2], "round_steps": 4, "encoder_steps": 6, "encoder_batch": 4,
            "encoder_config": {"width": 24, "attention_layers": 1, "heads": 2, "out_dim": 384},
            "teacher_encoder": TINY_ENCODER, "batch": {"groups": 2, "per_group": 2, "crop_frames": 45, "ref_frames": 30},
            "cache_dir": str(corpus / "cache"), "feature_jobs": 1, "log_every": 2,
        }
    )  # fmt: skip
    result = distill(config, progress=False)
    assert result["student"].config.sampling_steps == 2
    for name in ("student_encoder.safetensors", "student_4step.safetensors", "student_2step.safetensors"):
        assert (tmp_path / "distill" / name).is_file()
    phases = {json.loads(line)["phase"] for line in (tmp_path / "distill" / "log.jsonl").read_text().splitlines()}
    assert phases == {"encoder", "round4", "round2"}
    feats = result["encoder"].encode(np.zeros(16000, np.float32))
    assert feats.shape == (50, 384)


def test_phase_a_also_learns_from_audio_only_corpora(trained_teacher, corpus, tmp_path):
    import shutil

    from core.training.distill import DistillConfig, distill

    # An extra corpus: the small corpus's held-out voice, as training audio for the encoder only.
    splits = json.loads((corpus / "splits.json").read_text())
    extra = tmp_path / "extra"
    voice = splits["heldout_voices_names"][0]
    shutil.copytree(corpus / "clips" / voice, extra / "clips" / voice)
    (extra / "splits.json").write_text(json.dumps({"train": splits["heldout_voices"], "heldout_sentences": []}))
    values = {
        "data": str(corpus), "teacher": str(trained_teacher[0]), "teacher_steps": 4, "rounds": [],
        "encoder_steps": 6, "encoder_batch": 4,
        "encoder_config": {"width": 24, "attention_layers": 1, "heads": 2, "out_dim": 384},
        "teacher_encoder": TINY_ENCODER, "cache_dir": str(corpus / "cache"), "feature_jobs": 1, "log_every": 2,
    }  # fmt: skip
    alone = distill(DistillConfig.from_dict({**values, "run_dir": str(tmp_path / "alone")}), progress=False)
    more = distill(
        DistillConfig.from_dict({**values, "run_dir": str(tmp_path / "more"), "encoder_data": [str(extra)]}),
        progress=False,
    )
    assert 0 < more["encoder_only_clips"] <= len(splits["heldout_voices"]) and str(extra) in more["encoder_data"]
    assert "encoder_only_clips" not in alone
    a, b = alone["encoder"].state_dict(), more["encoder"].state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the extra audio changed what phase A learned
    with pytest.raises(FileNotFoundError, match="--preset encoder-voices"):
        distill(DistillConfig.from_dict({**values, "run_dir": str(tmp_path / "x"), "encoder_data": [str(tmp_path)]}))


def test_smaller_student_network_learns_the_teacher_then_halves_steps(trained_teacher, corpus, tmp_path):
    from core.training.distill import DistillConfig, distill

    values = {
        "data": str(corpus), "teacher": str(trained_teacher[0]), "run_dir": str(tmp_path / "distill"),
        "teacher_steps": 4, "rounds": [2], "round_steps": 3, "encoder_steps": 4, "encoder_batch": 4,
        "encoder_config": {"width": 24, "attention_layers": 1, "heads": 2, "out_dim": 384},
        "student_denoiser": {"width": 16, "heads": 2}, "compress_steps": 30, "compress_lr": 3e-3,
        "teacher_encoder": TINY_ENCODER, "batch": {"groups": 2, "per_group": 2, "crop_frames": 45, "ref_frames": 30},
        "cache_dir": str(corpus / "cache"), "feature_jobs": 1, "log_every": 5,
    }  # fmt: skip
    result = distill(DistillConfig.from_dict(values), progress=False)
    student, teacher_width = result["student"], trained_teacher[1]["talker_config"]["denoiser"]["width"]
    assert student.config.denoiser.width == 16 != teacher_width and student.config.sampling_steps == 2
    run = tmp_path / "distill"
    assert (run / "student_16step.safetensors").is_file() and (run / "student_encoder_16step.safetensors").is_file()
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    network = [e["L_kd"] for e in log if e["phase"] == "student_network"]
    assert len(network) == 6 and np.mean(network[-2:]) < np.mean(network[:2])  # it learns the teacher
    with pytest.raises(ValueError, match="compress_steps"):
        distill(DistillConfig.from_dict({**values, "compress_steps": 0, "run_dir": str(tmp_path / "other")}))
    # The big-encoder ablation with the same small network: phase A2 on Whisper's features, no student encoder.
    big = {**values, "student_encoder": False, "compress_steps": 4, "run_dir": str(tmp_path / "big")}
    result = distill(DistillConfig.from_dict(big), progress=False)
    assert result["encoder"] is None and result["student"].config.denoiser.width == 16
    assert not (tmp_path / "big" / "student_encoder_16step.safetensors").exists()


def _fake_real_speech(corpus, out, short_seconds: tuple[float, ...] = ()):
    """A real-speech folder in the layout `python -m core data real-speech` writes, from the small corpus's held-out
    voice (a voice the teacher never trained on); one clip's speaker is unknown. short_seconds: also clips of these
    lengths (the start of a held-out clip, as a short line)."""
    import shutil

    import soundfile

    splits = json.loads((corpus / "splits.json").read_text())
    entries = []
    for index, clip_id in enumerate(splits["heldout_voices"][:6]):
        wav = f"clips/fake/{index}.wav"
        (out / wav).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / f"{clip_id}.wav", out / wav)
        entries.append(
            {"id": f"fake/{index}", "wav": wav, "source": "fake-package", "speaker": None if index == 5 else "fake:a",
             "language": "en", "seconds": soundfile.info(str(out / wav)).duration, "transcript": None}
        )  # fmt: skip
    for index, seconds in enumerate(short_seconds):
        audio, rate = soundfile.read(str(corpus / f"{splits['heldout_voices'][index]}.wav"), dtype="float32")
        wav = f"clips/fake/short{index}.wav"
        soundfile.write(str(out / wav), audio[: int(seconds * rate)], rate)
        entries.append(
            {"id": f"fake/short{index}", "wav": wav, "source": "fake-package", "speaker": "fake:a", "language": "en",
             "seconds": soundfile.info(str(out / wav)).duration, "transcript": None}
        )  # fmt: skip
    (out / "manifest.json").write_text(json.dumps({"entries": entries, "content_hash": "fakehash"}))
    (out / "splits.json").write_text(json.dumps({"train": [e["id"] for e in entries], "real-dev": []}))
    return entries


def test_real_speech_joins_distillation_with_teacher_takes_as_its_motion(trained_teacher, corpus, tmp_path):
    import soundfile
    from safetensors.numpy import load_file

    from core.training.distill import DistillConfig, distill

    entries = _fake_real_speech(corpus, tmp_path / "real")
    values = {
        "data": str(corpus), "teacher": str(trained_teacher[0]), "teacher_steps": 4, "rounds": [2], "round_steps": 3,
        "encoder_steps": 4, "encoder_batch": 4, "real_speech": str(tmp_path / "real"), "real_speech_groups": 1,
        "encoder_config": {"width": 24, "attention_layers": 1, "heads": 2, "out_dim": 384},
        "augment_views": 1, "teacher_encoder": TINY_ENCODER,
        "batch": {"groups": 2, "per_group": 2, "crop_frames": 45, "ref_frames": 30},
        "cache_dir": str(corpus / "cache"), "feature_jobs": 1, "log_every": 2,
    }  # fmt: skip
    result = distill(DistillConfig.from_dict({**values, "run_dir": str(tmp_path / "run")}), progress=False)
    assert result["real_speech"] == {
        "hash": "fakehash", "clips": 6, "speakers": 2, "hours": result["real_speech"]["hours"], "aligned_targets": 0
    }  # fmt: skip
    takes = load_file(str(tmp_path / "run" / "real_speech_targets.safetensors"))
    assert len(takes) == 6
    for entry in entries:
        take = takes[f"real:{entry['id']}"]
        frames = math.ceil(soundfile.info(str(tmp_path / "real" / entry["wav"])).frames * 30 / 16000 - 1e-9)
        assert take.shape == (frames, 52) and 0.0 <= take.min() and take.max() <= 1.0 and take.std() > 0
    assert result["student"].config.sampling_steps == 2
    # The real speech changed what the encoder learned (same seed, same corpus, same steps)
    alone = distill(
        DistillConfig.from_dict({**values, "real_speech": "", "run_dir": str(tmp_path / "alone")}), progress=False
    )
    a, b = alone["encoder"].state_dict(), result["encoder"].state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(FileNotFoundError, match="data real-speech"):
        distill(DistillConfig.from_dict({**values, "real_speech": str(tmp_path), "run_dir": str(tmp_path / "x")}))


def test_aligned_real_clips_can_take_their_alignments_face_targets_as_motion(trained_teacher, corpus, tmp_path):
    import shutil

    from core.data.clip import load_clip
    from core.training.distill import DistillConfig, distill
    from core.training.real_speech_clips import load_real_speech_clips
    from core.training.train_teacher import load_teacher

    real = tmp_path / "real"
    entries = _fake_real_speech(corpus, real)
    # clip 0 was force-aligned by `data real-speech` (here: the corpus clip it was copied from, same audio)
    source = json.loads((corpus / "splits.json").read_text())["heldout_voices"][0]
    shutil.copy(corpus / f"{source}.npz", real / "clips/fake/0.npz")
    entries[0]["aligned"] = True
    (real / "manifest.json").write_text(json.dumps({"entries": entries, "content_hash": "fakehash"}))
    alignment = load_clip(real / "clips/fake/0.npz", with_audio=False)
    teacher = load_teacher(trained_teacher[0])
    load = dict(steps=4, jobs=1, progress=False)
    takes, _ = load_real_speech_clips(real, teacher, EncoderSpec(**TINY_ENCODER), corpus / "cache",
                                      tmp_path / "targets.safetensors", **load)  # fmt: skip
    mixed, _ = load_real_speech_clips(real, teacher, EncoderSpec(**TINY_ENCODER), corpus / "cache",
                                      tmp_path / "targets.safetensors", aligned_targets=True, **load)  # fmt: skip
    assert mixed[0].frames == takes[0].frames and abs(mixed[0].frames - alignment.num_frames) <= 1
    n = min(mixed[0].frames, alignment.num_frames)
    np.testing.assert_array_equal(mixed[0].motion[:n], alignment.weights[:n])
    assert not np.allclose(mixed[0].motion, takes[0].motion)  # the teacher's take was replaced
    assert mixed[0].phones == list(alignment.phones) and not takes[0].phones
    for a, b in zip(mixed[1:], takes[1:], strict=True):  # clips without an alignment keep the teacher's take
        np.testing.assert_array_equal(a.motion, b.motion)
    # Guided takes: what a guided teacher samples, not the stored unguided ones (the file says how it was made)
    guided, _ = load_real_speech_clips(real, teacher, EncoderSpec(**TINY_ENCODER), corpus / "cache",
                                       tmp_path / "targets.safetensors", guidance_scale=2.0, **load)  # fmt: skip
    (alone,) = [c for c in guided if c.speaker.endswith(":unknown")]  # styleless, so taken in a batch of its own
    seed = zlib.crc32(alone.clip_id.encode())
    expected = teacher.generate(torch.from_numpy(alone.audio)[None], None, steps=4, seed=seed, guidance_scale=2.0)
    np.testing.assert_allclose(alone.motion, expected[0].numpy(), atol=1e-5)
    for a, b in zip(guided, takes, strict=True):
        assert not np.allclose(a.motion, b.motion)
    again, _ = load_real_speech_clips(real, teacher, EncoderSpec(**TINY_ENCODER), corpus / "cache",
                                      tmp_path / "targets.safetensors", **load)  # fmt: skip
    for a, b in zip(again, takes, strict=True):  # back to unguided: retaken, not the guided file's
        np.testing.assert_array_equal(a.motion, b.motion)
    values = {
        "data": str(corpus), "teacher": str(trained_teacher[0]), "teacher_steps": 4, "real_speech": str(real),
        "real_speech_targets": "aligned", "teacher_encoder": TINY_ENCODER, "cache_dir": str(corpus / "cache"),
        "feature_jobs": 1, "run_dir": str(tmp_path / "run"),
    }  # fmt: skip
    with pytest.raises(ValueError, match="'teacher' or 'aligned'"):
        distill(DistillConfig.from_dict({**values, "real_speech_targets": "phones"}), progress=False)
    with pytest.raises(ValueError, match="real_speech_teacher_guidance"):
        distill(DistillConfig.from_dict({**values, "real_speech_teacher_guidance": 0.5}), progress=False)
    with pytest.raises(ValueError, match="whole number >= 1"):  # refused before any feature is computed
        distill(DistillConfig.from_dict({**values, "ears_language_weights": {"en": 0}}), progress=False)
    assert not (tmp_path / "run").exists()


def test_encoder_views_are_degraded_copies_and_crops_keep_the_clean_targets(corpus, tmp_path):
    from core.audio import load_audio
    from core.models.log_mel import log_mel
    from core.training.distill import DistillConfig, _mel_views
    from core.training.encoder_crops import encoder_crops, mel_crop

    clips = load_training_set(corpus, "train", EncoderSpec(**TINY_ENCODER), corpus / "cache", jobs=1, progress=False)
    clips = clips[:4]
    wavs = {c.clip_id: str(corpus / f"{c.clip_id}.wav") for c in clips}
    config = DistillConfig.from_dict({"augment_views": 2, "acoustic_augment": {"clean_prob": 0.0}})
    views = _mel_views(config, wavs, [], progress=False, what="test")
    again = _mel_views(config, dict(reversed(list(wavs.items()))), [], progress=False, what="test")
    for clip in clips:
        clean = log_mel(load_audio(wavs[clip.clip_id]))
        assert len(views[clip.clip_id]) == 3 and views[clip.clip_id][1].dtype == np.float16
        np.testing.assert_allclose(views[clip.clip_id][0].astype(np.float32), clean, atol=2e-3)
        for degraded in views[clip.clip_id][1:]:
            assert degraded.shape == clean.shape and np.abs(degraded.astype(np.float32) - clean).mean() > 0.02
        for mine, theirs in zip(views[clip.clip_id], again[clip.clip_id], strict=True):
            np.testing.assert_array_equal(mine, theirs)  # seeded per clip: independent of the order
    before = [c.audio.copy() for c in clips]
    rng = np.random.default_rng(0)
    crops, mel = encoder_crops(rng, clips, views, 30, 16, clean_view_prob=0.0)
    assert mel.shape == (16, 80, 100)
    for (clip, start), crop_mel in zip(crops, mel, strict=True):  # every crop read a degraded view, not the clean one
        clean = views[clip.clip_id][0][:, start * 10 // 3 : start * 10 // 3 + 100].astype(np.float32)
        assert np.abs(crop_mel.numpy()[:, : clean.shape[1]] - clean).mean() > 0.02
    for clip, audio in zip(clips, before, strict=True):
        np.testing.assert_array_equal(clip.audio, audio)  # the Whisper targets are the clean audio's
    # with_views names the view each crop read, from the same draws
    again_crops, again_mel, chosen = encoder_crops(np.random.default_rng(0), clips, views, 30, 16, 0.0, True)
    assert [(c.clip_id, s) for c, s in again_crops] == [(c.clip_id, s) for c, s in crops]
    torch.testing.assert_close(again_mel, mel)
    assert len(chosen) == 16 and all(1 <= v <= 2 for v in chosen)
    for (clip, start), view, crop_mel in zip(crops, chosen, mel, strict=True):
        torch.testing.assert_close(crop_mel, torch.from_numpy(mel_crop(views[clip.clip_id][view], start, 30)))


def test_mel_views_name_the_degradations_each_view_went_through(corpus):
    from core.audio import load_audio
    from core.audio_augment import AcousticAugment
    from core.models.log_mel import log_mel
    from core.training.distill import DistillConfig, _mel_views

    clips = load_training_set(corpus, "train", EncoderSpec(**TINY_ENCODER), corpus / "cache", jobs=1, progress=False)
    wavs = {c.clip_id: str(corpus / f"{c.clip_id}.wav") for c in clips[:3]}
    augment = {"clean_prob": 0.0, "reverb_prob": 0.5, "noise_prob": 0.5, "band_prob": 0.0, "codec_prob": 0.0}
    config = DistillConfig.from_dict({"augment_views": 4, "acoustic_augment": augment})
    views, stages = _mel_views(config, wavs, [], progress=False, what="test", with_stages=True)
    plain = _mel_views(config, wavs, [], progress=False, what="test")
    seen = set()
    for clip_id, path in wavs.items():
        assert stages[clip_id][0] == () and len(stages[clip_id]) == 5 and all(stages[clip_id][1:])
        for mine, theirs in zip(views[clip_id], plain[clip_id], strict=True):
            np.testing.assert_array_equal(mine, theirs)  # naming the stages draws nothing more
        # each named chain is the one that made the view: replaying the clip's seeded stream gives the same views
        rng = np.random.default_rng([config.seed, zlib.crc32(clip_id.encode())])
        for view, chain in zip(views[clip_id][1:], stages[clip_id][1:], strict=True):
            degraded, applied = AcousticAugment.from_dict(augment).apply(load_audio(path), rng)
            assert tuple(stage for stage, _ in applied) == chain
            np.testing.assert_array_equal(view, log_mel(degraded).astype(np.float16))
            seen.update(chain)
    assert {"reverb", "noise"} <= seen


def test_teacher_fine_tunes_on_aligned_real_speech_heard_through_degraded_views(trained_teacher, corpus, tmp_path):
    import shutil

    from core.training.batches import BatchSampler, BatchSpec
    from core.training.feature_views import degraded_feature_views
    from core.training.real_speech_clips import aligned_real_speech_clips
    from core.training.train_teacher import load_teacher, load_trained_talker, train_teacher

    real = tmp_path / "real"
    entries = _fake_real_speech(corpus, real)
    sources = json.loads((corpus / "splits.json").read_text())["heldout_voices"]
    for index in (0, 1, 2, 5):  # aligned by `data real-speech`: here the corpus clip each was copied from
        shutil.copy(corpus / f"{sources[index]}.npz", real / f"clips/fake/{index}.npz")
        entries[index]["aligned"] = True
    (real / "manifest.json").write_text(json.dumps({"entries": entries, "content_hash": "fakehash"}))
    spec, cache = EncoderSpec(**TINY_ENCODER), corpus / "cache"

    # Pseudo-labels: aligned clips of known speakers only (clip 5's speaker is unknown), motion = the alignment's
    clips, wavs = aligned_real_speech_clips(real, spec, cache, jobs=1, progress=False)
    assert [c.clip_id for c in clips] == ["real:fake/0", "real:fake/1", "real:fake/2"]
    for clip, index in zip(clips, (0, 1, 2), strict=True):
        from core.data.clip import load_clip

        alignment = load_clip(corpus / f"{sources[index]}.npz", with_audio=False)
        n = min(clip.frames, alignment.num_frames)
        np.testing.assert_array_equal(clip.motion[:n], alignment.weights[:n])
        assert clip.speaker == "fake:a" and clip.emotion == "neutral" and clip.phones == list(alignment.phones)
        assert clip.audio.shape == (clip.frames, clips[0].audio.shape[1])

    # Degraded views: different features of the same length, the same on a rerun in another order
    augment = {"clean_prob": 0.0, "reverb_prob": 0.8, "noise_prob": 0.8}
    from core.audio_augment import AcousticAugment

    views = degraded_feature_views(wavs, spec, AcousticAugment.from_dict(augment), 2, 0, cache, jobs=1, progress=False)
    again = degraded_feature_views(dict(reversed(list(wavs.items()))), spec, AcousticAugment.from_dict(augment), 2, 0,
                                   cache, jobs=1, progress=False)  # fmt: skip
    from core.training.corpus_features import encode_audio_files

    for clip_id, path in wavs.items():
        clean = encode_audio_files([path], spec, cache, 1, progress=False)[path][0]
        feats, _ = views[clip_id]
        assert len(feats) == 2 and all(f.shape == clean.shape and f.dtype == np.float16 for f in feats)
        assert all(np.abs(f.astype(np.float32) - clean).mean() > 0.05 * np.abs(clean).mean() for f in feats)
        for mine, theirs in zip(feats, again[clip_id][0], strict=True):
            np.testing.assert_array_equal(mine, theirs)

    # A batch hears the views (clean_view_prob 0) or the clean audio (1) with the very same motion crops
    for clip in clips:
        clip.audio_views = [np.full_like(clip.audio, 7.0, dtype=np.float16)]
    labels = ({"fake:a": 0}, {"neutral": 0})
    spec_b = BatchSpec(groups=1, per_group=4, crop_frames=30, ref_frames=20)
    heard = BatchSampler(clips, *labels, spec_b, seed=0, clean_view_prob=0.0).sample()
    clean_b = BatchSampler(clips, *labels, spec_b, seed=0, clean_view_prob=1.0).sample()
    torch.testing.assert_close(heard["motion"], clean_b["motion"])
    assert torch.all(heard["audio"][heard["frame_mask"]] == 7.0)
    assert not torch.any(clean_b["audio"][clean_b["frame_mask"]] == 7.0)

    # Fine-tuning a trained teacher on corpus + pseudo-labelled real speech, through degraded views
    start = load_teacher(trained_teacher[0])
    config = _teacher_config(
        corpus, tmp_path / "ft", steps=4, init_from=str(trained_teacher[0]), real_speech=str(real),
        real_speech_min_seconds=0.0, real_speech_groups=1, augment_views=1, acoustic_augment=augment,
        eval_every=4, lr=1e-3, warmup_steps=1,
    )  # fmt: skip
    summary = train_teacher(config, progress=False, command="python -m core train teacher --config ft.json")
    record = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert record["training_command"] == "python -m core train teacher --config ft.json"
    assert record["real_speech"] == {"folder": str(real), "hash": "fakehash", "clips": 3,
                                     "seconds": record["real_speech"]["seconds"], "speakers": ["fake:a"]}  # fmt: skip
    assert record["train_config"]["augment_views"] == 1 and record["speakers"]["fake:a"] >= 0
    tuned = load_trained_talker(tmp_path / "ft")
    assert tuned.config.to_dict() == start.config.to_dict() and summary["step"] == 4
    a, b = start.state_dict(), tuned.state_dict()
    torch.testing.assert_close(a["motion_mean"], b["motion_mean"])  # the teacher's motion statistics are kept
    changed = [k for k in a if a[k].dtype.is_floating_point and not torch.equal(a[k], b[k])]
    assert changed, "fine-tuning left every weight where it started"


def test_unrolled_sample_is_the_shipped_sampler_and_carries_gradients():
    from core.models.talker import DiffusionTalker, TalkerConfig
    from core.training.adapt_ears import unrolled_sample

    torch.manual_seed(0)
    talker = DiffusionTalker(TalkerConfig.from_dict({
        "personalizer": {"audio_dim": 24, "width": 32, "style_tokens": 2},
        "denoiser": {"audio_dim": 24, "width": 32, "layers": 1, "style_dim": 32, "style_tokens": 2},
    }))  # fmt: skip
    talker.eval()
    feats = torch.randn(2, 40, 24, requires_grad=True)
    with torch.no_grad():
        tokens = talker.personalizer(feats)
    noise = np.random.default_rng(0).standard_normal((2, 40, 52), dtype=np.float32)
    for guidance in (1.0, 2.0):  # guidance 2: the batched pass with and without the voice, as the student ships
        feats.grad = None
        shipped = talker.sample(feats.detach(), tokens, 2, lambda shape: noise, guidance)
        mine = unrolled_sample(talker, feats, tokens, torch.from_numpy(noise), 2, guidance_scale=guidance)
        torch.testing.assert_close(mine.detach(), shipped)
        mine.square().sum().backward()
        assert feats.grad is not None and feats.grad.abs().sum() > 0
    plain = unrolled_sample(talker, feats, tokens, torch.from_numpy(noise), 2)
    assert (plain - mine).abs().max() > 1e-3  # the scale changes the sample


def test_torch_lip_aperture_is_the_metrics_lip_aperture():
    from core.rig.lip_measures import lip_aperture
    from core.training.adapt_ears import torch_lip_aperture

    weights = np.random.default_rng(0).uniform(0, 1, (3, 40, 52)).astype(np.float32)
    weights[0, :, :] = 0.0  # lips shut: aperture 0
    got = torch_lip_aperture(torch.from_numpy(weights)).numpy()
    for take, aperture in zip(weights, got, strict=True):
        np.testing.assert_allclose(aperture, lip_aperture(take), atol=1e-6)
    assert (got[0] == 0).all() and got[1:].std() > 0


def test_a_grown_encoder_starts_as_the_one_it_grows_from_and_learns_in_its_new_blocks():
    from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig
    from core.training.adapt_ears import grow_encoder

    torch.manual_seed(0)
    encoder = StudentAudioEncoder(StudentEncoderConfig.tiny(conv_module_kernel=5, output_folded=True)).eval()
    with torch.no_grad():
        for tensor in encoder.state_dict().values():
            tensor.add_(0.1 * torch.randn_like(tensor))
    grown = grow_encoder(encoder, 2)
    assert grown.config.attention_layers == encoder.config.attention_layers + 2 and grown_is_new(grown, encoder)
    mel = torch.randn(2, 80, 57)
    with torch.no_grad():
        torch.testing.assert_close(grown(mel), encoder(mel), rtol=0, atol=1e-6)
    grown.train()
    grown(mel).pow(2).mean().backward()
    new_block = grown.blocks[-1]
    assert new_block.attn.proj.weight.grad.abs().max() > 0 and new_block.ff[-1].weight.grad.abs().max() > 0
    assert grow_encoder(encoder, 0) is encoder
    with pytest.raises(ValueError, match="ears_grow_blocks"):
        grow_encoder(encoder, -1)


def grown_is_new(grown, encoder) -> bool:
    """The grown encoder is its own module: training it leaves the one it grew from as it was."""
    return all(a.data_ptr() != b.data_ptr() for a, b in zip(grown.parameters(), encoder.parameters(), strict=False))


def test_real_speech_short_clips_come_spread_over_the_split_beside_the_long_ones(tmp_path):
    from core.training.real_speech_clips import real_speech_wavs

    seconds = [4.0, 0.8, 5.0, 0.3, 1.2, 2.0, 6.0, 0.9, 1.5, 2.5]  # in split order; 0.3 s is too short to take
    entries = [{"id": f"c{i}", "wav": f"c{i}.wav", "seconds": s} for i, s in enumerate(seconds)]
    (tmp_path / "manifest.json").write_text(json.dumps({"entries": entries}))
    (tmp_path / "splits.json").write_text(json.dumps({"train": [e["id"] for e in entries]}))
    long_only = real_speech_wavs(tmp_path, min_seconds=3.0)
    assert list(long_only) == ["c0", "c2", "c6"]
    assert long_only["c0"]["path"] == str(tmp_path / "c0.wav")
    # 6 short clips of 0.5 s or more (c1 c4 c5 c7 c8 c9): 3 of them, first, middle and last, in split order
    assert list(real_speech_wavs(tmp_path, min_seconds=3.0, short_clips=3)) == ["c0", "c1", "c2", "c5", "c6", "c9"]
    assert list(real_speech_wavs(tmp_path, min_seconds=3.0, short_clips=99)) == [
        "c0", "c1", "c2", "c4", "c5", "c6", "c7", "c8", "c9"
    ]  # fmt: skip
    # max_hours caps the long clips only (the first 8 s of them); the short ones are still found after it
    capped = real_speech_wavs(tmp_path, max_hours=8 / 3600, min_seconds=3.0, short_clips=2)
    assert list(capped) == ["c0", "c1", "c2", "c9"]


def test_a_short_batch_crops_short_clips_nearly_whole_at_one_length():
    from core.training.adapt_ears import SHORT_SLACK_FRAMES, short_batch, short_real_clips
    from core.training.corpus_features import TrainingClip
    from core.training.encoder_crops import encoder_crops

    def clip(name, frames, fps=30.0):
        return TrainingClip(name, "s", "neutral", np.zeros((frames, 4), np.float32),
                            np.zeros((frames, 52), np.float32), fps, [], np.zeros((0, 2)))  # fmt: skip

    clips = [clip(f"real:{f}", f) for f in (10, 16, 20, 31, 33, 44, 60, 89, 90, 200)]
    clips += [clip("corpus:a", 40), clip("real:25fps", 40, 25.0)]
    short = short_real_clips(clips, {"corpus:a"}, 90)
    assert [c.frames for c in short] == [16, 20, 31, 33, 44, 60, 89]  # real, 30 fps, 15 to 89 frames
    rng = np.random.default_rng(0)
    lengths = set()
    for _ in range(200):
        m, pool = short_batch(rng, short)
        lengths.add(m)
        assert m % 3 == 0 and pool and all(m <= c.frames < m + SHORT_SLACK_FRAMES for c in pool)
        mels = {c.clip_id: [np.zeros((80, c.frames * 10 // 3 + 1), np.float32)] for c in pool}
        crops, mel = encoder_crops(rng, pool, mels, m, 4)
        assert mel.shape == (4, 80, m * 10 // 3)
        # each crop holds all of its clip but for the slack
        assert all(start + m <= c.frames and c.frames - m < SHORT_SLACK_FRAMES for c, start in crops)
    assert lengths == {15, 18, 30, 33, 42, 60, 87}  # every short clip's length gets its batches


def test_phase_c_retrains_only_the_students_ears_on_real_speech(trained_teacher, corpus, tmp_path):
    from core.inference import load_engine, load_shipped_student, set_default_guidance
    from core.training.distill import DistillConfig
    from core.training.export import distill_and_export

    _fake_real_speech(corpus, tmp_path / "real", short_seconds=(0.7, 1.0, 1.1))
    values = {
        "data": str(corpus), "teacher": str(trained_teacher[0]), "teacher_steps": 4, "rounds": [2], "round_steps": 3,
        "encoder_steps": 4, "encoder_batch": 4, "encoder_crop_frames": 45, "real_speech_min_seconds": 1.5,
        "encoder_config": {"width": 24, "attention_layers": 1, "heads": 2, "out_dim": 384},
        "teacher_encoder": TINY_ENCODER, "batch": {"groups": 2, "per_group": 2, "crop_frames": 45, "ref_frames": 30},
        "cache_dir": str(corpus / "cache"), "feature_jobs": 1, "log_every": 5,
    }  # fmt: skip
    base = tmp_path / "base"
    distill_and_export(DistillConfig.from_dict({**values, "run_dir": str(tmp_path / "run")}), base)
    set_default_guidance(base, "student", 2.0)  # phase C learns through the guided sampler the student ships with
    ears = {**values, "real_speech": str(tmp_path / "real"), "augment_views": 1, "ears_from": str(base),
            "ears_steps": 40, "ears_lr": 3e-3, "ears_aperture_weight": 1.0, "ears_grow_blocks": 1,
            "ears_noise_floor": True, "ears_late_reverb_rt60": 0.5, "ears_noise_floor_oversubtract": 4.0,
            "ears_language_weights": {"en": 2}, "ears_room_aperture_boost": 2.0,
            "real_speech_short_clips": 2, "ears_short_prob": 0.5,
            "run_dir": str(tmp_path / "ears")}  # fmt: skip
    adapted = tmp_path / "adapted"
    summary = distill_and_export(DistillConfig.from_dict(ears), adapted, "python -m core distill --config ears.json")
    assert summary["ears_from"]["weights"] == str(base) and "ears" in summary["summary"]
    log = [json.loads(line) for line in (tmp_path / "ears" / "log.jsonl").read_text().splitlines()]
    motion = [e["L_motion"] for e in log if e["phase"] == "ears"]
    assert len(motion) == 8 and {e["phase"] for e in log} == {"ears"} and all("L_aperture" in e for e in log)
    # real_speech_min_seconds 1.5 with real_speech_short_clips 2: the 6 long clips and 2 of the 3 short ones, which
    # about half the steps (ears_short_prob) crop whole
    assert summary["real_speech"]["clips"] == 8
    assert 10 <= summary["summary"]["ears"]["short_steps"] <= 30
    before_encoder, before, _, before_sha = load_shipped_student(base)
    after_encoder, after, _, _ = load_shipped_student(adapted)
    assert summary["ears_from"]["student_sha256"] == before_sha
    assert summary["ears_from"]["guidance_scale"] == 2.0 and load_engine(adapted).guidance_scale == 2.0  # kept
    assert read_manifest(adapted)["student"]["training_command"] == "python -m core distill --config ears.json"
    # ears_grow_blocks: one more attention block, saved with its config (the numpy engine below runs it)
    assert after_encoder.config.attention_layers == before_encoder.config.attention_layers + 1
    # ears_noise_floor, ears_late_reverb_rt60, ears_noise_floor_oversubtract: the new ears hear through that front
    # end, and ship with it
    assert after_encoder.config.noise_floor and not before_encoder.config.noise_floor
    assert after_encoder.config.late_reverb_rt60 == 0.5 and before_encoder.config.late_reverb_rt60 == 0.0
    assert after_encoder.config.noise_floor_oversubtract == 4.0 and before_encoder.config.noise_floor_oversubtract == 2
    # The ears learnt through the frozen sampler: on the same crops, noise and style, the new ears' samples are closer
    # to the motion than the old ones'
    from core.audio import load_audio
    from core.models.log_mel import log_mel
    from core.training.adapt_ears import sample_losses

    config = DistillConfig.from_dict(ears)
    n = config.encoder_crop_frames
    clips = [c for c in load_training_set(corpus, "train", EncoderSpec(**TINY_ENCODER), corpus / "cache", jobs=1,
                                          progress=False) if c.frames >= n][:8]  # fmt: skip
    mel = torch.from_numpy(
        np.stack([log_mel(load_audio(corpus / f"{c.clip_id}.wav"))[:, : n * 10 // 3] for c in clips])
    )
    motion = torch.from_numpy(np.stack([c.motion[:n] for c in clips]))
    prosody = torch.from_numpy(np.stack([c.prosody[:n] for c in clips]))
    noise, no_prefix = (
        torch.randn(motion.shape, generator=torch.Generator().manual_seed(0)),
        torch.zeros(8, n, dtype=bool),
    )
    with torch.no_grad():
        old, new = (
            sample_losses(config, after, encoder, mel, motion, prosody, no_prefix, noise, guidance_scale=2.0)
            for encoder in (before_encoder, after_encoder)
        )
    assert new["L_motion"] + new["L_aperture"] < old["L_motion"] + old["L_aperture"], (old, new)
    # aperture_scale weighs crops in L_aperture (ears_room_aperture_boost's lever): alike = unweighted, and a crop
    # counted alone scores what that crop scores by itself; L_motion never changes
    with torch.no_grad():
        losses = {
            name: sample_losses(config, after, after_encoder, mel[rows], motion[rows], prosody[rows], no_prefix[rows],
                                noise[rows], guidance_scale=2.0, aperture_scale=scale)
            for name, rows, scale in [("plain", slice(None), None), ("alike", slice(None), torch.full((8,), 3.0)),
                                      ("first", slice(None), torch.tensor([1.0] + [0.0] * 7)),
                                      ("alone", slice(0, 1), None)]
        }  # fmt: skip
    torch.testing.assert_close(losses["alike"]["L_aperture"], losses["plain"]["L_aperture"])
    torch.testing.assert_close(losses["first"]["L_aperture"], losses["alone"]["L_aperture"], rtol=1e-4, atol=1e-6)
    assert abs(float(losses["first"]["L_aperture"] - losses["plain"]["L_aperture"])) > 1e-4
    torch.testing.assert_close(losses["first"]["L_motion"], losses["plain"]["L_motion"])
    a, b = before.state_dict(), after.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if "neutral_emotion" not in k)  # the motion network is frozen
    a, b = before_encoder.state_dict(), after_encoder.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
    from core.audio import load_audio

    engine = load_engine(adapted, backend="numpy")
    speech = load_audio(next(corpus.glob("clips/*/*.wav")))
    take = engine.animate_audio(speech, engine.styles.identity("default"), engine.styles.emotion("neutral"))
    assert take.weights.shape[1] == 52 and np.isfinite(take.weights).all()
    with pytest.raises(ValueError, match="real speech"):
        distill_and_export(DistillConfig.from_dict({**ears, "real_speech": "", "run_dir": str(tmp_path / "x")}), None)
    with pytest.raises(ValueError, match="ears_room_aperture_boost must be >= 0"):
        bad = {**ears, "ears_room_aperture_boost": -1.0, "run_dir": str(tmp_path / "y")}
        distill_and_export(DistillConfig.from_dict(bad), None)
    with pytest.raises(ValueError, match="set real_speech_short_clips"):
        bad = {**ears, "real_speech_short_clips": 0, "run_dir": str(tmp_path / "z")}
        distill_and_export(DistillConfig.from_dict(bad), None)
