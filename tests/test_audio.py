"""core.audio: decoding any common file to 16 kHz mono, resampling quality, and actionable errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from core.audio import (
    MIN_SPEECH_SECONDS,
    AudioError,
    audio_info,
    load_audio,
    resample_audio,
    save_wav,
    validate_speech_audio,
)


def tone(seconds: float, rate: int, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_stereo_44k_wav_loads_as_16k_mono_mixdown(tmp_path):
    left, right = tone(1.0, 44_100, 440.0, 0.6), tone(1.0, 44_100, 440.0, 0.2)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 44_100)
    audio = load_audio(tmp_path / "stereo.wav")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 16_000
    assert np.max(np.abs(audio)) == pytest.approx(0.4, abs=0.01)  # the mean of the two channels


@pytest.mark.parametrize("extension,subtype", [("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")])
def test_compressed_formats_decode_to_the_same_tone(tmp_path, extension, subtype):
    if extension.upper() not in sf.available_formats():
        pytest.skip(f"libsndfile here cannot write {extension}")
    path = tmp_path / f"tone.{extension}"
    sf.write(path, tone(1.0, 48_000), 48_000, subtype=subtype)
    audio = load_audio(path)
    assert abs(len(audio) - 16_000) < 1_200  # mp3 adds encoder padding
    spectrum = np.abs(np.fft.rfft(audio[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16_000 / 12_000
    assert peak_hz == pytest.approx(440.0, abs=3.0)


def test_resampling_keeps_a_tone_clean_and_removes_what_cannot_be_represented():
    source = 44_100
    t = np.arange(source) / source
    audio = resample_audio(np.sin(2 * np.pi * 1000 * t).astype(np.float32), source, 16_000)
    expected = np.sin(2 * np.pi * 1000 * np.arange(len(audio)) / 16_000)
    middle = slice(1600, -1600)
    error_db = 10 * np.log10(np.mean((audio[middle] - expected[middle]) ** 2) / np.mean(expected[middle] ** 2))
    assert error_db < -80

    too_high = np.sin(2 * np.pi * 10_000 * t).astype(np.float32)  # above the 8 kHz Nyquist of 16 kHz
    aliased = resample_audio(too_high, source, 16_000)
    assert np.sqrt(np.mean(aliased[middle] ** 2)) < 1e-3


def test_resampling_puts_output_samples_at_exact_times():
    ramp = np.linspace(-0.5, 0.5, 8000, dtype=np.float32)
    up = resample_audio(ramp, 8000, 16_000)
    assert len(up) == 16_000
    np.testing.assert_allclose(up[1000:15000:2], ramp[500:7500], atol=1e-4)  # every other sample is an input sample


def test_audio_info_reads_the_header(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros((22_050, 2), np.float32), 22_050)
    info = audio_info(tmp_path / "a.wav")
    assert (info.sample_rate, info.channels, info.frames) == (22_050, 2, 22_050)
    assert info.duration == pytest.approx(1.0)


def test_save_wav_round_trips_through_load_audio(tmp_path):
    audio = tone(0.5, 16_000)
    path = save_wav(tmp_path / "sub" / "out.wav", audio)
    np.testing.assert_allclose(load_audio(path), audio, atol=1e-4)


def test_missing_file_error_names_the_path(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")


def test_corrupt_wav_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioError, match="corrupt"):
        load_audio(path)


def test_unsupported_format_says_how_to_convert(tmp_path):
    path = tmp_path / "voice.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(64))
    with pytest.raises(AudioError, match="not supported.*ffmpeg"):
        load_audio(path)


def test_empty_audio_is_refused(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16_000)
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(tmp_path / "empty.wav")


def test_too_long_file_is_refused_before_decoding(tmp_path):
    sf.write(tmp_path / "long.wav", np.zeros(16_000 * 3, np.float32), 16_000)
    with pytest.raises(AudioError, match="limit is 2.0 s"):
        load_audio(tmp_path / "long.wav", max_seconds=2.0)


def test_validation_refuses_too_short_and_silent_audio_but_accepts_speech_like_audio():
    with pytest.raises(AudioError, match="ms long"):
        validate_speech_audio(tone(MIN_SPEECH_SECONDS * 0.5, 16_000))
    with pytest.raises(AudioError, match="silent"):
        validate_speech_audio(np.full(16_000, 1e-5, np.float32))
    with pytest.raises(AudioError, match="empty"):
        validate_speech_audio(np.zeros(0, np.float32))
    validate_speech_audio(tone(1.0, 16_000))
