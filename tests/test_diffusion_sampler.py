"""The noise schedule and the shared DDIM sampler (core.models.diffusion)."""

from __future__ import annotations

import pytest
import torch

from core.models.diffusion import DDIMSampler, alpha_sigma, cosine_alpha_bar, distillation_x0_target, q_sample

torch.set_num_threads(1)


def _run(sampler: DDIMSampler, model, shape, seed: int) -> torch.Tensor:
    x = sampler.initial_noise(shape, torch.Generator().manual_seed(seed))
    for t in sampler.timesteps:
        x = sampler.step(model(x, t), t, x)
    return x


def _toy_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed nonlinear 'denoiser' that depends on x_t and t, so sampling paths differ with the step count."""
    return torch.tanh(0.7 * x + float(t)) - 0.2 * x.roll(1, dims=1)


def test_cosine_schedule_runs_from_clean_to_pure_noise():
    t = torch.linspace(0, 1, 101)
    alpha_bar = cosine_alpha_bar(t)
    assert alpha_bar[0] == 1.0 and alpha_bar[-1] == 0.0
    assert (alpha_bar.diff() < 0).all()


def test_q_sample_mixes_signal_and_noise_by_alpha_and_sigma():
    x0, noise = torch.randn(3, 5, 52), torch.randn(3, 5, 52)
    t = torch.tensor([0.0, 0.5, 1.0])
    x_t = q_sample(x0, t, noise)
    torch.testing.assert_close(x_t[0], x0[0])
    torch.testing.assert_close(x_t[2], noise[2])
    alpha, sigma = alpha_sigma(t, x0)
    torch.testing.assert_close(alpha**2 + sigma**2, torch.ones_like(alpha))


@pytest.mark.parametrize("steps", [16, 8, 4, 2, 1, 3])
def test_timesteps_start_at_pure_noise_and_end_clean(steps):
    sampler = DDIMSampler(steps)
    assert len(sampler.timesteps) == steps
    assert sampler.timesteps[0] == 1.0
    assert sampler.previous_timestep(sampler.timesteps[-1]) == 0.0


def test_halved_step_grid_is_every_other_point_of_the_full_grid():
    for n in (16, 8, 4, 2):
        assert torch.equal(DDIMSampler(n // 2).timesteps, DDIMSampler(n).timesteps[::2])


def test_step_rejects_a_time_off_the_grid_without_t_prev():
    with pytest.raises(ValueError, match="pass t_prev"):
        DDIMSampler(4).step(torch.zeros(1, 2, 3), 0.3, torch.zeros(1, 2, 3))


@pytest.mark.parametrize("steps", [16, 8, 4, 2, 1])
def test_ddim_is_deterministic_for_a_seed(steps):
    sampler = DDIMSampler(steps)
    a = _run(sampler, _toy_model, (2, 30, 52), seed=7)
    b = _run(sampler, _toy_model, (2, 30, 52), seed=7)
    c = _run(sampler, _toy_model, (2, 30, 52), seed=8)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("steps", [16, 8, 4, 2, 1, 5])
def test_ddim_returns_the_true_x0_when_the_model_predicts_it(steps):
    x0 = torch.randn(2, 30, 52)
    result = _run(DDIMSampler(steps), lambda x, t: x0, x0.shape, seed=3)
    assert torch.equal(result, x0)


def test_one_student_step_with_the_distillation_target_lands_on_two_teacher_steps():
    teacher, student = DDIMSampler(8), DDIMSampler(4)
    x_t = torch.randn(3, 20, 52, dtype=torch.float64)
    for t in student.timesteps:  # includes t = 1 (alpha = 0) and the last step to t = 0
        t_mid = teacher.previous_timestep(t)
        x_mid = teacher.step(_toy_model(x_t, t), t, x_t)
        t_end = teacher.previous_timestep(t_mid)
        x_end = teacher.step(_toy_model(x_mid, t_mid), t_mid, x_mid)
        assert t_end == student.previous_timestep(t)

        target = distillation_x0_target(x_t, t, x_end, t_end)
        torch.testing.assert_close(student.step(target, t, x_t), x_end, rtol=1e-10, atol=1e-10)


def test_distillation_target_takes_per_item_timesteps():
    sampler = DDIMSampler(4)
    x_t, x_end = torch.randn(3, 10, 52, dtype=torch.float64), torch.randn(3, 10, 52, dtype=torch.float64)
    t = torch.tensor([1.0, 0.75, 0.5], dtype=torch.float64)
    t_end = t - 0.25
    target = distillation_x0_target(x_t, t, x_end, t_end)
    torch.testing.assert_close(sampler.step(target, t, x_t, t_prev=t_end), x_end)


def test_stochastic_step_with_eta_is_reproducible_through_its_generator():
    sampler = DDIMSampler(4)
    x = torch.randn(1, 10, 52)
    t = sampler.timesteps[1]
    a = sampler.step(torch.zeros_like(x), t, x, eta=1.0, generator=torch.Generator().manual_seed(0))
    b = sampler.step(torch.zeros_like(x), t, x, eta=1.0, generator=torch.Generator().manual_seed(0))
    deterministic = sampler.step(torch.zeros_like(x), t, x)
    assert torch.equal(a, b) and not torch.allclose(a, deterministic)
