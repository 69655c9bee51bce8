"""`python -m core eval`: the one evaluation every model (teacher, baseline, students) is judged by, through the engine.

A model under evaluation is a `DiffusionTalkerEngine` (core/inference.py): what the CLI and the add-on run. Each clip's
AUDIO goes through `engine.animate_audio` (features from the waveform, the engine's noise and window plan), with the
style given as embeddings from `engine.style_from_reference` of ANOTHER clip (a user brings a voice recording, not
motion) and no blink layer (the metrics judge the model). So every number is a number of what ships.

On the corpus' held-out split (`evaluate`, targets known) it reports:
- motion accuracy: LVE (mouth-region L2 per frame), upper-face error, FDD (upper-face dynamics deviation);
- lip sync: bilabial closure hit rate on P/B/M, AUC of lip aperture in open vowels vs bilabials, lips closed in
  pauses, silence ratio, lag;
- style: top-1 speaker retrieval (identity embeddings of held-out sentences vs per-speaker centroids of training
  clips), emotion accuracy (nearest emotion centroid), the upper-face shift when only the emotion changes;
- diversity across seeds, and seconds of compute per second of audio.
On real speech (`evaluate_real_speech`, no motion targets) the lip-sync measures alone, also on degraded copies of the
audio (core.audio_augment.degrade) for a robustness table.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core import metrics
from core.audio import SAMPLE_RATE
from core.style_library import DEFAULT_IDENTITY, NEUTRAL_EMOTION, unit
from core.training.corpus_features import split_clip_ids

if TYPE_CHECKING:
    from core.inference import DiffusionTalkerEngine

Progress = Callable[[int, int], None]


@dataclass
class EvalClip:
    """One corpus clip as evaluation reads it: its audio and labels (the engine computes everything else)."""

    clip_id: str  # "clips/VOICE/ID"
    speaker: str
    emotion: str
    audio: np.ndarray  # (samples,) float32, 16 kHz mono
    motion: np.ndarray  # (frames, 52) in [0, 1]: the targets (placeholders for real speech)
    fps: float
    phones: list[str]
    phone_times: np.ndarray  # (N, 2) seconds

    @property
    def seconds(self) -> float:
        return self.audio.size / SAMPLE_RATE


def load_eval_clips(data: Path, splits: str | list[str], ids: list[str] | None = None) -> list[EvalClip]:
    """The clips of `splits` (splits.json order; only `ids` when given), each with its wav at 16 kHz."""
    from core.audio import load_audio
    from core.data.clip import load_clip

    data = Path(data)
    names, chosen = split_clip_ids(data, splits, None if ids is None else set(ids))
    if not chosen:
        raise ValueError(f"split {names} of {data} holds no clips")
    clips = []
    for clip_id in chosen:
        clip = load_clip(data / f"{clip_id}.npz", with_audio=False)
        wav = data / f"{clip_id}.wav"
        if not wav.is_file():
            raise FileNotFoundError(f"{wav} is missing: every clip needs its audio next to its .npz")
        clips.append(
            EvalClip(clip_id, clip.speaker, clip.emotion, load_audio(wav), clip.weights, clip.fps, clip.phones,
                     np.asarray(clip.phone_times, np.float64))
        )  # fmt: skip
    return clips


def spread(items: list, n: int | None) -> list:
    """n items spread evenly over the list (deterministic), so every voice and emotion is represented."""
    if n is None or len(items) <= n:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


StyleCache = dict[str, tuple[np.ndarray, np.ndarray]]  # clip id -> (identity, emotion) of its plain audio


def embed_clips(
    engine: DiffusionTalkerEngine, clips: list[EvalClip], cache: StyleCache | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Identity and emotion embeddings (clip id -> (embed_dim,)) of each clip's audio; `cache` keeps them between
    calls on the same engine (a clip is embedded once per evaluation)."""
    cache = {} if cache is None else cache
    identity, emotion = {}, {}
    for clip in clips:
        if clip.clip_id not in cache:
            cache[clip.clip_id] = engine.style_from_reference(clip.audio)
        identity[clip.clip_id], emotion[clip.clip_id] = cache[clip.clip_id]
    return identity, emotion


def animate_clip(
    engine: DiffusionTalkerEngine,
    audio: np.ndarray,
    identity: np.ndarray,
    emotion: np.ndarray,
    fps: float,
    seed: int = 0,
    steps: int | None = None,
) -> np.ndarray:
    """(frames, 52) the engine's take of `audio` with the style embeddings, at `fps`, without blinks."""
    return engine.animate_audio(
        audio, identity, emotion, seed=seed, steps=steps, fps=fps, blinks_per_minute=0.0
    ).weights


def _style_centroids(embeddings: dict[str, np.ndarray], labels: dict[str, str]) -> dict[str, np.ndarray]:
    groups: dict[str, list[np.ndarray]] = defaultdict(list)
    for clip_id, emb in embeddings.items():
        groups[labels[clip_id]].append(emb)
    return {k: unit(np.mean(v, axis=0)) for k, v in groups.items()}


def _nearest(embedding: np.ndarray, centroids: dict[str, np.ndarray]) -> str:
    names = list(centroids)
    return names[int(np.argmax([embedding @ centroids[n] for n in names]))]


def lip_sync_row(weights: np.ndarray, clip: EvalClip) -> dict[str, float]:
    """The lip-sync measures of one take (those that need no motion targets)."""
    args = (weights, clip.phones, clip.phone_times, clip.fps)
    return {
        "bilabial_closure_hit_rate": metrics.bilabial_closure_hit_rate(*args),
        "vowel_bilabial_aperture_auc": metrics.vowel_bilabial_aperture_auc(*args),
        "silence_ratio": metrics.silence_ratio(*args),
        "lag_ms": metrics.lip_sync_lag_ms(*args),
    }


def _means(rows: dict[str, list[float]]) -> dict[str, float]:
    return {
        name: float(np.nanmean(values)) if np.isfinite(values).any() else float("nan") for name, values in rows.items()
    }


def evaluate(
    engine: DiffusionTalkerEngine,
    heldout: list[EvalClip],
    reference_clips: list[EvalClip] | None,
    retrieval_clips: list[EvalClip] | None = None,
    max_clips: int | None = 60,
    diversity_clips: int = 6,
    seeds: int = 3,
    steps: int | None = None,
    progress: Progress | None = None,
    style_cache: StyleCache | None = None,
) -> dict:
    """Metrics of `engine` on `heldout` clips (with motion targets).

    reference_clips: clips with known speaker/emotion (the training split) that define the style centroids for
    speaker retrieval, emotion accuracy and the emotion swap; None leaves those out (motion and lip sync only).
    retrieval_clips: clips of the training voices never trained on (held-out sentences) for speaker retrieval;
    default: `heldout`. Each held-out clip is animated with the style of ANOTHER held-out clip of the same speaker
    and emotion (never its own), as a user would do with a reference recording.
    """
    clips = spread(heldout, max_clips)
    steps = int(steps or engine.steps)
    style_cache = {} if style_cache is None else style_cache
    held_identity, held_emotion = embed_clips(engine, heldout, style_cache)
    by_style: dict[tuple[str, str], list[str]] = defaultdict(list)
    for c in heldout:
        by_style[(c.speaker, c.emotion)].append(c.clip_id)

    emotion_centroids: dict[str, np.ndarray] = {}
    speaker_centroids: dict[str, np.ndarray] = {}
    swap_pair: list[str] = []
    if reference_clips is not None:
        ref_identity, ref_emotion = embed_clips(engine, spread(reference_clips, 400), style_cache)
        speaker_centroids = _style_centroids(ref_identity, {c.clip_id: c.speaker for c in reference_clips})
        emotion_centroids = _style_centroids(ref_emotion, {c.clip_id: c.emotion for c in reference_clips})
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
        identity, emotion = held_identity[ref_id], held_emotion[ref_id]
        started = time.perf_counter()
        pred = animate_clip(engine, clip.audio, identity, emotion, clip.fps, 0, steps)  # (frames, 52)
        compute_s += time.perf_counter() - started
        audio_s += clip.seconds
        gt = clip.motion
        rows["lve"].append(metrics.lip_error(pred, gt))
        rows["upper_face_error"].append(metrics.upper_face_error(pred, gt))
        rows["fdd"].append(metrics.upper_face_dynamics_deviation(pred, gt))
        for name, value in lip_sync_row(pred, clip).items():
            rows[name].append(value)
        rows["silence_closed_fraction"].append(
            metrics.silence_closed_fraction(pred, clip.phones, clip.phone_times, clip.fps)
        )
        rows["gt_bilabial_closure_hit_rate"].append(
            metrics.bilabial_closure_hit_rate(gt, clip.phones, clip.phone_times, clip.fps)
        )
        if index < diversity_clips:
            takes = [pred] + [
                animate_clip(engine, clip.audio, identity, emotion, clip.fps, s, steps) for s in range(1, seeds)
            ]
            rows["diversity"].append(metrics.diversity(takes))
            rows["diversity_upper_face"].append(metrics.diversity(takes, metrics.UPPER))
            if swap_pair:  # same audio, same identity, two emotions: how far the upper face moves
                shifted = [
                    animate_clip(engine, clip.audio, identity, emotion_centroids[n], clip.fps, 0, steps)
                    for n in swap_pair
                ]
                rows["emotion_swap_upper_face_shift"].append(metrics.upper_face_style_shift(*shifted))
        if progress is not None:
            progress(index + 1, len(clips))

    report = _means(rows)
    report.update(
        model=engine.model,
        steps=steps,
        guidance_scale=engine.guidance_scale,
        clips=len(clips),
        seconds=audio_s,
        compute_seconds_per_audio_second=compute_s / max(audio_s, 1e-9),
        weights_sha256=engine.model_sha256,
    )
    if reference_clips is None:
        return report
    retrieval = heldout if retrieval_clips is None else retrieval_clips
    if retrieval is heldout:
        retrieval_identity = held_identity
    else:
        retrieval_identity = embed_clips(engine, retrieval, style_cache)[0]
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
    report.update(
        speaker_retrieval_top1=float(np.mean(speaker_hits)) if speaker_hits else float("nan"),
        emotion_accuracy=float(np.mean(emotion_hits)) if emotion_hits else float("nan"),
        emotion_confusion=confusion,
        emotion_swap_pair="/".join(swap_pair),
    )
    return report


def real_speech_styles(
    engine: DiffusionTalkerEngine, clips: list[EvalClip], pool: list[EvalClip], transform=None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """clip id -> (identity, emotion): from another clip of the same speaker in `pool` (its audio after `transform`)
    when the speaker has several, else the library's "default" identity and "neutral" emotion."""
    by_speaker: dict[str, list[EvalClip]] = defaultdict(list)
    for c in pool:
        by_speaker[c.speaker].append(c)
    fallback = (engine.styles.identity(DEFAULT_IDENTITY), engine.styles.emotion(NEUTRAL_EMOTION))
    styles = {}
    for index, clip in enumerate(clips):
        others = [c for c in by_speaker[clip.speaker] if c.clip_id != clip.clip_id]
        if not others:
            styles[clip.clip_id] = fallback
            continue
        reference = others[index % len(others)].audio
        identity, emotion = engine.style_from_reference(reference if transform is None else transform(reference))
        styles[clip.clip_id] = unit(identity), unit(emotion)  # as `animate --ref-audio` stores them (StyleLibrary.add)
    return styles


def evaluate_real_speech(
    engine: DiffusionTalkerEngine,
    clips: list[EvalClip],
    pool: list[EvalClip] | None = None,
    degradations: tuple[str, ...] = (),
    steps: int | None = None,
    progress: Progress | None = None,
) -> dict:
    """Lip sync of `engine` on real recordings (no motion targets): closure hit rate, aperture AUC, silence ratio,
    lag; then the same on each degraded copy of the clips (core.audio_augment.degrade, seed 0; the style reference
    is degraded too, as a user's whole recording would be). pool: where style references come from (default clips).
    """
    steps = int(steps or engine.steps)
    pool = clips if pool is None else pool
    passes = [None, *degradations]
    done, total = 0, len(passes) * len(clips)
    report: dict = {}
    for kind in passes:
        transform = None if kind is None else _degrader(kind)
        styles = real_speech_styles(engine, clips, pool, transform)
        rows: dict[str, list[float]] = defaultdict(list)
        for clip in clips:
            audio = clip.audio if transform is None else transform(clip.audio)
            pred = animate_clip(engine, audio, *styles[clip.clip_id], clip.fps, 0, steps)
            for name, value in lip_sync_row(pred, clip).items():
                rows[name].append(value)
            done += 1
            if progress is not None:
                progress(done, total)
        if kind is None:
            report.update(_means(rows))
        else:
            report.setdefault("robustness", {})[kind] = _means(rows)
    report.update(
        clips=len(clips),
        seconds=float(sum(c.seconds for c in clips)),
        speakers=len({c.speaker for c in clips}),
        weights_sha256=engine.model_sha256,
        model=engine.model,
        steps=steps,
        guidance_scale=engine.guidance_scale,
    )
    return report


def _degrader(kind: str) -> Callable[[np.ndarray], np.ndarray]:
    from core.audio_augment import degrade

    return lambda audio: degrade(audio, kind, seed=0)
