"""Frozen-encoder features of acoustically degraded copies of training clips: what the teacher hears when it trains
with augmentation (the students' encoders get log-mel views instead, core/training/distill.py).

Each clip gets `views` degraded copies of its audio (core/audio_augment.py: rooms, noise, bands, codecs, gains,
microphones), each drawn from the clip's own seeded stream, so a copy depends neither on which other clips are loaded
nor on the worker processes, and a rerun makes the same audio: the feature cache (keyed by the audio's content)
then answers instead of Whisper. The motion a clip teaches never changes with its view.
"""

from __future__ import annotations

import multiprocessing as mp
import zlib
from pathlib import Path

import numpy as np

from core.audio_augment import AcousticAugment
from core.training.corpus_features import EncoderSpec, worker_encoder
from core.training.train_steps import progress_bar

_JOB: tuple | None = None  # (encoder spec, augment, views, seed, cache dir, babble pool): what forked workers read


def babble_pool(wavs: dict[str, str], seed: int, size: int = 40) -> list[np.ndarray]:
    """`size` of the recordings (clip id -> wav; drawn in clip-id order with `seed`), loaded: the voices babble noise
    is mixed from (the teacher's degraded copies here, the students' log-mel views in core/training/distill.py)."""
    from core.audio import load_audio

    ids = sorted(wavs)
    picked = np.random.default_rng(seed).choice(len(ids), size=min(size, len(ids)), replace=False)
    return [load_audio(wavs[ids[int(i)]]) for i in picked]


def clip_view_audio(
    audio: np.ndarray, clip_id: str, augment: AcousticAugment, views: int, seed: int, pool: list[np.ndarray]
) -> list[np.ndarray]:
    """The clip's `views` degraded copies (16 kHz), from its own stream: seed and clip id, nothing else."""
    rng = np.random.default_rng([seed, zlib.crc32(clip_id.encode())])
    return [augment(audio, rng, pool or None) for _ in range(views)]


def degraded_feature_views(
    wavs: dict[str, str],
    encoder: EncoderSpec,
    augment: AcousticAugment,
    views: int,
    seed: int,
    cache_dir: Path,
    *,
    pool: list[np.ndarray] | None = None,
    jobs: int = 2,
    progress: bool = True,
    what: str = "train",
) -> dict[str, tuple[list[np.ndarray], float]]:
    """clip id -> ([frozen-encoder features (F, D) float16 of each degraded copy], the encoder's frame rate)."""
    global _JOB
    if views < 1:
        return {}
    _JOB = (encoder, augment, views, seed, str(cache_dir), list(pool or []))
    out: dict[str, tuple[list[np.ndarray], float]] = {}
    bar = progress_bar(len(wavs), f"degraded features[{what} x{views}]", progress)
    worker_pool = mp.get_context("fork").Pool(jobs) if jobs > 1 and len(wavs) > 8 else None
    try:
        work = list(wavs.items())
        results = worker_pool.imap(_clip_views, work, chunksize=4) if worker_pool else map(_clip_views, work)
        for clip_id, feats, rate in results:
            out[clip_id] = (feats, rate)
            if bar is not None:
                bar.update(1)
    finally:
        if worker_pool is not None:
            worker_pool.terminate()
        _JOB = None
        if bar is not None:
            bar.close()
    return out


def _clip_views(item: tuple[str, str]) -> tuple[str, list[np.ndarray], float]:
    import torch

    from core.audio import load_audio
    from core.data.feature_cache import cached_features

    spec, augment, views, seed, cache_dir, pool = _JOB
    if mp.current_process().name != "MainProcess":  # a worker: one thread each (the main process keeps its own)
        torch.set_num_threads(1)
    encoder = worker_encoder(spec)
    clip_id, path = item
    copies = clip_view_audio(load_audio(path), clip_id, augment, views, seed, pool)
    feats = [cached_features(encoder, audio, cache_dir).astype(np.float16) for audio in copies]
    return clip_id, feats, float(encoder.frame_rate)
