"""Blinks on top of a generated take: people blink 10-20 times a minute, mostly as a pause begins.

Blink timing is not in the audio, so a denoiser trained with a regression loss learns the average eyelid (open)
and rarely commits to a blink: the teacher blinks about twice a minute where the corpus faces blink about 15
times. This layer draws blinks the way the corpus does (core/data/face_life.py: a renewal process drawn to the
starts of pauses, closing faster than it opens), finding the pauses in the audio itself, and lays them over the
model's eyelids with max(), so a blink the model made is kept (and counts: no drawn blink lands beside one).
Seeded: the same take gets the same blinks.
"""

from __future__ import annotations

import numpy as np

from core.audio import SAMPLE_RATE
from core.data.face_life import blink_track, plan_blinks
from core.rig.descriptor import ARKIT52, RigDescriptor

DEFAULT_BLINKS_PER_MINUTE = 15.0
_HOP_S = 0.01
_PAUSE_BELOW_LOUD_DB = 30.0  # a pause is this far below the recording's loud frames
_SPACING_TO_OWN_BLINK_S = 1.5


def pause_onsets_from_audio(audio16k: np.ndarray, min_pause_s: float = 0.15) -> np.ndarray:
    """Seconds where a pause of at least `min_pause_s` begins (energy well under the loud part of the recording)."""
    x = np.asarray(audio16k, dtype=np.float64).reshape(-1)
    hop = round(_HOP_S * SAMPLE_RATE)
    hops = x.size // hop
    if hops < 2:
        return np.zeros(0)
    level = 10 * np.log10((x[: hops * hop].reshape(hops, hop) ** 2).mean(axis=1) + 1e-12)  # (hops,) dB
    quiet = level < np.percentile(level, 95) - _PAUSE_BELOW_LOUD_DB
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # quiet runs [start, end)
    keep = (starts > 0) & ((ends - starts) * _HOP_S >= min_pause_s)  # speech before it, long enough
    return starts[keep] * _HOP_S


def _blink_onsets(weights: np.ndarray, fps: float, lids_left: np.ndarray, lids_right: np.ndarray) -> np.ndarray:
    """Seconds where the take's eyelids (either eye) close past 60 % (a blink, not a lowered or squinting lid)."""
    lids = np.maximum(weights[:, lids_left].max(axis=1), weights[:, lids_right].max(axis=1))
    closed = lids > 0.6
    return np.flatnonzero(closed[1:] & ~closed[:-1]) / fps


def rig_can_blink(rig: RigDescriptor) -> bool:
    """Whether the rig names both eyelids (roles blink_left, blink_right): what add_blinks needs."""
    return rig.has_role("blink_left") and rig.has_role("blink_right")


def add_blinks(
    weights: np.ndarray,
    fps: float,
    audio16k: np.ndarray,
    seed: int,
    per_minute: float = DEFAULT_BLINKS_PER_MINUTE,
    rig: RigDescriptor = ARKIT52,
) -> np.ndarray:
    """A copy of the take (frames, channels of `rig`) with blinks on both eyelids (the rig's blink_left/right
    channels; its wide_left/right eased off while the lid is down)."""
    out = np.array(weights, dtype=np.float32, copy=True)
    if per_minute <= 0 or out.shape[0] == 0:
        return out
    lids = {side: rig.role_indices(f"blink_{side}", "the blink layer") for side in ("left", "right")}
    duration = out.shape[0] / fps
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0xB1B1]))
    blinks = plan_blinks(rng, duration, per_minute, fps, pause_onsets_from_audio(audio16k))
    # the model's own blinks count towards the rate: no second blink beside one
    own = _blink_onsets(out, fps, lids["left"], lids["right"])
    blinks = [b for b in blinks if own.size == 0 or np.abs(own - b.peak).min() >= _SPACING_TO_OWN_BLINK_S]
    closure = blink_track(blinks, np.arange(out.shape[0]) / fps).astype(np.float32)  # (frames,)
    for side in ("left", "right"):
        wide = rig.indices(rig.roles.get(f"wide_{side}", ()))
        out[:, lids[side]] = np.maximum(out[:, lids[side]], closure[:, None])
        out[:, wide] *= 1.0 - closure[:, None]
    return np.clip(out, 0.0, 1.0)
