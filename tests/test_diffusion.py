"""Samplers against the closed form on Gaussian data; gradients through sampling; determinism."""

import math

import pytest
import torch

from net_helpers import untrained_unet

from dittoedu import diffusion as D
from dittoedu.nets import UNet1d, UNetConfig

S = 0.7  # data ~ N(0, S^2): the ideal denoiser is known exactly


def ideal_denoiser(x, sigma):
    """E[x0 | x] for x0 ~ N(0, S^2) and x = x0 + sigma * eps."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    return x * S**2 / (S**2 + sigma**2)


def exact_ode_end(x_T, sigma_max):
    """The probability-flow ODE of Gaussian data scales x by sqrt(S^2 + sigma^2): solve it to sigma = 0."""
    return x_T * S / math.sqrt(S**2 + sigma_max**2)


def relative_error(sampler, n, x_T):
    sigmas = D.get_sigmas_karras(n, dtype=torch.float64)
    out = sampler(ideal_denoiser, x_T, sigmas)
    exact = exact_ode_end(x_T, float(sigmas[0]))
    return ((out - exact).abs().max() / exact.abs().max()).item()


@pytest.mark.parametrize("sampler, n, tol", [(D.sample_euler, 1000, 5e-3), (D.sample_heun, 200, 1e-3)])
def test_sampler_matches_closed_form(sampler, n, tol):
    x_T = D.initial_noise((4, 2, 8, 16), seed=0).double()
    assert relative_error(sampler, n, x_T) < tol


def test_convergence_orders():
    """Four times the steps: Euler's error shrinks about 4x (first order), Heun's about 16x (second order)."""
    x_T = D.initial_noise((1, 2, 4, 8), seed=1).double()
    euler = relative_error(D.sample_euler, 50, x_T) / relative_error(D.sample_euler, 200, x_T)
    heun = relative_error(D.sample_heun, 50, x_T) / relative_error(D.sample_heun, 200, x_T)
    assert 3 < euler < 5.5 and 12 < heun < 22


def test_schedule():
    s = D.get_sigmas_karras(20)
    assert len(s) == 21 and torch.isclose(s[0], torch.tensor(D.SIGMA_MAX)) and s[-1] == 0
    assert torch.isclose(s[-2], torch.tensor(D.SIGMA_MIN))
    assert (s[1:] < s[:-1]).all()


def test_preconditioning_boundary():
    c_skip, c_out, c_in, _ = D.edm_scalings(torch.tensor([1e-4, 1e3]))
    assert c_skip[0] > 0.9999 and c_out[0] < 1e-3  # tiny noise: D(x) ~ x
    assert c_skip[1] < 1e-6  # huge noise: D(x) ~ the network's guess
    assert torch.allclose(c_in * (torch.tensor([1e-4, 1e3]) ** 2 + D.SIGMA_DATA**2).sqrt(), torch.ones(2))


@pytest.fixture(params=D.PARAMETERIZATIONS)
def small_denoiser(request):
    return D.Denoiser(untrained_unet(attention_heads=2, parameterization=request.param))


@pytest.mark.parametrize("checkpoint", [False, True])
def test_gradients_reach_the_initial_noise(small_denoiser, checkpoint):
    x_T = D.initial_noise((1, 2, 48, 16), seed=0).requires_grad_(True)
    out = D.sample_euler(small_denoiser, x_T, D.get_sigmas_karras(4), checkpoint=checkpoint)
    out[:, 1, 20].sum().backward()
    assert x_T.grad is not None and x_T.grad.abs().sum() > 0


def test_checkpointing_gives_the_same_gradient(small_denoiser):
    grads = []
    for checkpoint in (False, True):
        x_T = D.initial_noise((1, 2, 48, 16), seed=0).requires_grad_(True)
        D.sample_euler(small_denoiser, x_T, D.get_sigmas_karras(3), checkpoint=checkpoint).square().mean().backward()
        grads.append(x_T.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_same_seed_same_music(small_denoiser):
    a = D.generate(small_denoiser, n_steps=16, seed=5, sampler_steps=3)
    b = D.generate(small_denoiser, n_steps=16, seed=5, sampler_steps=3)
    c = D.generate(small_denoiser, n_steps=16, seed=6, sampler_steps=3)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_callback_sees_every_step(small_denoiser):
    seen = []
    D.generate(small_denoiser, n_steps=16, sampler_steps=5, callback=lambda d: seen.append((d["i"], d["x"].shape)))
    assert [i for i, _ in seen] == list(range(5))
    with pytest.raises(ValueError, match="unknown sampler"):
        D.generate(small_denoiser, n_steps=16, sampler="nope")


def test_training_loss_learns_a_constant():
    """A few hundred steps on one fixed pattern bring the loss well down: the loss and preconditioning fit together."""
    torch.manual_seed(0)
    den = D.Denoiser(UNet1d(UNetConfig(channels=(16, 16, 16), blocks_per_level=1, emb_dim=32, attention_heads=0)))
    x0 = -torch.ones(8, 2, 48, 16)
    x0[:, :, 24, ::4] = 1
    opt = torch.optim.Adam(den.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = D.training_loss(den, x0, generator=torch.Generator().manual_seed(99)).item()
    for _ in range(150):
        loss = D.training_loss(den, x0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = D.training_loss(den, x0, generator=torch.Generator().manual_seed(99)).item()
    assert last < 0.7 * first


@pytest.fixture
def trajectory_model():
    return D.TrajectoryModel(untrained_unet(target_level=True))


def test_trajectory_boundary_and_consistency_form(trajectory_model):
    x = torch.randn(2, 2, 48, 16) * 5
    assert torch.allclose(trajectory_model(x, 5.0, 5.0), x)  # G(x, t, t) = x
    g = trajectory_model.g(x, 5.0, 0.0)
    assert torch.allclose(trajectory_model.denoise(x, 5.0), g)  # G(x, t, 0) = g
    half = trajectory_model(x, 4.0, 2.0)
    assert torch.allclose(half, 0.5 * x + 0.5 * trajectory_model.g(x, 4.0, 2.0), atol=1e-6)


def test_copied_denoiser_is_the_consistency_model_at_start(small_denoiser):
    cfg = small_denoiser.net.config
    import dataclasses

    student = D.TrajectoryModel(UNet1d(dataclasses.replace(cfg, target_level=True)))
    student.net.load_state_dict(small_denoiser.net.state_dict(), strict=False)
    x = torch.randn(1, 2, 48, 16) * 3
    assert torch.allclose(student.denoise(x, 3.0), small_denoiser(x, 3.0), atol=1e-5)


def test_ctm_and_consistency_samplers(trajectory_model):
    x = D.initial_noise((1, 2, 48, 16), seed=0)
    one = D.sample_ctm(trajectory_model, x, D.get_sigmas_ctm(1))
    assert torch.allclose(one, trajectory_model.denoise(x, D.SIGMA_MAX), atol=1e-6)
    seen = []
    D.sample_ctm(trajectory_model, x, D.get_sigmas_ctm(3), callback=lambda d: seen.append(d["i"]))
    assert seen == [0, 1, 2]
    a = D.sample_consistency(trajectory_model, x, D.get_sigmas_ctm(3), generator=torch.Generator().manual_seed(1))
    b = D.sample_consistency(trajectory_model, x, D.get_sigmas_ctm(3), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    x.requires_grad_(True)
    trajectory_model.denoise(x, D.SIGMA_MAX).square().mean().backward()
    assert x.grad.abs().sum() > 0


def test_binary_denoiser_guesses_the_expected_cell_and_passes_soft_gradients():
    raw = torch.tensor([-12.0, 0.0, 3.0], requires_grad=True)
    x, sigma = torch.zeros(3), torch.ones(1)
    exact = D.denoised_from(raw, x, sigma, "binary")
    assert torch.allclose(exact, 2 * torch.sigmoid(raw) - 1)  # P(on) - P(off)
    soft = D.denoised_from(raw, x, sigma, "binary", grad_temperature=30.0)
    assert torch.equal(soft, exact)  # the same music forward...
    (g_exact,) = torch.autograd.grad(exact[0], raw)
    (g_soft,) = torch.autograd.grad(soft[0], raw)
    assert g_exact[0] < 1e-4 < g_soft[0]  # ...but a sure cell still says which way it would move


def test_binary_denoiser_gradients_are_exact_in_training():
    net = untrained_unet(parameterization="binary")
    den = D.Denoiser(net)
    x = torch.randn(1, 2, 48, 16, requires_grad=True)
    den.train()
    (g_train,) = torch.autograd.grad(den(x, 0.5).sum(), x)
    den.eval()
    (g_eval,) = torch.autograd.grad(den(x, 0.5).sum(), x)
    assert not torch.allclose(g_train, g_eval)


@pytest.mark.parametrize("sampler", ["euler", "heun", "stochastic"])
def test_samplers_draw_from_a_known_distribution(sampler):
    """Data ~ N(0, 0.5^2) has the exact denoiser D(x; sigma) = x * s^2 / (s^2 + sigma^2): each sampler must
    end with the data's spread (the stochastic one's fresh noise included), given enough steps."""
    s = 0.5
    exact = lambda x, sigma: x * s**2 / (s**2 + sigma**2)  # noqa: E731
    x_T = D.initial_noise((20_000,), seed=0)
    x0 = D.sample(exact, x_T, D.get_sigmas_karras(100), sampler=sampler, generator=torch.Generator().manual_seed(1))
    assert abs(x0.std().item() - s) < 0.02


def test_stochastic_sampler_is_seeded_and_keeps_gradients(small_denoiser):
    a = D.generate(small_denoiser, n_steps=16, seed=5, sampler_steps=3, sampler="stochastic")
    b = D.generate(small_denoiser, n_steps=16, seed=5, sampler_steps=3, sampler="stochastic")
    c = D.sample(small_denoiser, D.initial_noise(a.shape, seed=5), D.get_sigmas_karras(3), sampler="stochastic",
                 generator=torch.Generator().manual_seed(6))  # same start, other fresh noise
    assert torch.equal(a, b) and not torch.equal(a, c)
    x_T = D.initial_noise(a.shape, seed=5).requires_grad_()
    D.sample(small_denoiser, x_T, D.get_sigmas_karras(3), sampler="stochastic").sum().backward()
    assert x_T.grad.abs().sum() > 0
