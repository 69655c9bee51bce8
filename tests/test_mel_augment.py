"""Speaker / recording variation of log-mel crops: a vocal-tract stretch, a gain, a frequency mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models.log_mel import SILENCE_LOG_MEL, log_mel, mel_centre_frequencies
from core.training.distill import DistillConfig
from core.training.mel_augment import MelAugment, warp_frequencies


def _tone_mel(hz: float) -> torch.Tensor:
    t = np.arange(16_000) / 16_000
    return torch.from_numpy(log_mel((0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)))[None]


@pytest.mark.parametrize("factor", [0.9, 1.12])
def test_warp_moves_a_tones_peak_by_the_factor(factor):
    centres = mel_centre_frequencies()
    mel = _tone_mel(1500.0)
    before = int(mel[0, :, 50].argmax())
    after = int(warp_frequencies(mel, np.array([factor]))[0, :, 50].argmax())
    one_bin = np.log(centres[before + 1] / centres[before])  # the mel grid's spacing there, as a log ratio
    assert abs(np.log(centres[after] / (centres[before] * factor))) <= one_bin


def test_warp_by_one_is_the_identity_and_each_crop_gets_its_own_factor():
    mel = torch.randn(2, 80, 7)
    torch.testing.assert_close(warp_frequencies(mel, np.array([1.0, 1.0])), mel)
    both = warp_frequencies(torch.cat([mel[:1], mel[:1]]), np.array([1.0, 1.1]))
    torch.testing.assert_close(both[0], mel[0])
    assert not torch.allclose(both[1], mel[0])


def test_gain_shifts_sound_in_decibels_and_leaves_digital_silence_alone():
    mel = torch.full((1, 80, 10), SILENCE_LOG_MEL)
    mel[..., 5:] = 0.2
    out = MelAugment(gain_db=6.0)(mel, np.random.default_rng(0))
    shift = float(out[0, 0, 9] - 0.2)
    assert 0 < abs(shift) <= 6.0 / 40 + 1e-6
    torch.testing.assert_close(out[..., 5:], torch.full_like(mel[..., 5:], 0.2 + shift))
    assert torch.all(out[..., :5] == SILENCE_LOG_MEL)
    quiet = torch.full((1, 80, 3), SILENCE_LOG_MEL + 0.01)
    lowered = MelAugment(gain_db=30.0)(quiet.repeat(8, 1, 1), np.random.default_rng(1))
    assert lowered.min() >= SILENCE_LOG_MEL  # never below silence


def test_frequency_mask_sets_one_band_to_the_crop_mean():
    mel = torch.randn(32, 80, 20)
    out = MelAugment(freq_mask=8)(mel, np.random.default_rng(3))
    widths = []
    for i in range(len(mel)):
        changed = (out[i] != mel[i]).any(dim=1).nonzero().flatten()
        widths.append(len(changed))
        if len(changed):
            assert int(changed.max() - changed.min()) + 1 == len(changed)  # one contiguous band
            torch.testing.assert_close(out[i, changed], torch.full_like(out[i, changed], float(mel[i].mean())))
    # Widths are drawn from 0..8 per crop: over 32 crops most are masked, and not all alike.
    assert max(widths) <= 8 and sum(w > 0 for w in widths) >= 24 and len(set(widths)) >= 4, widths


def test_disabled_augment_returns_the_crops_untouched_and_bad_settings_are_refused():
    mel = torch.randn(2, 80, 5)
    assert MelAugment()(mel, np.random.default_rng(0)) is mel
    with pytest.raises(ValueError, match="warp >= 1"):
        MelAugment(warp=0.9)
    with pytest.raises(ValueError, match="freq_mask"):
        MelAugment(freq_mask=80)


def test_distill_config_reads_it_from_plain_values():
    config = DistillConfig.from_dict({"mel_augment": {"warp": 1.12, "gain_db": 6.0, "freq_mask": 8}})
    assert config.mel_augment == MelAugment(1.12, 6.0, 8) and config.mel_augment.enabled
    assert not DistillConfig().mel_augment.enabled
