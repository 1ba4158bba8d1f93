"""Diffusion: the noise schedule, the denoiser's preconditioning, the training loss and the samplers.

We follow EDM (Karras, Aittala, Aila & Laine 2022, "Elucidating the Design Space of
Diffusion-Based Generative Models"). Noise is added directly: ``x_sigma = x_0 + sigma * eps``,
for a noise level ``sigma`` from ``SIGMA_MIN`` to ``SIGMA_MAX``. A network ``F`` is wrapped
into a *denoiser* ``D(x; sigma)`` that guesses the clean roll ``x_0``::

    D(x; sigma) = c_skip(sigma) * x + c_out(sigma) * F(c_in(sigma) * x, c_noise(sigma))   # EDM eq. (7)

trained to regress ``x_0`` (EDM eq. (8)). A piano roll is *binary*, though: every cell is -1
(off) or +1 (on). So our shipped model reads ``F`` as each cell's log-odds of being on and
trains it like a classifier (binary cross-entropy); the best guess of ``x_0`` is then the
expected cell, ``D = P(on) - P(off) = tanh(F / 2)`` (the ``"binary"`` parameterization,
after the cross-entropy training of Dieleman et al. 2022, "Continuous diffusion for categorical
data", with two categories). With regression the network stays undecided about some cells, the sampler
shrinks them towards 0 and thresholding turns them into one-step blips; the classifier decides.

Sampling walks ``sigma`` down a schedule, following the probability-flow ODE
``dx/dsigma = (x - D(x; sigma)) / sigma`` (EDM eq. (3)). One Euler step of that ODE
is exactly a DDIM step (Song et al. 2021), so :func:`sample_euler` *is* DDIM.

Samplers here are plain functions ``sample_*(model, x, sigmas, *, callback=None) -> x``
that **keep gradients**: inference-time optimization (DITTO) backpropagates from the
music all the way to the initial noise ``x = sigmas[0] * eps`` through every step.

>>> sigmas = get_sigmas_karras(4)
>>> [round(s, 3) for s in sigmas.tolist()]
[80.0, 9.723, 0.47, 0.002, 0.0]
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

SIGMA_DATA = 0.5  # the spread of the data the preconditioning assumes (EDM)
SIGMA_MIN = 0.002
SIGMA_MAX = 80.0
RHO = 7.0  # curvature of the Karras schedule
P_MEAN, P_STD = -1.2, 1.2  # training noise levels: ln(sigma) ~ N(P_MEAN, P_STD^2) (EDM Table 1)


def get_sigmas_karras(n: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = RHO,
                      device="cpu", dtype=torch.float32) -> torch.Tensor:
    """The Karras et al. (2022) noise schedule (their eq. (5)): ``n`` levels from ``sigma_max`` down, then 0."""
    ramp = torch.linspace(0, 1, n, device=device, dtype=dtype)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (max_inv + ramp * (min_inv - max_inv)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def edm_scalings(sigma: torch.Tensor, sigma_data: float = SIGMA_DATA):
    """``c_skip, c_out, c_in, c_noise`` of EDM's preconditioning (Karras et al. 2022, Table 1)."""
    c_skip = sigma_data**2 / (sigma**2 + sigma_data**2)
    c_out = sigma * sigma_data / (sigma**2 + sigma_data**2).sqrt()
    c_in = 1 / (sigma**2 + sigma_data**2).sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


PARAMETERIZATIONS = ("binary", "edm")
GRAD_TEMPERATURE = 30.0  # a binary denoiser in eval mode passes gradients as if its tanh were this much softer


def denoised_from(raw: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor, parameterization: str, *,
                  grad_temperature: float = 1.0) -> torch.Tensor:
    """The denoiser's guess of ``x_0`` from the network's ``raw`` output at ``x`` (``sigma [B, 1, 1, 1]``).

    ``"edm"``: ``c_skip * x + c_out * raw`` (EDM eq. (7)); ``"binary"``: ``raw`` are log-odds of
    each cell being on, and the guess is the expected cell ``2 * sigmoid(raw) - 1 = tanh(raw / 2)``.

    A trained binary denoiser is sure of most cells: its tanh is flat there, and a gradient
    through the sampler (DITTO) vanishes. With ``grad_temperature > 1`` the forward pass is
    unchanged but the backward pass is that of ``tanh(raw / (2 * grad_temperature))``
    (a straight-through estimator, Bengio et al. 2013), so the optimizer still learns
    which way each cell's log-odds should move.
    """
    if parameterization == "binary":
        guess = torch.tanh(raw / 2)
        if grad_temperature != 1.0 and raw.requires_grad:
            soft = torch.tanh(raw / (2 * grad_temperature))
            guess = soft + (guess - soft).detach()
        return guess
    c_skip, c_out, _, _ = edm_scalings(sigma)
    return c_skip * x + c_out * raw


def parameterization_of(net: nn.Module) -> str:
    """How ``net``'s output becomes a guess of ``x_0`` (its ``config.parameterization``; ``"edm"`` if it has none)."""
    name = getattr(getattr(net, "config", None), "parameterization", "edm")
    if name not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization {name!r}; choose one of {PARAMETERIZATIONS}")
    return name


class Denoiser(nn.Module):
    """``D(x; sigma)``: wraps a raw network ``F`` with EDM's preconditioning (EDM eq. (7)).

    The network's ``config.parameterization`` says how its output becomes a guess of ``x_0``
    (see :func:`denoised_from`). In eval mode (sampling, optimizing the noise) a binary
    denoiser's gradients use ``GRAD_TEMPERATURE``; in training mode they are exact.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.parameterization = parameterization_of(net)

    def raw(self, x: torch.Tensor, sigma: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's output ``F(c_in * x, c_noise)`` and ``sigma`` shaped ``[B, 1, 1, 1]``."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
        _, _, c_in, c_noise = (c.reshape(-1, 1, 1, 1) for c in edm_scalings(sigma))
        return self.net(c_in * x, c_noise.reshape(-1)), sigma.reshape(-1, 1, 1, 1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        raw, sigma = self.raw(x, sigma)
        return denoised_from(raw, x, sigma, self.parameterization,
                             grad_temperature=1.0 if self.training else GRAD_TEMPERATURE)


def training_loss(denoiser: Denoiser, x0: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """The denoising loss for a batch of clean rolls ``x0 [B, 2, P, T]``, noised at log-normal levels.

    ``"edm"``: EDM's weighted regression (EDM eq. (8)); the weight
    ``(sigma^2 + sigma_data^2) / (sigma * sigma_data)^2`` makes every noise level count about the same.
    ``"binary"``: binary cross-entropy between the predicted log-odds and the true cells
    (after Dieleman et al. 2022): a classifier of "on" against "off" at every noise level.
    """
    B = x0.shape[0]
    ln_sigma = P_MEAN + P_STD * torch.randn(B, generator=generator, device=x0.device)
    sigma = ln_sigma.exp()
    noise = torch.randn(x0.shape, generator=generator, device=x0.device)
    x = x0 + sigma.reshape(-1, 1, 1, 1) * noise
    if denoiser.parameterization == "binary":
        logits, _ = denoiser.raw(x, sigma)
        return nn.functional.binary_cross_entropy_with_logits(logits, (x0 > 0).to(logits.dtype))
    weight = (sigma**2 + SIGMA_DATA**2) / (sigma * SIGMA_DATA) ** 2
    return (weight.reshape(-1, 1, 1, 1) * (denoiser(x, sigma) - x0) ** 2).mean()


def initial_noise(shape, *, seed: int | None = None, generator: torch.Generator | None = None,
                  sigma_max: float = SIGMA_MAX, device="cpu") -> torch.Tensor:
    """``x_T = sigma_max * eps``, ``eps ~ N(0, I)``; the same ``seed`` gives the same noise on every CPU."""
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
    return (sigma_max * torch.randn(shape, generator=generator)).to(device)


Callback = Callable[[dict], None]


def sample_euler(model, x: torch.Tensor, sigmas: torch.Tensor, *, callback: Callback | None = None,
                 checkpoint: bool = False) -> torch.Tensor:
    """Euler steps on the probability-flow ODE, i.e. deterministic DDIM (EDM Algorithm 1 without the Heun correction).

    ``model(x, sigma)`` is a denoiser; ``x`` starts at ``sigmas[0]`` noise. Gradients flow
    through every step; ``checkpoint=True`` recomputes each step in the backward pass
    instead of storing it (less memory, a little more time). ``callback`` gets
    ``{'x', 'i', 'sigma', 'denoised'}`` after every step.
    """
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        if checkpoint and torch.is_grad_enabled():
            denoised = torch.utils.checkpoint.checkpoint(model, x, sigma, use_reentrant=False)
        else:
            denoised = model(x, sigma)
        d = (x - denoised) / sigma  # EDM eq. (3): dx/dsigma
        x = x + d * (sigma_next - sigma)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigma, "denoised": denoised})
    return x


def _heun_step(model, x: torch.Tensor, sigma, sigma_next) -> tuple[torch.Tensor, torch.Tensor]:
    """One Heun step of the probability-flow ODE from ``sigma`` to ``sigma_next``; also the denoiser's guess at ``x``."""
    denoised = model(x, sigma)
    d = (x - denoised) / sigma
    x_next = x + d * (sigma_next - sigma)
    if sigma_next > 0:  # second-order correction, except for the last step to sigma = 0
        d_next = (x_next - model(x_next, sigma_next)) / sigma_next
        x_next = x + (d + d_next) / 2 * (sigma_next - sigma)
    return x_next, denoised


def sample_heun(model, x: torch.Tensor, sigmas: torch.Tensor, *, callback: Callback | None = None) -> torch.Tensor:
    """Heun's second-order method on the probability-flow ODE (EDM Algorithm 1, deterministic)."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x, denoised = _heun_step(model, x, sigma, sigma_next)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigma, "denoised": denoised})
    return x


def sample_ancestral(model, x: torch.Tensor, sigmas: torch.Tensor, *, generator: torch.Generator | None = None,
                     callback: Callback | None = None) -> torch.Tensor:
    """Stochastic (ancestral, DDPM-like) sampling: each step goes a little below the next level, then adds fresh noise."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        sigma_up = (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2).sqrt()
        sigma_down = (sigma_next**2 - sigma_up**2).sqrt()
        x = x + (x - denoised) / sigma * (sigma_down - sigma)
        if sigma_next > 0:
            x = x + sigma_up * torch.randn(x.shape, generator=generator).to(x)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigma, "denoised": denoised})
    return x


def sample_stochastic(model, x: torch.Tensor, sigmas: torch.Tensor, *, generator: torch.Generator | None = None,
                      gamma: float = math.sqrt(2) - 1, sigma_range: tuple[float, float] = (0.05, 50.0),
                      callback: Callback | None = None) -> torch.Tensor:
    """EDM's stochastic sampler (Algorithm 2): Heun steps, each started a little *above* its level.

    Before a step from ``sigma`` (inside ``sigma_range``), fresh noise raises the level to
    ``sigma * (1 + gamma)``; the step then walks down from there. The fresh noise washes out
    errors the denoiser made at earlier steps, which an ODE sampler carries to the end (EDM
    section 4: it helps imperfect models most). ``gamma = sqrt(2) - 1`` is the most EDM
    allows (their ``S_churn`` large). Same ``generator`` seed, same music.
    """
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        if sigma_range[0] <= sigma <= sigma_range[1]:
            raised = sigma * (1 + gamma)
            x = x + (raised**2 - sigma**2).sqrt() * torch.randn(x.shape, generator=generator).to(x)
            sigma = raised
        x, denoised = _heun_step(model, x, sigma, sigma_next)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigma, "denoised": denoised})
    return x


SAMPLERS = {"euler": sample_euler, "ddim": sample_euler, "heun": sample_heun, "stochastic": sample_stochastic}


def sample(model, x: torch.Tensor, sigmas: torch.Tensor, *, sampler: str = "euler",
           generator: torch.Generator | None = None, callback: Callback | None = None) -> torch.Tensor:
    """Run the sampler named ``sampler`` (a key of ``SAMPLERS``); ``generator`` feeds the stochastic one."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
    if sampler == "stochastic":
        return sample_stochastic(model, x, sigmas, generator=generator, callback=callback)
    return SAMPLERS[sampler](model, x, sigmas, callback=callback)


# ---------------------------------------------------------------------------------------------
# consistency (CM) and consistency-trajectory (CTM) models: jump along the ODE in one step


class TrajectoryModel(nn.Module):
    """``G(x_t, t, s)``: where the probability-flow ODE started at ``x_t`` (level ``t``) is at level ``s <= t``.

    Consistency-trajectory parameterization (Kim et al. 2023, "Consistency Trajectory Models", eq. (6))::

        G(x_t, t, s) = (s / t) * x_t + (1 - s / t) * g(x_t, t, s)
        g(x_t, t, s) = c_skip(t) * x_t + c_out(t) * F(c_in(t) * x_t, c_noise(t), c_noise(s))

    (or ``g = tanh(F / 2)`` for a ``"binary"`` network, as in :class:`Denoiser`).

    ``G(x, t, t) = x`` holds by construction (the boundary condition), and ``G(x, t, 0) = g``
    is a consistency model (Song et al. 2023): one jump from noise to music. ``F`` is a
    :class:`~dittoedu.nets.UNet1d` with ``target_level=True``; copying a trained denoiser's
    weights into it gives ``g = D`` at the start of distillation.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.parameterization = parameterization_of(net)

    def raw(self, x: torch.Tensor, t, s) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's output ``F`` inside ``g(x_t, t, s)`` (log-odds for a binary network) and ``t [B, 1, 1, 1]``."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1).expand(x.shape[0]).clamp_min(SIGMA_MIN)
        s = torch.as_tensor(s, dtype=x.dtype, device=x.device).reshape(-1).expand(x.shape[0])
        _, _, c_in, c_noise = (c.reshape(-1, 1, 1, 1) for c in edm_scalings(t))
        c_noise_s = s.clamp_min(SIGMA_MIN).log() / 4
        return self.net(c_in * x, c_noise.reshape(-1), c_noise_s), t.reshape(-1, 1, 1, 1)

    def g(self, x: torch.Tensor, t, s) -> torch.Tensor:
        """The denoiser-like inner output ``g(x_t, t, s)`` (the teacher's preconditioning, told both levels)."""
        raw, t = self.raw(x, t, s)
        return denoised_from(raw, x, t, self.parameterization,
                             grad_temperature=1.0 if self.training else GRAD_TEMPERATURE)

    def forward(self, x: torch.Tensor, t, s) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1).expand(x.shape[0]).clamp_min(SIGMA_MIN)
        s = torch.as_tensor(s, dtype=x.dtype, device=x.device).reshape(-1).expand(x.shape[0])
        ratio = (s / t).clamp(max=1.0).reshape(-1, 1, 1, 1)
        return ratio * x + (1 - ratio) * self.g(x, t, s)

    def denoise(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """``G(x, sigma, 0)``: the one-step jump to clean music (a consistency model)."""
        return self(x, sigma, 0.0)


def sample_consistency(model: TrajectoryModel, x: torch.Tensor, sigmas: torch.Tensor, *,
                       generator: torch.Generator | None = None, callback: Callback | None = None) -> torch.Tensor:
    """Multistep consistency sampling (Song et al. 2023, Algorithm 1): jump to 0, add fresh noise at the next level.

    ``sigmas`` from high to low, ending in 0; ``[sigma_max, 0]`` is one step.
    """
    for i in range(len(sigmas) - 1):
        denoised = model.denoise(x, sigmas[i])
        x = denoised
        if sigmas[i + 1] > 0:
            x = denoised + sigmas[i + 1] * torch.randn(x.shape, generator=generator).to(x)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": denoised})
    return x


def sample_ctm(model: TrajectoryModel, x: torch.Tensor, sigmas: torch.Tensor, *, gamma: float = 0.0,
               generator: torch.Generator | None = None, callback: Callback | None = None) -> torch.Tensor:
    """CTM's gamma-sampling (Kim et al. 2023, Algorithm 1): jump from ``sigmas[i]`` to ``sqrt(1 - gamma^2) * sigmas[i+1]``,
    then add noise ``gamma * sigmas[i+1]``. ``gamma = 0`` follows the ODE exactly (deterministic, keeps gradients
    meaningful for optimization); ``gamma = 1`` is multistep consistency sampling.
    """
    for i in range(len(sigmas) - 1):
        target = math.sqrt(1 - gamma**2) * sigmas[i + 1]
        x = model(x, sigmas[i], target)
        if gamma > 0 and sigmas[i + 1] > 0:
            x = x + gamma * sigmas[i + 1] * torch.randn(x.shape, generator=generator).to(x)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": x})
    return x


def get_sigmas_ctm(n: int, sigma_max: float = SIGMA_MAX, device="cpu") -> torch.Tensor:
    """Levels for ``n`` jumps: the Karras schedule's first ``n`` levels, then 0 (``n = 1``: straight to 0)."""
    return torch.cat([get_sigmas_karras(max(n, 2) + 1, sigma_max=sigma_max, device=device)[:n],
                      torch.zeros(1, device=device)])


@torch.no_grad()
def generate(model, *, n_steps: int, batch: int = 1, seed: int = 0, sampler_steps: int = 20, sampler: str = "euler",
             device="cpu", callback: Callback | None = None) -> torch.Tensor:
    """Unconditional music: ``batch`` rolls ``[B, 2, P, n_steps]`` from noise seeded by ``seed``.

    A :class:`Denoiser` samples with ``sampler`` (``euler``/``ddim``, ``heun`` or ``stochastic``); a
    :class:`TrajectoryModel` jumps ``sampler_steps`` times along its trajectory (CTM, deterministic).
    The rolls are tidied (:func:`~dittoedu.roll.tidy`): no lone frame cells.
    """
    from .roll import N_PITCHES, tidy

    x = initial_noise((batch, 2, N_PITCHES, n_steps), seed=seed, device=device)
    if isinstance(model, TrajectoryModel):
        return tidy(sample_ctm(model, x, get_sigmas_ctm(sampler_steps, device=device), callback=callback))
    return tidy(sample(model, x, get_sigmas_karras(sampler_steps, device=device), sampler=sampler,
                       generator=torch.Generator().manual_seed(seed), callback=callback))
