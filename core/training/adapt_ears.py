"""Phase C, "ears": a trained student's audio encoder retrained on real voices, its motion network left as it is.

Why: the student's small encoder learns to hear from synthetic voices (phase A imitates Whisper on the corpus), and
on real recordings its features stop triggering the closures the network learnt (P/B/M closure on real-dev: student
0.36, teacher 0.90). Phases A/A2 rerun with real speech fix the ears but retrain the whole student (hours on a CPU),
and what the rounds later learn from is only a frozen, single view of each clip. Phase C trains the ears against
the exact thing that ships: the student's own 2-step DDIM (unrolled, differentiable; the denoiser and the
personalizer frozen) from the encoder's features of a clean or degraded log-mel view, to the clip's motion (the
corpus's targets; for real speech, the teacher's 16-step take of the clean audio, as in phases A2/B).

    L_motion: the sample (from fresh noise, half the time continuing a known prefix like every window after the
              first) vs the target, with the teacher's channel weights (mouth channels count double).
    L_aperture: the lip opening (core/rig/lip_measures.py) of the sample vs the target's, frames where the target's
              lips are shut counting `ears_closure_boost` times more: a closure is two or three frames of a clip, and
              a plain MSE is content to leave the lips just apart.
    L_anchor: on clean corpus (synthetic) audio, the encoder state stays what the starting encoder computes, so
              what already worked (TTS voices, the style library's embeddings) keeps working.

Crops are encoder_crop_frames (3 s) long, so they only come from clips at least that long, and nearly all start and
stop inside speech. A line of a word or two ("Yes.", a game bark) is a whole clip to the engine: its audio starts
and stops within a second, and there the student's mouth ran ahead of the sound (real-dev clips under 1 s: lag
-62 ms, the teacher -45). With `ears_short_prob`, that share of the steps is a short batch: one length m under
3 s, its real crops nearly whole short clips (real_speech_short_clips of them load), its corpus crops m frames of
longer clips, and no prefix (such a clip is one window).

Works on the shipped (folded) encoder: its output is the width-sized state the networks read (feature_fold.py).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from core.models.diffusion import DDIMSampler
from core.models.student_audio_encoder import StudentAudioEncoder
from core.models.talker import DiffusionTalker
from core.training.corpus_features import TrainingClip
from core.training.encoder_crops import encoder_crops, encoder_to_motion_frames, mel_crop, usable_for_encoder
from core.training.real_speech_clips import SHORT_CLIP_MIN_SECONDS
from core.training.train_steps import optimizer_step, progress_bar


def torch_lip_aperture(weights: torch.Tensor) -> torch.Tensor:
    """lip_measures.lip_aperture of ARKit-52 weights (..., 52) in torch (differentiable): (...)."""
    from core.rig.arkit import ARKIT_NAMES, LIP_APERTURE_TERMS

    index = {name: i for i, name in enumerate(ARKIT_NAMES)}
    gap = (weights[..., index["jawOpen"]] - weights[..., index["mouthClose"]]).clamp_min(0.0)
    lips = sum(coef * weights[..., index[name]] for name, coef in LIP_APERTURE_TERMS.items())
    return (gap + lips).clamp_min(0.0)


def unrolled_sample(
    talker: DiffusionTalker,
    feats: torch.Tensor,
    tokens: torch.Tensor | None,
    noise: torch.Tensor,
    steps: int,
    prefix: torch.Tensor | None = None,
    prefix_mask: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
) -> torch.Tensor:
    """The student's DDIM as it ships (its classifier-free guidance scale included) from `noise`, differentiable in
    `feats`: normalised motion."""
    sampler = DDIMSampler(steps)
    x = noise
    # The audio condition is the same at every step, as in DiffusionTalker.sample (the guided pass embeds its own)
    audio = talker.denoiser.embed_audio(feats, *noise.shape[:2]) if guidance_scale == 1.0 else None
    for t in sampler.timesteps:
        x0_pred = talker.denoise(x, t, feats, tokens, guidance_scale, prefix, prefix_mask, audio)
        x = sampler.step(x0_pred, t, x)
    return x


def sample_losses(
    config,
    talker: DiffusionTalker,
    encoder: StudentAudioEncoder,
    mel: torch.Tensor,
    motion: torch.Tensor,
    prosody: torch.Tensor,
    prefix_mask: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
    aperture_scale: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """L_motion (and L_aperture when weighted) of the student's sample for log-mel crops (batch, 80, mel frames)
    whose motion is (batch, n, 52) in [0, 1]. Frames under prefix_mask (batch, n) are given, not scored; without one,
    a crop continues a known prefix with `ears_prefix_prob` (like every window after the first). `noise`: the
    sample's start (default: drawn); both are drawn after the encoder's pass, the order training has always used.
    aperture_scale (batch,): how much each crop counts in L_aperture (default: all alike)."""
    from core.rig.lip_measures import LIPS_CLOSED_APERTURE

    n = motion.shape[1]
    x0 = talker.normalize(motion)
    feats = encoder_to_motion_frames(encoder(mel), n, 30.0)
    with torch.no_grad():
        tokens = talker.personalizer(feats, prosody=prosody)  # the crop is its own reference (as in phase A2)
    if prefix_mask is None:
        with_prefix = torch.rand(x0.shape[0]) < config.ears_prefix_prob
        prefix_mask = (torch.arange(n) < config.ears_prefix_frames)[None] & with_prefix[:, None]
    noise = torch.randn_like(x0) if noise is None else noise
    steps = talker.config.sampling_steps
    sample = unrolled_sample(talker, feats, tokens, noise, steps, x0, prefix_mask, guidance_scale)
    new = (~prefix_mask)[..., None].float() * talker.channel_weights
    losses = {"L_motion": ((sample - x0) ** 2 * new).sum() / ((~prefix_mask).sum() * x0.shape[-1])}
    if config.ears_aperture_weight > 0:
        got = torch_lip_aperture(sample * talker.motion_std + talker.motion_mean)  # unclamped: keeps gradients
        want = torch_lip_aperture(motion)
        weight = (~prefix_mask).float() * (1.0 + config.ears_closure_boost * (want < LIPS_CLOSED_APERTURE).float())
        if aperture_scale is not None:
            weight = weight * aperture_scale[:, None]
        losses["L_aperture"] = ((got - want).abs() * weight).sum() / weight.sum()
    return losses


def grow_encoder(encoder: StudentAudioEncoder, blocks: int) -> StudentAudioEncoder:
    """`encoder` with `blocks` more attention blocks after its own, each starting as the identity (the residual
    branches' last layers zero: attention projection, convolution, feed-forward output), so the grown encoder
    computes exactly what `encoder` does and phase C trains the new capacity from there."""
    if blocks < 0:
        raise ValueError(f"ears_grow_blocks must be >= 0, got {blocks}")
    if blocks == 0:
        return encoder
    from core.models.student_audio_encoder import StudentEncoderConfig

    layers = encoder.config.attention_layers
    config = StudentEncoderConfig.from_dict({**encoder.config.to_dict(), "attention_layers": layers + blocks})
    grown = StudentAudioEncoder(config)
    _, unexpected = grown.load_state_dict(encoder.state_dict(), strict=False)
    if unexpected:
        raise ValueError(f"the grown encoder lacks tensors of the one it grows from: {unexpected[:3]}")
    with torch.no_grad():
        for block in grown.blocks[layers:]:
            for layer in (block.attn.proj, block.ff[-1], block.conv):
                if layer is not None:
                    layer.weight.zero_()
                    layer.bias.zero_()
    return grown.to(next(encoder.parameters()).device).eval()


SHORT_MIN_FRAMES = round(SHORT_CLIP_MIN_SECONDS * 30)  # the shortest real clip a short crop takes (30 fps)
SHORT_SLACK_FRAMES = 15  # a short batch's real clips are at most this much (0.5 s) longer than its crops


def short_real_clips(clips: list[TrainingClip], synthetic_ids: set[str], n: int) -> list[TrainingClip]:
    """The real 30 fps clips shorter than n frames (crops of n) and long enough for a short crop."""
    return [
        c
        for c in clips
        if c.clip_id not in synthetic_ids and SHORT_MIN_FRAMES <= c.frames < n and abs(c.fps - 30.0) < 1e-6
    ]


def short_batch(rng: np.random.Generator, short_real: list[TrainingClip]) -> tuple[int, list[TrainingClip]]:
    """(m, the real clips a short batch crops): a short clip is drawn, m is its length down to a multiple of 3, and
    the batch's real crops come from the short clips m to m + SHORT_SLACK_FRAMES frames long (so each crop holds
    nearly all of its clip, both ends in it)."""
    drawn = short_real[int(rng.integers(0, len(short_real)))]
    m = 3 * (drawn.frames // 3)
    return m, [c for c in short_real if m <= c.frames < m + SHORT_SLACK_FRAMES]


def adapt_ears(
    config,
    talker: DiffusionTalker,
    encoder: StudentAudioEncoder,
    clips: list[TrainingClip],
    synthetic_ids: set[str],
    mels: dict[str, list[np.ndarray]],
    log,
    progress: bool,
    guidance_scale: float = 1.0,
    in_room: dict[str, list[bool]] | None = None,
) -> dict:
    """Train `encoder` in place (phase C); `talker` stays frozen. `synthetic_ids`: the corpus clips (anchored).
    guidance_scale: the classifier-free guidance the student ships with, so the encoder learns through that sampler.
    in_room: clip id -> whether each of its views (mels[clip id]) went through a room; with
    `ears_room_aperture_boost` > 0, L_aperture counts those crops 1 + boost times."""
    boost = float(config.ears_room_aperture_boost)
    if boost < 0:
        raise ValueError(f"ears_room_aperture_boost must be >= 0, got {boost}")
    if boost > 0 and in_room is None:
        raise ValueError("ears_room_aperture_boost needs to know which views went through a room (in_room)")
    torch.manual_seed(config.seed + 21)
    rng = np.random.default_rng(config.seed + 21)
    n = config.encoder_crop_frames
    usable = usable_for_encoder(n, clips)
    real = [c for c in usable if c.clip_id not in synthetic_ids]
    synthetic = [c for c in usable if c.clip_id in synthetic_ids]
    if not real or not synthetic:
        raise ValueError(f"phase C needs corpus clips and real speech, got {len(synthetic)} and {len(real)}")
    short_prob = float(config.ears_short_prob)
    if not 0.0 <= short_prob <= 1.0:
        raise ValueError(f"ears_short_prob must be in [0, 1], got {short_prob}")
    short_real = short_real_clips(clips, synthetic_ids, n)
    if short_prob > 0 and not short_real:
        raise ValueError(
            "ears_short_prob > 0 needs real clips shorter than encoder_crop_frames: set real_speech_short_clips"
        )
    start_encoder = copy.deepcopy(encoder).eval().requires_grad_(False)
    talker.eval().requires_grad_(False)
    encoder.train().requires_grad_(True)
    params = list(encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.ears_lr, weight_decay=0.0)
    n_real = int(round(config.encoder_batch * config.ears_real_share))
    bar = progress_bar(config.ears_steps, "ears (phase C) L_motion", progress)
    warmup = min(50, config.ears_steps // 10 + 1)
    last: dict[str, float] = {}
    short_steps = 0
    for step in range(config.ears_steps):
        share = step / max(1, config.ears_steps)
        scale = (step + 1) / warmup if step < warmup else 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * share))
        for group in optimizer.param_groups:
            group["lr"] = config.ears_lr * scale
        m, real_pool, prefix_mask = n, real, None
        if short_prob > 0 and rng.random() < short_prob:
            m, real_pool = short_batch(rng, short_real)
            short_steps += 1
            prefix_mask = torch.zeros(config.encoder_batch, m, dtype=torch.bool)  # one window: nothing before it
        crops_r, mel_r, views_r = encoder_crops(rng, real_pool, mels, m, n_real, config.clean_view_prob, True)
        crops_s, mel_s, views_s = encoder_crops(
            rng, synthetic, mels, m, config.encoder_batch - n_real, config.clean_view_prob, True
        )
        crops, mel_t = crops_r + crops_s, torch.cat([mel_r, mel_s])
        motion = torch.from_numpy(np.stack([c.motion[s : s + m] for c, s in crops]))  # (batch, m, 52)
        prosody = torch.from_numpy(np.stack([c.prosody[s : s + m] for c, s in crops]))
        crop_weight = None
        if boost > 0:
            roomy = [in_room[c.clip_id][view] for (c, _), view in zip(crops, views_r + views_s, strict=True)]
            crop_weight = 1.0 + boost * torch.tensor(roomy, dtype=torch.float32)
        losses = sample_losses(
            config, talker, encoder, mel_t, motion, prosody, prefix_mask,
            guidance_scale=guidance_scale, aperture_scale=crop_weight,
        )  # fmt: skip
        total = losses["L_motion"] + config.ears_aperture_weight * losses.get("L_aperture", 0.0)
        if config.ears_anchor_weight > 0:
            # Clean synthetic crops: the drawn view may be degraded, so the anchor reads the clean view of each
            clean = torch.from_numpy(np.stack([mel_crop(mels[c.clip_id][0], s, m) for c, s in crops_s]))
            with torch.no_grad():
                before = start_encoder(clean)
            after = encoder(clean)
            losses["L_anchor"] = ((after - before) ** 2).mean() / before.var().clamp_min(1e-6)
            total = total + config.ears_anchor_weight * losses["L_anchor"]
        last = optimizer_step(optimizer, params, total, losses, bar, "L_motion")
        if (step + 1) % config.log_every == 0:
            log({"phase": "ears", "step": step + 1, "lr": config.ears_lr * scale, **last})
    if bar is not None:
        bar.close()
    encoder.eval().requires_grad_(False)
    return {**last, "short_steps": short_steps} if short_prob > 0 else last
