"""The blink layer: natural blink rate, drawn to pauses found in the audio, seeded, and never touching the mouth."""

from __future__ import annotations

import numpy as np

from core.blink_layer import add_blinks, pause_onsets_from_audio
from core.rig.arkit import channel_index

RATE, FPS = 16_000, 30.0


def phrases(seconds: float, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Buzzy 'phrases' of 1.5-3 s separated by 0.3-0.6 s silences; returns audio and the pause start times."""
    rng = np.random.default_rng(seed)
    parts, pauses, t = [], [], 0.0
    while t < seconds:
        length = rng.uniform(1.5, 3.0)
        n = int(length * RATE)
        tone = 0.3 * np.sin(2 * np.pi * 140 * np.arange(n) / RATE) * (1 + 0.3 * np.sin(np.arange(n) / 900))
        gap = rng.uniform(0.3, 0.6)
        parts += [tone, np.zeros(int(gap * RATE))]
        pauses.append(t + length)
        t += length + gap
    return np.concatenate(parts).astype(np.float32), pauses


def test_pauses_are_found_where_the_voice_stops():
    audio, truth = phrases(20.0)
    found = pause_onsets_from_audio(audio)
    assert len(found) >= len(truth) - 1
    for onset in found:
        assert min(abs(onset - t) for t in truth) < 0.05


def test_a_minute_gets_a_natural_number_of_blinks_mostly_in_pauses_on_both_eyes():
    audio, pauses = phrases(60.0)
    frames = int(audio.size / RATE * FPS)
    take = np.full((frames, 52), 0.2, np.float32)
    out = add_blinks(take, FPS, audio, seed=3)
    left, right = out[:, channel_index("eyeBlinkLeft")], out[:, channel_index("eyeBlinkRight")]
    np.testing.assert_array_equal(left, right)
    closed = left > 0.5
    starts = np.flatnonzero(closed[1:] & ~closed[:-1]) / FPS
    assert 8 <= len(starts) <= 25, len(starts)
    near_pause = [s for s in starts if any(0.0 <= s - p <= 0.4 for p in pauses)]
    assert len(near_pause) >= 0.4 * len(starts)  # pauses are ~15 % of the time; blinks gather there
    mouth = [channel_index(n) for n in ("jawOpen", "mouthClose", "mouthFunnel")]
    np.testing.assert_array_equal(out[:, mouth], take[:, mouth])
    assert out[:, channel_index("eyeWideLeft")].min() < 0.2  # the lid does not stay wide open through a blink


def test_blinks_are_seeded_and_can_be_turned_off():
    audio, _ = phrases(15.0)
    take = np.zeros((int(15.0 * FPS), 52), np.float32)
    np.testing.assert_array_equal(add_blinks(take, FPS, audio, 1), add_blinks(take, FPS, audio, 1))
    assert not np.array_equal(add_blinks(take, FPS, audio, 1), add_blinks(take, FPS, audio, 2))
    np.testing.assert_array_equal(add_blinks(take, FPS, audio, 1, per_minute=0.0), take)
    model_blink = take.copy()
    model_blink[100:104, channel_index("eyeBlinkLeft")] = 1.0
    assert (add_blinks(model_blink, FPS, audio, 1)[100:104, channel_index("eyeBlinkLeft")] == 1.0).all()


def test_a_take_that_already_blinks_is_not_given_twice_the_rate():
    audio, _ = phrases(60.0, seed=4)
    frames = int(audio.size / RATE * FPS)
    take = np.zeros((frames, 52), np.float32)
    lid = channel_index("eyeBlinkLeft")
    for second in np.arange(2.0, frames / FPS - 1, 4.0):  # the model blinks 15 times a minute by itself
        k = int(second * FPS)
        take[k : k + 4, [lid, channel_index("eyeBlinkRight")]] = 1.0
    closed = add_blinks(take, FPS, audio, seed=0)[:, lid] > 0.5
    count = int((closed[1:] & ~closed[:-1]).sum())
    assert 15 <= count <= 21, count  # its own 15, and at most a few more where it left long gaps
