"""Evaluation metrics on a rig's motion (lower is better unless noted).

All functions take (frames, channels) float arrays at the same fps, in the channel order of `rig` (default
ARKit-52). Which channels count comes from the rig descriptor's roles (core/rig/descriptor.py): "lower_face" and
"upper_face" for the region errors, "jaw_open" / "lip_seal" and its lip-aperture terms for every lip-closure
metric; a rig without the role a metric needs raises a RigError that says so.
"""

from __future__ import annotations

import itertools

import numpy as np

from core.data.phonemes import BILABIALS, LABIODENTALS, OPEN_VOWELS, SILENCE, VOWELS
from core.rig.descriptor import ARKIT52, RigDescriptor

MOUTH = ARKIT52.role_indices("lower_face", "lip error")  # ARKit-52's, for callers that index by hand
UPPER = ARKIT52.role_indices("upper_face", "upper-face error")

# Lip aperture (core.rig.lip_measures) below this counts as "lips closed". Targets reach ~0 on closure.
CLOSED_APERTURE = 0.1
# Visual speech leads the audio; a closure counts if it happens within this margin around the phone.
CLOSURE_TOLERANCE_S = 0.06


def _aperture(weights: np.ndarray, rig: RigDescriptor) -> np.ndarray:
    from core.rig.lip_measures import lip_aperture

    return lip_aperture(weights, rig=rig)


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(pred), len(gt))
    if abs(len(pred) - len(gt)) > 2:
        raise ValueError(f"prediction has {len(pred)} frames, ground truth {len(gt)}: not the same clip/fps?")
    return np.asarray(pred[:n], np.float64), np.asarray(gt[:n], np.float64)


def lip_error(pred: np.ndarray, gt: np.ndarray, rig: RigDescriptor = ARKIT52) -> float:
    """LVE for blendshapes: per frame the L2 error over the lower-face (mouth/jaw) channels, averaged over frames."""
    p, g = _check_pair(pred, gt)
    mouth = rig.role_indices("lower_face", "lip error")
    return float(np.linalg.norm(p[:, mouth] - g[:, mouth], axis=1).mean())


def upper_face_error(pred: np.ndarray, gt: np.ndarray, rig: RigDescriptor = ARKIT52) -> float:
    """EVE-style: per frame the L2 error over the upper-face (brows/eyes/cheek-squint/sneer) channels, averaged."""
    p, g = _check_pair(pred, gt)
    upper = rig.role_indices("upper_face", "upper-face error")
    return float(np.linalg.norm(p[:, upper] - g[:, upper], axis=1).mean())


def upper_face_dynamics_deviation(pred: np.ndarray, gt: np.ndarray, rig: RigDescriptor = ARKIT52) -> float:
    """FDD: mean over upper-face channels of |temporal std(pred) - temporal std(gt)|."""
    p, g = _check_pair(pred, gt)
    upper = rig.role_indices("upper_face", "upper-face dynamics deviation")
    return float(np.abs(p[:, upper].std(axis=0) - g[:, upper].std(axis=0)).mean())


def _frames_of(interval: np.ndarray, fps: float, n: int, margin_s: float = 0.0) -> np.ndarray:
    a = int(np.floor((interval[0] - margin_s) * fps))
    b = int(np.ceil((interval[1] + margin_s) * fps))
    a, b = max(a, 0), min(max(b, a + 1), n)
    return np.arange(a, b)


def bilabial_closure_hit_rate(
    weights: np.ndarray, phones: list[str], phone_times: np.ndarray, fps: float, rig: RigDescriptor = ARKIT52
) -> float:
    """Fraction of P/B/M phones during which (± CLOSURE_TOLERANCE_S) the lips close. Higher is better."""
    ap = _aperture(weights, rig)
    hits = [
        ap[_frames_of(t, fps, len(ap), CLOSURE_TOLERANCE_S)].min() < CLOSED_APERTURE
        for p, t in zip(phones, phone_times, strict=True)
        if p in BILABIALS and _frames_of(t, fps, len(ap)).size
    ]
    return float(np.mean(hits)) if hits else float("nan")


def _auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive exceeds a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def vowel_bilabial_aperture_auc(
    weights: np.ndarray, phones: list[str], phone_times: np.ndarray, fps: float, rig: RigDescriptor = ARKIT52
) -> float:
    """AUC separating open vowels (max aperture in the phone) from bilabials (min aperture). Higher is better."""
    ap = _aperture(weights, rig)
    vowels, bilabials = [], []
    for p, t in zip(phones, phone_times, strict=True):
        f = _frames_of(t, fps, len(ap))
        if p in OPEN_VOWELS:
            vowels.append(float(ap[f].max()))
        elif p in BILABIALS:
            bilabials.append(float(ap[_frames_of(t, fps, len(ap), CLOSURE_TOLERANCE_S)].min()))
    return _auc(vowels, bilabials)


def silence_closed_fraction(
    weights: np.ndarray,
    phones: list[str],
    phone_times: np.ndarray,
    fps: float,
    min_pause_s: float = 0.3,
    rig: RigDescriptor = ARKIT52,
) -> float:
    """Fraction of frames inside pauses (>= min_pause_s, 100 ms trimmed at each edge) with the lips closed. Higher is better."""
    ap = _aperture(weights, rig)
    frames = [
        _frames_of(np.array([t[0] + 0.1, t[1] - 0.1]), fps, len(ap))
        for p, t in zip(phones, phone_times, strict=True)
        if p == SILENCE and t[1] - t[0] >= min_pause_s
    ]
    frames = [f for f in frames if f.size]
    if not frames:
        return float("nan")
    return float((ap[np.concatenate(frames)] < CLOSED_APERTURE).mean())


def _inner_frames(interval: np.ndarray, fps: float, n: int) -> np.ndarray:
    """Frames whose time (frame / fps) lies in [start, end): no frame of the phones around it."""
    a, b = (int(np.ceil(x * fps - 1e-6)) for x in interval[:2])  # 1e-6: 0.3 * 30 is 9.000000000000002
    return np.arange(max(a, 0), min(b, n))


def silence_ratio(
    weights: np.ndarray,
    phones: list[str],
    phone_times: np.ndarray,
    fps: float,
    min_pause_s: float = 0.2,
    rig: RigDescriptor = ARKIT52,
) -> float:
    """Mean lip aperture in pauses longer than min_pause_s over the median open-vowel aperture (the largest aperture
    in each open vowel): how far the mouth stays open when nobody speaks, in units of a spoken "ah". Lower is
    better; NaN without pauses or open vowels."""
    ap = _aperture(weights, rig)
    pauses = [
        _inner_frames(t, fps, len(ap))
        for p, t in zip(phones, phone_times, strict=True)
        if p == SILENCE and t[1] - t[0] > min_pause_s
    ]
    pause_frames = np.concatenate([f for f in pauses if f.size] or [np.zeros(0, int)])
    vowels = [
        float(ap[f].max())
        for p, t in zip(phones, phone_times, strict=True)
        if p in OPEN_VOWELS and (f := _frames_of(t, fps, len(ap))).size
    ]
    if not pause_frames.size or not vowels or np.median(vowels) <= 0:
        return float("nan")
    return float(ap[pause_frames].mean() / np.median(vowels))


# How open the lips are on each kind of phone, in jawOpen units (core.rig.lip_measures: ~0.4-0.7 on an open vowel):
# what the mouth should do, for the lag between sound and mouth. Only the shape matters (correlation).
PHONE_APERTURE = {"silence": 0.0, "bilabial": 0.0, "labiodental": 0.1, "consonant": 0.2, "vowel": 0.35, "open": 0.6}


def phone_aperture_track(phones: list[str], phone_times: np.ndarray, fps: float, frames: int) -> np.ndarray:
    """(frames,) the lip aperture each frame's phone calls for (PHONE_APERTURE), 0 outside every phone."""
    track = np.zeros(frames, np.float64)
    centres = (np.arange(frames) + 0.5) / fps
    for phone, (start, end) in zip(phones, np.asarray(phone_times, np.float64), strict=True):
        if phone == SILENCE:
            value = PHONE_APERTURE["silence"]
        elif phone in BILABIALS:
            value = PHONE_APERTURE["bilabial"]
        elif phone in LABIODENTALS:
            value = PHONE_APERTURE["labiodental"]
        elif phone in OPEN_VOWELS:
            value = PHONE_APERTURE["open"]
        elif phone in VOWELS:
            value = PHONE_APERTURE["vowel"]
        else:
            value = PHONE_APERTURE["consonant"]
        track[(centres >= start) & (centres < end)] = value
    return track


def lip_sync_lag_ms(
    weights: np.ndarray,
    phones: list[str],
    phone_times: np.ndarray,
    fps: float,
    max_lag_ms: float = 200.0,
    rig: RigDescriptor = ARKIT52,
) -> float:
    """The shift within +-max_lag_ms (whole frames) at which the mouth's aperture best correlates (Pearson) with the
    phone-derived aperture track, in ms. Positive: the animation is late (the mouth opens after the sound).
    NaN when either curve is flat."""
    ap = _aperture(weights, rig)
    track = phone_aperture_track(phones, phone_times, fps, len(ap))
    max_lag = int(np.floor(max_lag_ms / 1000.0 * fps + 1e-9))
    best_lag, best = None, -np.inf
    for lag in range(-max_lag, max_lag + 1):  # mouth at frame i + lag against the phones at frame i
        mouth, spoken = (ap[lag:], track[: len(ap) - lag]) if lag >= 0 else (ap[:lag], track[-lag:])
        if len(mouth) < 3 or mouth.std() == 0 or spoken.std() == 0:
            continue
        r = float(np.corrcoef(mouth, spoken)[0, 1])
        if r > best:
            best_lag, best = lag, r
    return float("nan") if best_lag is None else best_lag / fps * 1000.0


def diversity(samples: list[np.ndarray], region: np.ndarray | None = None) -> float:
    """Mean over pairs of takes of the mean per-frame L2 distance (optionally over a region). Higher = more diverse."""
    if len(samples) < 2:
        raise ValueError("diversity needs at least two takes")
    idx = np.arange(samples[0].shape[1]) if region is None else region
    dists = [
        float(np.linalg.norm(np.asarray(a)[:, idx] - np.asarray(b)[:, idx], axis=1).mean())
        for a, b in itertools.combinations(samples, 2)
    ]
    return float(np.mean(dists))


def upper_face_style_shift(a: np.ndarray, b: np.ndarray, rig: RigDescriptor = ARKIT52) -> float:
    """How far the upper face moves between two generations that differ only in style (mean per-frame L2)."""
    p, g = _check_pair(a, b)
    upper = rig.role_indices("upper_face", "upper-face style shift")
    return float(np.linalg.norm(p[:, upper] - g[:, upper], axis=1).mean())
