"""Coarticulation: smooth articulator tracks from a timed phone sequence (Cohen-Massaro dominance blending).

Every viseme lays a dominance function over time around its (visually advanced) span:
    D_i(t) = alpha_i * exp(-theta_a * before_i(t) - theta_c * after_i(t))
where before/after are the distances to the viseme's core (its centre, widened to a plateau for long phones
and pauses so a held vowel holds and a long pause rests). Each articulator's track is the dominance-weighted
mean of the visemes' targets, sum_i D_i T_i / sum_i D_i, so a strongly dominant phone (a bilabial's seal)
is nearly reached while a weak one (a consonant's rounding) takes its neighbours' shape.

Blending runs on a 200 Hz grid, is low-passed like muscle (12 ms Gaussian) and sampled at the frame times.
`enforce_bilabial_closures` then guarantees that every P/B/M seals the lips on at least one frame.

Speaker habits enter here: the visual lead (motion precedes the sound), precision (sharper dominance,
fuller reach), and hypoarticulation: when the local speaking rate is high, a sloppy speaker's dominance
narrows less than the phones shrink and their targets shrink (fast speech undershoots), while a
hyperarticulating speaker (negative value) narrows it more and exaggerates a little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.articulation_styles import SpeakerArticulation
from core.data.phonemes import BILABIALS, SILENCE
from core.data.visemes import (
    ART,
    ARTICULATORS,
    DOMINANCE_DECAY_PER_S,
    LIP_SHAPE_ARTICULATORS,
    NUM_ARTICULATORS,
    viseme_segments,
)

_DECAY = np.array([DOMINANCE_DECAY_PER_S[name] for name in ARTICULATORS])  # (articulators, 2)
_LIP_SHAPE = np.array([ART[name] for name in LIP_SHAPE_ARTICULATORS])
_REST_TARGET = np.zeros(NUM_ARTICULATORS)
_REST_TARGET[ART["seal"]] = 1.0


@dataclass(frozen=True)
class CoarticulationSettings:
    grid_rate_hz: float = 200.0
    muscle_smoothing_s: float = 0.012  # Gaussian sigma applied to the blended tracks
    reach_s: float = 0.7  # a viseme's dominance is ignored further away than this (exp(-8 * 0.7) < 0.4 %)
    plateau_margin_s: float = 0.04  # a phone holds its target from this far after its start to this far before its end
    silence_margin_s: float = 0.02  # the same for pauses: rest almost up to the next word
    silence_decay_factor: float = 1.5  # a pause's rest posture holds inside it but does not spread into speech
    reference_rate_phones_per_s: float = 12.0  # "normal" speaking rate for the rate habits
    rate_window_s: float = 1.0  # local speaking rate: phones per second in a window this wide
    target_jitter: float = 0.08  # log-normal spread of per-phone target sizes (natural token variation)
    timing_jitter_s: float = 0.006  # spread of per-phone visual timing


@dataclass(frozen=True)
class VisemeSpan:
    start: float  # seconds, visual time (audio time minus the speaker's lead)
    end: float
    target: np.ndarray  # (articulators,)
    dominance: np.ndarray  # (articulators,)
    decay: np.ndarray  # (articulators, 2) per second: anticipatory, carry-over
    is_silence: bool


def local_speaking_rate(phones: list[str], phone_times: np.ndarray, window_s: float) -> np.ndarray:
    """(N,) speech phones per second within `window_s` around each phone's centre (pauses excluded)."""
    times = np.asarray(phone_times, dtype=np.float64).reshape(-1, 2)
    centres = times.mean(axis=1)
    speech = np.array([p != SILENCE for p in phones])
    rates = np.zeros(len(phones))
    for i, c in enumerate(centres):
        lo, hi = c - window_s / 2, c + window_s / 2
        overlap = np.clip(np.minimum(times[:, 1], hi) - np.maximum(times[:, 0], lo), 0.0, None)
        spoken = float(overlap[speech].sum())
        count = float((overlap[speech] / np.maximum(times[speech, 1] - times[speech, 0], 1e-3)).sum())
        rates[i] = count / spoken if spoken > 0.05 else 0.0
    return rates


def lay_out_visemes(
    phones: list[str],
    phone_times: np.ndarray,
    style: SpeakerArticulation,
    rng: np.random.Generator,
    target_gains: np.ndarray | None = None,
    settings: CoarticulationSettings = CoarticulationSettings(),
) -> list[VisemeSpan]:
    """Visemes of every phone placed in visual time, with this speaker's and this take's variation."""
    times = np.asarray(phone_times, dtype=np.float64).reshape(-1, 2)
    rates = local_speaking_rate(phones, times, settings.rate_window_s)
    gains = np.ones(len(phones)) if target_gains is None else np.asarray(target_gains, dtype=np.float64)
    spans: list[VisemeSpan] = []
    for i, phone in enumerate(phones):
        silent = phone == SILENCE
        start, end = times[i] - style.anticipation_s
        shift = 0.0 if silent else float(np.clip(rng.normal(0.0, settings.timing_jitter_s), -0.02, 0.02))
        ratio = float(np.clip(rates[i] / settings.reference_rate_phones_per_s, 0.6, 1.8)) if rates[i] > 0 else 1.0
        # Dominance narrows with the rate for a careful speaker (targets still reached), less for a sloppy one.
        decay = _DECAY * style.precision * ratio ** (1.0 - style.hypoarticulation)
        if silent:
            decay = _DECAY * settings.silence_decay_factor
        shape_scale = float(np.clip(1.0 - 0.5 * style.hypoarticulation * (ratio - 1.0), 0.6, 1.15))
        segments = viseme_segments(phone)
        seg_start = start
        for seg in segments:
            seg_end = seg_start + seg.share * (end - start)
            target = seg.target.copy()
            if not silent:
                target[_LIP_SHAPE] *= shape_scale * np.exp(rng.normal(0.0, settings.target_jitter, _LIP_SHAPE.size))
                target[[ART["jaw"], ART["lip_part"]]] *= gains[i]
            spans.append(VisemeSpan(seg_start + shift, seg_end + shift, target, seg.dominance, decay, silent))
            seg_start = seg_end
    return spans


def articulator_tracks(
    spans: list[VisemeSpan], frame_times: np.ndarray, settings: CoarticulationSettings = CoarticulationSettings()
) -> np.ndarray:
    """(frames, articulators) dominance-blended tracks sampled at `frame_times` (seconds)."""
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if frame_times.size == 0:
        return np.zeros((0, NUM_ARTICULATORS))
    step = 1.0 / settings.grid_rate_hz
    t0 = float(frame_times[0]) - 0.1
    grid = t0 + np.arange(int(np.ceil((frame_times[-1] + 0.1 - t0) / step)) + 1) * step  # (grid,)
    numerator = np.zeros((grid.size, NUM_ARTICULATORS))
    denominator = np.zeros((grid.size, NUM_ARTICULATORS))
    for span in spans:
        lo = int(np.searchsorted(grid, span.start - settings.reach_s))
        hi = int(np.searchsorted(grid, span.end + settings.reach_s))
        if hi <= lo:
            continue
        t = grid[lo:hi, None]  # (window, 1)
        margin = settings.silence_margin_s if span.is_silence else settings.plateau_margin_s
        half = max(0.0, (span.end - span.start) / 2 - margin)
        centre = (span.start + span.end) / 2
        before = np.clip(centre - half - t, 0.0, None)
        after = np.clip(t - centre - half, 0.0, None)
        dominance = span.dominance * np.exp(-span.decay[:, 0] * before - span.decay[:, 1] * after)  # (window, A)
        numerator[lo:hi] += dominance * span.target
        denominator[lo:hi] += dominance
    floor = 1e-6  # far from every phone, drift to rest rather than divide by zero
    blended = (numerator + floor * _REST_TARGET) / (denominator + floor)
    blended = _gaussian_smooth(blended, settings.muscle_smoothing_s * settings.grid_rate_hz)
    return np.stack([np.interp(frame_times, grid, blended[:, a]) for a in range(NUM_ARTICULATORS)], axis=1)


def bilabial_closure_frames(
    phones: list[str], phone_times: np.ndarray, fps: float, num_frames: int, lead_s: float
) -> list[np.ndarray]:
    """Per P/B/M, the frames on which its lips must be sealed.

    The seal is placed on the phone's span advanced by half the visual lead (the lips close with the
    acoustic closure, a little ahead of it, not a whole lead early). Frames are at k / fps. A bilabial
    shorter than a frame still gets its nearest frame, so it is never skipped at 30 fps."""
    times = np.asarray(phone_times, dtype=np.float64).reshape(-1, 2)
    out: list[np.ndarray] = []
    for phone, (start, end) in zip(phones, times, strict=True):
        if phone not in BILABIALS:
            continue
        a, b = start - lead_s / 2, end - lead_s / 2
        frames = np.arange(int(np.ceil(a * fps - 1e-9)), int(np.floor(b * fps + 1e-9)) + 1)
        if frames.size == 0:
            frames = np.array([round((a + b) / 2 * fps)])
        frames = frames[(frames >= 0) & (frames < num_frames)]
        if frames.size:
            out.append(frames)
    return out


def enforce_bilabial_closures(
    tracks: np.ndarray, closure_frames: list[np.ndarray], fps: float, ramp_s: float = 0.05
) -> np.ndarray:
    """Raise the seal to 1 on every closure frame, easing in and out over `ramp_s` (no steps)."""
    tracks = tracks.copy()
    n = len(tracks)
    ramp = max(1, round(ramp_s * fps))
    bump = np.zeros(n)
    for frames in closure_frames:
        lo, hi = int(frames.min()), int(frames.max())
        bump[lo : hi + 1] = 1.0
        for k in range(1, ramp + 1):
            w = 0.5 * (1.0 + np.cos(np.pi * k / (ramp + 1)))
            if lo - k >= 0:
                bump[lo - k] = max(bump[lo - k], w)
            if hi + k < n:
                bump[hi + k] = max(bump[hi + k], w)
    seal = ART["seal"]
    tracks[:, seal] = np.maximum(tracks[:, seal], bump)
    return tracks


def _gaussian_smooth(x: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian low-pass along axis 0, edges extended (no pull towards zero at the clip ends)."""
    if sigma_samples < 0.5 or len(x) < 2:
        return x
    radius = int(np.ceil(3 * sigma_samples))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_samples) ** 2)
    k /= k.sum()
    padded = np.concatenate([np.repeat(x[:1], radius, axis=0), x, np.repeat(x[-1:], radius, axis=0)])
    return np.stack([np.convolve(padded[:, j], k, mode="valid") for j in range(x.shape[1])], axis=1)
