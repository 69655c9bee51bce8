"""What keeps a talking face alive besides the lips: blinks, brow raises on pitch accents, gaze and idle drift.

All signals are sampled at frame times t_k = k / fps and are deterministic for a given random generator.
- Blinks: a renewal process (gamma intervals, the speaker's rate) whose blinks are drawn to the starts of
  pauses, where people blink most; each blink 100-150 ms, closing faster than it opens.
- Brows: a raise (or, for anger, a frown) shortly before each pitch accent that is chosen to be marked,
  sized by the accent's prominence and the speaker's brow expressiveness.
- Gaze: fixations with quick saccades between them (mostly back to the listener), plus slow drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.audio_pitch import PitchAccent
from core.data.phonemes import SILENCE, VOWELS
from core.data.slow_noise import slow_noise

_BLINK_INTERVAL_SHAPE = 4.0  # gamma shape: intervals vary by about +-50 %
_MIN_BLINK_GAP_S = 0.5


@dataclass(frozen=True)
class Blink:
    peak: float  # seconds: the frame time of full closure
    duration: float  # seconds, 0.10 .. 0.15
    amplitude: float  # 0.9 .. 1.0


def pause_onsets(phones: list[str], phone_times: np.ndarray, min_pause_s: float = 0.15) -> np.ndarray:
    """Times where speech stops for a pause of at least `min_pause_s` (phrase boundaries), and the final stop."""
    times = np.asarray(phone_times, dtype=np.float64).reshape(-1, 2)
    onsets = []
    for i in range(1, len(phones)):
        is_pause = phones[i] == SILENCE and phones[i - 1] != SILENCE
        if is_pause and (times[i, 1] - times[i, 0] >= min_pause_s or i == len(phones) - 1):
            onsets.append(times[i, 0])
    return np.array(onsets)


def plan_blinks(
    rng: np.random.Generator, duration: float, rate_per_min: float, fps: float, pause_starts: np.ndarray,
    pause_attraction: float = 0.7,
) -> list[Blink]:  # fmt: skip
    """Blink times for a clip: the renewal process, then blinks near a pause start moved into the pause."""
    mean_interval = 60.0 / rate_per_min
    scale = mean_interval / _BLINK_INTERVAL_SHAPE
    times: list[float] = []
    t = rng.uniform(0.0, mean_interval)  # start mid-interval, as if the face was alive before the clip
    while t < duration:
        times.append(t)
        t += max(_MIN_BLINK_GAP_S, rng.gamma(_BLINK_INTERVAL_SHAPE, scale))
    moved = np.array(times)
    for onset in pause_starts:
        if moved.size == 0 or rng.uniform() > pause_attraction:
            continue
        nearest = int(np.argmin(np.abs(moved - onset)))
        if abs(moved[nearest] - onset) < 0.4 * mean_interval:
            moved[nearest] = onset + rng.uniform(0.03, 0.2)
    moved = np.sort(moved)
    kept: list[float] = []
    for t in moved:
        if 0.1 <= t <= duration - 0.05 and (not kept or t - kept[-1] >= _MIN_BLINK_GAP_S):
            kept.append(t)
    # Full closure lands on a frame, so it is never lost between frames at 30 fps.
    return [Blink(round(t * fps) / fps, rng.uniform(0.10, 0.15), rng.uniform(0.9, 1.0)) for t in kept]


def blink_track(blinks: list[Blink], frame_times: np.ndarray) -> np.ndarray:
    """(frames,) eyelid closure in [0, 1]: close in 35 % of the blink, hold 10 %, reopen in 55 %."""
    out = np.zeros(len(frame_times))
    for b in blinks:
        start = b.peak - 0.4 * b.duration
        tau = (np.asarray(frame_times) - start) / b.duration  # 0..1 over the blink
        closing = _smoothstep(tau / 0.35)
        opening = 1.0 - _smoothstep((tau - 0.45) / 0.55)
        profile = np.where(tau < 0.35, closing, np.where(tau < 0.45, 1.0, opening))
        profile = np.where((tau >= 0.0) & (tau <= 1.0), profile, 0.0)
        out = np.maximum(out, b.amplitude * profile)
    return out


def accents_from_vowel_lengths(phones: list[str], phone_times: np.ndarray) -> list[PitchAccent]:
    """Stand-in accents when there is no audio: vowels clearly longer than the clip's typical vowel."""
    times = np.asarray(phone_times, dtype=np.float64).reshape(-1, 2)
    vowel_idx = [i for i, p in enumerate(phones) if p in VOWELS]
    if not vowel_idx:
        return []
    lengths = times[vowel_idx, 1] - times[vowel_idx, 0]
    typical = float(np.median(lengths))
    accents = []
    for i, length in zip(vowel_idx, lengths, strict=True):
        if length > 1.25 * typical:
            ratio = length / typical
            accents.append(PitchAccent(float(times[i].mean()), 2.0 * ratio, 2.0 * ratio))
    return accents


def brow_accent_track(
    rng: np.random.Generator, accents: list[PitchAccent], frame_times: np.ndarray, expressiveness: float
) -> np.ndarray:
    """(frames,) brow movement (0..~0.45) peaking just before the accents that this take marks."""
    out = np.zeros(len(frame_times))
    t = np.asarray(frame_times, dtype=np.float64)
    for acc in accents:
        if rng.uniform() > np.clip(0.35 + 0.1 * acc.prominence_st, 0.0, 0.9):
            continue  # not every accent is marked by the brows
        size = expressiveness * np.clip(0.05 * acc.prominence_st, 0.06, 0.28) * rng.uniform(0.7, 1.1)
        peak = acc.time - rng.uniform(0.0, 0.06)  # brows move with, or slightly before, the pitch peak
        rise = np.exp(-(((t - peak) / 0.1) ** 2))
        fall = np.exp(-(((t - peak) / 0.25) ** 2))
        out += size * np.where(t < peak, rise, fall)
    return np.minimum(out, 0.45)


def gaze_track(rng: np.random.Generator, num_frames: int, fps: float, activity: float) -> np.ndarray:
    """(frames, 2) gaze (yaw > 0: to the subject's left, pitch > 0: up) in eyeLook* units (about +-0.2):
    fixations of 0.4-2.5 s joined by 40 ms saccades, half of them back to the listener, plus slow drift."""
    duration = num_frames / fps
    t = np.arange(num_frames) / fps
    gaze = np.zeros((num_frames, 2))
    current = np.zeros(2)
    time = rng.uniform(0.2, 1.5) / activity
    while time < duration:
        if rng.uniform() < 0.5 or np.abs(current).sum() > 0.15:
            target = rng.normal(0.0, 0.015, 2)  # back to the listener's face
        else:
            target = np.clip(rng.normal(0.0, [0.08 * activity, 0.045 * activity]), -0.2, 0.2)
        move = _smoothstep((t - time) / 0.04)[:, None]  # (frames, 1)
        gaze += move * (target - current)
        current = target
        time += rng.uniform(0.4, 2.5) / activity
    drift = np.stack([slow_noise(rng, num_frames, fps, 0.6), slow_noise(rng, num_frames, fps, 0.6)], axis=1)
    return gaze + 0.012 * drift


def _smoothstep(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)
