"""The shipped student's folded audio path: fewer parameters, the same animation on both backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from core.inference import WindowPlan, load_engine, save_student
from core.models.denoiser import DenoiserConfig
from core.models.feature_fold import fold_projection, fold_student_audio_path
from core.models.personalizer import PersonalizerConfig
from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig
from core.models.talker import DiffusionTalker, TalkerConfig
from tests.test_inference import animate, randomize, tiny_prosody_config, tiny_styles, voice_wav  # noqa: F401


def _parameters(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def test_fold_equals_linear_layer_norm_linear():
    torch.manual_seed(0)
    first, norm, second = nn.Linear(24, 80), nn.LayerNorm(80), nn.Linear(80, 12)
    for module in (first, norm, second):
        randomize(module, 3)
    with torch.no_grad():
        first.bias.add_(2.0)  # far from centred: the fold must remove the mean itself
        h = torch.randn(5, 7, 24) * 3
        expected = second(norm(first(h)))
        folded = fold_projection(first, norm, second)(h)
    assert folded.shape == (5, 7, 12)
    assert torch.max(torch.abs(folded - expected)) < 1e-4
    # the fold depends on every piece: another LayerNorm gain gives another function
    with torch.no_grad():
        norm.weight.mul_(1.5)
        assert torch.max(torch.abs(fold_projection(first, norm, second)(h) - expected)) > 1e-2


def test_fold_saves_parameters_at_the_shipped_sizes():
    encoder = StudentAudioEncoder(StudentEncoderConfig())  # width 192 -> 512 features
    config = TalkerConfig(
        denoiser=DenoiserConfig(audio_dim=512, width=192, layers=1),
        personalizer=PersonalizerConfig(audio_dim=512, width=128, fusion_layers=1),
    )
    talker = DiffusionTalker(config).eval()
    folded_encoder, folded_talker = fold_student_audio_path(encoder, talker)
    saved = _parameters(encoder, talker) - _parameters(folded_encoder, folded_talker)
    assert saved > 120_000, saved
    assert folded_encoder.out is None and folded_encoder.feature_dim == 192
    assert folded_talker.config.denoiser.audio_dim == 192 and folded_talker.config.denoiser.audio_input_folded


def _tiny_student(seed: int = 0) -> tuple[StudentAudioEncoder, DiffusionTalker]:
    torch.manual_seed(seed)
    encoder = randomize(StudentAudioEncoder(StudentEncoderConfig.tiny(out_dim=16, conv_module_kernel=3)), seed + 1)
    talker = randomize(DiffusionTalker(tiny_prosody_config()), seed + 2)
    talker.set_motion_stats(torch.full((52,), 0.3), torch.full((52,), 0.2))
    return encoder, talker


def _save(folder, encoder, talker) -> None:
    save_student(
        folder, encoder, talker, tiny_styles(talker, 0), window=WindowPlan(window_frames=20, prefix_frames=5,
        crossfade_frames=3),
    )  # fmt: skip


def test_folded_student_animates_like_the_unfolded_one_on_both_backends(tmp_path, voice_wav):  # noqa: F811
    encoder, talker = _tiny_student()
    _save(tmp_path / "plain", encoder, talker)
    _save(tmp_path / "folded", *fold_student_audio_path(encoder, talker))
    takes, styles = {}, {}
    for form in ("plain", "folded"):
        for backend in ("torch", "numpy"):
            engine = load_engine(tmp_path / form, "cpu", backend)
            takes[form, backend] = animate(engine, voice_wav, seed=2, emotion="happy")[0].weights
            styles[form, backend] = np.concatenate(engine.style_from_reference(voice_wav))
    reference = takes["plain", "torch"]
    assert reference.std() > 0
    for key, take in takes.items():
        assert np.max(np.abs(take - reference)) < 1e-4, key
        assert np.max(np.abs(styles[key] - styles["plain", "torch"])) < 1e-4, key


def test_a_folded_student_cannot_be_folded_again():
    encoder, talker = _tiny_student()
    folded = fold_student_audio_path(encoder, talker)
    with pytest.raises(ValueError, match="folded already"):
        fold_student_audio_path(*folded)
