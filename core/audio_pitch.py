"""Fundamental frequency (f0) of speech, and the pitch accents it carries. Numpy only.

`track_f0` is YIN (de Cheveigne & Kawahara 2002): per frame the squared-difference function of the signal
with itself at every lag, cumulative-mean normalised, first dip under a threshold, parabolic refinement.
Frames sit every `hop_s` seconds, frame k centred at k * hop_s (same clock as the audio).

`find_pitch_accents` turns a track into accents: local f0 maxima that stand above the clip's median and
above the valleys around them by a prominence threshold (in semitones, so it works for any voice).
Face-target synthesis raises the brows on them; speakers raise brows on accented syllables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.audio import SAMPLE_RATE

_FRAMES_PER_CHUNK = 1024  # frames per vectorised block: bounds memory on long recordings
_DIGITAL_SILENCE_DB = -80.0  # mean square below this (rms 1e-4) is never voiced, even in an all-quiet file


@dataclass(frozen=True)
class F0Track:
    times: np.ndarray  # (frames,) seconds, frame centres
    f0_hz: np.ndarray  # (frames,) 0 where unvoiced
    periodicity: np.ndarray  # (frames,) 1 - YIN's minimum normalised difference: ~1 clean voicing, ~0 noise
    hop_s: float

    @property
    def voiced(self) -> np.ndarray:
        return self.f0_hz > 0

    def median_f0(self) -> float:
        """Median f0 over voiced frames (nan when nothing is voiced)."""
        v = self.f0_hz[self.voiced]
        return float(np.median(v)) if v.size else float("nan")


@dataclass(frozen=True)
class PitchAccent:
    time: float  # seconds, at the f0 peak
    above_median_st: float  # semitones above the clip's median f0
    prominence_st: float  # semitones above the lower of the valleys before and after it


def track_f0(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    hop_s: float = 0.01,
    fmin: float = 60.0,
    fmax: float = 500.0,
    threshold: float = 0.12,
    max_aperiodicity: float = 0.35,
    silence_db: float = -40.0,
) -> F0Track:
    """YIN f0 of mono audio. A frame is voiced when its normalised difference dips below `max_aperiodicity`
    and its energy is within `silence_db` of the loud part of the recording (its 95th-percentile frame)."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = max(1, round(hop_s * sample_rate))
    window = round(0.03 * sample_rate)  # integration window: 30 ms, longer than the longest period at fmin
    tau_min = max(2, int(np.floor(sample_rate / fmax)))
    tau_max = int(np.ceil(sample_rate / fmin))
    span = window + tau_max
    num_frames = max(1, int(np.ceil(len(x) / hop)))
    # Frame k covers x[k*hop - span//2 : k*hop - span//2 + span]: centred on its time stamp.
    pad = span // 2
    padded = np.concatenate([np.zeros(pad), x, np.zeros(span + hop)])

    best_tau = np.zeros(num_frames)
    best_d = np.ones(num_frames)
    energy = np.zeros(num_frames)
    nfft = 1 << int(np.ceil(np.log2(span + window)))
    for first in range(0, num_frames, _FRAMES_PER_CHUNK):
        ks = np.arange(first, min(first + _FRAMES_PER_CHUNK, num_frames))
        segments = padded[ks[:, None] * hop + np.arange(span)[None, :]]  # (chunk, span)
        segments = segments - segments.mean(axis=1, keepdims=True)
        tau, dmin = _yin_lags(segments, window, tau_min, tau_max, threshold, nfft)
        best_tau[ks], best_d[ks] = tau, dmin
        energy[ks] = (segments[:, :window] ** 2).mean(axis=1)

    level_db = 10 * np.log10(energy + 1e-12)
    loud_db = np.percentile(level_db, 95)
    audible = (level_db > loud_db + silence_db) & (level_db > _DIGITAL_SILENCE_DB)
    voiced = (best_d < max_aperiodicity) & audible & (best_tau > 0)
    f0 = np.where(voiced, sample_rate / np.maximum(best_tau, 1e-9), 0.0)
    f0 = _drop_pitch_jumps(f0, radius=5, max_jump_st=5.0)
    f0 = _drop_short_voiced_runs(f0, min_frames=max(1, round(0.04 / (hop / sample_rate))))
    f0 = _median_smooth_voiced(f0, 5)
    times = np.arange(num_frames) * hop / sample_rate
    return F0Track(times=times, f0_hz=f0, periodicity=np.clip(1.0 - best_d, 0.0, 1.0), hop_s=hop / sample_rate)


def _yin_lags(
    segments: np.ndarray, window: int, tau_min: int, tau_max: int, threshold: float, nfft: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment: refined best lag (samples, fractional) and the normalised difference there."""
    n, span = segments.shape
    # d(tau) = sum_j (x_j - x_{j+tau})^2 over j < window = E(0) + E(tau) - 2 r(tau)
    spec_head = np.fft.rfft(segments[:, :window], nfft)
    spec_all = np.fft.rfft(segments, nfft)
    r = np.fft.irfft(np.conj(spec_head) * spec_all, nfft)[:, : tau_max + 1]  # (n, tau_max+1)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(segments**2, axis=1)], axis=1)
    lags = np.arange(tau_max + 1)
    e_tau = csum[:, lags + window] - csum[:, lags]  # energy of the window shifted by tau
    d = np.maximum(csum[:, [window]] + e_tau - 2 * r, 0.0)
    # Cumulative mean normalised difference: d'(0) = 1, d'(tau) = d(tau) * tau / sum_{1..tau} d.
    cum = np.cumsum(d[:, 1:], axis=1)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(cum, 1e-12)
    dn[:, :tau_min] = np.inf

    below = dn < threshold
    has_dip = below.any(axis=1)
    tau = np.where(has_dip, below.argmax(axis=1), np.argmin(dn, axis=1))
    # From the first dip under the threshold, walk down to its local minimum.
    rows = np.arange(n)
    for _ in range(tau_max):
        nxt = np.minimum(tau + 1, tau_max)
        step = has_dip & (nxt > tau) & (dn[rows, nxt] < dn[rows, tau])
        if not step.any():
            break
        tau = np.where(step, nxt, tau)
    # Parabolic interpolation around the chosen lag.
    left = np.clip(tau - 1, 0, tau_max)
    right = np.clip(tau + 1, 0, tau_max)
    a, b, c = dn[rows, left], dn[rows, tau], dn[rows, right]
    a = np.where(np.isfinite(a), a, b)
    c = np.where(np.isfinite(c), c, b)
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    shift = np.clip(shift, -1.0, 1.0)
    return tau + shift, np.where(np.isfinite(b), b, 1.0)


def _drop_pitch_jumps(f0: np.ndarray, radius: int, max_jump_st: float) -> np.ndarray:
    """Unvoice frames far (in semitones) from the median of the voiced frames around them: glitches at
    voicing edges and octave slips, not intonation (which moves far less in 100 ms)."""
    out = f0.copy()
    for i in np.flatnonzero(f0 > 0):
        w = f0[max(0, i - radius) : i + radius + 1]
        local = np.median(w[w > 0])
        if abs(12.0 * np.log2(f0[i] / local)) > max_jump_st:
            out[i] = 0.0
    return out


def _drop_short_voiced_runs(f0: np.ndarray, min_frames: int) -> np.ndarray:
    """Unvoice isolated voiced runs shorter than `min_frames` (too short to be a syllable nucleus)."""
    out = f0.copy()
    voiced = np.concatenate([[False], f0 > 0, [False]])
    edges = np.flatnonzero(np.diff(voiced.astype(np.int8)))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start < min_frames:
            out[start:end] = 0.0
    return out


def _median_smooth_voiced(f0: np.ndarray, width: int) -> np.ndarray:
    """Median over the voiced frames of a small window, only at voiced frames (removes single-frame octave slips)."""
    out = f0.copy()
    half = width // 2
    voiced = np.flatnonzero(f0 > 0)
    for i in voiced:
        w = f0[max(0, i - half) : i + half + 1]
        out[i] = np.median(w[w > 0])
    return out


def semitones_above_median(track: F0Track, max_gap_s: float = 0.15, smooth_s: float = 0.05) -> np.ndarray:
    """(frames,) f0 in semitones re the clip's median; short unvoiced gaps bridged, NaN elsewhere unvoiced."""
    median = track.median_f0()
    st = np.full(len(track.f0_hz), np.nan)
    if not np.isfinite(median):
        return st
    voiced = track.voiced
    st[voiced] = 12.0 * np.log2(track.f0_hz[voiced] / median)
    idx = np.flatnonzero(voiced)
    if idx.size >= 2:
        gaps = np.flatnonzero(np.diff(idx) > 1)
        max_gap = max_gap_s / track.hop_s
        for g in gaps:
            a, b = idx[g], idx[g + 1]
            if b - a <= max_gap:
                st[a : b + 1] = np.interp(np.arange(a, b + 1), [a, b], [st[a], st[b]])
    width = max(1, round(smooth_s / track.hop_s))
    if width > 1:
        valid = np.isfinite(st)
        kernel = np.ones(width)
        num = np.convolve(np.where(valid, st, 0.0), kernel, mode="same")
        den = np.convolve(valid.astype(float), kernel, mode="same")
        st = np.where(valid, num / np.maximum(den, 1e-9), np.nan)
    return st


def find_pitch_accents(
    track: F0Track,
    min_prominence_st: float = 1.5,
    min_above_median_st: float = 0.5,
    valley_search_s: float = 0.4,
    min_separation_s: float = 0.3,
) -> list[PitchAccent]:
    """Local f0 peaks above the clip's median with enough prominence, strongest kept first, in time order."""
    st = semitones_above_median(track)
    n = len(st)
    radius = max(1, round(0.1 / track.hop_s))
    search = max(1, round(valley_search_s / track.hop_s))
    candidates: list[PitchAccent] = []
    for i in range(n):
        v = st[i]
        if not np.isfinite(v) or v < min_above_median_st:
            continue
        neighbourhood = st[max(0, i - radius) : i + radius + 1]
        if v < np.nanmax(neighbourhood):
            continue
        before = st[max(0, i - search) : i + 1]
        after = st[i : i + search + 1]
        valley = max(np.nanmin(before), np.nanmin(after))
        prominence = v - valley
        if prominence >= min_prominence_st:
            candidates.append(PitchAccent(float(track.times[i]), float(v), float(prominence)))
    kept: list[PitchAccent] = []
    for acc in sorted(candidates, key=lambda a: -a.prominence_st):
        if all(abs(acc.time - k.time) >= min_separation_s for k in kept):
            kept.append(acc)
    return sorted(kept, key=lambda a: a.time)
