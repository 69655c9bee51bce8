"""Trained runs -> what ships in `weights/` (via core.inference.save_teacher / save_student), and back for evaluation.

The style library is built from audio-only embeddings of every corpus clip (training voices and the two held-out
voices alike: a user picks a voice by name), one identity per voice, one emotion per label, plus "default" and
"neutral" (core.style_library.build_style_library).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import torch

from core.models.feature_fold import fold_student_audio_path
from core.models.talker import DiffusionTalker
from core.style_library import StyleLibrary, build_style_library
from core.training.corpus_features import EncoderSpec, TrainingClip


def cached_features(clip: TrainingClip) -> torch.Tensor:
    """The teacher's features: what corpus_features stored (frozen encoder, aligned to motion frames)."""
    return torch.from_numpy(clip.audio)


T = TypeVar("T")

TRAINING_COMMANDS = {
    "teacher": "python -m core train teacher --config configs/teacher.json",
    "student": "python -m core distill --config configs/distill.json",
    # phase C on top of the student above (configs/distill_ears.json reads it from weights/)
    "student_ears": "python -m core distill --config configs/distill_ears.json --weights weights",
}


@torch.no_grad()
def style_library_from_clips(model: DiffusionTalker, clips: list[TrainingClip], features) -> StyleLibrary:
    identity, emotion = {}, {}
    for clip in clips:
        style = model.encode_style(features(clip)[None], prosody=clip.prosody_batch())
        identity[clip.clip_id], emotion[clip.clip_id] = style.identity[0].numpy(), style.emotion[0].numpy()
    return build_style_library(
        identity, emotion, {c.clip_id: c.speaker for c in clips}, {c.clip_id: c.emotion for c in clips}
    )


def first_per_label(items: list[T], label: Callable[[T], Hashable], per_label: int) -> list[T]:
    """The first `per_label` items of each label, in order."""
    counts: dict[Hashable, int] = {}
    out = []
    for item in items:
        key = label(item)
        if counts.get(key, 0) < per_label:
            counts[key] = counts.get(key, 0) + 1
            out.append(item)
    return out


def _spread(clips: list[TrainingClip], per_label: int = 40) -> list[TrainingClip]:
    """At most `per_label` clips per (speaker, emotion): enough for a stable mean, fast to embed."""
    return first_per_label(clips, lambda c: (c.speaker, c.emotion), per_label)


def export_teacher(
    run_dir: Path, weights_dir: Path, clips: list[TrainingClip], encoder: EncoderSpec, extra: dict
) -> dict:
    from core.inference import save_teacher
    from core.training.train_teacher import _encoder_cache_id, load_trained_talker

    model = load_trained_talker(run_dir)
    styles = style_library_from_clips(model, _spread(clips), cached_features)
    built = encoder.build()
    record = json.loads((Path(run_dir) / "config.json").read_text())
    return save_teacher(
        weights_dir, model, styles,
        whisper_size=encoder.whisper_size, whisper_window_seconds=encoder.window_seconds,
        whisper_overlap_seconds=encoder.overlap_seconds, audio_encoder_cache_id=built.cache_id,
        steps=model.config.sampling_steps,
        metadata={"corpus_hash": record["corpus_hash"], "feature_spec": _encoder_cache_id(encoder)},
        manifest_extra={"teacher": {**extra, "training_command": record.get("training_command") or TRAINING_COMMANDS["teacher"],
                                    "corpus_hash": record["corpus_hash"], "train_config": record["train_config"]}},
    )  # fmt: skip


def student_feature_function(encoder, data: Path):
    """clip -> the student encoder's features of the clip's wav, on its motion frames (what the shipped model sees)."""
    from core.audio import load_audio
    from core.training.distill import student_features

    def features(clip: TrainingClip) -> torch.Tensor:
        return torch.from_numpy(student_features(encoder, clip, load_audio(Path(data) / f"{clip.clip_id}.wav")))

    return features


def export_teacher_run(run_dir: Path, weights_dir: Path) -> dict:
    """`python -m core export-teacher`: the run's EMA teacher + its style library into weights/."""
    from core.training.corpus_features import load_training_set
    from core.training.train_teacher import TeacherTrainConfig

    record = json.loads((Path(run_dir) / "config.json").read_text())
    config = TeacherTrainConfig.from_dict(record["train_config"])
    data = Path(config.data)
    clips = load_training_set(data, ["train", "heldout_voices"], config.encoder, Path(config.cache_dir))
    log = [json.loads(line) for line in (Path(run_dir) / "log.jsonl").read_text().splitlines()]
    last_eval = next((e for e in reversed(log) if "heldout_total" in e), {})
    return export_teacher(run_dir, weights_dir, clips, config.encoder, {"training_log_last_eval": last_eval})


def distill_and_export(config, weights_dir: Path | None, training_command: str | None = None) -> dict:
    """Run the distillation; with `weights_dir`, write the shipped student + styles there (manifest updated).
    `training_command`: the command that ran it, for the manifest (the CLI passes its own; None: the usual one for
    a student or a phase C student, TRAINING_COMMANDS)."""
    from core.inference import STUDENT_WINDOW, save_student
    from core.training.corpus_features import load_training_set
    from core.training.distill import distill

    result = distill(config)
    summary = {k: v for k, v in result.items() if k not in ("student", "encoder")}
    if weights_dir is None:
        return summary
    data = Path(config.data)
    clips = _spread(
        load_training_set(data, ["train", "heldout_voices"], config.teacher_encoder, Path(config.cache_dir))
    )
    student, encoder = result["student"], result["encoder"]
    if encoder is None:
        raise ValueError("the student without its own encoder (student_encoder=false) is an ablation; it does not ship")
    ears = bool(result.get("ears_from"))  # phase C retrains an already shipped student: folded already
    if not ears:
        # The same function with ~128 k fewer parameters: the encoder's output layer folded into the audio inputs
        encoder, student = fold_student_audio_path(encoder, student)
    styles = style_library_from_clips(student, clips, student_feature_function(encoder, data))
    guidance = (result.get("ears_from") or {}).get("guidance_scale", 1.0)  # phase C keeps the student's scale
    shas = save_student(
        weights_dir, encoder, student, styles, steps=student.config.sampling_steps, window=STUDENT_WINDOW,
        guidance_scale=guidance,
        metadata={"corpus_hash": result["corpus_hash"]},
        manifest_extra={"student": {"training_command": training_command or TRAINING_COMMANDS["student_ears" if ears else "student"],
                                    "corpus_hash": result["corpus_hash"], "ears_from": result.get("ears_from"),
                                    "real_speech": result.get("real_speech"), "encoder_data": result.get("encoder_data"),
                                    "distill_config": result["distill_config"], "summary": result["summary"]}},
    )  # fmt: skip
    summary["weights"] = shas
    return summary
