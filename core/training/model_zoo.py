"""Name -> a model ready to evaluate: "teacher", "baseline", "student", a run directory, or a weights directory.

Training runs export `RUN_DIR/model.safetensors` (EMA weights + config); the shipped models live in `weights/`.
Each resolves to a core.evaluation.Talker: the DiffusionTalker, its feature function and its step count.
"""

from __future__ import annotations

from pathlib import Path

from core.evaluation import Talker, cached_features, evaluate
from core.training.corpus_features import EncoderSpec, load_training_set

RUN_DIRS = {"teacher": Path("runs/teacher"), "baseline": Path("runs/baseline")}
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"


def resolve_talker(model: str, data: Path, steps: int | None = None) -> tuple[Talker, EncoderSpec]:
    """The Talker named `model` and the encoder its cached features must come from."""
    from core.training.train_teacher import load_trained_talker

    path = RUN_DIRS.get(model, Path(model))
    if (path / "model.safetensors").is_file():
        talker = load_trained_talker(path)
        default_steps = 1 if talker.config.deterministic else talker.config.sampling_steps
        return Talker(talker, cached_features, steps or default_steps, name=model), EncoderSpec()
    if (path / "config.json").is_file() and "distill_config" in (path / "config.json").read_text():
        return distill_run_talker(path, data, steps)
    if model in ("teacher", "student") or (path / "manifest.json").is_file():
        from core.training.export import shipped_talker

        weights = WEIGHTS_DIR if model in ("teacher", "student") else path
        return shipped_talker(weights, "teacher" if model == "teacher" else "student", data, steps)
    raise FileNotFoundError(
        f"no model '{model}': expected one of teacher, student, baseline, a run directory with model.safetensors "
        "(python -m core train ...) or a weights directory with manifest.json"
    )


def distill_run_talker(run_dir: Path, data: Path, steps: int | None = None) -> tuple[Talker, EncoderSpec]:
    """The last round's student of a distillation run (ablations included), with the features it was trained on."""
    import json

    from safetensors.torch import load_file

    from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig
    from core.models.talker import DiffusionTalker, TalkerConfig
    from core.training.distill import DistillConfig, student_talker_config
    from core.training.export import student_feature_function

    record = json.loads((run_dir / "config.json").read_text())
    config = DistillConfig.from_dict(record["distill_config"])
    student_steps = config.rounds[-1] if config.rounds else config.teacher_steps  # no rounds: the phase A2 student
    talker = DiffusionTalker(
        student_talker_config(TalkerConfig.from_dict(record["teacher_config"]), config.student_denoiser)
    )
    talker.load_state_dict(load_file(str(run_dir / f"student_{student_steps}step.safetensors")))
    talker.eval()
    name = f"{run_dir.name}-{student_steps}step"
    if not config.student_encoder:  # ablation: the student kept the big encoder
        return Talker(talker, cached_features, steps or student_steps, name=name), config.teacher_encoder
    encoder = StudentAudioEncoder(StudentEncoderConfig(**config.encoder_config))
    tuned = "student_encoder_16step.safetensors" if config.compress_steps else "student_encoder.safetensors"
    encoder.load_state_dict(load_file(str(run_dir / tuned)))
    features = student_feature_function(encoder.eval(), data)
    return Talker(talker, features, steps or student_steps, name=name), config.teacher_encoder


def evaluate_model(model: str, data: Path, split: str, steps: int | None = None, max_clips: int | None = 60) -> dict:
    talker, encoder = resolve_talker(model, data, steps)
    splits = ["heldout_voices", "heldout_sentences"] if split == "heldout" else [split]
    heldout = load_training_set(data, splits, encoder)
    train = load_training_set(data, "train", encoder)
    sentences = [c for c in heldout if c.clip_id in set(_split_ids(data, "heldout_sentences"))]
    report = evaluate(talker, heldout, train, retrieval_clips=sentences or None, max_clips=max_clips)
    voices = [c for c in heldout if c.clip_id in set(_split_ids(data, "heldout_voices"))]
    if voices and sentences:  # the lip-sync targets are judged on voices the model never heard
        voice_report = evaluate(talker, voices, train, retrieval_clips=sentences, max_clips=max_clips)
        report["heldout_voices"] = {k: v for k, v in voice_report.items() if isinstance(v, float)}
        report["heldout_voices"]["emotion_confusion"] = voice_report["emotion_confusion"]
    report["split"] = split
    return report


def _split_ids(data: Path, split: str) -> list[str]:
    from core.training.corpus_features import read_splits

    return read_splits(data).get(split, [])
