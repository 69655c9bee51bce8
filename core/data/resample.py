"""Change the frame rate of per-frame animation curves (dataset import 60 -> 30 fps, model fps -> scene fps).

Convention, shared by every caller in the project:
- frame k of the result sits at time k / dst_fps, the same clock as the audio (no drift over long clips);
- the result has T' = round((T - 1) * dst_fps / src_fps) + 1 frames (halves round up), so it spans the
  source's first-to-last frame time to the nearest target frame;
- the first and last frames are copied exactly: the last target frame is pinned to the last source frame
  (when the span rounded down, that frame is up to half a target frame early; when it rounded up, the
  source would be read past its end, which is clamped to the last frame anyway);
- values in between are linearly interpolated, which never overshoots, so weights in [0, 1] stay there.
  (Downsampling by linear interpolation does no anti-alias filtering; facial motion above 15 Hz is negligible.)
"""

from __future__ import annotations

import numpy as np


def resampled_frame_count(num_frames: int, src_fps: float, dst_fps: float) -> int:
    """How many frames `resample_weights` returns for `num_frames` source frames."""
    _check_rates(src_fps, dst_fps)
    if num_frames <= 1:
        return max(num_frames, 0)
    return int(np.floor((num_frames - 1) * dst_fps / src_fps + 0.5)) + 1


def resample_weights(weights: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, C) curves sampled at `src_fps` -> (T', C) at `dst_fps` (see the module docstring for the convention).

    Keeps the input's float dtype (float32 stays float32); any trailing shape works: (T, V, 3) too.
    """
    weights = np.asarray(weights)
    if not np.issubdtype(weights.dtype, np.floating):
        weights = weights.astype(np.float32)
    if weights.ndim < 1:
        raise ValueError("weights must have a leading frame axis, e.g. (frames, channels)")
    num_source = weights.shape[0]
    num_target = resampled_frame_count(num_source, src_fps, dst_fps)
    if num_source <= 1 or src_fps == dst_fps:
        return weights.copy()
    times = np.arange(num_source, dtype=np.float64) / src_fps
    return _interpolate_at(weights, times, np.arange(num_target, dtype=np.float64) / dst_fps)


def resample_timed_weights(weights: np.ndarray, times: np.ndarray, dst_fps: float) -> np.ndarray:
    """Curves sampled at irregular, increasing `times` (seconds; e.g. a capture that dropped frames) -> `dst_fps`.

    Same convention as `resample_weights`, measured from times[0]: frame k sits at times[0] + k / dst_fps.
    """
    weights = np.asarray(weights)
    if not np.issubdtype(weights.dtype, np.floating):
        weights = weights.astype(np.float32)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if times.shape[0] != weights.shape[0]:
        raise ValueError(f"{weights.shape[0]} frames but {times.shape[0]} time stamps")
    if dst_fps <= 0:
        raise ValueError(f"frame rate must be positive, got {dst_fps}")
    if times.size and np.any(np.diff(times) <= 0):
        raise ValueError("time stamps must be strictly increasing; sort the frames and drop duplicates first")
    if times.size <= 1:
        return weights.copy()
    span = times[-1] - times[0]
    num_target = int(np.floor(span * dst_fps + 0.5)) + 1
    return _interpolate_at(weights, times - times[0], np.arange(num_target, dtype=np.float64) / dst_fps)


def _interpolate_at(weights: np.ndarray, source_times: np.ndarray, target_times: np.ndarray) -> np.ndarray:
    """Linear interpolation of weights (frames first) at target_times, clamped, with the last frame pinned."""
    position = np.interp(target_times, source_times, np.arange(source_times.size, dtype=np.float64))
    lower = np.clip(np.floor(position).astype(np.int64), 0, source_times.size - 1)
    upper = np.minimum(lower + 1, source_times.size - 1)
    frac = (position - lower).astype(weights.dtype).reshape((-1,) + (1,) * (weights.ndim - 1))
    result = weights[lower] * (1 - frac) + weights[upper] * frac
    result[0] = weights[0]
    result[-1] = weights[-1]
    return result


def _check_rates(src_fps: float, dst_fps: float) -> None:
    if not (src_fps > 0 and dst_fps > 0):
        raise ValueError(f"frame rates must be positive, got {src_fps} -> {dst_fps}")
