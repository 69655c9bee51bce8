"""`python -m core distill`: the shipped student, from the trained teacher (METHOD.md, "Student").

Phase A, L_ae: the small StudentAudioEncoder (log-mel -> conv -> local attention) learns to reproduce the frozen Whisper
  encoder's features on the corpus (MSE per feature dimension, scaled by the dimension's spread), so the student needs
  neither Whisper nor transformers at run time.
Phase A2, L_kd (with `compress_steps`): the student network, fed the student encoder's features, learns the teacher's
  x0 prediction (fed Whisper's) at every noise level, with and without prefix and style; the gradient also tunes the
  encoder end to end (plus L_ae), so its features keep what the denoiser actually uses. The student network is a
  copy of the teacher's, or a smaller one (`student_denoiser`): fewer blocks and narrower feed-forward layers start
  from the teacher's own (student_network), any other shape from fresh weights.
Phase B, progressive distillation (Salimans & Ho 2022): a student initialised from its teacher learns to do in ONE
  DDIM step what the teacher does in `teacher_steps / student_steps` steps (L_dis, an x0 target solved so one student
  step lands where the teacher's steps land, SNR-weighted), 16 -> 8 -> 4 -> 2: each round's student becomes the next
  round's teacher. The student sees its own encoder's features, the teacher Whisper's, for the same audio.
  Personalizer enhancer L_pc: InfoNCE between the student's personalization embedding and an embedding of the
  upper-face motion it generates (same speaker x emotion attract), so the style survives the step reduction.
Real speech and acoustic augmentation (`real_speech`, `augment_views`): real recordings (audio only; the teacher's
  own takes are their motion, core/training/real_speech_clips.py) join phases A, A2 and the rounds, and every clip the
  student's encoder hears is also heard through random rooms, noise, telephone bands, codecs, gains and microphones
  (core/audio_augment.py) while its targets stay those of the clean audio.
Ablations (same code, other settings; configs/ablation_*.json): `rounds=[2]` (direct 16 -> 2), `pc_weight=0`,
`student_encoder=false` (the student keeps the big encoder: no L_ae), `student_denoiser` (a 128-wide network).

The teacher is a training run or the shipped teacher in a weights folder (train_teacher.load_teacher). What ships is
the last round's student with its audio path folded (core/models/feature_fold.py, at export).

Resumable: each finished phase / round writes `RUN_DIR/<phase>.safetensors` and is skipped on a rerun.
"""

from __future__ import annotations

import copy
import json
import math
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from core.animate_options import OPTIONS_BY_NAME, OptionValueError
from core.audio_augment import AcousticAugment
from core.models.denoiser import DenoiserConfig
from core.models.diffusion import DDIMSampler, alpha_sigma, distillation_x0_target, q_sample
from core.models.losses import cross_modal_contrastive_loss, supervised_contrastive_loss
from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig
from core.models.talker import DiffusionTalker, TalkerConfig, random_prefix_mask
from core.rig.arkit import upper_face_indices
from core.training.batches import BatchSampler, BatchSpec, MixedBatchSampler
from core.training.config_values import config_from_values
from core.training.corpus_features import (
    DEFAULT_CACHE_DIR,
    EncoderSpec,
    TrainingClip,
    corpus_hash,
    label_maps,
    load_training_set,
)
from core.training.encoder_crops import encoder_crops, encoder_to_motion_frames, usable_for_encoder
from core.training.feature_views import babble_pool
from core.training.mel_augment import MelAugment
from core.training.real_speech_clips import (
    check_language_weights,
    load_real_speech_clips,
    real_speech_hash,
    repeat_by_language,
)
from core.training.train_steps import optimizer_step, progress_bar
from core.training.train_teacher import load_teacher


@dataclass
class DistillConfig:
    data: str = "data/corpus"
    teacher: str = "runs/teacher"  # a training run (RUN_DIR/model.safetensors)
    run_dir: str = "runs/distill"
    seed: int = 0
    teacher_steps: int = 16
    rounds: list[int] = field(default_factory=lambda: [8, 4, 2])  # student steps after each round
    round_steps: int = 500
    lr: float = 2e-4
    pc_weight: float = 0.1
    style_nce_weight: float = 0.05  # keeps the identity / emotion embeddings contrastive on the new features
    pc_temperature: float = 0.1
    batch: BatchSpec = field(default_factory=BatchSpec)
    student_encoder: bool = True  # False: ablation "student keeps the big encoder (no L_ae)"
    encoder_config: dict = field(default_factory=dict)  # StudentEncoderConfig overrides
    encoder_steps: int = 1500
    encoder_lr: float = 1e-3
    encoder_batch: int = 16
    encoder_crop_frames: int = 90  # motion frames (a multiple of 3: 30 fps <-> 100 mel frames/s)
    # More corpora whose train-split audio phase A also learns from (their faces are never read): more speakers
    # make the small encoder generalise to voices it has not heard (`data generate --preset encoder-voices`)
    encoder_data: list[str] = field(default_factory=list)
    # L_ae target: "raw" matches all Whisper features; "teacher_input" also matches them as the teacher's networks
    # first read them (each network's LayerNorm + input projection), which weights what the teacher actually uses.
    encoder_target: str = "raw"
    # Speaker / recording variation of the encoder's log-mel crops in phases A and A2 (core/training/mel_augment.py)
    mel_augment: MelAugment = field(default_factory=MelAugment)
    # Real human speech (`python -m core data real-speech`): its train split joins phase A (L_ae on its Whisper
    # features), phase A2 and the rounds (motion: the teacher's own take, core/training/real_speech_clips.py).
    real_speech: str = ""  # a real-speech folder; "" = none
    real_speech_hours: float | None = None  # use the first N hours of its train split (None: all)
    # Clips shorter than this are left out: phases A and A2 crop encoder_crop_frames (3 s), and each clip costs a
    # Whisper pass and a 16-step teacher take whatever its length
    real_speech_min_seconds: float = 0.0
    # ... but this many of the shorter ones (0.5 s or more, spread over the split) still come, for phase C's short
    # crops (ears_short_prob): a line of a word or two is a whole clip, both its ends inside one crop
    real_speech_short_clips: int = 0
    real_speech_groups: int = 2  # speakers of real speech per round batch, beside batch.groups corpus speakers
    # the motion of a real clip: "teacher" (its 16-step take) or "aligned" (a clip force-aligned to its transcript
    # takes the face targets of that alignment; the others the teacher's take)
    real_speech_targets: str = "teacher"
    # the teacher's classifier-free guidance for those takes: a student that ships guided learns guided takes
    real_speech_teacher_guidance: float = 1.0
    # Hear what users record: every clip the student's encoder hears is precomputed clean (view 0) and through
    # `augment_views` random acoustic degradations (core/audio_augment.py); a crop reads the clean view with
    # `clean_view_prob`, else a degraded one. The targets (Whisper's features, the teacher's x0) stay the clean audio's.
    augment_views: int = 0
    clean_view_prob: float = 0.3
    acoustic_augment: AcousticAugment = field(default_factory=AcousticAugment)
    teacher_encoder: EncoderSpec = field(default_factory=EncoderSpec)
    # A smaller student network: DenoiserConfig overrides (e.g. {"layers": 3}: the teacher minus a block, or
    # {"width": 128}: fresh weights); empty = a copy of the teacher's. A student of another shape first learns the
    # teacher's 16-step denoiser (phase A2, below) before the rounds.
    student_denoiser: dict = field(default_factory=dict)
    # Phase A2 steps: the student network (and, with compress_train_encoder, its audio encoder, end to end) learns
    # to give the teacher's x0 at every noise level from the student's own features. 0 = skip (same-shape student).
    compress_steps: int = 0
    compress_lr: float = 6e-4
    compress_train_encoder: bool = True
    # L_ae kept in phase A2 so the features stay Whisper-like (the personalizer reads them)
    compress_ae_weight: float = 0.5
    # Phase C, "ears" (core/training/adapt_ears.py): instead of phases A, A2 and B, the student of the weights folder
    # `ears_from` keeps its motion network and its encoder is retrained for `ears_steps` through its own 2-step
    # sampler, on real speech (share `ears_real_share` of each batch) and corpus audio (anchored to what it computed)
    ears_from: str = ""
    ears_steps: int = 0
    ears_lr: float = 3e-4
    ears_real_share: float = 0.5
    ears_prefix_prob: float = 0.5
    ears_prefix_frames: int = 30
    ears_anchor_weight: float = 1.0
    ears_aperture_weight: float = 0.0  # L_aperture: the lip opening of the sample vs the target's
    ears_closure_boost: float = 4.0  # frames where the target's lips are shut count this much more in L_aperture
    ears_grow_blocks: int = 0  # attention blocks added to the encoder before phase C, starting as the identity
    # phase C switches the encoder to the noise-floor log-mel front end (core/models/log_mel.py) before it hears
    # anything; the exported encoder keeps it
    ears_noise_floor: bool = False
    # > 0: phase C also switches on the front end's late-reverberation suppression for a room of this RT60 (seconds)
    ears_late_reverb_rt60: float = 0.0
    # > 0: phase C sets how many times over the front end's noise floor is subtracted (the encoder's own otherwise)
    ears_noise_floor_oversubtract: float = 0.0
    # crops whose view was heard through a room (the augmentation's reverb) count 1 + this in L_aperture: a room
    # smears the silence of a closure into the sounds around it, and that is where the ears still hedge
    ears_room_aperture_boost: float = 0.0
    # real clips of these languages are drawn this many times as often in phase C, e.g. {"en": 3}
    ears_language_weights: dict[str, int] = field(default_factory=dict)
    # the share of phase C's steps whose batch is short: one length under encoder_crop_frames, the real crops whole
    # short clips (the audio starts and stops inside the crop, as a one-word line does in the engine), no prefix
    ears_short_prob: float = 0.0
    cache_dir: str = str(DEFAULT_CACHE_DIR)
    threads: int = 2
    feature_jobs: int = 2
    log_every: int = 25
    limit_clips: int | None = None

    @classmethod
    def from_dict(cls, values: dict) -> DistillConfig:
        return config_from_values(
            cls,
            values,
            {
                "batch": BatchSpec,
                "teacher_encoder": EncoderSpec,
                "mel_augment": MelAugment,
                "acoustic_augment": AcousticAugment,
            },
        )


# ---------------------------------------------------------------- phase A: the student audio encoder (L_ae)


def teacher_input_views(teacher: DiffusionTalker, features: torch.Tensor) -> torch.Tensor:
    """Audio features as the teacher's denoiser and personalizer first see them: LayerNorm + input projection."""
    d, p = teacher.denoiser, teacher.personalizer
    return torch.cat([d.audio_in(d.audio_norm(features)), p.audio_in(p.audio_norm(features))], dim=-1)


def train_student_encoder(
    config: DistillConfig,
    clips: list[TrainingClip],
    mels: dict[str, list[np.ndarray]],
    log,
    progress: bool,
    teacher: DiffusionTalker | None = None,
) -> StudentAudioEncoder:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    encoder = StudentAudioEncoder(StudentEncoderConfig(**config.encoder_config))
    n = config.encoder_crop_frames
    usable = usable_for_encoder(config.encoder_crop_frames, clips)
    if config.encoder_target not in ("raw", "teacher_input"):
        raise ValueError(f"encoder_target must be 'raw' or 'teacher_input', not {config.encoder_target!r}")
    sample = _feature_sample(usable)
    dim_std = _spread_of(sample)
    view_std = None
    if config.encoder_target == "teacher_input":
        if teacher is None:
            raise ValueError("encoder_target 'teacher_input' needs the teacher")
        with torch.no_grad():
            view_std = _spread_of(teacher_input_views(teacher, sample))
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.encoder_lr, weight_decay=0.01)
    bar = progress_bar(config.encoder_steps, "L_ae", progress)
    augment_rng = np.random.default_rng(config.seed + 7)  # its own stream: the same crops as without augmentation
    encoder.train()
    for step in range(config.encoder_steps):
        lr = config.encoder_lr * 0.5 * (1 + math.cos(math.pi * step / config.encoder_steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        crops, mel_t = encoder_crops(rng, usable, mels, n, config.encoder_batch, config.clean_view_prob)
        mel_t = config.mel_augment(mel_t, augment_rng)
        target = torch.from_numpy(np.stack([c.audio[s : s + n] for c, s in crops]))  # (batch, n, 512) Whisper
        pred = encoder_to_motion_frames(encoder(mel_t), n, 30.0)
        loss = (((pred - target) / dim_std) ** 2).mean()
        if view_std is not None:
            with torch.no_grad():
                target_view = teacher_input_views(teacher, target)
            loss = loss + (((teacher_input_views(teacher, pred) - target_view) / view_std) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"L_ae {float(loss.detach()):.4f}")
        if (step + 1) % config.log_every == 0:
            log({"phase": "encoder", "step": step + 1, "L_ae": float(loss.detach()), "lr": lr})
    if bar is not None:
        bar.close()
    return encoder.eval()


def _mel_views(
    config: DistillConfig,
    wavs: dict[str, str],
    babble_pool: list[np.ndarray],
    progress: bool,
    what: str,
    front_end: dict | None = None,
    with_stages: bool = False,
):
    """clip id -> [log-mel of the clean audio, then of `config.augment_views` degraded copies] (each (80, mel
    frames), through the encoder's front end (`front_end`: log_mel's options, StudentEncoderConfig.front_end);
    float16 when there are degraded views, to halve the memory). Each clip's degradations are drawn from its
    own seeded stream, so they depend neither on which other clips are loaded nor on the worker processes.
    with_stages: also return clip id -> the degradation stages of each view (core/audio_augment.py's names, in the
    order applied; () for the clean view); the views are the same either way."""
    import multiprocessing as mp

    global _VIEW_JOB
    _VIEW_JOB = (config, babble_pool, front_end or {})
    views: dict[str, list[np.ndarray]] = {}
    stages: dict[str, list[tuple[str, ...]]] = {}
    bar = progress_bar(len(wavs), f"log-mel views[{what}]", progress)
    jobs = config.feature_jobs if config.augment_views and len(wavs) > 50 else 1
    pool = mp.get_context("fork").Pool(jobs) if jobs > 1 else None
    try:
        work = list(wavs.items())
        results = pool.imap(_clip_mel_views, work, chunksize=8) if pool else map(_clip_mel_views, work)
        for clip_id, clip_views, clip_stages in results:
            views[clip_id] = clip_views
            stages[clip_id] = clip_stages
            if bar is not None:
                bar.update(1)
    finally:
        if pool is not None:
            pool.terminate()
        _VIEW_JOB = None
        if bar is not None:
            bar.close()
    return (views, stages) if with_stages else views


_VIEW_JOB: tuple[DistillConfig, list[np.ndarray], dict] | None = None  # what _mel_views' forked workers read


def _clip_mel_views(item: tuple[str, str]) -> tuple[str, list[np.ndarray], list[tuple[str, ...]]]:
    from core.audio import load_audio
    from core.models.log_mel import log_mel

    config, babble_pool, front_end = _VIEW_JOB
    clip_id, path = item
    audio = load_audio(path)
    rng = np.random.default_rng([config.seed, zlib.crc32(clip_id.encode())])
    clip_views, clip_stages = [log_mel(audio, **front_end)], [()]
    for _ in range(config.augment_views):
        degraded, chain = config.acoustic_augment.apply(audio, rng, babble_pool or None)
        clip_views.append(log_mel(degraded, **front_end))
        clip_stages.append(tuple(stage for stage, _ in chain))
    dtype = np.float16 if config.augment_views else np.float32
    return clip_id, [v.astype(dtype) for v in clip_views], clip_stages


def _round_view(views: list[np.ndarray], config: DistillConfig, rng: np.random.Generator) -> np.ndarray:
    """The view a clip's round features come from: clean with `clean_view_prob`, else a degraded one."""
    if len(views) == 1 or rng.random() < config.clean_view_prob:
        return views[0]
    return views[int(rng.integers(1, len(views)))]


def _babble_pool(config: DistillConfig, wavs: dict[str, str]) -> list[np.ndarray]:
    """Real speech (else corpus speech) to make babble noise from, drawn with the run's seed; none without views."""
    return babble_pool(wavs, config.seed + 11) if config.augment_views else []


def _encoder_data_hashes(config: DistillConfig) -> dict[str, str]:
    """Content hash of each config.encoder_data corpus, for the run record; a clear error when one is missing."""
    for corpus in map(Path, config.encoder_data):
        if not (corpus / "splits.json").is_file():
            raise FileNotFoundError(
                f"encoder_data corpus {corpus} not found: make it with "
                f"`python -m core data generate --preset encoder-voices --out {corpus}` (or drop it from the config)"
            )
    return {d: corpus_hash(Path(d)) for d in config.encoder_data}


def _encoder_only_clips(config: DistillConfig, progress: bool) -> list[tuple[TrainingClip, Path]]:
    """The train clips of config.encoder_data with their wav paths; ids are prefixed with their corpus so they
    cannot collide with the face corpus's. Only 30 fps clips long enough for a crop are kept."""
    clips = []
    for corpus in map(Path, config.encoder_data):
        loaded = load_training_set(
            corpus, "train", config.teacher_encoder, Path(config.cache_dir), config.feature_jobs, None, progress
        )
        for clip in usable_for_encoder(config.encoder_crop_frames, loaded):
            source = corpus / f"{clip.clip_id}.wav"
            clips.append((replace(clip, clip_id=f"{corpus}/{clip.clip_id}"), source))
    return clips


def _feature_sample(usable: list[TrainingClip]) -> torch.Tensor:
    """The teacher features of the first 300 usable clips, stacked: (frames, dim)."""
    return torch.from_numpy(np.concatenate([c.audio for c in usable[:300]]))


def _spread_of(features: torch.Tensor) -> torch.Tensor:
    """Per-dimension std (floored): L_ae weighs every feature dimension alike."""
    return features.std(dim=0).clamp_min(1e-3)


# ---------------------------------------------------------------- phase A2: a smaller student network


def student_talker_config(teacher_config: TalkerConfig, denoiser_overrides: dict) -> TalkerConfig:
    """The teacher's config with the student's denoiser overrides (the personalizer stays the teacher's)."""
    config = copy.deepcopy(teacher_config)
    config.denoiser = DenoiserConfig(**{**asdict(config.denoiser), **denoiser_overrides})
    return config


def kept_teacher_blocks(teacher_layers: int, student_layers: int) -> list[int]:
    """Which teacher blocks a shallower student starts from: evenly spaced with the first and the last (one: the last)."""
    if not 1 <= student_layers <= teacher_layers:
        raise ValueError(f"a student of {student_layers} layers cannot start from a teacher of {teacher_layers}")
    if student_layers == 1:
        return [teacher_layers - 1]
    return [round(i * (teacher_layers - 1) / (student_layers - 1)) for i in range(student_layers)]


def student_network(teacher: DiffusionTalker, denoiser_overrides: dict) -> DiffusionTalker:
    """The student's talker: the teacher's personalizer (copied) and a denoiser of the teacher's config with
    `denoiser_overrides`, or an exact copy of the teacher when there are no overrides.

    A student that only drops layers ({"layers": n}) and/or narrows the feed-forward layers ({"ff_mult": m} with m at
    most the teacher's; a dropout change allowed) starts as the teacher with n of its blocks (kept_teacher_blocks),
    each keeping its m * width most important hidden units (pruned_feed_forward): it begins near the teacher's
    function, where fresh weights would begin from nothing. Any other change of shape (width, heads, ...) starts from
    fresh weights."""
    if not denoiser_overrides:
        return copy.deepcopy(teacher)
    student = DiffusionTalker(student_talker_config(teacher.config, denoiser_overrides))
    student.personalizer.load_state_dict(teacher.personalizer.state_dict())
    student.set_motion_stats(teacher.motion_mean, teacher.motion_std)
    narrower = student.config.denoiser.ff_mult <= teacher.config.denoiser.ff_mult
    if set(denoiser_overrides) <= {"layers", "dropout", "ff_mult"} and narrower:
        kept = kept_teacher_blocks(teacher.config.denoiser.layers, student.config.denoiser.layers)
        hidden = student.config.denoiser.ff_mult * student.config.denoiser.width
        state = {k: v for k, v in teacher.denoiser.state_dict().items() if not k.startswith("blocks.")}
        for new_index, old_index in enumerate(kept):
            block = pruned_feed_forward(teacher.denoiser.blocks[old_index].state_dict(), hidden)
            state.update({f"blocks.{new_index}.{k}": v for k, v in block.items()})
        student.denoiser.load_state_dict(state)
    return student


def pruned_feed_forward(block: dict[str, torch.Tensor], hidden: int) -> dict[str, torch.Tensor]:
    """A block's state dict with its feed-forward layer cut to `hidden` units: those whose in and out weights have
    the largest norm product (a unit's reach into the residual stream), in their original order."""
    w_in, w_out = block["ff.0.weight"], block["ff.2.weight"]  # (units, width), (width, units)
    if hidden > w_in.shape[0]:
        raise ValueError(f"cannot prune {w_in.shape[0]} feed-forward units to {hidden}")
    importance = w_in.norm(dim=1) * w_out.norm(dim=0)  # (units,)
    keep = importance.topk(hidden).indices.sort().values
    pruned = dict(block)
    pruned["ff.0.weight"], pruned["ff.0.bias"] = w_in[keep].clone(), block["ff.0.bias"][keep].clone()
    pruned["ff.2.weight"] = w_out[:, keep].clone()
    return pruned


def compress_student(
    config: DistillConfig,
    teacher: DiffusionTalker,
    student: DiffusionTalker,
    encoder: StudentAudioEncoder | None,
    clips: list[TrainingClip],
    mels: dict[str, list[np.ndarray]] | None,
    log,
    progress: bool,
) -> dict:
    """Phase A2 (L_kd): the student's denoiser, fed the student encoder's features, learns the teacher's x0 prediction
    (fed Whisper's) at every noise level, with and without a prefix and a style; with compress_train_encoder the
    gradient also trains the encoder end to end, so its features keep what the denoiser uses (plus L_ae).
    Without an encoder (the big-encoder ablation) the student network is fed Whisper's features too."""
    torch.manual_seed(config.seed + 1)
    rng = np.random.default_rng(config.seed + 1)
    n = config.encoder_crop_frames
    usable = usable_for_encoder(config.encoder_crop_frames, clips)
    dim_std = _spread_of(_feature_sample(usable))
    train_encoder = encoder is not None and config.compress_train_encoder
    params = list(student.denoiser.parameters()) + (list(encoder.parameters()) if train_encoder else [])
    optimizer = torch.optim.AdamW(params, lr=config.compress_lr, weight_decay=0.01)
    cfg = student.config
    bar = progress_bar(config.compress_steps, "student network L_kd", progress)
    student.train()
    if encoder is not None:
        encoder.train(train_encoder)
    last: dict[str, float] = {}
    warmup = min(100, config.compress_steps // 10 + 1)
    augment_rng = np.random.default_rng(config.seed + 8)
    for step in range(config.compress_steps):
        progress_share = step / max(1, config.compress_steps)
        scale = (step + 1) / warmup if step < warmup else 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress_share))
        for group in optimizer.param_groups:
            group["lr"] = config.compress_lr * scale
        crops, mel_t = encoder_crops(rng, usable, mels, n, config.encoder_batch, config.clean_view_prob)
        if encoder is not None:
            mel_t = config.mel_augment(mel_t, augment_rng)
        whisper = torch.from_numpy(np.stack([c.audio[s : s + n] for c, s in crops]))  # (batch, n, 512)
        motion = torch.from_numpy(np.stack([c.motion[s : s + n] for c, s in crops]))  # (batch, n, 52)
        prosody = None
        if all(c.prosody is not None for c, _ in crops):
            prosody = torch.from_numpy(np.stack([c.prosody[s : s + n] for c, s in crops]))
        b = motion.shape[0]
        x0 = teacher.normalize(motion)
        t = 1.0 - torch.rand(b)  # (batch,) in (0, 1]
        x_t = q_sample(x0, t, torch.randn_like(x0))
        prefix_mask = random_prefix_mask(b, n, cfg.prefix_prob, cfg.max_prefix_frames)
        draw = torch.rand(b)
        conditions = {
            "audio_keep": draw >= cfg.unconditional_prob,
            "style_keep": draw >= cfg.unconditional_prob + cfg.style_drop_prob,
            "prefix": x0,
            "prefix_mask": prefix_mask,
        }
        with torch.no_grad():
            tokens = teacher.personalizer(whisper, prosody=prosody)  # the crop is its own reference
            target = teacher.denoiser(x_t, t, whisper, tokens, **conditions)
        if encoder is None:
            feats = whisper
        else:
            with torch.set_grad_enabled(train_encoder):
                feats = encoder_to_motion_frames(encoder(mel_t), n, 30.0)
        pred = student.denoiser(x_t, t, feats, tokens, **conditions)
        # The teacher's own channel weights (mouth channels count double): lip closures are few frames of a clip.
        new = (~prefix_mask)[..., None].float() * student.channel_weights
        losses = {"L_kd": ((pred - target) ** 2 * new).sum() / ((~prefix_mask).sum() * x0.shape[-1])}
        total = losses["L_kd"]
        if train_encoder and config.compress_ae_weight > 0:
            losses["L_ae"] = (((feats - whisper) / dim_std) ** 2).mean()
            total = total + config.compress_ae_weight * losses["L_ae"]
        last = optimizer_step(optimizer, params, total, losses, bar, "L_kd")
        if (step + 1) % config.log_every == 0:
            log({"phase": "student_network", "step": step + 1, "lr": config.compress_lr * scale, **last})
    if bar is not None:
        bar.close()
    student.eval()
    if encoder is not None:
        encoder.eval()
    return last


@torch.no_grad()
def student_features(encoder: StudentAudioEncoder, clip: TrainingClip, audio: np.ndarray) -> np.ndarray:
    """The student encoder's features of a clip on its motion frames: (frames, dim)."""
    feats = encoder.encode(audio)[None]  # (1, enc_frames, dim)
    return encoder_to_motion_frames(feats, clip.frames, clip.fps)[0].numpy()


@torch.no_grad()
def student_features_of_mel(encoder: StudentAudioEncoder, clip: TrainingClip, mel: np.ndarray) -> np.ndarray:
    """student_features from a precomputed log-mel (80, mel frames) of the clip (a clean or a degraded view)."""
    feats = encoder(torch.from_numpy(mel.astype(np.float32))[None])  # (1, enc_frames, dim)
    return encoder_to_motion_frames(feats, clip.frames, clip.fps)[0].numpy()


# ---------------------------------------------------------------- phase B: progressive distillation (L_dis, L_pc)


class UpperFaceMotionEmbedding(nn.Module):
    """Training-only head for L_pc: generated upper-face motion (batch, frames, k) -> unit embedding (batch, dim)."""

    def __init__(self, channels: int, dim: int, width: int = 128) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(channels, width, 5, padding=2), nn.GELU(), nn.Conv1d(width, width, 5, padding=4, dilation=2)
        )
        self.head = nn.Linear(2 * width, dim)

    def forward(self, motion: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.conv(motion.transpose(1, 2))).transpose(1, 2)  # (batch, frames, width)
        m = mask[..., None].float()
        mean = (h * m).sum(1) / m.sum(1).clamp_min(1)
        std = (((h - mean[:, None]) ** 2 * m).sum(1) / m.sum(1).clamp_min(1)).sqrt()
        return F.normalize(self.head(torch.cat([mean, std], dim=-1)), dim=-1)


def _x0(model: DiffusionTalker, x_t, t, audio, tokens, mask) -> torch.Tensor:
    return model.denoiser(x_t, t, audio, tokens, frame_mask=mask)


def distill_round(
    config: DistillConfig,
    teacher: DiffusionTalker,
    student: DiffusionTalker,
    teacher_steps: int,
    student_steps: int,
    sampler: BatchSampler,
    teacher_slice: slice,
    student_slice: slice,
    log,
    progress: bool,
) -> dict:
    """One round: `student` (trained in place) learns one step per `teacher_steps / student_steps` teacher steps."""
    if teacher_steps % student_steps:
        raise ValueError(f"teacher steps {teacher_steps} must be a multiple of student steps {student_steps}")
    per_step = teacher_steps // student_steps
    teacher_grid = DDIMSampler(teacher_steps)
    upper = torch.from_numpy(upper_face_indices())
    pc_head = UpperFaceMotionEmbedding(len(upper), student.config.personalizer.embed_dim)
    params = list(student.parameters()) + list(pc_head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    bar = progress_bar(config.round_steps, f"distill {teacher_steps}->{student_steps}", progress)
    student.train()
    last = {}
    for step in range(config.round_steps):
        lr = config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / config.round_steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = sampler.sample()
        mask, ref_mask, ref_prosody = batch["frame_mask"], batch["ref_mask"], batch.get("ref_prosody")
        t_audio, s_audio = batch["audio"][..., teacher_slice], batch["audio"][..., student_slice]
        t_ref, s_ref = batch["ref_audio"][..., teacher_slice], batch["ref_audio"][..., student_slice]
        b = mask.shape[0]
        x0 = teacher.normalize(batch["motion"])
        # Student timesteps on its own grid: t = i / student_steps, i in 1..student_steps.
        t = torch.randint(1, student_steps + 1, (b,)).float() / student_steps
        x_t = q_sample(x0, t, torch.randn_like(x0))
        with torch.no_grad():
            t_tokens = teacher.personalizer(t_ref, ref_mask, prosody=ref_prosody)
            x, tt = x_t, t.clone()
            for _ in range(per_step):  # the teacher's steps from t down to t - 1 / student_steps
                t_next = (tt - 1.0 / teacher_steps).clamp_min(0.0)
                x = teacher_grid.step(_x0(teacher, x, tt, t_audio, t_tokens, mask), tt, x, t_prev=t_next)
                tt = t_next
            target = distillation_x0_target(x_t, t, x, tt)
        style = student.personalizer.encode_style(s_ref, ref_mask, prosody=ref_prosody)
        s_tokens = student.personalizer.fuse(style.identity, style.emotion)
        x0_pred = _x0(student, x_t, t, s_audio, s_tokens, mask)
        alpha, sigma = alpha_sigma(t, x0)
        snr_weight = (alpha**2 / sigma.clamp_min(1e-6) ** 2).clamp(1.0, 50.0)  # truncated SNR (capped: t -> 0)
        m = mask[..., None].float()
        l_dis = ((x0_pred - target) ** 2 * snr_weight * m).sum() / (m.sum() * x0.shape[-1])
        losses = {"L_dis": l_dis}
        group = batch["speaker"] * 100 + batch["emotion"]
        if config.pc_weight > 0:
            motion_emb = pc_head(x0_pred[..., upper], mask)
            style_emb = F.normalize(torch.cat([style.identity, style.emotion], dim=-1), dim=-1)
            style_emb = F.normalize(
                style_emb[..., : motion_emb.shape[-1]] + style_emb[..., motion_emb.shape[-1] :], dim=-1
            )
            losses["L_pc"] = cross_modal_contrastive_loss(style_emb, motion_emb, group, config.pc_temperature)
        if config.style_nce_weight > 0:
            temperature = student.config.personalizer.temperature
            losses["identity_nce"] = supervised_contrastive_loss(style.identity, batch["speaker"], temperature)
            losses["emotion_nce"] = supervised_contrastive_loss(style.emotion, batch["emotion"], temperature)
        total = l_dis + config.pc_weight * losses.get("L_pc", 0.0)
        total = total + config.style_nce_weight * (losses.get("identity_nce", 0.0) + losses.get("emotion_nce", 0.0))
        last = optimizer_step(optimizer, params, total, losses, bar, "L_dis")
        if (step + 1) % config.log_every == 0:
            log({"phase": f"round{student_steps}", "step": step + 1, "lr": lr, **last})
    if bar is not None:
        bar.close()
    student.eval()
    return last


NEUTRAL_CLIPS = 200  # the neutral clips whose mean emotion embedding is the student's "neutral"


def _update_neutral(student: DiffusionTalker, clips: list[TrainingClip], dim_slice: slice) -> None:
    """The student's neutral emotion embedding (emotion_strength = 0): mean over neutral clips, on its features."""
    neutral = [c for c in clips if c.emotion == "neutral"][:NEUTRAL_CLIPS]
    if not neutral:
        return
    with torch.no_grad():
        embs = [
            student.personalizer.encode_style(
                torch.from_numpy(c.audio[:, dim_slice])[None], prosody=c.prosody_batch()
            ).emotion[0]
            for c in neutral
        ]
        student.personalizer.neutral_emotion.copy_(F.normalize(torch.stack(embs).mean(0), dim=0))


def _paired(clips: list[TrainingClip], extra: dict[str, np.ndarray]) -> list[TrainingClip]:
    """Clips whose features are [teacher features | student features] side by side (one crop serves both)."""
    return list(clips) if not extra else [
        TrainingClip(c.clip_id, c.speaker, c.emotion, np.concatenate([c.audio, extra[c.clip_id]], axis=1), c.motion,
                     c.fps, c.phones, c.phone_times, c.prosody)
        for c in clips
    ]  # fmt: skip


def distill(config: DistillConfig, progress: bool = True) -> dict:
    """Run (or resume) phases A and B; returns the trained pieces and a summary."""
    if config.real_speech_targets not in ("teacher", "aligned"):
        raise ValueError(f"real_speech_targets must be 'teacher' or 'aligned', not {config.real_speech_targets!r}")
    check_language_weights(config.ears_language_weights)  # now, not after an hour of features and views
    try:  # the bounds every guidance scale has (animate, eval, set-guidance)
        OPTIONS_BY_NAME["guidance"].check(config.real_speech_teacher_guidance)
    except OptionValueError as exc:
        raise ValueError(f"real_speech_teacher_guidance: {exc.problem}") from None
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(run_dir / "log.jsonl", "a")
    started = time.perf_counter()

    def log(entry: dict) -> None:
        entry["minutes"] = round((time.perf_counter() - started) / 60, 2)
        log_file.write(json.dumps(entry) + "\n")
        log_file.flush()

    data = Path(config.data)
    teacher = load_teacher(Path(config.teacher))
    teacher.requires_grad_(False)
    train = load_training_set(
        data, "train", config.teacher_encoder, Path(config.cache_dir), config.feature_jobs, config.limit_clips, progress
    )
    real: list[TrainingClip] = []
    wavs = {c.clip_id: str(data / f"{c.clip_id}.wav") for c in train}  # what the student's encoder hears
    if config.real_speech:
        real, real_wavs = load_real_speech_clips(
            Path(config.real_speech), teacher, config.teacher_encoder, Path(config.cache_dir),
            run_dir / "real_speech_targets.safetensors", max_hours=config.real_speech_hours,
            min_seconds=config.real_speech_min_seconds, short_clips=config.real_speech_short_clips,
            steps=config.teacher_steps, jobs=config.feature_jobs, progress=progress,
            aligned_targets=config.real_speech_targets == "aligned",
            guidance_scale=config.real_speech_teacher_guidance,
        )  # fmt: skip
        wavs.update(real_wavs)
    speakers, emotions = label_maps(train + real)
    record = {
        "distill_config": asdict(config),
        "corpus_hash": corpus_hash(data),
        "teacher_config": teacher.config.to_dict(),
        "teacher": str(config.teacher),
        "train_clips": len(train),
    }
    if real:
        record["real_speech"] = {
            "hash": real_speech_hash(Path(config.real_speech)),
            "clips": len(real),
            "hours": round(sum(c.frames for c in real) / 30.0 / 3600, 3),
            "speakers": len({c.speaker for c in real}),
            "aligned_targets": sum(bool(c.phones) for c in real),  # clips whose motion is their alignment's
        }
    if config.student_encoder and config.encoder_data:
        record["encoder_data"] = _encoder_data_hashes(config)
    (run_dir / "config.json").write_text(json.dumps(record, indent=1))

    if config.ears_from:
        result = _ears_only(config, train, real, wavs, real_wavs if real else {}, record, log, progress)
        log_file.close()
        return result
    encoder = None
    extra: dict[str, np.ndarray] = {}
    first_student = None  # what round 1 starts from: the phase A2 student, else a copy of the teacher
    if config.student_denoiser and not config.compress_steps:
        raise ValueError("a student_denoiser of another shape starts untrained: set compress_steps (phase A2) > 0")
    mels = None
    heard = train + real  # the clips with a face (the corpus's or the teacher's take) the student learns from
    if config.student_encoder:
        encoder_path = run_dir / "student_encoder.safetensors"
        babble_pool = _babble_pool(config, real_wavs if real else wavs)
        encoder_config = StudentEncoderConfig(**config.encoder_config)
        front_end = encoder_config.front_end()  # the views go through the front end the encoder will read
        mels = _mel_views(config, wavs, babble_pool, progress, "train", front_end)  # (80, frames) views per clip
        if encoder_path.is_file():
            encoder = StudentAudioEncoder(encoder_config)
            encoder.load_state_dict(load_file(str(encoder_path)))
            encoder.eval()
        else:
            # The extra corpora's clips and log-mels are only needed here, so they are loaded only here
            encoder_only = _encoder_only_clips(config, progress)
            if encoder_only:
                record["encoder_only_clips"] = len(encoder_only)
            only_wavs = {c.clip_id: str(source) for c, source in encoder_only}
            encoder_mels = {
                **mels,
                **_mel_views(config, only_wavs, babble_pool, progress, "encoder voices", front_end),
            }
            encoder_clips = heard + [c for c, _ in encoder_only]
            encoder = train_student_encoder(config, encoder_clips, encoder_mels, log, progress, teacher)
            save_file(encoder.state_dict(), str(encoder_path))
            del encoder_only, encoder_mels, encoder_clips
        del babble_pool
    if config.compress_steps:
        network_path = run_dir / "student_16step.safetensors"
        tuned_encoder_path = run_dir / "student_encoder_16step.safetensors"
        first_student = student_network(teacher, config.student_denoiser)
        if network_path.is_file() and (encoder is None or tuned_encoder_path.is_file()):
            first_student.load_state_dict(load_file(str(network_path)))
            if encoder is not None:
                encoder.load_state_dict(load_file(str(tuned_encoder_path)))
        else:
            summary_a2 = compress_student(config, teacher, first_student, encoder, heard, mels, log, progress)
            record["student_network"] = summary_a2
            save_file({k: v.contiguous() for k, v in first_student.state_dict().items()}, str(network_path))
            if encoder is not None:
                save_file(encoder.state_dict(), str(tuned_encoder_path))
        first_student.eval()
    if encoder is not None:
        encoder.eval()
        # Each clip's student features from one of its views (the rounds then see degraded audio too)
        view_rng = np.random.default_rng(config.seed + 12)
        extra = {c.clip_id: student_features_of_mel(encoder, c, _round_view(mels[c.clip_id], config, view_rng))
                 for c in heard}  # fmt: skip
    del mels
    teacher_dim = train[0].audio.shape[1]
    paired, paired_real = _paired(train, extra), _paired(real, extra)
    sampler = BatchSampler(paired, speakers, emotions, config.batch, seed=config.seed)
    if paired_real:
        real_spec = replace(config.batch, groups=config.real_speech_groups)
        sampler = MixedBatchSampler(
            [sampler, BatchSampler(paired_real, speakers, emotions, real_spec, config.seed + 1)]
        )
    student_slice = slice(teacher_dim, None) if extra else slice(0, teacher_dim)

    current_teacher, current_steps, teacher_slice = teacher, config.teacher_steps, slice(0, teacher_dim)
    summary = {}
    for student_steps in config.rounds:
        round_path = run_dir / f"student_{student_steps}step.safetensors"
        student = copy.deepcopy(first_student if first_student is not None else current_teacher)
        first_student = None
        student.requires_grad_(True)
        if round_path.is_file():
            student.load_state_dict(load_file(str(round_path)))
        else:
            summary[f"round_{current_steps}_to_{student_steps}"] = distill_round(
                config, current_teacher, student, current_steps, student_steps, sampler, teacher_slice, student_slice,
                log, progress,
            )  # fmt: skip
            _update_neutral(student, paired, student_slice)
            save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(round_path))
        student.eval().requires_grad_(False)
        student.config.sampling_steps = student_steps
        # Every later teacher is a student: it eats the student's features.
        current_teacher, current_steps, teacher_slice = student, student_steps, student_slice
    if first_student is not None:  # no rounds: the phase A2 student at the teacher's step count is the result
        first_student.requires_grad_(False)
        first_student.config.sampling_steps = config.teacher_steps
        current_teacher = first_student
    log_file.close()
    return {"student": current_teacher, "encoder": encoder, "speakers": speakers, "emotions": emotions, **record,
            "summary": summary}  # fmt: skip


def _ears_only(config: DistillConfig, train, real, wavs, real_wavs, record: dict, log, progress: bool) -> dict:
    """Phase C alone: the student of `config.ears_from` with its encoder retrained (core/training/adapt_ears.py)."""
    from core.inference import load_shipped_student
    from core.training.adapt_ears import adapt_ears, grow_encoder

    if not real:
        raise ValueError(
            "phase C (ears_from) learns from real speech: set real_speech to a `core data real-speech` folder"
        )
    if config.ears_steps < 1:
        raise ValueError("phase C (ears_from) needs ears_steps > 0")
    encoder, student, metadata, start_sha = load_shipped_student(Path(config.ears_from))
    encoder = grow_encoder(encoder, config.ears_grow_blocks)
    front_end = {}
    if config.ears_noise_floor:
        front_end["noise_floor"] = True
    if config.ears_late_reverb_rt60 > 0:
        front_end["late_reverb_rt60"] = float(config.ears_late_reverb_rt60)
    if config.ears_noise_floor_oversubtract > 0:
        front_end["noise_floor_oversubtract"] = float(config.ears_noise_floor_oversubtract)
    encoder.config = replace(encoder.config, **front_end)  # a new config: its bounds are checked
    # Trained through the sampler that ships: the starting student's guidance (kept on export)
    guidance = float(metadata.get("guidance_scale", 1.0))
    record["ears_from"] = {
        "weights": config.ears_from,
        "student_sha256": start_sha,
        "corpus_hash": metadata.get("corpus_hash"),
        "guidance_scale": guidance,
    }
    babble_pool = _babble_pool(config, real_wavs)
    mels, stages = _mel_views(
        config, wavs, babble_pool, progress, "train", encoder.config.front_end(), with_stages=True
    )
    del babble_pool
    drawn = repeat_by_language(real, Path(config.real_speech), config.ears_language_weights)
    in_room = {clip_id: ["reverb" in chain for chain in chains] for clip_id, chains in stages.items()}
    record["ears"] = adapt_ears(
        config, student, encoder, train + drawn, {c.clip_id for c in train}, mels, log, progress, guidance, in_room
    )
    # The neutral emotion from the new ears' features (the clips _update_neutral reads: the first neutral ones)
    neutral = [c for c in train if c.emotion == "neutral"][:NEUTRAL_CLIPS]
    extra = {c.clip_id: student_features_of_mel(encoder, c, mels[c.clip_id][0]) for c in neutral}
    _update_neutral(student, _paired(neutral, extra), slice(train[0].audio.shape[1], None))
    speakers, emotions = label_maps(train + real)
    return {"student": student, "encoder": encoder, "speakers": speakers, "emotions": emotions, **record,
            "summary": {"ears": record["ears"]}}  # fmt: skip
