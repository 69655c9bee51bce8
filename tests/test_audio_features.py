"""Audio features for the teacher: Whisper windowing, alignment to motion frames, local HF encoders, the disk cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.feature_cache import cached_features, feature_cache_path
from core.models.audio_features import (
    AudioEncoder,
    HuggingFaceLocalEncoder,
    WhisperAudioEncoder,
    WhisperWindowing,
    features_at_fps,
    frames_for_samples,
    whisper_log_mel,
)

torch.set_num_threads(1)
SR = 16_000


def babble(seconds: float, seed: int = 0) -> np.ndarray:
    """Syllable-like audio: voiced segments with random pitch and vowel-like spectral peaks, short pauses between."""
    rng = np.random.default_rng(seed)
    pieces = []
    while sum(p.size for p in pieces) < seconds * SR:
        n = int(rng.uniform(0.12, 0.3) * SR)
        t = np.arange(n) / SR
        f0 = rng.uniform(90, 220) * (1 + 0.1 * t)
        formants = rng.uniform([300, 900, 2200], [900, 2200, 3200])
        harmonics = np.arange(1, 30)[:, None]
        gains = sum(np.exp(-(((harmonics * f0[0] - f) / 150.0) ** 2)) for f in formants) + 0.02
        segment = (gains * np.sin(2 * np.pi * harmonics * np.cumsum(f0) / SR)).sum(0) * np.hanning(n)
        pieces += [0.3 * segment / np.abs(segment).max(), np.zeros(int(rng.uniform(0.0, 0.15) * SR))]
    audio = np.concatenate(pieces)[: int(seconds * SR)]
    return (audio + 0.003 * rng.standard_normal(audio.size)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_whisper() -> WhisperAudioEncoder:
    return WhisperAudioEncoder("tiny.en")


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


def test_whisper_log_mel_fills_the_window_at_100_frames_per_second():
    mel = whisper_log_mel(babble(1.0))
    assert mel.shape == (80, 3000) and mel.dtype == np.float32
    assert whisper_log_mel(babble(1.0), window_seconds=10).shape == (80, 1000)
    # Whisper clamps the log range to 8 below the loudest bin: the zero padding sits exactly at that floor.
    assert mel[:, 200:].max() == pytest.approx(mel.max() - 2.0)  # (log10 range 8) / 4 after Whisper's scaling


def test_whisper_encoder_gives_50_frames_per_second_of_real_audio(tiny_whisper):
    assert isinstance(tiny_whisper, AudioEncoder)
    assert (tiny_whisper.feature_dim, tiny_whisper.frame_rate) == (384, 50.0)
    for samples, frames in ((SR // 2, 25), (SR + 1, 51), (SR * 3, 150)):
        assert frames_for_samples(samples, 50.0) == frames
        features = tiny_whisper.encode(babble(samples / SR)[:samples])
        assert features.shape == (frames, 384) and features.dtype == torch.float32
        assert not features.requires_grad and torch.isfinite(features).all()


def test_window_starts_cover_the_audio_with_at_least_the_overlap():
    windowing = WhisperWindowing(window_seconds=30, overlap_seconds=5.0)
    window, overlap = windowing.window_frames, windowing.overlap_frames
    assert windowing.window_starts(1500) == [0]
    for total in (1501, 1750, 2000, 2760, 4000, 9999):
        starts = windowing.window_starts(total)
        assert starts[0] == 0 and starts[-1] + window == total  # every window is full of real audio
        assert all(window - overlap >= b - a > 0 for a, b in zip(starts, starts[1:], strict=False))
        assert len(starts) == 1 + int(np.ceil((total - window) / (window - overlap)))  # no more than needed


def test_blend_weights_cross_fade_to_one_over_an_exact_overlap():
    windowing = WhisperWindowing(window_seconds=10, overlap_seconds=2.0)
    overlap = windowing.overlap_frames
    first = windowing.blend_weights(has_previous=False, has_next=True)
    second = windowing.blend_weights(has_previous=True, has_next=False)
    np.testing.assert_allclose(first[-overlap:] + second[:overlap], 1.0)
    assert first[0] == 1.0 and second[-1] == 1.0  # the audio's own start and end are never faded


def test_40_second_audio_gives_2000_frames_that_agree_with_single_windows_in_the_overlap(tiny_whisper):
    audio = babble(40.0)
    features = tiny_whisper.encode(audio)  # (2000, 384): windows at frames 0 and 500
    assert features.shape == (40 * 50, 384)
    assert tiny_whisper.windowing.window_starts(2000) == [0, 500]
    first_window = tiny_whisper.encode(audio[: 30 * SR])  # frames 0..1500
    last_window = tiny_whisper.encode(audio[10 * SR :])  # frames 500..2000
    torch.testing.assert_close(features[:250], first_window[:250])  # before the overlap: the first window alone
    torch.testing.assert_close(features[1500:], last_window[1000:])  # after it: the last window alone
    overlap = features[500:1500]
    assert _cosine(overlap, first_window[500:1500]).mean() > 0.85
    assert _cosine(overlap, last_window[:1000]).mean() > 0.85


def test_position_template_removal_makes_features_agree_across_window_offsets():
    audio = babble(20.0, seed=3)
    agreement = {}
    for remove in (False, True):
        encoder = WhisperAudioEncoder("tiny.en", WhisperWindowing(window_seconds=10), remove_position_template=remove)
        at_start = encoder.encode(audio[: 10 * SR])[250:500]  # seconds 5..10 at window positions 250..500
        shifted = encoder.encode(audio[5 * SR : 15 * SR])[:250]  # the same seconds at window positions 0..250
        agreement[remove] = _cosine(at_start[25:], shifted[25:]).mean().item()  # skip the left-edge context
    assert agreement[True] > 0.75 and agreement[True] > agreement[False] + 0.25  # measured 0.86 vs 0.44
    assert "notemplate" in WhisperAudioEncoder("tiny.en").cache_id


def test_features_at_fps_puts_motion_frame_k_at_k_over_fps():
    times = (np.arange(100) / 50.0).astype(np.float32)[:, None]  # (100, 1): each frame holds its own time
    features = np.concatenate([times, -times], axis=1)  # (100, 2)
    aligned = features_at_fps(features, src_rate=50.0, fps=30.0, num_frames=60)
    assert aligned.shape == (60, 2) and aligned.dtype == np.float32
    np.testing.assert_allclose(aligned[:, 0], np.arange(60) / 30.0, atol=1e-6)
    np.testing.assert_array_equal(aligned[0], features[0])  # first frames coincide
    padded = features_at_fps(features, 50.0, 60.0, 125)  # runs past the last feature frame (1.98 s)
    np.testing.assert_allclose(padded[-6:], np.repeat(features[-1:], 6, axis=0))
    np.testing.assert_array_equal(features_at_fps(features, 50.0, 50.0, 100), features)
    as_torch = features_at_fps(torch.from_numpy(features), 50.0, 24.0, 48)
    assert isinstance(as_torch, torch.Tensor)
    np.testing.assert_allclose(as_torch.numpy(), features_at_fps(features, 50.0, 24.0, 48), atol=1e-6)


def _save_tiny_speech_model(directory, kind: str) -> None:
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    config_type, model_type = (Wav2Vec2Config, Wav2Vec2Model) if kind == "wav2vec2" else (HubertConfig, HubertModel)
    config = config_type(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    torch.manual_seed(0)
    model_type(config).save_pretrained(directory)


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert"])
def test_local_speech_model_loads_offline_on_the_shared_clock(tmp_path, kind):
    _save_tiny_speech_model(tmp_path, kind)
    encoder = HuggingFaceLocalEncoder(tmp_path)
    assert isinstance(encoder, AudioEncoder)
    assert (encoder.feature_dim, encoder.frame_rate, encoder.receptive_field) == (32, 50.0, 400)
    features = encoder.encode(babble(1.3))
    assert features.shape == (65, 32) and torch.isfinite(features).all()
    assert encoder.encode(babble(0.01)).shape == (1, 32)  # shorter than one model frame still gives its frame
    assert encoder.cache_id == HuggingFaceLocalEncoder(tmp_path).cache_id


def test_local_speech_model_without_config_says_what_folder_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        HuggingFaceLocalEncoder(tmp_path)


class CountingEncoder:
    """A real encoder that counts how often it actually runs."""

    def __init__(self, inner: AudioEncoder) -> None:
        self.inner, self.calls = inner, 0
        self.feature_dim, self.frame_rate, self.cache_id = inner.feature_dim, inner.frame_rate, inner.cache_id

    def encode(self, audio16k: np.ndarray) -> torch.Tensor:
        self.calls += 1
        return self.inner.encode(audio16k)


def test_feature_cache_hit_returns_identical_features_without_encoding(tmp_path):
    _save_tiny_speech_model(tmp_path / "model", "wav2vec2")
    encoder = CountingEncoder(HuggingFaceLocalEncoder(tmp_path / "model"))
    audio = babble(1.0)
    first = cached_features(encoder, audio, tmp_path / "cache")
    again = cached_features(encoder, audio.copy(), tmp_path / "cache")  # same content, another array
    assert encoder.calls == 1
    np.testing.assert_array_equal(first, again)
    assert first.shape == (50, 32) and first.dtype == np.float32
    assert feature_cache_path(encoder, audio, tmp_path / "cache").is_file()
    cached_features(encoder, babble(1.0, seed=9), tmp_path / "cache")  # other audio: a miss
    assert encoder.calls == 2
    encoder.cache_id = "another-encoder"  # other encoder/windowing: a miss too
    cached_features(encoder, audio, tmp_path / "cache")
    assert encoder.calls == 3


def test_feature_cache_replaces_an_unreadable_entry(tmp_path):
    _save_tiny_speech_model(tmp_path / "model", "wav2vec2")
    encoder = CountingEncoder(HuggingFaceLocalEncoder(tmp_path / "model"))
    audio = babble(0.5)
    path = feature_cache_path(encoder, audio, tmp_path / "cache")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a safetensors file")
    features = cached_features(encoder, audio, tmp_path / "cache")
    np.testing.assert_array_equal(features, cached_features(encoder, audio, tmp_path / "cache"))
    assert encoder.calls == 1
