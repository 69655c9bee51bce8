"""Noise schedule and the one DDIM sampler shared by the teacher and every distilled student.

Time is continuous, t in [0, 1]: t = 0 is clean motion, t = 1 pure noise. The cosine schedule
(Nichol & Dhariwal 2021) gives alpha_bar(t); we write alpha = sqrt(alpha_bar), sigma = sqrt(1 - alpha_bar), so

    x_t = alpha(t) * x0 + sigma(t) * noise.

alpha(1) = 0 exactly (zero terminal SNR), so sampling starts from pure noise, which is what training saw at t = 1.

Sampling with n steps walks the grid t = 1, (n-1)/n, ..., 1/n -> 0. Grids nest: the grid of n/2 steps is every other
point of the grid of n steps, which is what progressive distillation (16 -> 8 -> 4 -> 2) relies on.
The step count is a number, not a code path: `set_timesteps(n)` works for any n >= 1.
"""

from __future__ import annotations

import math

import torch

COSINE_OFFSET = 0.008  # s in Nichol & Dhariwal: keeps alpha_bar from falling too fast near t = 0


def cosine_alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """alpha_bar(t) of the cosine schedule, exactly 1 at t = 0 and 0 at t = 1 (clamped for float round-off)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    f = torch.cos((t + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    f0 = math.cos(COSINE_OFFSET / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    alpha_bar = (f / f0).clamp(0.0, 1.0)
    return torch.where(t >= 1.0, torch.zeros_like(alpha_bar), alpha_bar)


def alpha_sigma(t: torch.Tensor | float, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha(t), sigma(t) shaped to broadcast against `like` (batch, ...): t is a scalar or (batch,)."""
    t = torch.as_tensor(t, dtype=torch.float64, device=like.device)
    alpha_bar = cosine_alpha_bar(t)
    alpha, sigma = alpha_bar.sqrt(), (1.0 - alpha_bar).sqrt()
    if t.ndim == 1:  # one t per batch item
        shape = (-1,) + (1,) * (like.ndim - 1)
        alpha, sigma = alpha.reshape(shape), sigma.reshape(shape)
    return alpha.to(like.dtype), sigma.to(like.dtype)


def q_sample(x0: torch.Tensor, t: torch.Tensor | float, noise: torch.Tensor) -> torch.Tensor:
    """Forward noising for training: x_t = alpha(t) x0 + sigma(t) noise. x0, noise: (batch, frames, channels)."""
    alpha, sigma = alpha_sigma(t, x0)
    return alpha * x0 + sigma * noise


def distillation_x0_target(
    x_t: torch.Tensor, t: torch.Tensor | float, x_target: torch.Tensor, t_target: torch.Tensor | float
) -> torch.Tensor:
    """The x0 a student must predict so that ONE DDIM step from (x_t, t) lands exactly on `x_target` at `t_target`.

    Progressive distillation (Salimans & Ho 2022, Algorithm 2): the teacher takes two DDIM steps
    t -> t - 1/N -> t - 2/N = t_target, giving x_target; the student, with N/2 steps, learns to get there in one.
    A DDIM step (eta = 0) from x_t with prediction x0 is

        x' = alpha' x0 + sigma' (x_t - alpha x0) / sigma,

    which is linear in x0; solving x' = x_target for x0 gives

        x0 = (x_target - (sigma' / sigma) x_t) / (alpha' - (sigma' / sigma) alpha).

    The denominator is positive whenever t_target < t (SNR falls with t). At t_target = 0 the target is x_target
    itself. Train the student on it with an MSE weighted by the truncated SNR, max(alpha^2 / sigma^2, 1).
    """
    alpha, sigma = alpha_sigma(t, x_t)
    alpha_to, sigma_to = alpha_sigma(t_target, x_t)
    ratio = sigma_to / sigma
    return (x_target - ratio * x_t) / (alpha_to - ratio * alpha)


class DDIMSampler:
    """DDIM over the cosine schedule, predicting x0 (diffusers-style: `set_timesteps`, then `step` per timestep).

        sampler = DDIMSampler()
        sampler.set_timesteps(4)
        x = sampler.initial_noise((1, frames, 52), generator)
        for t in sampler.timesteps:
            x = sampler.step(model(x, t), t, x)

    With eta = 0 (default) the result is a deterministic function of the initial noise.
    """

    def __init__(self, num_steps: int = 16) -> None:
        self.set_timesteps(num_steps)

    def set_timesteps(self, num_steps: int) -> None:
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        self.num_steps = num_steps
        # Exact in float for power-of-two counts, so the 8-step grid is exactly every other 16-step point.
        grid = (num_steps - torch.arange(num_steps + 1, dtype=torch.float64)) / num_steps
        self.timesteps = grid[:-1].float()  # (num_steps,) descending from 1.0
        self._grid = grid  # (num_steps + 1,) ends at 0

    def previous_timestep(self, t: torch.Tensor | float) -> float:
        """The next (less noisy) grid point after t; 0.0 after the last."""
        index = int(torch.argmin((self._grid - float(t)).abs()))
        if abs(float(self._grid[index]) - float(t)) > 1e-6 or index == self.num_steps:
            raise ValueError(f"t={float(t)} is not a timestep of the {self.num_steps}-step grid; pass t_prev")
        return float(self._grid[index + 1])

    @staticmethod
    def initial_noise(
        shape: tuple[int, ...], generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """x at t = 1: standard normal noise, reproducible through the generator."""
        return torch.randn(shape, generator=generator, device=device)

    def step(
        self,
        x0_pred: torch.Tensor,
        t: torch.Tensor | float,
        x_t: torch.Tensor,
        t_prev: torch.Tensor | float | None = None,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """x_{t_prev} from x_t and the network's clean-motion prediction (t_prev defaults to the next grid point).

        t and t_prev may be scalars or (batch,) tensors (distillation trains on mixed timesteps).
        eta > 0 adds fresh noise (DDPM-like); eta = 0 is the deterministic DDIM update.
        """
        if t_prev is None:
            t_prev = self.previous_timestep(t)
        alpha, sigma = alpha_sigma(t, x_t)
        alpha_prev, sigma_prev = alpha_sigma(t_prev, x_t)
        eps_pred = (x_t - alpha * x0_pred) / sigma  # the noise implied by the prediction
        if eta == 0.0:
            return alpha_prev * x0_pred + sigma_prev * eps_pred
        # Song et al. 2021, eq. 16, in alpha/sigma form.
        fresh = eta * (sigma_prev / sigma) * (1.0 - (alpha / alpha_prev.clamp_min(1e-12)) ** 2).clamp_min(0).sqrt()
        keep = (sigma_prev**2 - fresh**2).clamp_min(0).sqrt()
        noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
        return alpha_prev * x0_pred + keep * eps_pred + fresh * noise
