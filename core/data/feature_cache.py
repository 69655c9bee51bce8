"""Frozen-encoder features cached on disk, so training encodes each clip's audio once.

A cache entry is `CACHE_DIR/<encoder cache_id>/<audio sha256>.safetensors` holding one float32 tensor
"features" (frames, dim) and metadata (encoder id, frame rate, sample count). The key is the audio's content
(its float32 samples), not its file name, and the encoder's `cache_id` (weights + windowing policy + version),
so renamed clips hit and a changed encoder or windowing policy misses. Writes are atomic (temp file + rename):
parallel workers may race on a clip and both write it, never a torn file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from core.models.audio_features import SAMPLE_RATE, AudioEncoder

_FEATURES_KEY = "features"


def audio_content_hash(audio16k: np.ndarray) -> str:
    """sha256 of the mono 16 kHz samples as little-endian float32 (the same audio always hashes the same)."""
    samples = np.ascontiguousarray(np.asarray(audio16k, dtype="<f4").reshape(-1))
    digest = hashlib.sha256(f"{SAMPLE_RATE}Hz-f32le:".encode())
    digest.update(samples.tobytes())
    return digest.hexdigest()


def feature_cache_path(encoder: AudioEncoder, audio16k: np.ndarray, cache_dir: Path | str) -> Path:
    """Where `cached_features` keeps this encoder's features for this audio."""
    cache_id = getattr(encoder, "cache_id", None)
    if not cache_id:
        raise TypeError(
            f"{type(encoder).__name__} has no cache_id; give the encoder a `cache_id` string that changes "
            "whenever its features would (weights, windowing, version)"
        )
    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", str(cache_id))
    return Path(cache_dir) / folder / f"{audio_content_hash(audio16k)}.safetensors"


def cached_features(encoder: AudioEncoder, audio16k: np.ndarray, cache_dir: Path | str) -> np.ndarray:
    """(frames, encoder.feature_dim) float32 features of the audio: read from the cache, else encoded and stored."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file, save_file

    path = feature_cache_path(encoder, audio16k, cache_dir)
    if path.is_file():
        try:
            return load_file(path)[_FEATURES_KEY]
        except (OSError, KeyError, SafetensorError):  # unreadable or foreign file: recompute and replace it
            pass
    features = encoder.encode(audio16k)
    features = np.ascontiguousarray(features.detach().cpu().numpy() if hasattr(features, "detach") else features)
    features = features.astype(np.float32, copy=False)  # (frames, dim)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        metadata = {
            "encoder": str(encoder.cache_id),
            "frame_rate": repr(float(encoder.frame_rate)),
            "num_samples": str(int(np.asarray(audio16k).size)),
        }
        save_file({_FEATURES_KEY: features}, temporary, metadata=metadata)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return features
