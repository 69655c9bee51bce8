"""The numpy student (what runs in a stock Blender) gives the torch modules' numbers, op for op."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.models.denoiser import DenoiserConfig, MotionDenoiser
from core.models.diffusion import DDIMSampler
from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig
from core.models.talker import DiffusionTalker, TalkerConfig
from core.numpy_student import NumpyStudentEncoder, NumpyTalker, erf
from core.sampling import WindowPlan, seeded_noise, windowed_sample

TOLERANCE = 1e-4
REPO = Path(__file__).resolve().parents[1]


def numpy_state(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial values everywhere (LayerNorm scales, null tokens, biases), not just the init."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.dtype.is_floating_point and name not in ("motion_std",):
                tensor.add_(0.2 * torch.randn(tensor.shape, generator=generator))
    return module.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def talker() -> DiffusionTalker:
    torch.manual_seed(0)
    model = randomize(DiffusionTalker(TalkerConfig.tiny(audio_dim=16)), 1)
    with torch.no_grad():
        model.set_motion_stats(torch.rand(52) * 0.3 + 0.2, torch.rand(52) * 0.2 + 0.05)
        neutral = torch.nn.functional.normalize(torch.randn(16), dim=0)
        model.personalizer.neutral_emotion.copy_(neutral)
    return model


@pytest.fixture(scope="module")
def numpy_talker(talker) -> NumpyTalker:
    return NumpyTalker(numpy_state(talker), talker.config.to_dict())


def close(a, b) -> None:
    a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().cpu().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.max(np.abs(a - b)) < TOLERANCE, np.max(np.abs(a - b))


def test_erf_matches_torch():
    x = np.linspace(-6, 6, 2001).astype(np.float32)
    close(erf(x), torch.erf(torch.from_numpy(x)))


@pytest.mark.parametrize(
    ("conv_module_kernel", "noise_floor", "late_reverb_rt60", "oversubtract"),
    [(0, False, 0.0, 2.0), (5, False, 0.0, 2.0), (5, True, 0.5, 2.0), (5, True, 0.5, 4.0)],
)
def test_student_encoder_features_match_torch_for_odd_lengths(
    conv_module_kernel, noise_floor, late_reverb_rt60, oversubtract
):
    torch.manual_seed(2)
    config = StudentEncoderConfig.tiny(
        out_dim=16, conv_module_kernel=conv_module_kernel, noise_floor=noise_floor,
        late_reverb_rt60=late_reverb_rt60, noise_floor_oversubtract=oversubtract,
    )  # fmt: skip
    encoder = randomize(StudentAudioEncoder(config), 3)
    numpy_encoder = NumpyStudentEncoder(numpy_state(encoder), encoder.config.to_dict())
    rng = np.random.default_rng(0)
    for samples in (100, 3_201, 16_000 + 77):
        audio = (0.3 * rng.standard_normal(samples)).astype(np.float32)
        close(numpy_encoder.encode(audio), encoder.encode(audio))


def test_style_embeddings_and_fused_tokens_match_torch(talker, numpy_talker):
    feats = torch.randn(2, 23, 16)
    style = talker.encode_style(feats)
    identity, emotion = numpy_talker.encode_style(feats.numpy())
    close(identity, style.identity)
    close(emotion, style.emotion)
    for strength in (0.0, 0.6, 1.4):
        close(numpy_talker.fuse(identity, emotion, strength), talker.style_tokens(style, strength))


def test_prosody_input_and_statistics_pooling_match_torch():
    from core.models.personalizer import PersonalizerConfig

    torch.manual_seed(2)
    tiny = TalkerConfig.tiny(audio_dim=16)
    config = TalkerConfig(
        personalizer=PersonalizerConfig(**{**tiny.personalizer.__dict__, "prosody_dim": 6, "statistics_pooling": True}),
        denoiser=tiny.denoiser,
    )
    model = randomize(DiffusionTalker(config), 3)
    numpy_model = NumpyTalker(numpy_state(model), config.to_dict())
    feats, prosody = torch.randn(2, 19, 16), torch.randn(2, 19, 6)
    style = model.encode_style(feats, prosody=prosody)
    identity, emotion = numpy_model.encode_style(feats.numpy(), prosody=prosody.numpy())
    close(identity, style.identity)
    close(emotion, style.emotion)
    # The prosody really enters: other prosody, other embedding.
    other = model.encode_style(feats, prosody=prosody.flip(1))
    assert (other.emotion - style.emotion).abs().max() > 1e-3
    with pytest.raises(ValueError, match="prosody"):
        numpy_model.encode_style(feats.numpy())
    with pytest.raises(ValueError, match="prosody"):
        model.encode_style(feats)


def test_one_denoiser_forward_matches_torch_with_prefix_and_null_conditions(talker, numpy_talker):
    frames = 40
    x_t, audio = torch.randn(2, frames, 52), torch.randn(2, frames, 16)
    tokens = talker.style_tokens(talker.encode_style(torch.randn(2, 12, 16)))
    prefix = torch.randn(2, frames, 52)
    prefix_mask = (torch.arange(frames) < 7).expand(2, frames)
    with torch.no_grad():
        for a, s in ((audio, tokens), (None, None)):
            expected = talker.denoiser(x_t, torch.tensor(0.37), a, s, prefix=prefix, prefix_mask=prefix_mask)
            got = numpy_talker.denoiser_forward(
                x_t.numpy(), 0.37, None if a is None else a.numpy(), None if s is None else s.numpy(),
                prefix.numpy(), prefix_mask.numpy(),
            )  # fmt: skip
            close(got, expected)
        guided = talker.denoise(x_t, 0.5, audio, tokens, guidance_scale=2.0)
        close(numpy_talker.denoise(x_t.numpy(), 0.5, audio.numpy(), tokens.numpy(), 2.0), guided)


def test_denoiser_with_long_attention_window_and_default_config_matches():
    config = DenoiserConfig(audio_dim=24, style_dim=16, style_tokens=3, width=32, layers=1, heads=4, attention_window=5)
    denoiser = randomize(MotionDenoiser(config), 4)
    talker_config = {"personalizer": {}, "denoiser": config.__dict__}
    state = {f"denoiser.{k}": v for k, v in numpy_state(denoiser).items()}
    state.update(motion_mean=np.zeros(52, np.float32), motion_std=np.ones(52, np.float32))
    numpy_talker = NumpyTalker(state, talker_config)
    x_t, audio, style = torch.randn(1, 30, 52), torch.randn(1, 30, 24), torch.randn(1, 3, 16)
    with torch.no_grad():
        close(
            numpy_talker.denoiser_forward(x_t.numpy(), 1.0, audio.numpy(), style.numpy()),
            denoiser(x_t, 1.0, audio, style),
        )


@pytest.mark.parametrize("frames", [21, 47, 100])
def test_banded_denoiser_attention_matches_torch_full_attention(frames):
    """A window short against the frames takes the banded path (numpy_student._denoiser_attention): the same numbers
    as torch's masked full attention, for lengths that are not whole blocks, with a prefix and null conditions."""
    config = DenoiserConfig(audio_dim=24, style_dim=16, style_tokens=2, width=32, layers=2, heads=4, attention_window=4)
    denoiser = randomize(MotionDenoiser(config), 5)
    state = {f"denoiser.{k}": v for k, v in numpy_state(denoiser).items()}
    state.update(motion_mean=np.zeros(52, np.float32), motion_std=np.ones(52, np.float32))
    numpy_talker = NumpyTalker(state, {"personalizer": {}, "denoiser": config.__dict__})
    assert 4 * config.attention_window < frames  # the banded path, not the full-attention fallback
    x_t, audio, style = torch.randn(2, frames, 52), torch.randn(2, frames, 24), torch.randn(2, 2, 16)
    prefix, prefix_mask = torch.randn(2, frames, 52), (torch.arange(frames) < 6).expand(2, frames)
    no_padding = torch.ones(2, frames, dtype=torch.bool)
    with torch.no_grad():
        for a, s in ((audio, style), (None, None)):
            # torch's full attention (a frame_mask without padding), not its own banded path
            expected = denoiser(x_t, 0.3, a, s, prefix=prefix, prefix_mask=prefix_mask, frame_mask=no_padding)
            got = numpy_talker.denoiser_forward(
                x_t.numpy(), 0.3, None if a is None else a.numpy(), None if s is None else s.numpy(),
                prefix.numpy(), prefix_mask.numpy(),
            )  # fmt: skip
            close(got, expected)


def test_two_step_generation_matches_torch_from_the_same_noise(talker, numpy_talker):
    audio = torch.randn(1, 50, 16)
    style = talker.encode_style(torch.randn(1, 20, 16))
    tokens = talker.style_tokens(style, 0.8)
    expected = talker.generate(audio, tokens, steps=2, seed=5)  # seeded_noise(5)
    got = numpy_talker.generate(audio.numpy(), tokens.numpy(), seeded_noise(5), steps=2)
    close(got, expected)
    assert got.min() >= 0 and got.max() <= 1


def test_windowed_generation_over_several_windows_matches_torch(talker, numpy_talker):
    audio = torch.randn(1, 130, 16)
    tokens = talker.style_tokens(talker.encode_style(torch.randn(1, 20, 16)))
    plan = WindowPlan(window_frames=48, prefix_frames=10, crossfade_frames=4)
    calls = []
    expected = talker.generate(audio, tokens, steps=2, seed=9, window=plan)
    got = numpy_talker.generate(
        audio.numpy(), tokens.numpy(), seeded_noise(9), steps=2, window=plan, progress=lambda d, t: calls.append((d, t))
    )
    close(got, expected)
    assert len(calls) >= 3 and calls[-1] == (130, 130)


def test_windowed_sample_is_seamless_when_windows_agree():
    """Windows that all return the same underlying curve reproduce it exactly (prefix + cross-fade bookkeeping)."""
    curve = np.random.default_rng(0).standard_normal((1, 200, 3)).astype(np.float32)

    def sample_window(start, end, known):
        if known is not None:
            np.testing.assert_allclose(known, curve[:, start : start + known.shape[1]], atol=1e-6)
        return curve[:, start:end]

    out = windowed_sample(sample_window, 1, 200, 3, WindowPlan(window_frames=50, prefix_frames=8, crossfade_frames=5))
    np.testing.assert_allclose(out, curve, atol=1e-6)


def test_guided_two_step_sampling_with_ddim_sampler_grid(talker, numpy_talker):
    audio = torch.randn(1, 20, 16)
    expected = talker.generate(audio, None, steps=4, seed=1, guidance_scale=1.5)
    close(numpy_talker.generate(audio.numpy(), None, seeded_noise(1), steps=4, guidance_scale=1.5), expected)
    assert DDIMSampler(4).timesteps.tolist() == [1.0, 0.75, 0.5, 0.25]


def test_seeded_noise_is_reproducible_and_differs_by_seed():
    a, b, c = seeded_noise(3), seeded_noise(3), seeded_noise(4)
    first = a((1, 5, 52))
    np.testing.assert_array_equal(first, b((1, 5, 52)))
    assert not np.array_equal(first, c((1, 5, 52)))
    assert first.dtype == np.float32


def test_numpy_student_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import core.numpy_student, core.weights_io, core.style_library, core.inference\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_deterministic_baseline_is_one_noise_free_pass_on_both_paths():
    torch.manual_seed(0)
    model = randomize(DiffusionTalker(TalkerConfig.tiny(audio_dim=16, deterministic=True)), 5)
    audio = torch.randn(1, 30, 16)
    expected = model.generate(audio, None, steps=4, seed=0)
    numpy_model = NumpyTalker(numpy_state(model), model.config.to_dict())
    close(numpy_model.generate(audio.numpy(), None, seeded_noise(1), steps=4), expected)
