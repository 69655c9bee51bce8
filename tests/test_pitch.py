"""The numpy f0 tracker (YIN) and the pitch accents that drive brow raises."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from core.audio_pitch import find_pitch_accents, semitones_above_median, track_f0

SR = 16000


def harmonic_tone(f0_hz: np.ndarray | float, seconds: float = 1.0, weak_fundamental: bool = False) -> np.ndarray:
    """A voiced-speech-like tone: five harmonics with falling amplitude (optionally a weak fundamental)."""
    n = int(seconds * SR)
    f0 = np.broadcast_to(np.asarray(f0_hz, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    amplitudes = [0.2 if weak_fundamental else 1.0, 0.8, 0.5, 0.35, 0.2]
    return 0.1 * sum(a * np.sin((k + 1) * phase + k) for k, a in enumerate(amplitudes))


@pytest.mark.parametrize("f0", [70.0, 110.0, 165.0, 240.0, 380.0])
def test_tracker_finds_a_harmonic_tones_frequency_within_two_percent(f0):
    track = track_f0(harmonic_tone(f0), SR)
    voiced = track.f0_hz[track.voiced]
    assert track.voiced.mean() > 0.9
    assert np.abs(voiced / f0 - 1).max() < 0.02


def test_tracker_is_not_fooled_by_a_weak_fundamental():
    track = track_f0(harmonic_tone(120.0, weak_fundamental=True), SR)
    assert track.median_f0() == pytest.approx(120.0, rel=0.02)


def test_frames_are_every_ten_ms_from_time_zero():
    track = track_f0(harmonic_tone(150.0, seconds=0.5), SR)
    assert len(track.times) == 50 and track.hop_s == pytest.approx(0.01)
    assert np.allclose(track.times[:3], [0.0, 0.01, 0.02])


def test_silence_and_noise_are_unvoiced():
    rng = np.random.default_rng(0)
    audio = np.concatenate([np.zeros(SR // 2), 0.05 * rng.standard_normal(SR // 2), harmonic_tone(130.0, 0.5)])
    track = track_f0(audio, SR)
    assert not track.voiced[:45].any()  # digital silence
    assert track.voiced[55:95].mean() < 0.1  # white noise
    assert track.voiced[105:145].mean() > 0.9


def test_an_all_silent_recording_has_no_pitch_or_accents():
    track = track_f0(np.zeros(SR), SR)
    assert not track.voiced.any() and np.isnan(track.median_f0())
    assert find_pitch_accents(track) == []


def test_tracker_follows_a_glide():
    n = SR
    f0 = np.linspace(100.0, 200.0, n)
    track = track_f0(harmonic_tone(f0), SR)
    truth = np.interp(track.times, np.arange(n) / SR, f0)
    inner = track.voiced & (track.times > 0.05) & (track.times < 0.95)
    assert np.abs(track.f0_hz[inner] / truth[inner] - 1).max() < 0.02


def test_accents_are_found_at_f0_peaks_and_not_on_a_monotone():
    t = np.arange(3 * SR) / SR
    contour = 110 + 40 * np.exp(-(((t - 0.8) / 0.1) ** 2)) + 25 * np.exp(-(((t - 2.1) / 0.1) ** 2))
    accents = find_pitch_accents(track_f0(harmonic_tone(contour, 3.0), SR))
    assert [round(a.time, 1) for a in accents] == [0.8, 2.1]
    assert accents[0].prominence_st > accents[1].prominence_st > 1.5
    assert find_pitch_accents(track_f0(harmonic_tone(110.0, 3.0), SR)) == []


def test_semitone_contour_bridges_short_unvoiced_gaps():
    audio = np.concatenate([harmonic_tone(100.0, 0.3), np.zeros(int(0.08 * SR)), harmonic_tone(200.0, 0.3)])
    st = semitones_above_median(track_f0(audio, SR))
    assert np.isfinite(st[5:65]).all()
    assert st[60] - st[5] == pytest.approx(12.0, abs=0.5)


@pytest.mark.tts
def test_real_tts_speech_has_a_plausible_pitch_and_some_accents(tmp_path):
    import soundfile as sf

    wav = tmp_path / "s.wav"
    subprocess.run(
        ["flite", "-voice", "slt", "-t", "Really? I thought you said the meeting was on Tuesday.", "-o", str(wav)],
        check=True,
    )
    audio, sr = sf.read(wav, dtype="float32")
    track = track_f0(audio, sr)
    assert 120 < track.median_f0() < 300  # a female voice
    assert 0.3 < track.voiced.mean() < 0.9
    assert 1 <= len(find_pitch_accents(track)) <= 8
