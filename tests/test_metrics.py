"""Known answers: hand-made ARKit tracks whose LVE, FDD, closure rate, AUC, silence ratio and lag are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import metrics
from core.data.phonemes import VOWELS
from core.rig.arkit import channel_index

FPS = 30.0
JAW = channel_index("jawOpen")


def with_jaw(jaw: np.ndarray) -> np.ndarray:
    """(frames, 52) weights whose lip aperture is exactly `jaw` (only jawOpen moves)."""
    weights = np.zeros((len(jaw), 52), np.float32)
    weights[:, JAW] = jaw
    return weights


def jaw_over_phones(phones: list[str], times: list[tuple[float, float]], aperture: dict[int, float]) -> np.ndarray:
    """jawOpen per frame: aperture[i] on the frames of phone i (0 elsewhere)."""
    frames = int(math.ceil(times[-1][1] * FPS))
    jaw = np.zeros(frames)
    for i, (start, end) in enumerate(times):
        jaw[int(round(start * FPS)) : int(round(end * FPS))] = aperture.get(i, 0.0)
    return jaw


def test_lip_error_is_the_mean_per_frame_l2_over_mouth_channels():
    gt = np.random.default_rng(0).uniform(0, 0.5, (40, 52))
    pred = gt.copy()
    mouth = metrics.MOUTH[:2]
    pred[:, mouth[0]] += 0.3
    pred[:, mouth[1]] += 0.4
    pred[:, metrics.UPPER[0]] += 0.9  # the upper face does not count in LVE
    assert metrics.lip_error(pred, gt) == pytest.approx(0.5)
    assert metrics.upper_face_error(pred, gt) == pytest.approx(0.9)


def test_fdd_is_the_mean_difference_of_upper_face_temporal_spread():
    gt = np.zeros((60, 52))
    pred = np.zeros((60, 52))
    pred[::2, metrics.UPPER[0]] = 1.0  # alternating 0 / 1: temporal std 0.5 on one upper-face channel
    assert metrics.upper_face_dynamics_deviation(pred, gt) == pytest.approx(0.5 / len(metrics.UPPER))


PHONES = ["SIL", "P", "AA", "B", "AE", "M", "AA", "SIL", "AA", "SIL"]
TIMES = [(0.0, 0.3), (0.3, 0.4), (0.4, 0.6), (0.6, 0.7), (0.7, 0.9), (0.9, 1.0), (1.0, 1.2), (1.2, 1.35),
         (1.35, 1.6), (1.6, 2.0)]  # fmt: skip


def test_closure_rate_counts_the_bilabials_whose_lips_close():
    # P and B closed, M open as wide as a vowel; vowels open
    jaw = jaw_over_phones(PHONES, TIMES, {2: 0.6, 4: 0.6, 5: 0.6, 6: 0.6, 8: 0.6})
    jaw[int(0.9 * FPS) - 3 : int(1.0 * FPS) + 3] = 0.6  # no closure within the tolerance around M either
    assert metrics.bilabial_closure_hit_rate(with_jaw(jaw), PHONES, np.array(TIMES), FPS) == pytest.approx(2 / 3)


def test_aperture_auc_is_the_share_of_vowel_bilabial_pairs_ordered_right():
    phones = ["SIL", "AA", "P", "AE", "S", "B", "S", "SIL"]
    times = [(0.0, 0.5), (0.5, 0.8), (0.8, 1.1), (1.1, 1.4), (1.4, 1.5), (1.5, 1.8), (1.8, 1.9), (1.9, 2.3)]
    # vowels 0.6 and 0.2, bilabials 0.0 and 0.4 (its neighbours wider, so 0.4 is its smallest aperture): pairs
    # (0.6>0.0, 0.6>0.4, 0.2>0.0, 0.2<0.4) -> 3 of 4
    jaw = jaw_over_phones(phones, times, {1: 0.6, 2: 0.0, 3: 0.2, 4: 0.45, 5: 0.4, 6: 0.45})
    assert metrics.vowel_bilabial_aperture_auc(with_jaw(jaw), phones, np.array(times), FPS) == pytest.approx(0.75)


def test_silence_ratio_is_pause_aperture_over_median_open_vowel_aperture():
    # pauses longer than 0.2 s: phones 0 (0.3 s) and 9 (0.4 s) at aperture 0.1; the 0.15 s pause (7) is left out
    aperture = {0: 0.1, 2: 0.5, 4: 0.4, 6: 0.5, 7: 0.9, 8: 0.6, 9: 0.1}
    jaw = jaw_over_phones(PHONES, TIMES, aperture)
    ratio = metrics.silence_ratio(with_jaw(jaw), PHONES, np.array(TIMES), FPS)
    assert ratio == pytest.approx(0.1 / 0.5)  # open vowels 0.5, 0.4, 0.5, 0.6: median 0.5
    closed = jaw_over_phones(PHONES, TIMES, {**aperture, 0: 0.0, 9: 0.0})
    assert metrics.silence_ratio(with_jaw(closed), PHONES, np.array(TIMES), FPS) == pytest.approx(0.0)
    no_pause = ["AA", "P", "AA"]
    assert math.isnan(metrics.silence_ratio(with_jaw(jaw[:30]), no_pause, np.array(TIMES[:3]), FPS))


def random_speech(seed: int, seconds: float = 6.0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    inventory = ["SIL", "P", "B", "M", "F", "S", "T", "K", *VOWELS]
    phones, times, t = [], [], 0.0
    while t < seconds:
        duration = float(rng.uniform(0.05, 0.25))
        phones.append(str(rng.choice(inventory)))
        times.append((t, t + duration))
        t += duration
    return phones, np.array(times)


@pytest.mark.parametrize("shift", [-4, -1, 0, 2, 5])
def test_lag_of_a_track_shifted_by_k_frames_is_k_frames_and_late_is_positive(shift):
    phones, times = random_speech(shift + 10)
    frames = int(6.0 * FPS)
    track = metrics.phone_aperture_track(phones, times, FPS, frames + 20)
    # the mouth at frame i shows what was spoken at frame i - shift: shift > 0 means it moves after the sound
    jaw = np.array([track[i - shift] if 0 <= i - shift < len(track) else 0.0 for i in range(frames)])
    lag = metrics.lip_sync_lag_ms(with_jaw(jaw), phones, times, FPS)
    assert abs(lag - shift / FPS * 1000) <= 1000 / FPS, (lag, shift)
    assert np.sign(lag) == np.sign(shift)


def test_lag_is_searched_only_within_its_window_and_flat_mouths_have_none():
    phones, times = random_speech(3)
    frames = int(6.0 * FPS)
    track = metrics.phone_aperture_track(phones, times, FPS, frames)
    late = np.concatenate([np.zeros(9), track[:-9]])  # 300 ms late: outside +-200 ms
    assert abs(metrics.lip_sync_lag_ms(with_jaw(late), phones, times, FPS)) <= 200
    assert metrics.lip_sync_lag_ms(with_jaw(late), phones, times, FPS, max_lag_ms=400) == pytest.approx(300)
    assert math.isnan(metrics.lip_sync_lag_ms(with_jaw(np.full(frames, 0.3)), phones, times, FPS))
