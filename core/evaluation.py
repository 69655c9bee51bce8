"""`python -m core eval`: the one evaluation every model (teacher, baseline, students) is judged by.

A model under evaluation is a `Talker`: a DiffusionTalker plus the function that turns a clip into its audio features
(the cached frozen-Whisper features for the teacher, the student's own small encoder on the waveform for a student),
and a step count. On a held-out split it reports:
- motion accuracy: LVE (mouth-region L2 per frame), upper-face error, FDD (upper-face dynamics deviation);
- lip sync: bilabial closure hit rate on P/B/M, AUC of lip aperture in open vowels vs bilabials, lips closed in pauses;
- style: top-1 speaker retrieval (identity embeddings of held-out sentences vs per-speaker centroids of training
  clips), emotion accuracy (nearest emotion centroid), the upper-face shift when only the emotion changes;
- diversity across seeds, and seconds of compute per second of audio.
Every reference clip is encoded from audio alone: users bring a voice recording, not motion.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core import metrics
from core.models.talker import DiffusionTalker
from core.training.corpus_features import TrainingClip


@dataclass
class Talker:
    model: DiffusionTalker
    features: Callable[[TrainingClip], torch.Tensor]  # clip -> (frames, audio_dim) on the clip's motion frames
    steps: int
    name: str = "model"


def cached_features(clip: TrainingClip) -> torch.Tensor:
    """The teacher's features: what corpus_features stored (frozen encoder, aligned to motion frames)."""
    return torch.from_numpy(clip.audio)


def _style_centroids(embeddings: dict[str, np.ndarray], labels: dict[str, str]) -> dict[str, np.ndarray]:
    groups: dict[str, list[np.ndarray]] = defaultdict(list)
    for clip_id, emb in embeddings.items():
        groups[labels[clip_id]].append(emb)
    return {k: _unit(np.mean(v, axis=0)) for k, v in groups.items()}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _nearest(embedding: np.ndarray, centroids: dict[str, np.ndarray]) -> str:
    names = list(centroids)
    return names[int(np.argmax([embedding @ centroids[n] for n in names]))]


@torch.no_grad()
def embed_clips(talker: Talker, clips: list[TrainingClip]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Audio-only identity and emotion embeddings of each clip."""
    identity, emotion = {}, {}
    for clip in clips:
        style = talker.model.encode_style(talker.features(clip)[None], prosody=clip.prosody_batch())
        identity[clip.clip_id], emotion[clip.clip_id] = style.identity[0].numpy(), style.emotion[0].numpy()
    return identity, emotion


@torch.no_grad()
def evaluate(
    talker: Talker,
    heldout: list[TrainingClip],
    reference_clips: list[TrainingClip],
    retrieval_clips: list[TrainingClip] | None = None,
    max_clips: int | None = 60,
    diversity_clips: int = 6,
    seeds: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Metrics of `talker` on `heldout` clips.

    reference_clips: clips with known speaker/emotion (the training split) that define the style centroids.
    retrieval_clips: clips of the training voices never trained on (held-out sentences) for speaker retrieval;
    default: `heldout`. Each held-out clip is animated with the style of ANOTHER held-out clip of the same speaker
    and emotion (never its own), as a user would do with a reference recording.
    """
    model = talker.model.eval()
    clips = heldout if max_clips is None else _spread(heldout, max_clips)
    ref_identity, ref_emotion = embed_clips(talker, _spread(reference_clips, 400))
    speaker_of = {c.clip_id: c.speaker for c in reference_clips}
    emotion_of = {c.clip_id: c.emotion for c in reference_clips}
    speaker_centroids = _style_centroids(ref_identity, speaker_of)
    emotion_centroids = _style_centroids(ref_emotion, emotion_of)

    held_identity, held_emotion = embed_clips(talker, heldout)
    by_style: dict[tuple[str, str], list[str]] = defaultdict(list)
    for c in heldout:
        by_style[(c.speaker, c.emotion)].append(c.clip_id)

    # The emotion pair whose swap is measured: happy vs sad when the corpus has them.
    swap_pair = [e for e in ("happy", "sad", "angry", "surprised", "neutral") if e in emotion_centroids][:2]
    if len(swap_pair) < 2:
        raise ValueError(
            f"the reference clips need two emotions to measure a style swap, found {sorted(emotion_centroids)}"
        )
    rows: dict[str, list[float]] = defaultdict(list)
    compute_s, audio_s = 0.0, 0.0
    for index, clip in enumerate(clips):
        others = [k for k in by_style[(clip.speaker, clip.emotion)] if k != clip.clip_id] or [clip.clip_id]
        ref_id = others[index % len(others)]
        identity = torch.from_numpy(held_identity[ref_id])[None]
        emotion = torch.from_numpy(held_emotion[ref_id])[None]
        started = time.perf_counter()
        feats = talker.features(clip)[None]  # (1, frames, audio_dim)
        tokens = model.personalizer.fuse(identity, emotion)
        pred = model.generate(feats, tokens, steps=talker.steps, seed=0)[0].numpy()
        compute_s += time.perf_counter() - started
        audio_s += clip.frames / clip.fps
        gt = clip.motion
        rows["lve"].append(metrics.lip_error(pred, gt))
        rows["upper_face_error"].append(metrics.upper_face_error(pred, gt))
        rows["fdd"].append(metrics.upper_face_dynamics_deviation(pred, gt))
        rows["bilabial_closure_hit_rate"].append(
            metrics.bilabial_closure_hit_rate(pred, clip.phones, clip.phone_times, clip.fps)
        )
        rows["vowel_bilabial_aperture_auc"].append(
            metrics.vowel_bilabial_aperture_auc(pred, clip.phones, clip.phone_times, clip.fps)
        )
        rows["silence_closed_fraction"].append(
            metrics.silence_closed_fraction(pred, clip.phones, clip.phone_times, clip.fps)
        )
        rows["gt_bilabial_closure_hit_rate"].append(
            metrics.bilabial_closure_hit_rate(gt, clip.phones, clip.phone_times, clip.fps)
        )
        if index < diversity_clips:
            takes = [pred] + [
                model.generate(feats, tokens, steps=talker.steps, seed=s)[0].numpy() for s in range(1, seeds)
            ]
            rows["diversity"].append(metrics.diversity(takes))
            rows["diversity_upper_face"].append(metrics.diversity(takes, metrics.UPPER))
            # Same audio, same identity, two emotions: how far the upper face moves (the style dropdown's effect).
            a, b = swap_pair
            fused = [
                model.personalizer.fuse(identity, torch.from_numpy(emotion_centroids[n])[None].float()) for n in (a, b)
            ]
            shifted = [model.generate(feats, f, steps=talker.steps, seed=0)[0].numpy() for f in fused]
            rows["emotion_swap_upper_face_shift"].append(metrics.upper_face_style_shift(*shifted))
        if progress is not None:
            progress(index + 1, len(clips))

    retrieval = heldout if retrieval_clips is None else retrieval_clips
    if retrieval is heldout:
        retrieval_identity = held_identity
    else:
        retrieval_identity, _ = embed_clips(talker, retrieval)
    speaker_hits = [
        _nearest(retrieval_identity[c.clip_id], speaker_centroids) == c.speaker
        for c in retrieval
        if c.speaker in speaker_centroids
    ]
    emotion_guess = {c.clip_id: _nearest(held_emotion[c.clip_id], emotion_centroids) for c in heldout}
    emotion_hits = [emotion_guess[c.clip_id] == c.emotion for c in heldout]
    confusion: dict[str, dict[str, int]] = {}  # true emotion -> {guessed emotion: clips}
    for c in heldout:
        row = confusion.setdefault(c.emotion, {})
        row[emotion_guess[c.clip_id]] = row.get(emotion_guess[c.clip_id], 0) + 1

    report = {name: float(np.nanmean(values)) for name, values in rows.items()}
    report.update(
        model=talker.name,
        steps=talker.steps,
        clips=len(clips),
        speaker_retrieval_top1=float(np.mean(speaker_hits)) if speaker_hits else float("nan"),
        emotion_accuracy=float(np.mean(emotion_hits)) if emotion_hits else float("nan"),
        emotion_confusion=confusion,
        compute_seconds_per_audio_second=compute_s / max(audio_s, 1e-9),
        emotion_swap_pair="/".join(swap_pair),
    )
    return report


def _spread(clips: list[TrainingClip], n: int) -> list[TrainingClip]:
    """n clips spread evenly over the list (deterministic), so every voice and emotion is represented."""
    if len(clips) <= n:
        return list(clips)
    return [clips[i] for i in np.linspace(0, len(clips) - 1, n).round().astype(int)]
