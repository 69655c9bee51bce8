"""A corpus as training tensors: every clip's motion with its frozen-encoder audio features on the motion frames.

`load_training_set(corpus_dir, encoder_spec, split)` reads `splits.json`, encodes each clip's audio once with the
frozen encoder (cached on disk by core.data.feature_cache, so a second run only reads), aligns the features to the
clip's motion frames (core.models.audio_features.features_at_fps) and returns `TrainingClip`s held in memory
(3 h of audio at 30 fps x 512 features is about 0.8 GB in float32).

Encoding runs in worker processes (one torch thread each) with a progress bar; it is the slow part of a first run
(~0.3 s per clip for Whisper base on one core).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data.emotions import EMOTIONS
from core.prosody_features import ProsodyEncoder, prosody_on_frames

DEFAULT_CACHE_DIR = Path(".cache/features")


@dataclass(frozen=True)
class EncoderSpec:
    """Which frozen encoder makes the training features: Whisper (size, window) or a local transformers checkpoint."""

    kind: str = "whisper"  # "whisper" | "hf-local"
    whisper_size: str = "base"
    window_seconds: int = 8  # short windows: corpus clips are 2-8 s, and Whisper's cost grows with the window
    overlap_seconds: float = 2.0
    local_dir: str = ""  # for kind == "hf-local": a save_pretrained folder (wav2vec2 / HuBERT)

    def build(self):
        from core.models.audio_features import HuggingFaceLocalEncoder, WhisperAudioEncoder, WhisperWindowing

        if self.kind == "whisper":
            return WhisperAudioEncoder(self.whisper_size, WhisperWindowing(self.window_seconds, self.overlap_seconds))
        if self.kind == "hf-local":
            return HuggingFaceLocalEncoder(self.local_dir)
        raise ValueError(f"unknown encoder kind {self.kind!r}; use 'whisper' or 'hf-local'")


@dataclass
class TrainingClip:
    clip_id: str  # "clips/VOICE/ID"
    speaker: str
    emotion: str
    audio: np.ndarray  # (frames, audio_dim) float32, on the motion frames
    motion: np.ndarray  # (frames, 52) float32 in [0, 1]
    fps: float
    phones: list[str]
    phone_times: np.ndarray  # (N, 2) seconds
    prosody: np.ndarray | None = None  # (frames, PROSODY_DIM) float32, core/prosody_features.py
    # Features of degraded copies of the audio (each like `audio`, float16; core/training/feature_views.py): a batch
    # draws one of them or the clean `audio` (BatchSampler.clean_view_prob); the motion stays the same
    audio_views: list[np.ndarray] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return int(self.motion.shape[0])

    def prosody_batch(self):
        """The clip's prosody as a batch of one, (1, frames, PROSODY_DIM) torch tensor, or None when not loaded."""
        import torch

        return None if self.prosody is None else torch.from_numpy(self.prosody)[None]


def read_splits(corpus_dir: Path) -> dict[str, list[str]]:
    path = Path(corpus_dir) / "splits.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: point --data at a corpus made by `python -m core data generate` "
            "(or write a splits.json with 'train' / 'heldout_sentences' / 'heldout_voices' lists of clip ids)"
        )
    return json.loads(path.read_text())


def split_clip_ids(
    corpus_dir: Path, split: str | list[str], keep: set[str] | None = None
) -> tuple[list[str], list[str]]:
    """(split names, their clip ids in splits.json order, only those in `keep` when given); an unknown split name is
    an error that lists the splits there are."""
    splits = read_splits(corpus_dir)
    names = [split] if isinstance(split, str) else list(split)
    unknown = [n for n in names if n not in splits]
    if unknown:
        raise ValueError(f"split(s) {unknown} not in {Path(corpus_dir) / 'splits.json'}; it has {sorted(splits)}")
    return names, [clip_id for n in names for clip_id in splits[n] if keep is None or clip_id in keep]


def corpus_hash(corpus_dir: Path) -> str:
    """The corpus' content hash from its manifest (computed over its files when there is no manifest)."""
    manifest = Path(corpus_dir) / "manifest.json"
    if manifest.is_file():
        value = json.loads(manifest.read_text()).get("content_hash")
        if value:
            return str(value)
    digest = hashlib.sha256()
    for path in sorted(Path(corpus_dir).rglob("*.npz")):
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


_WORKER_ENCODER: tuple[EncoderSpec, object] | None = None


def worker_encoder(spec: EncoderSpec):
    """The frozen encoder of `spec`, built once per process (each feature worker, or the main one with jobs=1)."""
    global _WORKER_ENCODER
    if _WORKER_ENCODER is None or _WORKER_ENCODER[0] != spec:
        _WORKER_ENCODER = (spec, spec.build())
    return _WORKER_ENCODER[1]


def _encode_worker(args: tuple[str, EncoderSpec, str]) -> tuple[str, np.ndarray, float, np.ndarray]:
    """(npz path, spec, cache dir) -> (npz path, features (F, D), encoder frame rate, per-hop prosody (H, P)).
    Runs in a worker process."""
    import torch

    from core.audio import load_audio
    from core.data.feature_cache import cached_features

    torch.set_num_threads(1)
    npz, spec, cache_dir = args
    encoder = worker_encoder(spec)
    audio = load_audio(Path(npz).with_suffix(".wav"))
    prosody = cached_features(ProsodyEncoder(), audio, cache_dir)
    return npz, cached_features(encoder, audio, cache_dir), float(encoder.frame_rate), prosody


def encode_audio_files(
    paths: list[str],
    encoder: EncoderSpec,
    cache_dir: Path,
    jobs: int = 2,
    description: str = "features",
    progress: bool = True,
) -> dict[str, tuple[np.ndarray, float, np.ndarray]]:
    """path -> (frozen-encoder features (F, D), their frame rate, per-hop prosody (H, P)) of each clip's wav (a path
    ending in .npz or .wav: the .wav beside it is read), in worker processes, cached on disk."""
    work = [(path, encoder, str(cache_dir)) for path in paths]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(work), unit="clip", desc=description, file=sys.stderr)
    features: dict[str, tuple[np.ndarray, float, np.ndarray]] = {}
    pool = mp.get_context("fork").Pool(jobs) if jobs > 1 else None
    try:
        results = pool.imap_unordered(_encode_worker, work, chunksize=4) if pool else map(_encode_worker, work)
        for path, feats, rate, prosody in results:
            features[path] = (feats, rate, prosody)
            if bar is not None:
                bar.update(1)
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.close()
    return features


def load_training_set(
    corpus_dir: Path,
    split: str | list[str],
    encoder: EncoderSpec = EncoderSpec(),
    cache_dir: Path = DEFAULT_CACHE_DIR,
    jobs: int = 2,
    limit: int | None = None,
    progress: bool = True,
) -> list[TrainingClip]:
    """Clips of one split (or several) with aligned features, in splits.json order (first `limit` when given)."""
    from core.data.clip import load_clip
    from core.models.audio_features import features_at_fps

    corpus_dir = Path(corpus_dir)
    names, ids = split_clip_ids(corpus_dir, split)
    if limit is not None:
        ids = ids[:limit]
    if not ids:
        raise ValueError(f"split {names} of {corpus_dir} holds no clips")
    npz_paths = [str(corpus_dir / f"{clip_id}.npz") for clip_id in ids]
    features = encode_audio_files(npz_paths, encoder, cache_dir, jobs, f"features[{'+'.join(names)}]", progress)

    clips = []
    for clip_id, npz in zip(ids, npz_paths, strict=True):
        clip = load_clip(npz, with_audio=False)
        feats, rate, prosody = features[npz]
        aligned = features_at_fps(feats, rate, clip.fps, clip.num_frames).astype(np.float32)  # (frames, dim)
        clips.append(
            TrainingClip(
                clip_id, clip.speaker, clip.emotion, aligned, clip.weights, clip.fps, clip.phones, clip.phone_times,
                prosody_on_frames(prosody, clip.num_frames, clip.fps),
            )
        )  # fmt: skip
    return clips


def label_maps(clips: list[TrainingClip]) -> tuple[dict[str, int], dict[str, int]]:
    """Speaker and emotion name -> integer label (emotions in the project's fixed order, unknown ones after)."""
    speakers = {name: i for i, name in enumerate(sorted({c.speaker for c in clips}))}
    extra = sorted({c.emotion for c in clips} - set(EMOTIONS))
    emotions = {name: i for i, name in enumerate([*EMOTIONS, *extra])}
    return speakers, emotions


def motion_statistics(clips: list[TrainingClip]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (52,) over every frame of the clips."""
    motion = np.concatenate([c.motion for c in clips], axis=0)
    return motion.mean(axis=0).astype(np.float32), motion.std(axis=0).astype(np.float32)
