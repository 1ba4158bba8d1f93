"""Inference-time optimization: change the *initial noise* until the music does what you asked.

DITTO (Novack et al. 2024, Algorithm 1) in four lines::

    x_T ~ N(0, sigma_max^2 I)
    repeat:  x_0 = sampler(model, x_T)                  # the whole multi-step sampler, with gradients
             L = sum_c w_c * loss_c(feature_c(x_0))
             x_T = x_T - Adam(dL/dx_T)                  # backpropagate through every sampler step

The model never changes: only where the sampler starts. Because diffusion samplers map
noise to music smoothly, a good starting point gives music that is both on target *and*
in the style the model learnt. We keep ``x_T`` on the sphere where Gaussian noise lives
(norm ``sqrt(D)`` for ``D`` numbers), so the optimizer cannot wander off to noise the model
never saw, and its spectrum over time near white noise's (:func:`keep_white`), so that a slow
loss does not turn into slow trends in the noise, which the model plays as held notes. Where a
control leaves part of the music to the model (the gap of an inpainting, the continuation of an
outpainting, the middle of a loop, the voices under a melody), that part keeps the noise it was
drawn with (:func:`moving_cells`) and the model writes it as freely as in a plain sample.
(Moving all of the noise, the controls' gradients reshaped that part too: DITTO's continuations
had one-step notes four times as often as plain samples, its melodies' accompaniments too.)
A control may also choose the noise to start from (:func:`draw_noise`): a loop starts from noise
whose last steps copy its first ones. With several controls, each one's gradient is scaled to the
same size before they are added (:func:`balanced_gradient`): their losses come in different units.

``optimize(model, controls, method=...)`` runs one of:

* ``"ditto"``: DITTO, as above;
* ``"ditto2"``: DITTO-2 (Novack et al. 2024b): optimize through a *one-step* consistency-trajectory
  model (the ``surrogate``, ``x_0 = G(x_T, sigma_max, 0)``), ten times cheaper per iteration, then
  decode the optimized noise with CTM jumps (``decode="ctm"``), multistep consistency
  sampling (``"cm"``) or the base model's own sampler (``"base"``). By default it decodes with the
  one jump it optimized through (``decode_steps=1``): in ``benchmarks/ditto2.txt`` that keeps
  every control, where more jumps drift from what was optimized;
* ``"guidance"``: a baseline after FreeDoM/DPS (Yu et al. 2023; Chung et al. 2023): no outer
  loop; at every sampler step, nudge ``x_t`` down the gradient of the loss of the model's
  current guess of ``x_0``;
* ``"best_of_n"``: a baseline: sample ``n_iters`` seeds, keep the one with the lowest loss;
* ``"none"``: plain sampling, losses reported but not used.

All return a :class:`Result` with the loss history per control, snapshots of the music
every few iterations (a film strip for the classroom) and timings.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable

import torch

from .controls import Control, hard
from .diffusion import (SAMPLERS, SIGMA_MAX, get_sigmas_ctm, get_sigmas_karras, sample, sample_consistency,
                        sample_ctm, sample_euler)
from .nets import TracedNet, UNet1d
from .roll import N_PITCHES, roll_to_notes, tidy

METHODS = ("ditto", "ditto2", "guidance", "best_of_n", "none")
GUIDANCE_STEP = 0.1  # guidance moves x_t by this fraction of the noise's size per step (times guidance_scale)
DECODES = ("ctm", "cm", "base")
LR = {"ditto": 0.5, "ditto2": 1.0}  # Adam's first step on the unit-variance noise, per method (see optimize)
BETAS = {"ditto": (0.9, 0.999), "ditto2": (0.8, 0.99)}  # Adam's memory of the gradient and of its size (optimize)
# Adam's eps per method, in units of each iteration's gradient scaled to an RMS of 1 (see _ditto);
# None: Adam's usual 1e-8 on the gradient as it comes, capped (cap_gradient)
ADAM_EPS = {"ditto": 0.3, "ditto2": None}
# most iterations per control when optimize(n_iters=None), summed over the controls (they share each step):
# DITTO's paper gives melody and structure 150 and the others 70; our forms of 8 bars needed up to 109
ITERATIONS = {"melody": 150, "structure": 150}
ITERATIONS_OTHERS = 60
GRAD_CAP = 3.0  # a gradient is capped at this many times the median size of the run's earlier ones (cap_gradient)
BAND_CAP = 3.0  # no band of the noise's spectrum over time may hold more than this times white noise's power (keep_white)


def default_lr(method: str) -> float:
    """The step ``optimize`` starts with when none is given: 1.0 for DITTO-2, 0.5 otherwise."""
    return LR.get(method, LR["ditto"])


@dataclass
class Result:
    """What an optimization returns. ``x0`` is the final (soft) roll; ``notes`` its thresholded notes."""

    method: str
    x0: torch.Tensor  # [B, 2, P, T], the decoded music of the best x_T per item
    x_T: torch.Tensor  # [B, 2, P, T], the best initial noise found
    loss_history: dict[str, list[float]]  # per control and "total", per iteration (mean over the batch)
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # (iteration, x0 [2, P, T] of item 0)
    iterations: int = 0
    stop_reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    final_losses: dict[str, float] = field(default_factory=dict)

    @property
    def notes(self):
        return roll_to_notes(self.x0[0])

    def met(self, controls: list[Control], item: int = 0) -> dict[str, bool]:
        """Whether the music delivered for batch item ``item`` meets each control's target, by the rule
        DITTO stops on (``Control.done`` and ``confirmed``): the same question for every method."""
        return _met_each(controls, *_judge(controls, self.x0[item : item + 1]))

    def measure(self, controls: list[Control], item: int = 0) -> dict[str, dict]:
        """Each control's metrics on the final notes of batch item ``item``."""
        roll = self.x0[item].detach().cpu()
        return {c.name: {"target": c.describe_target(), **c.measure(roll)} for c in controls}


def total_loss(controls: list[Control], x0: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``sum_c w_c * loss_c`` per batch item ``[B]``, and each control's own loss ``[B]``."""
    parts = {c.name: c.loss(c.feature(x0)) for c in controls}
    total = sum((c.weight * parts[c.name] for c in controls), torch.zeros(x0.shape[0], device=x0.device))
    return total, parts


_TRACED = weakref.WeakKeyDictionary()  # model -> the same model with its network traced


def traced(model):
    """``model`` (a :class:`~dittoedu.diffusion.Denoiser` or :class:`~dittoedu.diffusion.TrajectoryModel`
    in eval mode, on the CPU) with its network run as a TorchScript graph (:class:`~dittoedu.nets.TracedNet`):
    the same music, an iteration about a sixth quicker. Made once per model; any other model is returned as it is
    (on a GPU the eager network is what has been measured).
    """
    net = getattr(model, "net", None)
    if not isinstance(net, UNet1d) or model.training or next(net.parameters()).device.type != "cpu":
        return model
    if model not in _TRACED:
        _TRACED[model] = type(model)(TracedNet(net)).eval()
    return _TRACED[model]


def project_to_shell(eps: torch.Tensor, cells: torch.Tensor | None = None) -> torch.Tensor:
    """Rescale each item of ``eps [B, ...]`` to norm ``sqrt(D)``: where N(0, I) noise almost surely lies.

    ``cells`` (bool, the shape of one item): rescale only those numbers, to their own shell;
    the others are left as they are.
    """
    if cells is not None:
        out = eps.clone()
        out[:, cells] = project_to_shell(eps[:, cells])
        return out
    D = eps[0].numel()
    return eps * (math.sqrt(D) / eps.flatten(1).norm(dim=1).clamp_min(1e-8)).reshape(-1, *[1] * (eps.dim() - 1))


def keep_white(eps: torch.Tensor, cells: torch.Tensor | None = None) -> torch.Tensor:
    """Shrink each band of the spectrum over time of ``eps [B, 2, P, T]`` whose power, averaged over the
    ``2 P`` rows, is more than ``BAND_CAP`` times white noise's (1 in every band for N(0, I)).

    The shell (:func:`project_to_shell`) keeps the noise's size, not its colour. A slow loss such as
    loudness pushes every row of the noise the same way for seconds at a time; after DITTO's steps the
    slowest bands held 4-7 times white noise's power (the noise's time correlation went from 0 to
    +0.3), the model played them as held notes, and the intensity benchmark's notes came out 21 %
    longer than plain samples'. With the cap at 3, 14-15 % (4.14 -> 3.92 sixteenths over three sets
    of seeds, 60 runs each), in as many iterations (a mean of 29 either way). Full whitening (cap 1) brought
    them back to 3 % but left three curves of twenty unmet after 60 iterations: the loudness curve's own
    shape lives in those bands. ``cells``: change only those.

    >>> eps = torch.randn(1, 2, 48, 64, generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(keep_white(eps), eps, atol=1e-5)       # white noise passes unchanged
    True
    >>> trend = eps + torch.linspace(-2, 2, 64)                # a slow rise in every row ...
    >>> bool((keep_white(trend) - eps).abs().mean() < (trend - eps).abs().mean() / 2)   # ... mostly goes
    True
    """
    T = eps.shape[-1]
    bands = torch.fft.rfft(eps, dim=-1)
    power = bands.abs().square().mean(dim=(1, 2), keepdim=True) / T  # [B, 1, 1, T // 2 + 1]
    out = torch.fft.irfft(bands / (power / BAND_CAP).clamp_min(1).sqrt(), n=T, dim=-1)
    return out if cells is None else torch.where(cells, out, eps)


def iteration_budget(controls: list[Control]) -> int:
    """Most iterations for ``controls``: 150 for a melody or a form, 60 for any other control, summed
    (several controls share each step; a run stops as soon as every target is met).

    >>> from dittoedu import controls as C
    >>> iteration_budget([C.Intensity()]), iteration_budget([C.Chords(), C.Structure()]), iteration_budget([])
    (60, 210, 60)
    """
    return sum(ITERATIONS.get(c.name, ITERATIONS_OTHERS) for c in controls) or ITERATIONS_OTHERS


def draw_noise(controls: list[Control], shape, generator: torch.Generator) -> torch.Tensor:
    """Fresh starting noise of ``shape``, as each control wants it (:meth:`Control.start_noise`),
    on the shell."""
    eps = torch.randn(shape, generator=generator)
    for c in controls:
        eps = c.start_noise(eps)
    return project_to_shell(eps)


def moving_cells(controls: list[Control], shape) -> torch.Tensor | None:
    """Bool ``shape`` (``[2, P, T]``): the cells whose noise DITTO moves, those some control asks
    for (:meth:`Control.noise_cells`); None when that is all of them."""
    masks = [c.noise_cells(shape[-1]) for c in controls]
    if not masks or any(m is None for m in masks):
        return None
    union = torch.stack([m.bool().expand(shape) for m in masks]).any(0)
    return None if union.all() else union


def _check(controls, n_steps, method):
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    names = [c.name for c in controls]
    if len(set(names)) != len(names):
        raise ValueError(f"each control can be given once; got {names}")
    for c in controls:
        c.check_length(n_steps)


def optimize(model, controls: list[Control], *, n_steps: int = 64, method: str = "ditto", n_iters: int | None = 30,
             lr: float | None = None, lr_decay: float = 0.97, sampler_steps: int = 8, seed: int = 0, batch: int = 1,
             callback: Callable[[dict], None] | None = None, should_stop: Callable[[], bool] | None = None,
             checkpoint: bool = False, snapshot_every: int = 5, early_stop: bool = True,
             guidance_scale: float = 1.0, surrogate=None, decode: str = "ctm", decode_steps: int = 1,
             sampler: str = "euler", balance: bool = True, progress: bool = False, device="cpu") -> Result:
    """Generate ``batch`` pieces of ``n_steps`` steps that follow ``controls`` (see the module docstring).

    ``n_iters``: optimization steps for ``"ditto"``, candidates for ``"best_of_n"``; None: the
    controls' :func:`iteration_budget`.
    ``lr``: Adam's step on the unit-variance noise, multiplied by ``lr_decay`` after every iteration:
    big steps to find the music, small ones to settle it (0.97 took the intensity benchmark's curves
    from a median of 50 to 36 iterations; 1.0 keeps it fixed). Default (:func:`default_lr`): 0.5 for
    DITTO; 1.0 for DITTO-2, whose one-jump surrogate is smoother than eight sampler steps (the
    benchmark's targets met in a fifth fewer iterations; DITTO at 1.0 lost loops it keeps at 0.5).
    Adam's betas (``BETAS``): torch's (0.9, 0.999) for DITTO; (0.8, 0.99) for DITTO-2, which then
    forgets old gradients sooner and keeps its steps big while the last few cells are settled
    (in/outpainting and form in 10-20 % fewer iterations; DITTO lost loops with them).
    ``sampler_steps``: Euler (DDIM) steps in the sampler optimized through and decoded with.
    ``callback`` gets ``{'iteration', 'losses', 'x0'}`` after every iteration; ``should_stop()``
    returning True ends the run early (a Stop button).
    ``checkpoint`` recomputes sampler steps in the backward pass to save memory. ``progress``
    shows a progress bar. For ``"ditto2"``: ``surrogate`` is the distilled
    :class:`~dittoedu.diffusion.TrajectoryModel`, ``decode`` and ``decode_steps`` how the result is decoded.
    ``sampler``: how ``"none"`` samples (``"euler"``, ``"heun"`` or ``"stochastic"``, see
    :mod:`~dittoedu.diffusion`); every other method optimizes through Euler steps.
    ``balance``: with several controls, give each unmet one an equal share of every step, times its
    weight (:func:`balanced_gradient`); False: follow the gradient of the weighted sum of the losses,
    as DITTO does.
    """
    _check(controls, n_steps, method)
    lr = default_lr(method) if lr is None else lr
    n_iters = iteration_budget(controls) if n_iters is None else n_iters
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if method == "ditto2":
        if surrogate is None:
            raise ValueError("method 'ditto2' needs the distilled model: optimize(..., surrogate=ctm_model)")
        if decode not in DECODES:
            raise ValueError(f"unknown decode {decode!r}; choose one of {', '.join(DECODES)}")
        surrogate = traced(surrogate.to(device))
    model = traced(model.to(device))
    shape = (batch, 2, N_PITCHES, n_steps)
    generator = torch.Generator().manual_seed(seed)
    eps = draw_noise(controls, shape, generator).to(device)
    sigmas = get_sigmas_karras(sampler_steps, device=device)
    t0 = time.perf_counter()
    history = {c.name: [] for c in controls} | {"total": []}
    result = Result(method, x0=torch.empty(0), x_T=eps * SIGMA_MAX, loss_history=history)
    bar = None
    if progress and method in ("ditto", "ditto2", "best_of_n"):
        from tqdm.auto import tqdm

        bar = tqdm(total=n_iters, desc=method, unit="sample" if method == "best_of_n" else "it", leave=False)

    def record(iteration, x0, total, parts):
        for name, value in parts.items():
            history[name].append(value.detach().mean().item())
        history["total"].append(total.detach().mean().item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history['total'][-1]:.4f}")
        if snapshot_every and iteration % snapshot_every == 0:
            result.snapshots.append((iteration, x0[0].detach().cpu().clone()))
        if callback is not None:
            callback({"iteration": iteration, "losses": {k: v[-1] for k, v in history.items()}, "x0": x0.detach()})

    def decode_ditto2(e):
        """DITTO-2's final decode of noise ``e``: a few CTM jumps, CM steps, or the base sampler."""
        with torch.no_grad():
            if decode == "base":
                return sample_euler(model, e * SIGMA_MAX, sigmas)
            levels = get_sigmas_ctm(decode_steps, device=device)
            if decode == "ctm":
                return sample_ctm(surrogate, e * SIGMA_MAX, levels)
            return sample_consistency(surrogate, e * SIGMA_MAX, levels, generator=torch.Generator().manual_seed(seed))

    x0 = None  # the music, once some step has decoded the final noise
    if method in ("ditto", "ditto2"):
        confirm = None
        if method == "ditto":
            generate = lambda e: sample_euler(model, e * SIGMA_MAX, sigmas, checkpoint=checkpoint)  # noqa: E731
        else:  # DITTO-2: one jump of the consistency-trajectory model stands in for the whole sampler
            generate = lambda e: surrogate.denoise(e * SIGMA_MAX, SIGMA_MAX)  # noqa: E731
            if (decode, decode_steps) != ("ctm", 1):  # the decode is not the surrogate's jump: stop only
                confirm = decode_ditto2  # when the decoded music obeys too
        cells = moving_cells(controls, shape[1:])
        eps, x0, result.iterations, result.stop_reason = _ditto(generate, controls, eps, n_iters=n_iters, lr=lr,
                                                                lr_decay=lr_decay, betas=BETAS[method],
                                                                adam_eps=ADAM_EPS[method], record=record,
                                                                should_stop=should_stop, early_stop=early_stop,
                                                                confirm=confirm, balance=balance,
                                                                cells=None if cells is None else cells.to(device))
    elif method == "best_of_n":
        eps, result.iterations, result.stop_reason = _best_of_n(model, controls, shape, sigmas, n=n_iters,
                                                                generator=generator, record=record, device=device,
                                                                should_stop=should_stop)
    optimize_s = time.perf_counter() - t0
    if bar is not None:
        bar.close()

    t1 = time.perf_counter()
    if x0 is not None:
        pass  # the loop stopped on music it had just decoded from this noise: no need to decode it again
    elif method == "guidance":
        x0 = _guided_sample(model, controls, eps * SIGMA_MAX, sigmas, scale=guidance_scale)
        result.iterations, result.stop_reason = sampler_steps, "sampled with guidance"
    elif method == "ditto2":
        x0 = decode_ditto2(eps)
    elif method == "none":
        with torch.no_grad():
            x0 = sample(model, eps * SIGMA_MAX, sigmas, sampler=sampler, generator=generator)
        result.stop_reason = "plain sampling"
    else:
        with torch.no_grad():
            x0 = sample_euler(model, eps * SIGMA_MAX, sigmas)
    x0 = tidy(x0)  # the music delivered: no lone cells (see dittoedu.roll.lone_cells)
    decode_s = time.perf_counter() - t1
    with torch.no_grad():
        total, parts = total_loss(controls, x0)
    if method in ("none", "guidance"):
        record(0, x0, total, parts)
    result.x0, result.x_T = x0.detach(), (eps * SIGMA_MAX).detach()
    result.final_losses = {k: v.mean().item() for k, v in parts.items()} | {"total": total.mean().item()}
    result.timings = {"optimize_s": optimize_s, "decode_s": decode_s, "total_s": time.perf_counter() - t0}
    return result


def _ditto(generate, controls, eps, *, n_iters, lr, lr_decay, betas, record, should_stop, early_stop, confirm=None,
           cells=None, adam_eps=None, balance=True):
    """DITTO's loop around ``generate(eps) -> x0`` (the sampler, or DITTO-2's one-step surrogate).

    ``confirm(eps) -> x0``, when given, is how the result will really be decoded: an early stop
    needs the targets met on its output too. ``cells [2, P, T]`` (bool): move only the noise of
    these cells (:func:`moving_cells`; None: all). ``balance``: several controls' gradients by
    :func:`balanced_gradient`, not summed as they come. Returns the best noise per item, its music when the
    loop has just decoded it (targets met; else None), the iterations run and why it stopped.

    ``adam_eps`` (``ADAM_EPS``): scale each iteration's gradient to an RMS of 1 and give Adam this
    eps, a fraction of a typical gradient (DITTO: 0.3). Adam divides each number's step by the
    running size of that number's own gradient; with its usual eps of 1e-8, a number the loss
    hardly cares about moves as far as the one it cares most about, so the whole noise drifts by
    about ``lr`` a step and the music with it (a form of four repeated bars came out in seven
    voices). With eps at 0.3, those numbers barely move. On the benchmark's four-bar forms (three
    sets of seeds) DITTO's extra voices over plain samples went from +22 % to +16 % and its
    iterations from 19 to 14; the other controls met their targets in as many or fewer. None
    (DITTO-2): Adam's usual eps on the capped gradient (:func:`cap_gradient`); the scaled one gave
    its chords-per-bar outputs +27-29 % voices instead of +20 %.
    """
    param = eps.clone().requires_grad_(True)
    moments = torch.zeros_like(eps), torch.zeros_like(eps)
    norms = []  # the size of each earlier gradient, per item
    best_eps, best_loss = eps.clone(), torch.full((eps.shape[0],), math.inf, device=eps.device)
    reason = f"reached {n_iters} iterations"
    balancing = balance and len(controls) > 1
    for it in range(n_iters):
        x0 = generate(param)
        total, parts = total_loss(controls, x0)
        if not torch.isfinite(total).all():
            reason = f"stopped at iteration {it}: the loss became NaN or infinite (kept the best result so far)"
            break
        with torch.no_grad():  # judge the thresholded notes, as the student will get them
            x0_hard = hard(x0)
            hard_total, hard_parts = total_loss(controls, x0_hard)
        better = hard_total < best_loss
        best_loss = torch.where(better, hard_total, best_loss)
        best_eps[better] = param.detach()[better]
        record(it, x0, total, parts)
        met = _met_each(controls, hard_parts, x0_hard) if early_stop or balancing else None
        if early_stop and all(met.values()):
            # DITTO-2 decodes otherwise than its surrogate: the decoded music must obey too
            decoded = x0.detach() if confirm is None else confirm(param.detach())
            if confirm is None or all(_met_each(controls, *_judge(controls, decoded)).values()):
                reason = f"targets met after {it + 1} iterations"
                return param.detach().clone(), decoded, it + 1, reason  # meets them all (the lowest loss may not)
        if should_stop is not None and should_stop():
            reason = f"stopped by the user after {it + 1} iterations"
            return best_eps, None, it + 1, reason
        if balancing:
            (grad,) = torch.autograd.grad(x0, param, grad_outputs=balanced_gradient(controls, parts, x0, met))
        else:
            (grad,) = torch.autograd.grad(total.sum(), param)
        with torch.no_grad():
            if cells is not None:
                grad[:, ~cells] = 0  # the model's own cells keep the noise they were drawn with
            if adam_eps is None:
                step = adam_step(cap_gradient(grad, norms), moments, it + 1, lr * lr_decay**it, betas)
            else:  # every iteration's gradient counts alike, and eps is a fraction of its typical size
                rms = grad.flatten(1).square().mean(1).sqrt().clamp_min(1e-30).reshape(-1, *[1] * (grad.dim() - 1))
                step = adam_step(grad / rms, moments, it + 1, lr * lr_decay**it, betas, eps=adam_eps)
            param -= step
            param.copy_(project_to_shell(keep_white(param, cells), cells))
    return best_eps, None, it + 1, reason


def balanced_gradient(controls: list[Control], parts: dict[str, torch.Tensor], x0: torch.Tensor,
                      met: dict[str, bool]) -> torch.Tensor:
    """``sum_c w_c g_c / rms(g_c)``: the gradient at the music ``x0 [B, 2, P, T]`` of each control's loss
    (``parts``: name -> ``[B]``) scaled to an RMS of 1 per item, weighted, summed over the controls not
    yet met (``met``: name -> bool; over all of them once all are met).

    Each control's loss has its own units: loudness in dB^2 (several at first), a form's SSM error
    below 1, a chord's hinges per cell. Summed as they come, the largest decides every step: DITTO-2
    met both targets of the benchmark's pairs of controls in 6 of 25 requests (``benchmarks/combined.txt``).
    Scaled, every unmet control gets the same share of the step (times its weight), whatever its
    units, and a met one none until it is lost again: 25 of 25. Taken at ``x0``, it costs a backward
    pass through each loss and still one through the sampler.

    >>> loud, form = Control(), Control()
    >>> loud.name, form.name = "loud", "form"
    >>> x0 = torch.zeros(1, 2, 1, 2, requires_grad=True)  # the first channel is loud's, the second form's
    >>> parts = {"loud": 1000 * x0[:, 0].sum((1, 2)), "form": x0[:, 1].sum((1, 2))}
    >>> balanced_gradient([loud, form], parts, x0, {"loud": False, "form": False}).flatten().tolist()
    [1.4142..., 1.4142..., 1.4142..., 1.4142...]
    >>> balanced_gradient([loud, form], parts, x0, {"loud": False, "form": True}).flatten().tolist()
    [1.4142..., 1.4142..., 0.0, 0.0]
    """
    pushing = [c for c in controls if not met[c.name]] or controls
    total = torch.zeros_like(x0)
    for c in pushing:
        (g,) = torch.autograd.grad(parts[c.name].sum(), x0, retain_graph=True)
        rms = g.square().mean(tuple(range(1, g.dim())), keepdim=True).sqrt().clamp_min(1e-30)
        total += c.weight * g / rms
    return total


def cap_gradient(grad: torch.Tensor, norms: list[torch.Tensor], factor: float = GRAD_CAP) -> torch.Tensor:
    """Scale each item of ``grad [B, ...]`` down to at most ``factor`` times the median of its earlier
    norms (``norms``: one ``[B]`` per earlier iteration; the capped norm is appended).

    Adam steps along a running mean of the gradients, divided by their running size. A single
    gradient a thousand times the usual one dominates both for dozens of iterations: the noise
    keeps moving the way that one gradient pointed, whatever the later ones say. Intensity makes
    such gradients: loudness is in dB, ``10 log10(power)``, whose slope grows without bound as the
    power falls, so a step that leaves a moment of silence gives a huge gradient. Capping it
    (gradient clipping, Pascanu et al. 2013, here relative to the run's own history) took DITTO-2
    on the intensity benchmark's curves from a median of 26.5 to 22 iterations (DITTO, which now
    scales every gradient to an RMS of 1 instead (see :func:`_ditto`): 36 to 31, the worst curve from
    3.1 to 0.9 dB^2); the other controls' runs did not change.

    >>> norms = []
    >>> [round(cap_gradient(torch.full((1, 4), v), norms).norm().item(), 1) for v in (1.0, 1.0, 50.0, 0.5)]
    [2.0, 2.0, 6.0, 1.0]
    """
    norm = grad.flatten(1).norm(dim=1)
    if norms:
        cap = factor * torch.stack(norms).median(0).values
        grad = grad * (cap / norm.clamp_min(1e-30)).clamp(max=1.0).reshape(-1, *[1] * (grad.dim() - 1))
        norm = torch.minimum(norm, cap)
    norms.append(norm)
    return grad


def adam_step(grad: torch.Tensor, moments: tuple[torch.Tensor, torch.Tensor], t: int, lr: float,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> torch.Tensor:
    """Adam's update at iteration ``t`` (from 1), to subtract (Kingma & Ba 2015, Algorithm 1).

    ``moments`` (the running means of the gradient and of its square) are updated in place. The
    same numbers as ``torch.optim.Adam``, written out: it is four lines, and the first use of
    ``torch.optim`` in a process imports torch's compiler, about a second that every
    ``dittoedu generate`` paid before its first iteration.
    """
    m, v = moments
    m.lerp_(grad, 1 - betas[0])
    v.mul_(betas[1]).addcmul_(grad, grad, value=1 - betas[1])
    return lr * (m / (1 - betas[0] ** t)) / ((v / (1 - betas[1] ** t)).sqrt() + eps)


def _met_each(controls, hard_parts, x0_hard) -> dict[str, bool]:
    """Whether each control is met on the thresholded music ``x0_hard``, whose losses are ``hard_parts``."""
    return {c.name: c.done(hard_parts[c.name]) and c.confirmed(x0_hard) for c in controls}


@torch.no_grad()
def _judge(controls, x0):
    """The losses of each control on the thresholded ``x0``, and that thresholded roll."""
    x0_hard = hard(x0)
    return total_loss(controls, x0_hard)[1], x0_hard


@torch.no_grad()
def _best_of_n(model, controls, shape, sigmas, *, n, generator, record, device, should_stop):
    """Sample ``n`` candidates per item; keep the lowest-loss one."""
    best_eps = draw_noise(controls, shape, generator).to(device)
    best_loss = torch.full((shape[0],), math.inf, device=device)
    for i in range(n):
        eps = best_eps if i == 0 else draw_noise(controls, shape, generator).to(device)
        x0 = sample_euler(model, eps * SIGMA_MAX, sigmas)
        total, parts = total_loss(controls, x0)
        better = total < best_loss
        best_loss = torch.where(better, total, best_loss)
        best_eps = torch.where(better.reshape(-1, 1, 1, 1), eps, best_eps)
        record(i, x0, best_loss, parts)
        if should_stop is not None and should_stop():
            return best_eps, i + 1, f"stopped by the user after {i + 1} candidates"
    return best_eps, n, f"best of {n} candidates"


def _guided_sample(model, controls, x, sigmas, *, scale):
    """Euler sampling with a gradient step on ``x_t`` at every step (after FreeDoM, Yu et al. 2023, eq. (8)).

    The step is the loss gradient of the model's current guess ``x0_hat = D(x_t)``, normalized
    to the size of the noise at that step and scaled by ``scale``.
    """
    D = x[0].numel()
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x = x.detach().requires_grad_(True)
        denoised = model(x, sigma)
        total, _ = total_loss(controls, denoised)
        (grad,) = torch.autograd.grad(total.sum(), x)
        norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
        with torch.no_grad():
            x = x - GUIDANCE_STEP * scale * sigma * math.sqrt(D) * grad / norm
            denoised = model(x, sigma)
            x = x + (x - denoised) / sigma * (sigma_next - sigma)
    return x.detach()
