"""The assembled DiffusionTalker: losses, generation, long-audio windows, size budget, and a real overfit run."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import save_model

from core.models.diffusion import q_sample
from core.models.personalizer import Style
from core.models.talker import DiffusionTalker, TalkerConfig
from core.sampling import WindowPlan, seeded_noise

torch.set_num_threads(1)

AUDIO_DIM = 16
_MIX = torch.randn(4, 52, generator=torch.Generator().manual_seed(123))  # latent -> blendshapes
_AUDIO_MAP = torch.randn(4, AUDIO_DIM, generator=torch.Generator().manual_seed(124))  # latent -> "audio"


def toy_clip(frames: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Motion (frames, 52) in [0, 1] and audio features (frames, AUDIO_DIM) that encode it.

    The latent is two circles at random speeds, so the motion moves at a nearly constant speed: a seam
    (a jump between windows) stands out against the median frame-to-frame change.
    """
    seconds = torch.arange(frames) / 30.0
    omega = 1.0 + 2.0 * torch.rand(2, generator=generator)  # rad/s
    phase = 2 * math.pi * torch.rand(2, generator=generator)
    angle = omega * seconds[:, None] + phase  # (frames, 2)
    latent = torch.cat([angle.sin(), angle.cos()], dim=1)  # (frames, 4)
    motion = (0.5 + 0.1 * latent @ _MIX).clamp(0.0, 1.0)
    audio = latent @ _AUDIO_MAP + 0.05 * torch.randn(frames, AUDIO_DIM, generator=generator)
    return motion, audio


def toy_batch(clips: int, frames: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    motion, audio = zip(*(toy_clip(frames, generator) for _ in range(clips)), strict=True)
    return {
        "motion": torch.stack(motion),
        "audio": torch.stack(audio),
        "speaker": torch.arange(clips) // 2,
        "emotion": torch.arange(clips) % 2,
    }


def _train(model: DiffusionTalker, steps: int, batch_fn, lr: float = 3e-3) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model.training_loss(batch_fn())["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def _tiny_model(**overrides) -> DiffusionTalker:
    torch.manual_seed(0)
    return DiffusionTalker(TalkerConfig.tiny(AUDIO_DIM, **overrides)).eval()


@pytest.fixture(scope="module")
def toy_talker() -> DiffusionTalker:
    """A tiny talker trained for a few seconds on endless toy clips: enough to move smoothly with the audio."""
    model = _tiny_model()
    generator = torch.Generator().manual_seed(1)
    _train(model, 150, lambda: toy_batch(8, 64, generator))
    return model


@pytest.mark.parametrize("audio_dim", [512, 384])
def test_default_teacher_fits_the_25_mb_budget_as_float32_safetensors(tmp_path, audio_dim):
    model = DiffusionTalker(TalkerConfig.for_audio_dim(audio_dim))
    path = tmp_path / "teacher.safetensors"
    save_model(model, str(path))
    assert path.stat().st_size < 25e6
    assert sum(p.numel() for p in model.parameters()) > 3e6  # "a few M params", not a toy


def test_config_round_trips_through_a_dict_and_rejects_mismatched_parts():
    config = TalkerConfig.tiny(AUDIO_DIM, mouth_loss_weight=3.0)
    assert TalkerConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="audio_dim"):
        TalkerConfig(denoiser=TalkerConfig.tiny(384).denoiser)


def test_training_loss_names_every_loss_and_trains_both_networks():
    model = _tiny_model()
    model.train()
    losses = model.training_loss(toy_batch(4, 40, torch.Generator().manual_seed(0)))
    assert set(losses) == {"reconstruction", "velocity", "identity_nce", "emotion_nce", "total"}
    assert all(torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    assert model.personalizer.identity_encoder.head[1].weight.grad.abs().sum() > 0
    assert model.denoiser.motion_out.weight.grad.abs().sum() > 0


def test_training_loss_takes_padded_batches_with_a_separate_reference_and_no_labels():
    model = _tiny_model(acceleration_loss_weight=0.5)
    model.train()
    batch = toy_batch(3, 40, torch.Generator().manual_seed(0))
    del batch["speaker"], batch["emotion"]
    batch["frame_mask"] = torch.arange(40)[None].expand(3, 40) < torch.tensor([[40], [30], [20]])
    batch["ref_audio"] = torch.randn(3, 25, AUDIO_DIM)
    batch["ref_mask"] = torch.arange(25)[None].expand(3, 25) < 20
    losses = model.training_loss(batch)
    assert set(losses) == {"reconstruction", "velocity", "acceleration", "total"}
    losses["total"].backward()


def test_neutral_clips_set_what_zero_emotion_strength_means():
    model = _tiny_model()
    assert model.personalizer.neutral_emotion.norm() == 0
    model.train()
    model.training_loss(toy_batch(4, 32, torch.Generator().manual_seed(0)))  # emotion label 0 = neutral
    torch.testing.assert_close(model.personalizer.neutral_emotion.norm(), torch.tensor(1.0))


def test_generate_is_deterministic_for_a_seed_and_returns_weights_in_unit_range():
    model = _tiny_model()
    audio = torch.randn(2, 50, AUDIO_DIM)
    a = model.generate(audio, steps=4, seed=3)
    assert a.shape == (2, 50, 52) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, model.generate(audio, steps=4, seed=3))
    assert not torch.equal(a, model.generate(audio, steps=4, seed=4))


def test_generate_takes_a_style_from_stored_embeddings_or_ready_tokens_or_none():
    model = _tiny_model()
    audio = torch.randn(1, 30, AUDIO_DIM)
    style = model.encode_style(torch.randn(1, 40, AUDIO_DIM), motion=torch.rand(1, 40, 52))
    stored = Style(identity=style.identity.clone(), emotion=style.emotion.clone())
    from_style = model.generate(audio, stored, emotion_strength=0.5, steps=2)
    tokens = model.personalizer.fuse(stored.identity, stored.emotion, 0.5)
    torch.testing.assert_close(from_style, model.generate(audio, tokens, steps=2))
    assert model.generate(audio, None, steps=2).shape == (1, 30, 52)


def test_guidance_scale_one_is_the_plain_conditional_prediction():
    model = _tiny_model()
    model.denoiser.null_audio.data.normal_()
    audio, style = torch.randn(2, 30, AUDIO_DIM), model.encode_style(torch.randn(2, 20, AUDIO_DIM))
    x_t, t, tokens = torch.randn(2, 30, 52), torch.tensor([0.6, 0.3]), model.style_tokens(style)
    conditional = model.denoiser(x_t, t, audio, tokens)
    unconditional = model.denoiser(x_t, t, None, None)
    torch.testing.assert_close(model.denoise(x_t, t, audio, tokens, guidance_scale=1.0), conditional)
    torch.testing.assert_close(
        model.denoise(x_t, t, audio, tokens, guidance_scale=2.5), unconditional + 2.5 * (conditional - unconditional)
    )


def test_a_precomputed_audio_embedding_serves_the_guided_pass_too():
    # The sampler embeds a window's audio once; the guided pass adds the null audio's for its null half.
    model = _tiny_model()
    model.denoiser.null_audio.data.normal_()
    audio, x_t, t = torch.randn(2, 30, AUDIO_DIM), torch.randn(2, 30, 52), torch.tensor([0.6, 0.3])
    tokens = model.style_tokens(model.encode_style(torch.randn(2, 20, AUDIO_DIM)))
    embedded, wrong = model.denoiser.embed_audio(audio, 2, 30), model.denoiser.embed_audio(audio.flip(1), 2, 30)
    for scale in (1.0, 2.5):
        plain = model.denoise(x_t, t, audio, tokens, scale)
        torch.testing.assert_close(model.denoise(x_t, t, audio, tokens, scale, audio_embedding=embedded), plain)
        assert not torch.allclose(model.denoise(x_t, t, audio, tokens, scale, audio_embedding=wrong), plain)


def test_generate_continues_a_prefix_and_returns_it_unchanged():
    model = _tiny_model()
    prefix = torch.rand(1, 10, 52)
    out = model.generate(torch.randn(1, 40, AUDIO_DIM), steps=4, prefix=prefix, guidance_scale=2.0)
    torch.testing.assert_close(out[:, :10], prefix)


def test_generate_of_audio_that_fits_one_window_is_one_ddim_sample_from_the_seeded_noise():
    model = _tiny_model()
    audio = torch.randn(1, 60, AUDIO_DIM)
    one_sample = model.denormalize(model.sample(audio, None, 2, seeded_noise(5)))
    torch.testing.assert_close(model.generate(audio, steps=2, seed=5, window=WindowPlan(window_frames=64)), one_sample)


def test_generate_reports_progress_per_window_and_can_be_cancelled():
    model = _tiny_model()
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == 2:
            raise KeyboardInterrupt  # what a cancel button would raise

    with pytest.raises(KeyboardInterrupt):
        model.generate(
            torch.randn(1, 300, AUDIO_DIM), steps=1, window=WindowPlan(window_frames=60, prefix_frames=10),
            progress=progress,
        )  # fmt: skip
    assert seen == [(60, 300), (102, 300)]


def test_generate_has_no_seams_at_the_window_joins(toy_talker):
    motion, audio = toy_clip(600, torch.Generator().manual_seed(9))
    window, prefix, crossfade = 120, 20, 8
    plan = WindowPlan(window_frames=window, prefix_frames=prefix, crossfade_frames=crossfade)
    out = toy_talker.generate(audio[None], steps=4, seed=0, window=plan)[0]
    assert out.shape == motion.shape
    change = (out[1:] - out[:-1]).norm(dim=1)  # change[i]: frame i -> i + 1
    median = change.median()
    joins, written = [], window
    while written < len(out):
        joins.append(written)
        written = min(written - prefix - crossfade + window, len(out))
    # Speech itself moves up to ~2x the median change away from any join (1.8-2.1x over seeds 0-5); independent
    # windows butted together jump 5.7-7.7x at every join (below).
    for join in joins:  # from the last prefix frame, through the cross-fade, into the new frames
        around_join = change[join - crossfade - 1 : join + 1]
        assert around_join.max() < 2.5 * median, (join, (around_join / median).tolist())
    assert (out - motion).abs().mean() < 0.05  # and it follows the audio, not a constant

    # The same measure does flag seams: windows generated independently and butted together jump at every join.
    hop = window - prefix - crossfade
    butted = torch.cat([toy_talker.generate(audio[None, s : s + hop], steps=4, seed=s) for s in range(0, 600, hop)], 1)
    butted_change = (butted[0, 1:] - butted[0, :-1]).norm(dim=1)
    assert min(butted_change[s - 1] for s in range(hop, 600, hop)) > 4 * butted_change.median()


@pytest.mark.slow
def test_tiny_talker_overfits_a_few_clips():
    model = _tiny_model()
    clips = toy_batch(4, 64, torch.Generator().manual_seed(0))
    noise_generator = torch.Generator().manual_seed(1)
    eval_noise = torch.randn(8, 4, 64, 52, generator=noise_generator)
    eval_times = torch.linspace(0.05, 1.0, 8)

    def eval_loss() -> float:
        """Reconstruction at fixed times and noise, with every condition on (no dropout, no prefix)."""
        with torch.no_grad():
            x0 = model.normalize(clips["motion"])
            tokens = model.style_tokens(model.encode_style(clips["audio"], motion=clips["motion"]))
            errors = []
            for t, noise in zip(eval_times, eval_noise, strict=True):
                x_t = q_sample(x0, t, noise)
                errors.append(((model.denoiser(x_t, t, clips["audio"], tokens) - x0) ** 2).mean())
            return float(torch.stack(errors).mean())

    before = eval_loss()
    untrained_error = (model.generate(clips["audio"], steps=8) - clips["motion"]).abs().mean()
    _train(model, 600, lambda: clips)
    after = eval_loss()
    style = model.encode_style(clips["audio"], motion=clips["motion"])
    trained_error = (model.generate(clips["audio"], style, steps=8) - clips["motion"]).abs().mean()
    print(
        f"overfit: eval loss {before:.4f} -> {after:.4f}, generation error {untrained_error:.4f} -> {trained_error:.4f}"
    )
    assert after < 0.05 * before, (before, after)
    assert trained_error < 0.2 * untrained_error, (untrained_error, trained_error)
