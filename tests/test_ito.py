"""optimize(): DITTO and the baselines, on a small untrained model (the mechanics, not the music)."""

import math

import pytest
import torch

from net_helpers import untrained_unet

from dittoedu import controls as C, ito
from dittoedu.diffusion import Denoiser, SIGMA_MAX
from dittoedu.nets import UNet1d
from dittoedu.roll import Note


@pytest.fixture(scope="module")
def model():
    return Denoiser(untrained_unet()).eval().requires_grad_(False)


def melody():
    return C.Melody.from_melody([Note(67, 0, 8), Note(72, 8, 8)], n_steps=16)


def test_ditto_lowers_the_loss_and_keeps_a_history(model):
    mel = melody()
    plain = ito.optimize(model, [mel], n_steps=16, method="none", sampler_steps=3)
    res = ito.optimize(model, [mel], n_steps=16, method="ditto", n_iters=12, lr=0.3, sampler_steps=3,
                       snapshot_every=4, early_stop=False)
    assert res.iterations == 12 and len(res.loss_history["melody"]) == 12 == len(res.loss_history["total"])
    assert res.loss_history["melody"][-1] < res.loss_history["melody"][0] / 2
    assert res.final_losses["melody"] < plain.final_losses["melody"]
    assert [i for i, _ in res.snapshots] == [0, 4, 8]
    assert res.timings["total_s"] >= res.timings["optimize_s"] > 0
    # the noise the melody moves stays where Gaussian noise lives (the rest is left as drawn)
    moved = res.x_T[:, ito.moving_cells([mel], res.x_T.shape[1:])]
    assert moved.norm().item() == pytest.approx(SIGMA_MAX * math.sqrt(moved.numel()), rel=1e-4)


def test_result_says_whether_the_delivered_music_meets_each_target(model):
    """Result.met asks every method DITTO's stopping question, on the music delivered."""
    plain = ito.optimize(model, [], n_steps=16, method="none", sampler_steps=3)
    keep = torch.arange(16) < 8
    own = C.Inpaint(reference=plain.x0[0], keep=keep)  # keep the first half of what this seed plays anyway
    silent = C.Inpaint(reference=-torch.ones_like(plain.x0[0]), keep=keep)
    assert plain.notes and ito.optimize(model, [own], n_steps=16, method="none", sampler_steps=3).met([own]) == {
        "inpaint": True}
    res = ito.optimize(model, [silent], n_steps=16, method="none", sampler_steps=3)
    assert res.met([silent]) == {"inpaint": False} and res.measure([silent])["inpaint"]["kept_f1"] < 1


def test_shell_projection_of_some_cells_leaves_the_others_alone():
    eps = torch.randn(2, 2, 5, 8) * 3
    cells = (torch.arange(8) < 3).expand(2, 5, 8)
    out = ito.project_to_shell(eps, cells)
    assert torch.equal(out[:, ~cells], eps[:, ~cells])
    for item in out[:, cells]:
        assert item.norm().item() == pytest.approx(math.sqrt(item.numel()), rel=1e-5)


def band_power(eps):
    """Power of each band of ``eps [B, 2, P, T]``'s spectrum over time, averaged over rows: 1 for white noise."""
    return torch.fft.rfft(eps, dim=-1).abs().square().mean(dim=(1, 2)) / eps.shape[-1]


def test_keep_white_caps_the_slow_bands_and_only_them():
    eps = torch.randn(2, 2, 48, 64, generator=torch.Generator().manual_seed(1))
    trend = eps + torch.linspace(-2, 2, 64) + 0.5  # a rise and an offset: power in the slowest bands
    assert band_power(trend)[:, :3].max() > 5 * ito.BAND_CAP
    out = ito.keep_white(trend)
    assert band_power(out).max().item() == pytest.approx(ito.BAND_CAP, rel=1e-4)
    calm = band_power(trend) <= ito.BAND_CAP  # bands under the cap keep their content exactly
    bands_in, bands_out = torch.fft.rfft(trend, dim=-1), torch.fft.rfft(out, dim=-1)
    for b in range(2):
        assert torch.allclose(bands_out[b][..., calm[b]], bands_in[b][..., calm[b]], atol=1e-4)
    cells = (torch.arange(64) >= 32).expand(2, 48, 64)
    some = ito.keep_white(trend, cells)
    assert torch.equal(some[:, ~cells], trend[:, ~cells]) and torch.equal(some[:, cells], out[:, cells])


def test_ditto_keeps_a_loudness_curve_out_of_the_noise(monkeypatch):
    """A rising loudness curve pushes the noise up over time; without keep_white its slowest bands grow.
    (Here the "sampler" plays the noise as it is: an untrained model hardly passes the curve on.)"""
    loud = C.Intensity(target_db=torch.linspace(-40, -10, 32))

    def slowest_bands():
        eps = ito.draw_noise([loud], (1, 2, 48, 32), torch.Generator().manual_seed(0))
        best, _, _, _ = ito._ditto(lambda e: e, [loud], eps, n_iters=20, lr=0.5, lr_decay=0.97, betas=(0.9, 0.999),
                                   record=lambda *a: None, should_stop=None, early_stop=False, adam_eps=0.3)
        return band_power(best)[0, :3].max().item()

    kept = slowest_bands()
    monkeypatch.setattr(ito, "keep_white", lambda eps, cells=None: eps)
    assert kept <= 1.05 * ito.BAND_CAP < slowest_bands()


def test_the_cells_each_control_leaves_to_the_model():
    reference = torch.full((2, 48, 16), -1.0)
    keep = torch.arange(16) < 8
    out = C.Outpaint(reference=reference, keep=keep)
    shape = (2, 48, 16)
    assert torch.equal(ito.moving_cells([out], shape), keep.expand(shape))
    mel = melody()  # G4 for 8 steps, then C5: the melody's row, those above and three below move
    cells = ito.moving_cells([mel], shape)
    assert cells[:, 67 - 36 - 3 :, :8].all() and not cells[:, : 67 - 36 - 3, :8].any()
    assert cells[:, 72 - 36 - 3 :, 8:].all() and not cells[:, : 72 - 36 - 3, 8:].any()
    assert torch.equal(ito.moving_cells([out, mel], shape), keep.expand(shape) | cells)
    ends = (torch.arange(16) < 4) | (torch.arange(16) >= 12)  # a loop moves its two ends, not the middle
    assert torch.equal(ito.moving_cells([C.Loop(n=4)], shape), ends.expand(shape))
    assert torch.equal(ito.moving_cells([out, C.Loop(n=4)], shape), (keep | ends).expand(shape))
    assert ito.moving_cells([C.Inpaint(reference=reference, keep=torch.ones(16, dtype=torch.bool))], shape) is None


def test_a_loop_starts_from_noise_that_loops(model):
    loop = C.Loop(n=4)
    eps = ito.draw_noise([loop], (3, 2, 48, 16), torch.Generator().manual_seed(0))
    assert torch.equal(eps[..., -4:], eps[..., :4]) and not torch.equal(eps[..., 4:8], eps[..., :4])
    for item in eps:
        assert item.norm().item() == pytest.approx(math.sqrt(item.numel()), rel=1e-5)
    drawn = torch.randn((1, 2, 48, 16), generator=torch.Generator().manual_seed(0))
    plain = ito.draw_noise([melody()], (1, 2, 48, 16), torch.Generator().manual_seed(0))
    assert torch.equal(plain, ito.project_to_shell(drawn))  # other controls start from the noise as drawn
    for method in ("none", "guidance", "best_of_n"):
        x_T = ito.optimize(model, [loop], n_steps=16, method=method, n_iters=3, sampler_steps=3).x_T
        assert torch.equal(x_T[..., -4:], x_T[..., :4]), method


def test_melody_and_chords_together(model):
    """The chords exempt the melody's cells (passing notes); the melody moves its own rows' noise."""
    wanted, _ = C.build(bars=1, melody="4/4 e'4 d' c' d'", chords="C")
    mel, chords = wanted
    assert torch.equal(chords.exempt, mel.cells)
    assert ito.moving_cells(wanted, (2, 48, 16)) is None  # the chords ask for every cell
    res = ito.optimize(model, wanted, n_steps=16, method="ditto", n_iters=2, sampler_steps=3, early_stop=False)
    assert res.iterations == 2 and set(res.measure(wanted)) == {"melody", "chords"}


class LoudChords(C.Chords):
    """Chords whose loss is in other units: a thousand times larger."""

    def loss(self, x0):
        return 1000 * super().loss(x0)


def test_balanced_controls_do_not_depend_on_the_units_of_their_losses(model):
    """Balanced, each control gets its share of the step whatever its loss's units; summed, the
    largest loss takes the step."""
    (mel, chords), _ = C.build(bars=1, melody="4/4 e'4 d' c' d'", chords="C")
    loud = LoudChords(target=chords.target, symbols=chords.symbols, exempt=chords.exempt)
    runs = {}
    for balance in (True, False):
        for name, pair in (("chords", [mel, chords]), ("loud", [mel, loud])):
            runs[balance, name] = ito.optimize(model, pair, n_steps=16, method="ditto", n_iters=3, sampler_steps=3,
                                               seed=1, early_stop=False, balance=balance).x_T / SIGMA_MAX
    assert (runs[True, "chords"] - runs[True, "loud"]).abs().max() < 1e-4  # float rounding
    assert (runs[False, "chords"] - runs[False, "loud"]).abs().max() > 0.1


def test_the_noise_moves_only_where_the_controls_ask(model):
    torch.manual_seed(0)
    reference = torch.where(torch.rand(2, 48, 16) > 0.9, 1.0, -1.0)
    keep = torch.arange(16) < 8
    for controls in ([C.Outpaint(reference=reference, keep=keep)], [melody()], [C.Loop(n=4)]):
        cells = ito.moving_cells(controls, (2, 48, 16))
        drawn = ito.optimize(model, controls, n_steps=16, method="none", sampler_steps=3, seed=4).x_T
        for method, extra in [("ditto", {}), ("ditto2", {"surrogate": ditto2_surrogate(model)})]:
            res = ito.optimize(model, controls, n_steps=16, method=method, n_iters=5, sampler_steps=3, seed=4,
                               early_stop=False, **extra)
            assert torch.equal(res.x_T[:, ~cells], drawn[:, ~cells])  # the model's own part, as drawn
            assert not torch.allclose(res.x_T[:, cells], drawn[:, cells])
            moved = res.x_T[:, cells] / SIGMA_MAX
            assert moved.norm().item() == pytest.approx(math.sqrt(moved.numel()), rel=1e-4)


def test_the_step_size_decays_every_iteration(model):
    def x0_per_iteration(lr_decay):
        seen = []
        ito.optimize(model, [melody()], n_steps=16, n_iters=4, lr=0.3, lr_decay=lr_decay, sampler_steps=2,
                     early_stop=False, callback=lambda info: seen.append(info["x0"].clone()))
        return seen

    kept, stopped = x0_per_iteration(1.0), x0_per_iteration(0.0)  # 0: one step, then no more
    assert not torch.equal(kept[2], kept[3])
    assert not torch.allclose(stopped[0], stopped[1]) and torch.allclose(stopped[1], stopped[2], atol=1e-4)


def test_adam_step_is_torch_adam_with_a_decaying_step():
    torch.manual_seed(0)
    ours, theirs = torch.randn(3, 5), torch.randn(3, 5)
    theirs.copy_(ours).requires_grad_(True)
    start = ours.clone()
    opt = torch.optim.Adam([theirs], lr=0.5)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    moments = torch.zeros_like(ours), torch.zeros_like(ours)
    for it in range(6):
        grad = torch.randn(3, 5) * (it + 1)
        ours -= ito.adam_step(grad, moments, it + 1, 0.5 * 0.9**it)
        theirs.grad = grad.clone()
        opt.step()
        schedule.step()
    assert torch.allclose(ours, theirs.detach(), atol=1e-6) and not torch.allclose(ours, start, atol=0.1)


def test_one_huge_gradient_does_not_steer_adam_for_the_rest_of_the_run():
    """A gradient 10^4 times the usual, once, then gradients that point back: uncapped, Adam still
    steps the spike's way eight iterations later; capped, it already follows the new gradients."""
    last = {}
    for capped in (False, True):
        moments, norms = (torch.zeros(2, 8), torch.zeros(2, 8)), []
        for it in range(12):
            grad = torch.ones(2, 8) * (1e4 if it == 3 else 1.0 if it < 3 else -1.0)
            grad[1] *= 2.0  # each item is capped by its own history
            if capped:
                grad = ito.cap_gradient(grad, norms)
            step = ito.adam_step(grad, moments, it + 1, 0.5)
        last[capped] = step.mean().item()
    assert last[False] > 0 > last[True]  # the step is subtracted: > 0 still follows the spike
    assert torch.allclose(torch.stack(norms)[:, 1], 2 * torch.stack(norms)[:, 0])


def test_early_stop_when_met(model):
    mel = C.Melody(pitches=[None] * 16, onsets=[])  # nothing asked: met at once
    res = ito.optimize(model, [mel], n_steps=16, n_iters=10, sampler_steps=2)
    assert res.iterations == 1 and res.stop_reason.startswith("targets met")


# network calls: one iteration (2 sampler steps, or 1 jump) and, for a CM decode, the 2 steps that confirmed it
@pytest.mark.parametrize("method, decode, steps, n_calls", [("ditto", "ctm", 1, 2), ("ditto2", "ctm", 1, 1),
                                                            ("ditto2", "cm", 2, 3)])
def test_an_early_stop_returns_the_music_of_the_noise_it_returns(model, surrogate, method, decode, steps, n_calls):
    """The loop has just decoded the noise it stops on; that music is the result, not decoded again."""
    from dittoedu.diffusion import get_sigmas_ctm, get_sigmas_karras, sample_consistency, sample_ctm, sample_euler
    from dittoedu.roll import tidy

    mel = C.Melody(pitches=[None] * 16, onsets=[])  # nothing asked: met at once
    calls = []
    hooks = [ito.traced(m).register_forward_hook(lambda *_: calls.append(1))  # what optimize calls
             for m in (model, surrogate)]
    try:
        res = ito.optimize(model, [mel], n_steps=16, method=method, surrogate=surrogate, decode=decode,
                           decode_steps=steps, n_iters=10, sampler_steps=2, seed=3)
    finally:
        for h in hooks:
            h.remove()
    assert res.stop_reason.startswith("targets met") and res.iterations == 1 and len(calls) == n_calls
    with torch.no_grad():
        if method == "ditto":
            again = sample_euler(model, res.x_T, get_sigmas_karras(2))
        elif decode == "ctm":
            again = sample_ctm(surrogate, res.x_T, get_sigmas_ctm(1))
        else:
            again = sample_consistency(surrogate, res.x_T, get_sigmas_ctm(2), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(res.x0, tidy(again))  # the music delivered: without lone cells


def test_same_seed_same_result():
    """Also the first run of a model, which traces its network (nets.TracedNet), gives what later ones give
    (TorchScript's optimized execution did not: the shipped model's first run moved the noise 0.01 otherwise)."""
    from dittoedu.cli import load_default_model

    shipped = load_default_model()[0]  # a fresh model, never traced (untrained ones did not show the difference)
    a, b, c = (ito.optimize(shipped, [melody()], n_steps=16, n_iters=3, sampler_steps=2, seed=4, early_stop=False)
               for _ in range(3))
    assert torch.equal(a.x_T, b.x_T) and torch.equal(b.x_T, c.x_T) and a.loss_history == b.loss_history == c.loss_history


class Exploding(C.Control):
    """A control whose loss turns NaN at the third call: the guard must stop and keep the best."""

    name = "exploding"

    def __init__(self):
        super().__init__()
        self.calls = 0

    def feature(self, x0):
        return x0

    def loss(self, x0):
        self.calls += 1
        value = x0.square().mean((1, 2, 3))
        return value * float("nan") if self.calls > 4 else value


def test_nan_guard_keeps_the_best(model):
    res = ito.optimize(model, [Exploding()], n_steps=16, n_iters=10, sampler_steps=2, early_stop=False)
    assert "NaN" in res.stop_reason and res.iterations < 10
    assert torch.isfinite(res.x0).all()


def test_user_stop_and_callback(model):
    seen = []
    res = ito.optimize(model, [melody()], n_steps=16, n_iters=10, sampler_steps=2, early_stop=False,
                       callback=seen.append, should_stop=lambda: len(seen) >= 3)
    assert res.iterations == 3 and "stopped by the user" in res.stop_reason
    assert set(seen[0]) == {"iteration", "losses", "x0"} and "melody" in seen[0]["losses"]


def test_baselines(model):
    mel = melody()
    best = ito.optimize(model, [mel], n_steps=16, method="best_of_n", n_iters=6, sampler_steps=2)
    assert best.iterations == 6 and best.final_losses["melody"] <= best.loss_history["melody"][0] + 1e-6
    guided = ito.optimize(model, [mel], n_steps=16, method="guidance", sampler_steps=4)
    plain = ito.optimize(model, [mel], n_steps=16, method="none", sampler_steps=4)
    assert guided.final_losses["melody"] < plain.final_losses["melody"]


def test_bad_calls(model):
    with pytest.raises(ValueError, match="unknown method"):
        ito.optimize(model, [melody()], n_steps=16, method="magic")
    with pytest.raises(ValueError, match="once"):
        ito.optimize(model, [melody(), melody()], n_steps=16)
    with pytest.raises(ValueError, match="covers 16 steps but the music has 32"):
        ito.optimize(model, [melody()], n_steps=32)


def test_measure_reports_each_control(model):
    ch = C.Chords.from_text("C", n_steps=16)
    res = ito.optimize(model, [melody(), ch], n_steps=16, n_iters=2, sampler_steps=2)
    m = res.measure([melody(), ch])
    assert set(m) == {"melody", "chords"} and m["chords"]["target"] == ["C"]
    assert 0 <= m["melody"]["accuracy"] <= 1 and "chord_tone_ratio" in m["chords"]


def ditto2_surrogate(model):
    """A consistency-trajectory model with the base model's weights (untrained as such)."""
    import dataclasses

    from dittoedu.diffusion import TrajectoryModel

    net = UNet1d(dataclasses.replace(model.net.config, target_level=True))
    net.load_state_dict(model.net.state_dict(), strict=False)
    return TrajectoryModel(net).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def surrogate(model):
    return ditto2_surrogate(model)


@pytest.mark.parametrize("decode", ["ctm", "cm", "base"])
def test_ditto2(model, surrogate, decode):
    mel = melody()
    res = ito.optimize(model, [mel], n_steps=16, method="ditto2", surrogate=surrogate, decode=decode,
                       n_iters=10, lr=0.3, sampler_steps=3, early_stop=False)
    assert res.iterations == 10 and res.loss_history["melody"][-1] < res.loss_history["melody"][0]
    assert res.x0.shape == (1, 2, 48, 16) and torch.isfinite(res.x0).all()


def test_each_method_has_its_own_default_step(model, surrogate):
    assert ito.default_lr("ditto2") == 1.0 and ito.default_lr("ditto") == ito.default_lr("guidance") == 0.5

    def x_T(method, lr):
        return ito.optimize(model, [melody()], n_steps=16, method=method, surrogate=surrogate, n_iters=2, lr=lr,
                            sampler_steps=2, early_stop=False).x_T

    assert torch.equal(x_T("ditto2", None), x_T("ditto2", 1.0)) and not torch.equal(x_T("ditto2", None),
                                                                                   x_T("ditto2", 0.5))
    assert torch.equal(x_T("ditto", None), x_T("ditto", 0.5))


def test_each_method_has_its_own_adam_betas_and_eps(model, surrogate, monkeypatch):
    seen = []
    adam_step = ito.adam_step

    def spy(grad, *a, **kw):
        seen.append((a[3], kw.get("eps"), round(grad.square().mean().item(), 4)))
        return adam_step(grad, *a, **kw)

    monkeypatch.setattr(ito, "adam_step", spy)
    for method in ("ditto2", "ditto"):
        ito.optimize(model, [melody()], n_steps=16, method=method, surrogate=surrogate, n_iters=2, sampler_steps=2,
                     early_stop=False)
    assert [s[:2] for s in seen] == [((0.8, 0.99), None)] * 2 + [((0.9, 0.999), 0.3)] * 2
    assert [s[2] for s in seen[2:]] == [1.0, 1.0]  # DITTO's gradients come scaled to an RMS of 1


def test_adam_with_a_relative_eps_leaves_the_numbers_the_loss_hardly_touches():
    """One number with a big gradient, the rest with tiny ones: Adam's usual eps moves them all by
    the same step; eps at 0.3 of the gradient's RMS moves the tiny ones hardly at all."""
    grad = torch.full((1, 100), 0.01)
    grad[0, 0] = 10.0
    grad = grad / grad.square().mean().sqrt()  # as _ditto scales it
    usual = ito.adam_step(grad, (torch.zeros_like(grad), torch.zeros_like(grad)), 1, 0.5)
    relative = ito.adam_step(grad, (torch.zeros_like(grad), torch.zeros_like(grad)), 1, 0.5, eps=0.3)
    assert torch.allclose(usual, torch.full_like(usual, 0.5), atol=1e-4)  # every number moves as far
    assert relative[0, 0] > 0.45 and relative[0, 1:].abs().max() < 0.02  # 30 times less


def test_ditto2_needs_a_surrogate(model):
    with pytest.raises(ValueError, match="surrogate"):
        ito.optimize(model, [melody()], n_steps=16, method="ditto2")
