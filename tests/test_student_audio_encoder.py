"""The student's log-mel and audio encoder: the project's clock, a fixed normalisation, local attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models.audio_features import AudioEncoder, frames_for_samples
from core.models.local_attention import alibi_slopes, band_bias, banded_attention, local_attention
from core.models.log_mel import SILENCE_LOG_MEL, log_mel, mel_filters
from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig


def test_log_mel_has_100_frames_per_second_for_any_length():
    for samples in (0, 1, 159, 160, 161, 16_000, 16_001):
        assert log_mel(np.zeros(samples, np.float32)).shape == (80, frames_for_samples(samples, 100.0))


def test_silence_is_the_floor_and_normalisation_does_not_depend_on_the_rest_of_the_audio():
    assert np.all(log_mel(np.zeros(1600, np.float32)) == SILENCE_LOG_MEL)
    rng = np.random.default_rng(0)
    speech = (0.1 * rng.standard_normal(16_000)).astype(np.float32)
    loud_tail = np.concatenate([speech, rng.standard_normal(16_000).astype(np.float32)])
    np.testing.assert_allclose(log_mel(speech)[:, :90], log_mel(loud_tail)[:, :90], atol=1e-6)


def _bursts_in(background: np.ndarray) -> np.ndarray:
    """Two seconds of 0.3 s tone bursts (a 200-1800 Hz harmonic stack) separated by 0.2 s pauses, over `background`."""
    t = np.arange(32_000) / 16_000
    voiced = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 10))
    gate = (t % 0.5) < 0.3
    return (0.3 * voiced * gate + background).astype(np.float32)


def test_noise_floor_front_end_takes_out_stationary_noise_and_keeps_speech():
    rng = np.random.default_rng(0)
    hiss = 0.01 * rng.standard_normal(32_000)
    noisy, clean = _bursts_in(hiss), _bursts_in(np.zeros(32_000))
    plain, floored = log_mel(noisy), log_mel(noisy, noise_floor=True)
    frames = np.arange(plain.shape[1]) / 100.0
    pause = ((frames % 0.5) > 0.35) & ((frames % 0.5) < 0.45)  # well inside the pauses
    burst = ((frames % 0.5) > 0.05) & ((frames % 0.5) < 0.25)
    # in the pauses the hiss goes down by more than 12 dB on average (at most 17: the kept 2 %); 1.0 = 40 dB here
    assert 1.2 / 4 < plain[:, pause].mean() - floored[:, pause].mean() < 1.71 / 4
    # the loud harmonics of the bursts (bins within 20 dB of their peak) keep their level (< 1 dB)
    strong = plain[:, burst] > plain[:, burst].max() - 2.0 / 4
    assert np.abs(plain[:, burst][strong] - floored[:, burst][strong]).max() < 0.1 / 4
    # floored noisy audio is closer to the clean audio than the plain log-mel of it is
    target = log_mel(clean)
    assert np.abs(floored - target).mean() < 0.75 * np.abs(plain - target).mean()
    # no noise, nothing to take out: digital silence in the pauses makes the floor zero
    np.testing.assert_array_equal(log_mel(clean, noise_floor=True), target)
    # under half a second there is too little audio to tell noise from speech: left as it is
    np.testing.assert_array_equal(log_mel(noisy[:4_000], noise_floor=True), log_mel(noisy[:4_000]))
    assert log_mel(noisy[:0], noise_floor=True).shape == (80, 0)


def test_a_harder_noise_floor_takes_more_noise_out_of_the_pauses_and_keeps_the_speech():
    rng = np.random.default_rng(0)
    noisy = _bursts_in(0.03 * rng.standard_normal(32_000))  # a loud hiss: about 13 dB below the bursts
    frames = np.arange(log_mel(noisy).shape[1]) / 100.0
    pause = ((frames % 0.5) > 0.35) & ((frames % 0.5) < 0.45)
    burst = ((frames % 0.5) > 0.05) & ((frames % 0.5) < 0.25)
    twice, four = log_mel(noisy, noise_floor=True), log_mel(noisy, noise_floor=True, noise_floor_oversubtract=4.0)
    np.testing.assert_array_equal(twice, log_mel(noisy, noise_floor=True, noise_floor_oversubtract=2.0))  # default
    # four floors: the hiss peaks that twice its mean left in the pauses go too, down to the kept 2 % (-17 dB)
    kept = log_mel(noisy)[:, pause] - np.log10(50.0) / 4
    at_kept = lambda x: np.mean(np.abs(x[:, pause] - kept) < 1e-4)  # noqa: E731
    assert at_kept(twice) < 0.85 and at_kept(four) > 0.95
    assert twice[:, pause].mean() - four[:, pause].mean() > 1.5 / 40
    # the strong harmonics of the bursts still keep their level (< 1 dB)
    strong = twice[:, burst] > twice[:, burst].max() - 2.0 / 4
    assert np.abs(twice[:, burst][strong] - four[:, burst][strong]).max() < 0.1 / 4
    # off: the option does nothing
    np.testing.assert_array_equal(log_mel(noisy, noise_floor_oversubtract=4.0), log_mel(noisy))
    for bad in (0.5, 9.0):
        with pytest.raises(ValueError, match="noise_floor_oversubtract"):
            StudentEncoderConfig.tiny(noise_floor_oversubtract=bad)


def _room(audio: np.ndarray, rt60: float) -> np.ndarray:
    """`audio` in a synthetic room: the direct sound plus exponentially decaying noise reflections from 5 ms on."""
    n = np.arange(int(1.2 * rt60 * 16_000))
    tail = np.random.default_rng(3).standard_normal(n.size) * np.exp(-np.log(1e3) * n / (rt60 * 16_000))
    impulse = np.concatenate([[1.0], np.zeros(79), 0.3 * tail[80:]])
    return np.convolve(audio, impulse)[: audio.size].astype(np.float32)


def test_late_reverb_front_end_digs_the_pauses_out_of_a_room_and_keeps_dry_speech():
    dry = _bursts_in(np.zeros(32_000))
    wet = _room(dry, 0.6)
    frames = np.arange(log_mel(dry).shape[1]) / 100.0
    after = ((frames % 0.5) > 0.36) & ((frames % 0.5) < 0.45)  # 60-150 ms after each burst ends
    burst = ((frames % 0.5) > 0.1) & ((frames % 0.5) < 0.25)
    plain, suppressed = log_mel(wet), log_mel(wet, late_reverb_rt60=0.5)
    # the reverberant tail in the pauses drops by more than 4 dB on average (1.0 = 40 dB), at most the kept 7 dB
    assert 0.4 / 4 < plain[:, after].mean() - suppressed[:, after].mean() <= 0.7 / 4 + 1e-6
    # the sustained bursts keep their level: their strong bins lose the steady-state 1.26 dB on average
    strong = plain[:, burst] > plain[:, burst].max() - 2.0 / 4
    assert np.abs(plain[:, burst][strong] - suppressed[:, burst][strong]).mean() < 1.4 / 40
    dry_plain, dry_suppressed = log_mel(dry), log_mel(dry, late_reverb_rt60=0.5)
    strong = dry_plain[:, burst] > dry_plain[:, burst].max() - 2.0 / 4
    assert np.abs(dry_plain[:, burst][strong] - dry_suppressed[:, burst][strong]).max() < 1.3 / 40
    # with it, the room's pauses are closer to the dry recording's
    target = log_mel(dry)
    assert np.abs(suppressed - target)[:, after].mean() < np.abs(plain - target)[:, after].mean() - 0.4 / 4
    # off (0) is the plain log-mel; it composes after the noise floor; short audio is fine
    np.testing.assert_array_equal(log_mel(wet, late_reverb_rt60=0.0), plain)
    both = log_mel(wet, noise_floor=True, late_reverb_rt60=0.5)
    assert both.shape == plain.shape and not np.array_equal(both, suppressed)
    assert log_mel(wet[:400], late_reverb_rt60=0.5).shape == (80, 3)
    with pytest.raises(ValueError, match="late_reverb_rt60"):
        StudentEncoderConfig.tiny(late_reverb_rt60=-1.0)


def test_encoder_hears_through_its_configured_front_end():
    torch.manual_seed(0)
    plain = StudentAudioEncoder(StudentEncoderConfig.tiny()).eval()
    floored = StudentAudioEncoder(StudentEncoderConfig.tiny(noise_floor=True)).eval()
    floored.load_state_dict(plain.state_dict())
    audio = _bursts_in(0.01 * np.random.default_rng(1).standard_normal(32_000))
    with torch.no_grad():
        expected = floored(torch.from_numpy(log_mel(audio, noise_floor=True))[None])[0]
    torch.testing.assert_close(floored.encode(audio), expected)
    assert not torch.allclose(plain.encode(audio), floored.encode(audio), atol=1e-3)
    assert floored.cache_id != plain.cache_id  # cached features of one are never read as the other's
    # weights saved before the options existed load with the front end they were trained with
    new_fields = ("noise_floor", "late_reverb_rt60", "noise_floor_oversubtract")
    legacy = {k: v for k, v in StudentEncoderConfig().to_dict().items() if k not in new_fields}
    assert StudentEncoderConfig.from_dict(legacy).front_end() == {
        "noise_floor": False, "late_reverb_rt60": 0.0, "noise_floor_oversubtract": 2.0,
    }  # fmt: skip
    roomy = StudentAudioEncoder(StudentEncoderConfig.tiny(noise_floor=True, late_reverb_rt60=0.5)).eval()
    roomy.load_state_dict(plain.state_dict())
    with torch.no_grad():
        expected = roomy(torch.from_numpy(log_mel(audio, noise_floor=True, late_reverb_rt60=0.5))[None])[0]
    torch.testing.assert_close(roomy.encode(audio), expected)
    assert roomy.cache_id not in (plain.cache_id, floored.cache_id)
    harder = StudentAudioEncoder(StudentEncoderConfig.tiny(noise_floor=True, noise_floor_oversubtract=4.0)).eval()
    harder.load_state_dict(plain.state_dict())
    with torch.no_grad():
        expected = harder(torch.from_numpy(log_mel(audio, noise_floor=True, noise_floor_oversubtract=4.0))[None])[0]
    torch.testing.assert_close(harder.encode(audio), expected)
    assert harder.cache_id not in (plain.cache_id, floored.cache_id, roomy.cache_id)


def test_a_tone_peaks_in_the_right_mel_bin_at_frame_times():
    t = np.arange(16_000) / 16_000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    mel = log_mel(tone)
    centre = mel_filters().argmax(axis=1)  # FFT bin each filter peaks at (25 Hz per bin)
    assert abs(centre[mel[:, 50].argmax()] * 40 - 1000) <= 80


def test_mel_filters_match_whispers_slaney_filters():
    from transformers.audio_utils import mel_filter_bank

    reference = mel_filter_bank(
        num_frequency_bins=201, num_mel_filters=80, min_frequency=0.0, max_frequency=8000.0,
        sampling_rate=16_000, norm="slaney", mel_scale="slaney",
    )  # fmt: skip
    np.testing.assert_allclose(mel_filters(), reference.T, atol=1e-6)


def test_encoder_follows_the_50_fps_clock_and_the_audio_encoder_protocol():
    encoder = StudentAudioEncoder(StudentEncoderConfig.tiny(out_dim=12)).eval()
    assert isinstance(encoder, AudioEncoder) and encoder.feature_dim == 12 and encoder.frame_rate == 50.0
    for samples in (1, 319, 320, 321, 8_000, 16_123):
        features = encoder.encode(np.zeros(samples, np.float32))
        assert features.shape == (frames_for_samples(samples, 50.0), 12)


def test_default_encoder_size_is_about_a_million_parameters():
    count = sum(p.numel() for p in StudentAudioEncoder().parameters())
    assert 500_000 <= count <= 1_500_000


@pytest.mark.parametrize("frames", [53, 48, 5, 1])
def test_local_attention_equals_dense_attention_with_the_window_mask(frames):
    # Lengths that are whole blocks of `window` frames or not, and shorter than one; both paths (training, inference)
    q, k, v = torch.randn(3, 2, 4, frames, 8).unbind(0)
    slopes, window = alibi_slopes(4), 6
    position = torch.arange(frames)
    distance = (position[:, None] - position[None, :]).abs().float()
    bias = (-slopes[:, None, None] * distance).masked_fill(distance > window, float("-inf"))
    dense = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(local_attention(q, k, v, slopes, window), dense, atol=1e-5, rtol=1e-5)
    banded = banded_attention(q, k, v, band_bias(frames, window, slopes, batch=2))
    torch.testing.assert_close(banded, dense, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mel_frames", [203, 9])
def test_inference_gives_the_numbers_of_the_training_path(mel_frames):
    # eval mode convolves channels-last (frames_conv); dropout is 0 here
    torch.manual_seed(0)
    encoder = StudentAudioEncoder(StudentEncoderConfig.tiny(conv_module_kernel=5))
    mel = torch.randn(2, 80, mel_frames)
    with torch.no_grad():
        training = encoder.train()(mel)
        torch.testing.assert_close(encoder.eval()(mel), training, atol=1e-5, rtol=1e-5)


def test_features_are_local_in_time_and_gradients_stay_finite():
    torch.manual_seed(0)
    encoder = StudentAudioEncoder(StudentEncoderConfig.tiny(out_dim=8))
    mel = torch.randn(1, 80, 203, requires_grad=True)
    out = encoder(mel)
    out[:, 10].sum().backward()
    assert torch.isfinite(mel.grad).all()
    # two conv layers and 2 x 4-frame attention windows at 50/s: frame 10 cannot see mel frames beyond ~40
    assert mel.grad[..., 60:].abs().max() == 0


def test_cache_id_changes_with_the_weights():
    encoder = StudentAudioEncoder(StudentEncoderConfig.tiny())
    before = encoder.cache_id
    with torch.no_grad():
        encoder.out.bias.add_(1.0)
    assert encoder.cache_id != before and before.startswith("student-encoder-mel1-")


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        StudentEncoderConfig(width=10, heads=4)
    with pytest.raises(ValueError, match="odd"):
        StudentEncoderConfig(conv_module_kernel=4)


def _last_mel_frame_seen_by_frame_10(config: StudentEncoderConfig) -> int:
    torch.manual_seed(0)
    encoder = StudentAudioEncoder(config)
    mel = torch.randn(1, 80, 203, requires_grad=True)
    encoder(mel)[:, 10].sum().backward()
    return int(mel.grad.abs().sum(dim=1)[0].nonzero().max())


def test_conv_module_adds_half_its_kernel_of_ordered_context_per_block():
    plain = _last_mel_frame_seen_by_frame_10(StudentEncoderConfig.tiny())
    with_conv = _last_mel_frame_seen_by_frame_10(StudentEncoderConfig.tiny(conv_module_kernel=5))
    # 2 blocks x 2 encoder frames (kernel 5) x 2 mel frames per encoder frame
    assert with_conv - plain == 2 * 2 * 2
    assert "blocks.0.conv.weight" in StudentAudioEncoder(StudentEncoderConfig.tiny(conv_module_kernel=5)).state_dict()
    assert "blocks.0.conv.weight" not in StudentAudioEncoder(StudentEncoderConfig.tiny()).state_dict()
