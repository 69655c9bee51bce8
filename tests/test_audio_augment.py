"""Acoustic degradations: each changes real audio the way its name says, keeps length and timing, and is seeded."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio import resample_audio
from core.audio_augment import (
    DEGRADATIONS,
    SAMPLE_RATE,
    AcousticAugment,
    active_power,
    add_noise,
    apply_gain,
    babble,
    band_limit,
    codec_available,
    codec_round_trip,
    degrade,
    eq_tilt,
    reverberate,
)


def harmonic_voice(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A buzzy 'voice': 140 Hz harmonics up to 7.5 kHz plus a little breath noise, in 0.3 s syllables and 0.2 s pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    voice = sum(np.sin(2 * np.pi * 140 * k * t + rng.uniform(0, 2 * np.pi)) / k**0.5 for k in range(1, 54))
    voice += 0.3 * rng.standard_normal(t.size)
    gate = (np.mod(t, 0.5) < 0.3).astype(np.float64)  # (samples,) 1 in a syllable, 0 in a pause
    out = voice * gate
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def band_energy(audio: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)
    return float(spectrum[(f >= low_hz) & (f < high_hz)].sum())


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """A sentence spoken by espeak-ng at 16 kHz (made here, not a bundled recording)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (run `make system-deps` as root); it speaks the test sentence")
    wav = Path(tmp_path_factory.mktemp("speech")) / "s.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(wav), "Bob made a map of the big pub by the bay, maybe."], check=True, timeout=60
    )
    audio, rate = sf.read(wav, dtype="float32")
    return resample_audio(audio, rate, SAMPLE_RATE)


def test_every_degradation_keeps_length_and_stays_finite_even_on_silence():
    voice, silence = harmonic_voice(1.3), np.zeros(16001, np.float32)
    for audio in (voice, silence):
        for kind in DEGRADATIONS:
            out = degrade(audio, kind, seed=1)
            assert out.shape == audio.shape and out.dtype == np.float32 and np.isfinite(out).all(), kind
    assert np.array_equal(degrade(silence, "noise"), silence)  # no SNR is defined for silence: unchanged


def test_telephone_removes_energy_below_300_hz_and_above_3400_hz():
    voice = harmonic_voice()
    phone = degrade(voice, "telephone")
    for low, high in ((0, 250), (3600, 8000)):
        assert band_energy(phone, low, high) < 1e-3 * band_energy(voice, low, high), (low, high)
    assert band_energy(phone, 500, 3200) > 0.9 * band_energy(voice, 500, 3200)


def test_11k_round_trip_removes_the_top_octave_and_22k_keeps_most_of_it():
    voice = harmonic_voice()
    assert band_energy(band_limit(voice, "11k"), 5500, 7000) < 1e-3 * band_energy(voice, 5500, 7000)
    assert band_energy(band_limit(voice, "22k"), 4000, 6000) > 0.9 * band_energy(voice, 4000, 6000)
    assert band_energy(band_limit(voice, "22k"), 7600, 8000) < 0.1 * band_energy(voice, 7600, 8000)


def test_reverb_fills_the_pauses_but_keeps_the_onsets_in_place():
    voice = harmonic_voice()
    wet = degrade(voice, "reverb", seed=0)
    pause = slice(int(0.35 * SAMPLE_RATE), int(0.45 * SAMPLE_RATE))  # 50-150 ms after the first syllable's offset
    assert np.sqrt(np.mean(voice[pause] ** 2)) == 0.0
    assert np.sqrt(np.mean(wet[pause] ** 2)) > 0.05 * np.sqrt(np.mean(voice**2))
    # the direct path sits at t = 0: the envelope still rises at the syllables' onsets, not later
    onset = int(0.5 * SAMPLE_RATE)
    before = np.sqrt(np.mean(wet[onset - 400 : onset] ** 2))
    after = np.sqrt(np.mean(wet[onset : onset + 400] ** 2))
    assert after > 2 * before
    # a longer RT60 leaves more energy late in the pause
    late = slice(int(0.42 * SAMPLE_RATE), int(0.5 * SAMPLE_RATE))
    short = reverberate(voice, 0.15, np.random.default_rng(0), direct_to_reverb_db=0.0)
    long = reverberate(voice, 0.8, np.random.default_rng(0), direct_to_reverb_db=0.0)
    assert np.mean(long[late] ** 2) > 10 * np.mean(short[late] ** 2)


@pytest.mark.parametrize("snr_db", [5.0, 10.0, 30.0])
@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
def test_noise_lands_at_the_requested_snr_on_the_active_speech(snr_db: float, colour: str):
    voice = harmonic_voice()
    noisy = add_noise(voice, snr_db, np.random.default_rng(3), noise=colour)
    measured = 10 * np.log10(active_power(voice) / np.mean((noisy - voice).astype(np.float64) ** 2))
    assert abs(measured - snr_db) < 1.0


def test_fixed_noise_degradation_is_10_db_white():
    voice = harmonic_voice()
    noise = degrade(voice, "noise", seed=4) - voice
    assert abs(10 * np.log10(active_power(voice) / np.mean(noise.astype(np.float64) ** 2)) - 10.0) < 1.0
    assert 0.7 < band_energy(noise, 4000, 8000) / band_energy(noise, 0, 4000) < 1.4  # flat spectrum: white


def test_babble_is_other_speech_at_the_requested_snr(spoken: np.ndarray):
    pool = [spoken, harmonic_voice(1.0, seed=5), harmonic_voice(2.5, seed=6)]
    noise = babble(pool, 3 * SAMPLE_RATE, np.random.default_rng(0))
    assert noise.shape == (3 * SAMPLE_RATE,) and abs(np.sqrt(np.mean(noise**2)) - 1.0) < 1e-3
    voice = harmonic_voice(3.0)
    noisy = add_noise(voice, 15.0, np.random.default_rng(1), noise=noise)
    assert abs(10 * np.log10(active_power(voice) / np.mean((noisy - voice).astype(np.float64) ** 2)) - 15.0) < 1.0
    with pytest.raises(ValueError, match="non-silent speech"):
        babble([np.zeros(100, np.float32)], 100, np.random.default_rng(0))


def test_mp3_changes_the_waveform_but_keeps_the_spectral_envelope_and_timing(spoken: np.ndarray):
    if not codec_available("mp3"):
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} has no MP3 support")
    coded = degrade(spoken, "mp3")
    assert coded.shape == spoken.shape
    assert np.mean((coded - spoken) ** 2) > 1e-3 * np.mean(spoken**2)  # lossy: not the same samples
    edges = [0, 250, 500, 1000, 2000, 4000]
    before = np.array([band_energy(spoken, lo, hi) for lo, hi in pairwise(edges)])
    after = np.array([band_energy(coded, lo, hi) for lo, hi in pairwise(edges)])
    assert np.all(np.abs(10 * np.log10(after / before)) < 3.0)  # octave bands below 4 kHz within 3 dB
    # aligned: correlation is highest at lag 0 (the encoder's 1105-sample delay is removed)
    lags = range(-300, 301, 10)
    corr = [float(np.dot(spoken[1000:-1000], np.roll(coded, -lag)[1000:-1000])) for lag in lags]
    assert abs(list(lags)[int(np.argmax(corr))]) <= 10


def test_ogg_round_trip_keeps_length_and_changes_samples(spoken: np.ndarray):
    if not codec_available("ogg"):
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} has no Vorbis support")
    coded = codec_round_trip(spoken, "ogg", 32.0)
    assert coded.shape == spoken.shape and np.isfinite(coded).all()
    assert np.mean((coded - spoken) ** 2) > 1e-4 * np.mean(spoken**2)
    assert np.corrcoef(coded, spoken)[0, 1] > 0.8


def test_gain_of_6_db_clips_loud_speech_and_minus_30_db_scales_it():
    loud = harmonic_voice() * np.float32(0.9 / 0.3)  # peaks at 0.9
    up = apply_gain(loud, 6.0)
    assert np.abs(up).max() == 1.0 and np.mean(np.abs(up) == 1.0) > 0.001
    down = apply_gain(loud, -30.0)
    np.testing.assert_allclose(down, loud * 10 ** (-30 / 20), rtol=1e-5, atol=1e-7)


def test_tilt_moves_the_high_to_low_energy_ratio_by_its_sign():
    voice = harmonic_voice()

    def ratio(a: np.ndarray) -> float:
        return band_energy(a, 3000, 7000) / band_energy(a, 100, 600)

    assert ratio(eq_tilt(voice, 4.0)) > 2 * ratio(voice)
    assert ratio(eq_tilt(voice, -4.0)) < 0.5 * ratio(voice)
    cut = eq_tilt(voice, 0.0, low_cut_hz=300.0)
    assert band_energy(cut, 0, 200) < 1e-3 * band_energy(voice, 0, 200)


def test_same_seed_gives_identical_audio_and_another_seed_differs():
    voice = harmonic_voice()
    for kind in ("reverb", "noise"):
        assert np.array_equal(degrade(voice, kind, seed=7), degrade(voice, kind, seed=7))
        assert not np.array_equal(degrade(voice, kind, seed=7), degrade(voice, kind, seed=8))
    augment = AcousticAugment(clean_prob=0.0)
    a = augment(voice, np.random.default_rng(11))
    assert np.array_equal(a, augment(voice, np.random.default_rng(11)))
    assert not np.array_equal(a, augment(voice, np.random.default_rng(12)))


def test_default_chain_draws_a_variety_of_degradations_and_some_clean_crops():
    voice = harmonic_voice(1.0)
    pool = [harmonic_voice(1.5, seed=s) for s in (21, 22, 23)]
    augment = AcousticAugment()
    rng = np.random.default_rng(0)
    stages: Counter[str] = Counter()
    clean = 0
    for _ in range(60):
        out, chain = augment.apply(voice, rng, babble_pool=pool)
        assert out.shape == voice.shape and np.isfinite(out).all()
        clean += not chain
        if not chain:
            assert np.array_equal(out, voice)
        stages.update(stage for stage, _ in chain)
        stages.update(p["kind"] for stage, p in chain if stage in ("noise", "band"))
    assert {"eq", "reverb", "noise", "band", "gain", "babble"} <= set(stages), stages
    if codec_available("mp3") or codec_available("ogg"):
        assert stages["codec"] > 0, stages
    assert 3 <= clean <= 25  # clean_prob 0.2 of 60, plus the rare crop that drew no stage


def test_config_round_trips_through_json_values_and_rejects_unknown_keys():
    augment = AcousticAugment(reverb_prob=0.5, noise_snr_db=(10.0, 20.0), codecs=("mp3",))
    values = augment.to_dict()
    assert values["noise_snr_db"] == [10.0, 20.0]
    assert AcousticAugment.from_dict(values) == augment
    with pytest.raises(ValueError, match="valid keys"):
        AcousticAugment.from_dict({"reverb_probability": 0.5})
    with pytest.raises(ValueError, match="unknown kinds"):
        AcousticAugment(codecs=("aac",))
    disabled = AcousticAugment(enabled=False)
    voice = harmonic_voice(0.5)
    assert np.array_equal(disabled(voice, np.random.default_rng(0)), voice)
