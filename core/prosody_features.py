"""Prosody of a reference clip on its motion frames: pitch, voicing and loudness. Numpy only.

Emotion in speech lives mostly in prosody (how high, how varied, how loud, how fast), and a frozen ASR encoder
such as Whisper is trained to ignore exactly that. The personalizer therefore sees these channels next to the
audio encoder's features of the reference clip (PersonalizerConfig.prosody_dim). Only the reference clip needs
them, never the audio being animated, so they cost nothing per second of animation.

Channels, per motion frame (averaged over the frame's 1/fps interval of 10 ms analysis hops):
  0 voiced fraction                          0..1
  1 f0, octaves above 200 Hz                  (0 where unvoiced): how high the voice is
  2 f0, octaves above the clip's median f0    (0 where unvoiced): the melody, whatever the voice
  3 level, dBFS / 20 + 1                      absolute loudness (emotions differ by several dB)
  4 level re the clip's loud frames, dB / 20  0 at the clip's 95th percentile, negative in pauses
  5 periodicity                               ~1 clean voicing, ~0 noise or silence
Values stay within a few units, so the network needs no statistics of them.
"""

from __future__ import annotations

import numpy as np

from core.audio import SAMPLE_RATE
from core.audio_pitch import track_f0

PROSODY_DIM = 6
PROSODY_VERSION = 1  # bump when the channels change: cached prosody is keyed by it
_HOP_S = 0.01


class ProsodyEncoder:
    """Per-hop prosody (hops, PROSODY_DIM) at 100 hops/s, on the project clock (hop j at j / 100 s).

    It has the AudioEncoder interface (feature_dim, frame_rate, cache_id, encode), so training caches it on disk
    with core.data.feature_cache like any encoder's features.
    """

    feature_dim = PROSODY_DIM
    frame_rate = 1.0 / _HOP_S
    cache_id = f"prosody-v{PROSODY_VERSION}"

    def encode(self, audio16k: np.ndarray) -> np.ndarray:
        x = np.asarray(audio16k, dtype=np.float32).reshape(-1)
        if x.size == 0:
            raise ValueError("no audio to take prosody from: the clip is empty")
        track = track_f0(x, SAMPLE_RATE, hop_s=_HOP_S)
        hops = track.f0_hz.shape[0]
        level_db = _hop_levels_db(x, hops)  # (hops,)
        voiced = track.voiced
        octaves = np.zeros(hops)
        relative = np.zeros(hops)
        if voiced.any():
            log_f0 = np.log2(track.f0_hz[voiced])
            octaves[voiced] = log_f0 - np.log2(200.0)
            relative[voiced] = log_f0 - np.median(log_f0)
        loud = np.percentile(level_db, 95)
        return np.stack(
            [
                voiced.astype(np.float64),
                octaves,
                relative,
                level_db / 20.0 + 1.0,
                np.maximum(level_db - loud, -60.0) / 20.0,
                track.periodicity * voiced,
            ],
            axis=1,
        ).astype(np.float32)  # (hops, PROSODY_DIM)


def prosody_features(audio16k: np.ndarray, frames: int, fps: float) -> np.ndarray:
    """(frames, PROSODY_DIM) float32 prosody of 16 kHz mono audio, motion frame k at time k / fps."""
    return prosody_on_frames(ProsodyEncoder().encode(audio16k), frames, fps)


def prosody_on_frames(per_hop: np.ndarray, frames: int, fps: float) -> np.ndarray:
    """Per-hop prosody (hops, PROSODY_DIM) -> (frames, PROSODY_DIM): the mean of the hops in each motion frame's
    interval [k - 1/2, k + 1/2) / fps (the nearest hop when the interval holds none)."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    hops = per_hop.shape[0]
    edges = np.clip(np.round((np.arange(frames + 1) - 0.5) / fps / _HOP_S).astype(int), 0, hops)
    sums = np.concatenate([np.zeros((1, per_hop.shape[1])), np.cumsum(per_hop, axis=0, dtype=np.float64)])
    counts = edges[1:] - edges[:-1]
    pooled = (sums[edges[1:]] - sums[edges[:-1]]) / np.maximum(counts, 1)[:, None]
    empty = counts == 0  # frames past the audio's end, or fps above the hop rate
    if empty.any():
        nearest = np.clip(np.round(np.arange(frames) / fps / _HOP_S).astype(int), 0, hops - 1)
        pooled[empty] = per_hop[nearest[empty]]
    return pooled.astype(np.float32)


def _hop_levels_db(x: np.ndarray, hops: int) -> np.ndarray:
    """Level in dBFS of a 25 ms window centred on each 10 ms hop (floored at -100 dB)."""
    hop = round(_HOP_S * SAMPLE_RATE)
    window = round(0.025 * SAMPLE_RATE)
    padded = np.concatenate([np.zeros(window // 2, np.float32), x, np.zeros(window + hops * hop, np.float32)])
    squares = np.concatenate([[0.0], np.cumsum(padded.astype(np.float64) ** 2)])
    starts = np.arange(hops) * hop
    energy = (squares[starts + window] - squares[starts]) / window
    return 10.0 * np.log10(np.maximum(energy, 1e-10))
