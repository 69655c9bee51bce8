"""`python -m core train teacher|baseline`: train the DiffusionTalker teacher (or the deterministic baseline) on a corpus.

One loop, every loss visible (DiffusionTalker.training_loss returns them by name): AdamW, linear warm-up then cosine
decay, gradient clipping, an EMA copy of the weights (what gets evaluated and exported). Seeded and resumable:
`RUN_DIR/checkpoint.safetensors` holds model, EMA, optimizer and RNG states; rerunning the same command continues.
`RUN_DIR/config.json` records the config and the corpus hash, `RUN_DIR/log.jsonl` one line per logged step
(losses, learning rate, held-out losses and lip-sync checks).

For real voices (configs/teacher_ears.json): `init_from` fine-tunes a trained teacher; `real_speech` adds the
force-aligned English clips of a real-speech folder with their alignments' face targets (pseudo-labels, speakers as
identities); `augment_views` makes the teacher hear every clip also through degraded copies (rooms, noise, phone
bands, codecs, gains; core/training/feature_views.py) while its motion targets stay those of the clean clip.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from core.audio_augment import AcousticAugment
from core.models.talker import DiffusionTalker, TalkerConfig
from core.training.batches import BatchSampler, BatchSpec, MixedBatchSampler
from core.training.config_values import config_from_values
from core.training.corpus_features import (
    DEFAULT_CACHE_DIR,
    EncoderSpec,
    TrainingClip,
    corpus_hash,
    label_maps,
    load_training_set,
    motion_statistics,
)


@dataclass
class TeacherTrainConfig:
    data: str = "data/corpus"
    run_dir: str = "runs/teacher"
    seed: int = 0
    steps: int = 4000
    lr: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.998
    batch: BatchSpec = field(default_factory=BatchSpec)
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    # The teacher's networks (overrides of TalkerConfig.for_audio_dim): sized for a 2-core CPU budget.
    denoiser_width: int = 192
    denoiser_layers: int = 4
    personalizer_width: int = 128
    deterministic: bool = False  # True: the FaceFormer-style regressor baseline
    personalizer: dict = field(default_factory=dict)  # PersonalizerConfig overrides, e.g. prosody_dim
    talker: dict = field(default_factory=dict)  # TalkerConfig overrides: loss weights, condition dropout
    log_every: int = 25
    eval_every: int = 500
    checkpoint_every: int = 250
    threads: int = 2
    feature_jobs: int = 2
    cache_dir: str = str(DEFAULT_CACHE_DIR)
    limit_clips: int | None = None  # use only the first N training clips (tests, smoke runs)
    max_minutes: float | None = None  # stop (with a checkpoint) after this much training time
    # Start from a trained teacher (a run folder or a weights folder with teacher.safetensors) instead of fresh
    # weights: its network shape and motion statistics are kept, the settings above only steer the fine-tuning
    init_from: str = ""
    # Pseudo-labelled real speech: the force-aligned clips of known speakers in a real-speech folder's train split,
    # their alignments' face targets as motion (core/training/real_speech_clips.py); `real_speech_groups` of its
    # speakers join each batch beside batch.groups corpus speakers
    real_speech: str = ""
    real_speech_min_seconds: float = 2.0
    real_speech_groups: int = 2
    # Acoustic augmentation: `augment_views` degraded copies of every training clip's audio (core/audio_augment.py),
    # their Whisper features cached; a crop hears the clean audio with `clean_view_prob`, else one of the copies
    augment_views: int = 0
    clean_view_prob: float = 0.3
    acoustic_augment: AcousticAugment = field(default_factory=AcousticAugment)

    @classmethod
    def from_dict(cls, values: dict) -> TeacherTrainConfig:
        return config_from_values(
            cls, values, {"batch": BatchSpec, "encoder": EncoderSpec, "acoustic_augment": AcousticAugment}
        )

    def talker_config(self, audio_dim: int) -> TalkerConfig:
        from core.models.denoiser import DenoiserConfig
        from core.models.personalizer import PersonalizerConfig

        return TalkerConfig(
            personalizer=PersonalizerConfig(
                **{"audio_dim": audio_dim, "width": self.personalizer_width, **self.personalizer}
            ),
            denoiser=DenoiserConfig(
                audio_dim=audio_dim,
                style_dim=self.personalizer_width,
                width=self.denoiser_width,
                layers=self.denoiser_layers,
            ),
            deterministic=self.deterministic,
            **self.talker,
        )


def learning_rate(config: TeacherTrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


@torch.no_grad()
def heldout_report(model: DiffusionTalker, sampler: BatchSampler, clips: list[TrainingClip], steps: int) -> dict:
    """Held-out diffusion loss on a fixed batch + lip-sync checks of a few generated clips."""
    from core import metrics

    model.eval()
    with torch.random.fork_rng():  # the held-out draw must not change the training run's random stream
        torch.manual_seed(1234)
        losses = {f"heldout_{k}": float(v) for k, v in model.training_loss(sampler.sample()).items()}
    hit, auc = [], []
    for clip in clips[:8]:
        audio = torch.from_numpy(clip.audio)[None]
        style = model.encode_style(audio, prosody=clip.prosody_batch())  # its own (audio-only) reference
        pred = model.generate(audio, style, steps=steps, seed=0)[0].numpy()
        hit.append(metrics.bilabial_closure_hit_rate(pred, clip.phones, clip.phone_times, clip.fps))
        auc.append(metrics.vowel_bilabial_aperture_auc(pred, clip.phones, clip.phone_times, clip.fps))
    losses["heldout_bilabial_hit_rate"] = float(np.nanmean(hit))
    losses["heldout_aperture_auc"] = float(np.nanmean(auc))
    model.train()
    return losses


def train_teacher(config: TeacherTrainConfig, progress: bool = True, command: str | None = None) -> dict:
    """Train (or resume) and return a summary: final losses, held-out report, paths. `command`: the command line
    that ran it, for the run record (export-teacher copies it into the weights' manifest)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)

    train = load_training_set(
        Path(config.data), "train", config.encoder, Path(config.cache_dir), config.feature_jobs,
        config.limit_clips, progress,
    )  # fmt: skip
    heldout = load_training_set(
        Path(config.data), "heldout_sentences", config.encoder, Path(config.cache_dir), config.feature_jobs,
        None if config.limit_clips is None else max(8, config.limit_clips // 8), progress,
    )  # fmt: skip
    real, real_wavs = [], {}
    if config.real_speech:
        from core.training.real_speech_clips import aligned_real_speech_clips

        real, real_wavs = aligned_real_speech_clips(
            Path(config.real_speech), config.encoder, Path(config.cache_dir),
            min_seconds=config.real_speech_min_seconds, jobs=config.feature_jobs, progress=progress,
        )  # fmt: skip
    if config.augment_views:
        _attach_degraded_views(config, train, real, real_wavs, progress)
    speakers, emotions = label_maps(train + real)
    audio_dim = train[0].audio.shape[1]
    if config.init_from:
        model = load_teacher(Path(config.init_from)).train().requires_grad_(True)
    else:
        model = DiffusionTalker(config.talker_config(audio_dim))
        mean, std = motion_statistics(train)
        model.set_motion_stats(torch.from_numpy(mean), torch.from_numpy(std))
    ema = copy.deepcopy(model).eval()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    corpus_sampler = BatchSampler(train, speakers, emotions, config.batch, config.seed, config.clean_view_prob)
    real_sampler = None
    sampler = corpus_sampler
    if real:
        real_spec = replace(config.batch, groups=config.real_speech_groups)
        real_sampler = BatchSampler(real, speakers, emotions, real_spec, config.seed + 2, config.clean_view_prob)
        sampler = MixedBatchSampler([corpus_sampler, real_sampler])
    heldout_sampler = BatchSampler(heldout, speakers, emotions, config.batch, seed=config.seed + 1)

    data_hash = corpus_hash(Path(config.data))
    record = {
        "train_config": asdict(config),
        **({"training_command": command} if command else {}),
        "talker_config": model.config.to_dict(),
        "corpus_hash": data_hash,
        "encoder_cache_id": _encoder_cache_id(config.encoder),
        "speakers": speakers,
        "emotions": emotions,
        "train_clips": len(train),
        **(_real_speech_record(config, real) if real else {}),
        "heldout_clips": len(heldout),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    (run_dir / "config.json").write_text(json.dumps(record, indent=1))

    checkpoint = run_dir / "checkpoint.safetensors"
    step = 0
    if checkpoint.is_file():
        from core.training.checkpoint import load_checkpoint

        step, extra = load_checkpoint(checkpoint, model, ema, optimizer, corpus_sampler.rng)
        if real_sampler is not None and "real_rng" in extra:
            real_sampler.rng.bit_generator.state = extra["real_rng"]
        print(f"resumed from {checkpoint} at step {step}", file=sys.stderr)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=step, unit="step", desc=run_dir.name, file=sys.stderr)
    log = open(run_dir / "log.jsonl", "a")
    started = time.perf_counter()
    model.train()
    last: dict[str, float] = {}
    eval_steps = 1 if config.deterministic else model.config.sampling_steps
    try:
        while step < config.steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            losses = model.training_loss(sampler.sample())
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            update_ema(ema, model, config.ema_decay if step > config.warmup_steps else 0.0)
            step += 1
            last = {k: float(v.detach()) for k, v in losses.items()}
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"loss {last['total']:.4f}")
            entry: dict = {}
            if step % config.log_every == 0:
                entry = {"step": step, "lr": learning_rate(config, step), **last}
            if step % config.eval_every == 0 or step == config.steps:
                entry = {"step": step, **last, **heldout_report(ema, heldout_sampler, heldout, eval_steps)}
            if entry:
                entry["minutes"] = round((time.perf_counter() - started) / 60, 2)
                log.write(json.dumps(entry) + "\n")
                log.flush()
            out_of_time = config.max_minutes is not None and (time.perf_counter() - started) / 60 > config.max_minutes
            if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
                from core.training.checkpoint import save_checkpoint

                extra = {"corpus_hash": data_hash}
                if real_sampler is not None:
                    extra["real_rng"] = real_sampler.rng.bit_generator.state
                save_checkpoint(checkpoint, model, ema, optimizer, step, corpus_sampler.rng, extra)
            if out_of_time:
                print(f"stopping at step {step}: max_minutes={config.max_minutes} reached", file=sys.stderr)
                break
    finally:
        log.close()
        if bar is not None:
            bar.close()
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(run_dir / "model.safetensors"),
              metadata={"talker_config": json.dumps(model.config.to_dict()), "step": str(step)})  # fmt: skip
    return {"step": step, "last_losses": last, "run_dir": str(run_dir), **record}


def _attach_degraded_views(
    config: TeacherTrainConfig,
    train: list[TrainingClip],
    real: list[TrainingClip],
    real_wavs: dict[str, str],
    progress: bool,
) -> None:
    """Give every training clip (corpus and real) `augment_views` degraded feature views on its motion frames."""
    from core.models.audio_features import features_at_fps
    from core.training.feature_views import babble_pool, degraded_feature_views

    wavs = {clip.clip_id: str(Path(config.data) / f"{clip.clip_id}.wav") for clip in train}
    wavs.update(real_wavs)
    pool = babble_pool(real_wavs or wavs, config.seed + 11)  # real voices babble, else the corpus's
    views = degraded_feature_views(
        wavs, config.encoder, config.acoustic_augment, config.augment_views, config.seed, Path(config.cache_dir),
        pool=pool, jobs=config.feature_jobs, progress=progress,
    )  # fmt: skip
    for clip in train + real:
        feats, rate = views[clip.clip_id]
        clip.audio_views = [features_at_fps(f, rate, clip.fps, clip.frames).astype(np.float16) for f in feats]


def _real_speech_record(config: TeacherTrainConfig, real: list[TrainingClip]) -> dict:
    from core.training.real_speech_clips import real_speech_hash

    return {
        "real_speech": {
            "folder": config.real_speech,
            "hash": real_speech_hash(Path(config.real_speech)),
            "clips": len(real),
            "seconds": round(sum(c.frames / c.fps for c in real), 1),
            "speakers": sorted({c.speaker for c in real}),
        }
    }


def _encoder_cache_id(spec: EncoderSpec) -> str:
    if spec.kind == "whisper":
        from core.models.audio_features import WHISPER_WINDOWING_VERSION

        return f"whisper-{spec.whisper_size}-win{spec.window_seconds}s-ovl{spec.overlap_seconds}-v{WHISPER_WINDOWING_VERSION}"
    return f"{spec.kind}:{spec.local_dir}"


def load_trained_talker(run_dir: Path) -> DiffusionTalker:
    """The EMA model a run exported (RUN_DIR/model.safetensors)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(run_dir) / "model.safetensors"
    with safe_open(str(path), "pt") as handle:
        config = TalkerConfig.from_dict(json.loads(handle.metadata()["talker_config"]))
    model = DiffusionTalker(config)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def load_teacher(path: Path) -> DiffusionTalker:
    """A trained teacher: a training run (RUN_DIR/model.safetensors, `python -m core train teacher`) or a weights
    folder with the shipped teacher.safetensors (checked against its manifest), so distilling or fine-tuning needs no
    retraining."""
    from core.inference import TEACHER_FILE, load_shipped_talker

    if (path / "model.safetensors").is_file():
        return load_trained_talker(path)
    if (path / TEACHER_FILE).is_file():
        return load_shipped_talker(path, "teacher")
    raise FileNotFoundError(
        f"no teacher in '{path}': expected a training run (model.safetensors, from `python -m core train teacher`) "
        f"or a weights folder with {TEACHER_FILE} (`python -m core export-teacher`)"
    )
