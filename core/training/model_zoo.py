"""Name -> the engine to evaluate: "teacher", "baseline", "student", a run directory, or a weights directory.

Every model is evaluated as a `DiffusionTalkerEngine` (core/inference.py), the object the CLI and the add-on run:
- "student" / "teacher" / a weights folder (manifest.json): `load_engine` (checksums verified), torch on the CPU;
- a training run (RUN_DIR/model.safetensors: teacher or baseline): its EMA DiffusionTalker with the frozen encoder
  its features came from (the run's EncoderSpec: Whisper), the default window plan;
- a distillation run (config.json with "distill_config"): the last round's student with its StudentAudioEncoder (or
  the teacher's encoder for the ablation without one) and the shipped student's window plan.
Run directories have no style library: theirs is built from their training corpus when the evaluation needs its
"default" identity (real speech; the held-out split takes every style from reference clips).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.animate_options import OPTIONS_BY_NAME
from core.data.independent_check import SPLIT as INDEPENDENT_SPLIT
from core.evaluation import (
    EvalClip,
    embed_clips,
    evaluate,
    evaluate_real_speech,
    load_eval_clips,
    spread,
)
from core.inference import STUDENT_WINDOW, DiffusionTalkerEngine, TorchBackend, WindowPlan, load_engine
from core.style_library import DEFAULT_IDENTITY, NEUTRAL_EMOTION, StyleLibrary, build_style_library
from core.training.corpus_features import read_splits
from core.weights_io import sha256_of_file

RUN_DIRS = {"teacher": Path("runs/teacher"), "baseline": Path("runs/baseline")}
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
REAL_SPEECH_SPLIT = "real-dev"
# splits of real recordings without motion targets, scored for lip sync
REAL_RECORDING_SPLITS = (REAL_SPEECH_SPLIT, INDEPENDENT_SPLIT)
# real-dev with the four degradations is 5 passes (style reference + take per clip and pass). Measured for the student
# on 2 shared cores: 4 clips (10.1 s of espeak-ng speech) took 23 s of CPU, ~1.1 s per clip-pass of 2.5 s audio, so
# 16 clips of ~4 s stay under ~2 min; without robustness the same budget covers ~5x more.
DEFAULT_MAX_CLIPS = {"heldout": 60, REAL_SPEECH_SPLIT: 16, INDEPENDENT_SPLIT: 1000}


def _run_engine(talker, encoder, *, model: str, steps: int, window: WindowPlan, weights: Path) -> DiffusionTalkerEngine:
    """An engine over a run's model on the CPU. Its style library is a stand-in until `attach_corpus_styles`:
    "neutral" is the personalizer's own neutral emotion, "default" the zero identity."""
    neutral = talker.personalizer.neutral_emotion.detach().cpu().numpy()
    stand_in = StyleLibrary({DEFAULT_IDENTITY: np.zeros_like(neutral)}, {NEUTRAL_EMOTION: neutral})
    return DiffusionTalkerEngine(
        TorchBackend(talker, encoder, "cpu"), stand_in, model=model, steps=steps, fps=30.0, window=window,
        model_sha256=sha256_of_file(weights),
    )  # fmt: skip


def resolve_engine(model: str, steps: int | None = None) -> tuple[DiffusionTalkerEngine, Path | None]:
    """The engine named `model`, and for a run directory the corpus it was trained on (None for weights folders)."""
    path = RUN_DIRS.get(model, Path(model))
    if (path / "model.safetensors").is_file():
        from core.training.train_teacher import TeacherTrainConfig, load_trained_talker

        talker = load_trained_talker(path)
        config = TeacherTrainConfig.from_dict(json.loads((path / "config.json").read_text())["train_config"])
        default_steps = 1 if talker.config.deterministic else talker.config.sampling_steps
        engine = _run_engine(
            talker, config.encoder.build(), model=model, steps=steps or default_steps, window=WindowPlan(),
            weights=path / "model.safetensors",
        )  # fmt: skip
        return engine, Path(config.data)
    if (path / "config.json").is_file() and "distill_config" in (path / "config.json").read_text():
        return distill_run_engine(path, steps)
    if model in ("teacher", "student") or (path / "manifest.json").is_file():
        weights = WEIGHTS_DIR if model in ("teacher", "student") else path
        kind = "teacher" if model == "teacher" or not (weights / "student.safetensors").is_file() else "student"
        engine = load_engine(weights, device="cpu", backend="torch", model=kind)
        if steps:
            engine.steps = int(steps)
        return engine, None
    raise FileNotFoundError(
        f"no model '{model}': expected one of teacher, student, baseline, a run directory with model.safetensors "
        "(python -m core train ...) or a weights directory with manifest.json"
    )


def distill_run_engine(run_dir: Path, steps: int | None = None) -> tuple[DiffusionTalkerEngine, Path]:
    """The last round's student of a distillation run (ablations included) with its own audio encoder."""
    from safetensors.torch import load_file

    from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig
    from core.models.talker import DiffusionTalker, TalkerConfig
    from core.training.distill import DistillConfig, student_talker_config

    record = json.loads((run_dir / "config.json").read_text())
    config = DistillConfig.from_dict(record["distill_config"])
    student_steps = config.rounds[-1] if config.rounds else config.teacher_steps  # no rounds: the phase A2 student
    talker = DiffusionTalker(
        student_talker_config(TalkerConfig.from_dict(record["teacher_config"]), config.student_denoiser)
    )
    weights = run_dir / f"student_{student_steps}step.safetensors"
    talker.load_state_dict(load_file(str(weights)))
    if config.student_encoder:
        encoder = StudentAudioEncoder(StudentEncoderConfig(**config.encoder_config))
        tuned = "student_encoder_16step.safetensors" if config.compress_steps else "student_encoder.safetensors"
        encoder.load_state_dict(load_file(str(run_dir / tuned)))
    else:  # ablation: the student kept the big encoder
        encoder = config.teacher_encoder.build()
    engine = _run_engine(
        talker.eval(), encoder, model=f"{run_dir.name}-{student_steps}step", steps=steps or student_steps,
        window=STUDENT_WINDOW, weights=weights,
    )  # fmt: skip
    return engine, Path(config.data)


def attach_corpus_styles(engine: DiffusionTalkerEngine, corpus: Path, per_label: int = 1) -> None:
    """Give a run's engine the style library its export would ship: identities per voice and emotions per label
    (from `per_label` training clips of each voice and emotion), "default" and "neutral" (build_style_library)."""
    clips = load_eval_clips(corpus, "train", _first_per_label(corpus, per_label))
    identity, emotion = embed_clips(engine, clips)
    engine.styles = build_style_library(
        identity, emotion, {c.clip_id: c.speaker for c in clips}, {c.clip_id: c.emotion for c in clips},
        engine.model_sha256,
    )  # fmt: skip


def _first_per_label(corpus: Path, per_label: int) -> list[str]:
    from core.data.clip import load_clip
    from core.training.export import first_per_label

    def label(clip_id: str) -> tuple[str, str]:
        clip = load_clip(corpus / f"{clip_id}.npz", with_audio=False)
        return clip.speaker, clip.emotion

    return first_per_label(read_splits(corpus)["train"], label, per_label)


def evaluate_model(
    model: str,
    data: Path,
    split: str,
    steps: int | None = None,
    max_clips: int | None = None,
    robustness: bool = True,
    guidance: float | None = None,
) -> dict:
    """`python -m core eval`: "heldout" (both held-out splits of a corpus), one named split, "real-dev" or
    "independent" (real recordings).
    guidance: the classifier-free guidance scale (None: the model's own)."""
    engine, run_corpus = resolve_engine(model, steps)
    if guidance is not None:
        engine.guidance_scale = float(OPTIONS_BY_NAME["guidance"].check(guidance))
    max_clips = DEFAULT_MAX_CLIPS.get(split, 60) if max_clips is None else max_clips
    if split in REAL_RECORDING_SPLITS:
        if run_corpus is not None:
            attach_corpus_styles(engine, run_corpus)
        from core.audio_augment import DEGRADATIONS

        pool = load_eval_clips(data, split)
        report = evaluate_real_speech(
            engine, spread(pool, max_clips), pool, DEGRADATIONS if robustness else (), progress=_print_progress
        )
        report["split"] = split
        return report
    splits = ["heldout_voices", "heldout_sentences"] if split == "heldout" else [split]
    heldout = load_eval_clips(data, splits)
    train = load_eval_clips(data, "train", spread(read_splits(data)["train"], 400))
    sentence_ids = set(read_splits(data).get("heldout_sentences", []))
    sentences = [c for c in heldout if c.clip_id in sentence_ids]
    styles: dict = {}  # each clip's embeddings, shared by both passes
    report = evaluate(
        engine, heldout, train, retrieval_clips=sentences or None, max_clips=max_clips, progress=_print_progress,
        style_cache=styles,
    )  # fmt: skip
    voice_ids = set(read_splits(data).get("heldout_voices", []))
    voices: list[EvalClip] = [c for c in heldout if c.clip_id in voice_ids]
    if voices and sentences:  # the lip-sync targets are judged on voices the model never heard
        voice_report = evaluate(
            engine, voices, train, retrieval_clips=sentences, max_clips=max_clips, style_cache=styles
        )
        report["heldout_voices"] = {k: v for k, v in voice_report.items() if isinstance(v, float)}
        report["heldout_voices"]["emotion_confusion"] = voice_report["emotion_confusion"]
    report["split"] = split
    return report


def _print_progress(done: int, total: int) -> None:
    import sys

    print(f"\r[eval] {done}/{total} clips", end="\n" if done == total else "", file=sys.stderr, flush=True)
