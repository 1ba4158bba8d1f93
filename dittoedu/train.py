"""Training the denoiser, with EMA, resumable safetensors checkpoints, a progress bar and a log.

``dittoedu train --preset tiny`` trains a small model in about two minutes (for a
live "train your own" lesson); ``--preset default`` trains the shipped model over
CPU-hours. Both write into a run folder (``runs/base-<preset>`` by default):

* ``checkpoint.safetensors``: weights, EMA weights and optimizer state, with the config
  and the step count in its metadata; training resumes from it when restarted;
* ``train.log``: one line per logging interval;
* ``losses.csv``: step, training loss, validation loss, CPU seconds.

Checkpoints are safetensors files (plain tensors and strings, never pickles), so
loading one cannot run code.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file

from .diffusion import Denoiser, training_loss
from .nets import UNet1d, UNetConfig, count_parameters

FORMAT = "dittoedu-checkpoint"
FORMAT_VERSION = 1


@dataclass
class TrainConfig:
    preset: str = "default"  # name of the preset this config came from
    steps: int = 30_000  # optimizer steps in total
    batch_size: int = 64  # windows per step
    lr: float = 3e-4  # peak learning rate of AdamW
    warmup: int = 500  # steps of linear learning-rate warm-up
    weight_decay: float = 0.0  # AdamW weight decay
    ema_decay: float = 0.999  # decay of the exponential moving average of the weights
    window: int = 64  # steps (16th notes) per training window: 4 bars of 4/4
    transpose: int = 6  # random transposition of each window, in semitones (+-)
    seed: int = 0  # seeds data order, noise and initialization
    log_every: int = 50  # steps between log lines
    eval_every: int = 500  # steps between validation losses
    checkpoint_every: int = 500  # steps between checkpoints
    threads: int = 0  # torch CPU threads (0: torch's default)
    net: UNetConfig = field(default_factory=UNetConfig)  # the network's shape

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        d = json.loads(text)
        d["net"] = UNetConfig.from_dict(d["net"])
        return cls(**d)


@dataclass
class DistillConfig(TrainConfig):
    kind: str = "ctm"  # "cm": consistency distillation (jumps to 0); "ctm": jumps between any two levels
    teacher: str = ""  # the base checkpoint distilled (recorded for the model card)
    n_levels: int = 18  # noise levels the teacher's ODE is discretized into (N in Song et al. 2023)
    consistency_weight: float = 1.0  # weight of the CM / CTM consistency loss (0: skip it)
    dsm_weight: float = 1.0  # CTM only: weight of the denoising loss that keeps g a good denoiser
    endpoint_weight: float = 1.0  # weight of matching the teacher's whole ODE solve from sigma_max to 0 in one jump
    endpoint_steps: int = 12  # Euler steps of that solve
    endpoint_batch: int = 0  # pure-noise draws per step for that loss (0: a quarter of batch_size)
    init: str = ""  # the distilled checkpoint the student started from ("": a copy of the teacher)

    @classmethod
    def from_json(cls, text: str) -> "DistillConfig":
        d = json.loads(text)
        d["net"] = UNetConfig.from_dict(d["net"])
        return cls(**d)


@dataclass
class TextConfig(TrainConfig):
    """Training of the text-music model (:mod:`dittoedu.textmusic`); ``net`` is its encoders' shape."""

    p_mention: float = 0.6  # chance that a caption states each attribute (at least one is always stated)
    net: "TextNetConfig" = None  # type: ignore[assignment]

    def __post_init__(self):
        from .textmusic import TextNetConfig

        if self.net is None:
            self.net = TextNetConfig()

    @classmethod
    def from_json(cls, text: str) -> "TextConfig":
        from .textmusic import TextNetConfig

        d = json.loads(text)
        d["net"] = TextNetConfig.from_dict(d["net"])
        return cls(**d)


TEXT_PRESETS = {
    # a minute or two: for tests and the text-control notebook
    "tiny": TextConfig(preset="tiny", steps=300, batch_size=64, lr=2e-3, warmup=30, ema_decay=0.99, log_every=25,
                       eval_every=100, checkpoint_every=100),
    # the shipped model
    "default": TextConfig(preset="default", steps=4000, batch_size=128, lr=1e-3, warmup=100, ema_decay=0.995,
                          log_every=50, eval_every=250, checkpoint_every=250),
}

PRESETS = {
    # 1-2 minutes on 2 cores: for a lesson where students train their own model
    "tiny": TrainConfig(preset="tiny", steps=2500, batch_size=32, lr=1e-3, warmup=100, ema_decay=0.995, window=32,
                        log_every=50, eval_every=250, checkpoint_every=250,
                        net=UNetConfig(channels=(32, 64, 64), blocks_per_level=1, emb_dim=64, attention_heads=0)),
    # CPU-hours: the shipped model
    "default": TrainConfig(),
}


# ---------------------------------------------------------------------------------------------
# checkpoints


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: wrong format, version or shapes."""


def _metadata(kind: str, config: TrainConfig, **extra) -> dict[str, str]:
    return {"format": FORMAT, "version": str(FORMAT_VERSION), "kind": kind, "config": config.to_json(),
            **{k: str(v) for k, v in extra.items()}}


DISTILL_PRESETS = {
    "tiny": dict(steps=200, batch_size=16, lr=1e-4, warmup=20, ema_decay=0.99, log_every=10, eval_every=50,
                 checkpoint_every=50),
    "default": dict(steps=2500, batch_size=32, lr=5e-5, warmup=100, ema_decay=0.999, log_every=50,
                    eval_every=250, checkpoint_every=250),
    # a later phase, after "default" (--init): the one jump from pure noise alone, the jump DITTO-2
    # optimizes through and decodes with, at a larger learning rate and four times as many draws; run
    # again from its own checkpoint, it restarts the schedule (the shipped CTM had three such phases)
    "jump": dict(steps=3000, batch_size=32, lr=3e-4, warmup=100, ema_decay=0.999, consistency_weight=0.0,
                 dsm_weight=0.0, endpoint_batch=32, log_every=50, eval_every=250, checkpoint_every=250),
}


def read_metadata(path) -> dict[str, str]:
    """The metadata of a checkpoint, checked for format and version."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"there is no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise CheckpointError(f"{path} is not a safetensors checkpoint ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a dittoedu checkpoint (no 'format: {FORMAT}')")
    if meta.get("version") != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{path} is a version-{meta.get('version')} checkpoint; this dittoedu reads version {FORMAT_VERSION}")
    return meta


def _load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(filter(None, [
            f"missing {missing[:3]}" if missing else "",
            f"unexpected {unexpected[:3]}" if unexpected else "",
            f"shape of {wrong[0]} is {tuple(state[wrong[0]].shape)}, expected {tuple(own[wrong[0]].shape)}" if wrong else "",
        ]))
        raise CheckpointError(f"{path} does not fit the network its config describes: {detail}")
    module.load_state_dict(state)


def load_model(path, *, device="cpu", use_ema: bool = True):
    """A model (in eval mode) and its config from a checkpoint. Never unpickles.

    A base checkpoint gives a :class:`~dittoedu.diffusion.Denoiser` and a :class:`TrainConfig`;
    a distilled one (kind ``cm`` or ``ctm``) a :class:`~dittoedu.diffusion.TrajectoryModel`
    and a :class:`DistillConfig`.
    """
    from .diffusion import TrajectoryModel

    meta = read_metadata(path)
    distilled = meta.get("kind") in ("cm", "ctm")
    config = (DistillConfig if distilled else TrainConfig).from_json(meta["config"])
    tensors = load_file(str(path), device=str(device))
    prefix = "ema." if use_ema and any(k.startswith("ema.") for k in tensors) else "net."
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    model = (TrajectoryModel if distilled else Denoiser)(UNet1d(config.net)).to(device)
    _load_state(model.net, state, path)
    return model.eval().requires_grad_(False), config


def save_weights(net: torch.nn.Module, config: TrainConfig, path, *, kind: str = "base", **extra) -> Path:
    """Write a network's weights (as ``net.*``) with its config: a file ``load_model`` can read."""
    tensors = {f"net.{k}": v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=_metadata(kind, config, **extra))
    return Path(path)


def export_weights(checkpoint, out, *, extra: dict | None = None) -> Path:
    """Write only the EMA weights of a training checkpoint (what ships with the package)."""
    meta = read_metadata(checkpoint)
    tensors = load_file(str(checkpoint))
    ema = {"net." + k[4:]: v.contiguous() for k, v in tensors.items() if k.startswith("ema.")}
    meta = {**meta, **{k: str(v) for k, v in (extra or {}).items()}, "kind": meta.get("kind", "base")}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_file(ema, str(out), metadata=meta)
    return Path(out)


# ---------------------------------------------------------------------------------------------
# the loop


def _lr(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _save(path: Path, model, ema, opt, config: TrainConfig, step: int, cpu_seconds: float, kind: str) -> None:
    tensors = {f"net.{k}": v for k, v in model.net.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    opt_state = opt.state_dict()
    for i, st in opt_state["state"].items():
        for name, v in st.items():
            tensors[f"opt.{i}.{name}"] = torch.as_tensor(v).float().reshape(-1) if name == "step" else v
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=_metadata(kind, config, step=step, cpu_seconds=f"{cpu_seconds:.1f}"))
    tmp.replace(path)  # atomic: an interrupted save leaves the previous checkpoint intact


def _restore_optimizer(opt, tensors: dict[str, torch.Tensor]) -> None:
    state = opt.state_dict()
    for i, p in enumerate(state["param_groups"][0]["params"]):
        keys = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
        if keys:
            keys["step"] = keys["step"].reshape(())
            state["state"][p] = keys
    opt.load_state_dict(state)


def train(config: TrainConfig, run_dir, *, progress: bool = True, max_steps: int | None = None) -> Path:
    """Train (or resume training) a denoiser with EDM's loss; returns the checkpoint's path.

    ``max_steps`` stops this call early (the run can be resumed later); the schedule
    still follows ``config.steps``.
    """
    torch.manual_seed(config.seed)
    return _fit(config, run_dir, Denoiser(UNet1d(config.net)), "base", training_loss, progress=progress,
                max_steps=max_steps)


def distill(teacher_path, kind: str, run_dir, *, preset: str = "default", progress: bool = True,
            max_steps: int | None = None, threads: int = 0, init=None, blocks: int | None = None) -> Path:
    """Distill a base checkpoint into a consistency (``cm``) or trajectory (``ctm``) model; resumable.

    The student starts as a copy of the teacher (its extra target-level embedding starts at zero),
    or, with ``init``, as the (EMA) weights of an earlier distillation of that teacher: how the
    ``"jump"`` preset refines a ``"default"`` run. ``blocks``: residual blocks per level of a
    student smaller than its teacher (the teacher's first blocks are copied, the others left out):
    a one-step surrogate is run once per DITTO-2 iteration, so its size is DITTO-2's speed.
    """
    import dataclasses

    from .diffusion import TrajectoryModel

    if kind not in ("cm", "ctm"):
        raise ValueError(f"kind must be 'cm' or 'ctm', not {kind!r}")
    if blocks is not None and blocks < 1:
        raise ValueError(f"a student needs at least one residual block per level, not {blocks}")
    teacher, base = load_model(teacher_path)
    config = DistillConfig(**{**{f.name: getattr(base, f.name) for f in dataclasses.fields(TrainConfig)},
                              **DISTILL_PRESETS[preset], "preset": preset, "kind": kind, "threads": threads,
                              "teacher": Path(teacher_path).name,
                              "net": dataclasses.replace(base.net, target_level=True,
                                                         blocks_per_level=blocks or base.net.blocks_per_level)})
    if init is None:
        student = TrajectoryModel(UNet1d(config.net))
        # all but the new embedding (and the blocks a smaller student leaves out)
        student.net.load_state_dict(teacher.net.state_dict(), strict=False)
    else:
        start, start_config = load_model(init)
        if blocks is None and isinstance(start_config, DistillConfig):  # go on with the earlier student's size
            config.net = dataclasses.replace(config.net, blocks_per_level=start_config.net.blocks_per_level)
        if not isinstance(start_config, DistillConfig) or (start_config.net, start_config.teacher) != (
                config.net, config.teacher):
            raise CheckpointError(f"{init} is not a distillation of {config.teacher} with this network")
        student = TrajectoryModel(UNet1d(config.net))
        student.net.load_state_dict(start.net.state_dict())
        meta = read_metadata(init)
        config.init = (f"{init}: {start_config.kind} '{start_config.preset}', {meta.get('step', '?')} steps, "
                       f"{float(meta.get('cpu_seconds', 'nan')) / 3600:.2f} CPU-hours"
                       + (f", itself starting from {start_config.init}" if start_config.init else ""))
    loss_fn = functools.partial(distillation_loss, teacher=teacher, config=config)
    return _fit(config, run_dir, student, kind, loss_fn, progress=progress, max_steps=max_steps)


def distillation_loss(student, x0: torch.Tensor, *, teacher, config: DistillConfig,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Consistency distillation (Song et al. 2023, Algorithm 2) or CTM's loss (Kim et al. 2023, eq. (9)).

    Pick adjacent levels ``t > u`` of the teacher's discretized ODE, noise ``x0`` to ``t`` and let the
    teacher take one Heun step to ``u``. The student's jump from ``t`` must land where its own jump from
    ``u`` lands (the target is computed without gradients):

    * CM: both jump straight to 0;
    * CTM: both jump to a random level ``s <= u``, then (with frozen weights) on to 0, where they are
      compared; plus a denoising loss on ``g(x_t, t, t)``.

    Jumps are compared in clean-music space by :func:`_music_loss`: binary cross-entropy for a
    binary student (a classifier of the cells its teacher would write), squared error otherwise.

    Both also learn the longest jump directly: from pure noise at ``sigma_max`` to where the teacher's
    ``endpoint_steps``-step Euler solve ends (Luhman & Luhman 2021): the jump DITTO-2 optimizes through.
    Each part has its weight in ``config``; a part weighted 0 is not computed.
    """
    from .diffusion import SIGMA_MAX, SIGMA_MIN, get_sigmas_karras, sample_euler

    B = x0.shape[0]
    loss = x0.new_zeros(())
    if config.consistency_weight:
        loss = loss + config.consistency_weight * _consistency_loss(student, x0, teacher=teacher, config=config,
                                                                    generator=generator)
    if config.endpoint_weight:  # the jump DITTO-2 optimizes through: pure noise straight to music
        n = config.endpoint_batch or max(1, B // 4)
        x_T = SIGMA_MAX * torch.randn((n, *x0.shape[1:]), generator=generator)
        with torch.no_grad():
            solved = sample_euler(teacher, x_T, get_sigmas_karras(config.endpoint_steps))
        loss = loss + config.endpoint_weight * _music_loss(student, x_T, SIGMA_MAX, solved)
    if config.kind == "ctm" and config.dsm_weight:
        sigma = (-1.2 + 1.2 * torch.randn(B, generator=generator)).exp().clamp(SIGMA_MIN, SIGMA_MAX)
        noisy = x0 + sigma.reshape(-1, 1, 1, 1) * torch.randn(x0.shape, generator=generator)
        # g(x, sigma, sigma) is the denoiser inside G: G(x, sigma, 0) with the target level told sigma
        if student.parameterization == "binary":  # the base model's own loss
            logits, _ = student.raw(noisy, sigma, sigma)
            dsm = torch.nn.functional.binary_cross_entropy_with_logits(logits, (x0 > 0).to(logits.dtype))
        else:
            weight = (sigma**2 + 0.25) / (sigma * 0.5) ** 2
            dsm = (weight.reshape(-1, 1, 1, 1) * (student.g(noisy, sigma, sigma) - x0).square()).mean()
        loss = loss + config.dsm_weight * dsm
    return loss


def _consistency_loss(student, x0, *, teacher, config, generator):
    """The consistency part of :func:`distillation_loss`: a teacher's Heun step, the student's two jumps."""
    from .diffusion import get_sigmas_karras

    B = x0.shape[0]
    levels = get_sigmas_karras(config.n_levels)[:-1].flip(0)  # ascending: SIGMA_MIN .. SIGMA_MAX
    n = torch.randint(config.n_levels - 1, (B,), generator=generator)
    t, u = levels[n + 1], levels[n]
    x_t = x0 + t.reshape(-1, 1, 1, 1) * torch.randn(x0.shape, generator=generator)
    with torch.no_grad():  # one Heun step of the teacher's ODE, t -> u, each item at its own levels
        tt, uu = t.reshape(-1, 1, 1, 1), u.reshape(-1, 1, 1, 1)
        d = (x_t - teacher(x_t, t)) / tt
        x_euler = x_t + d * (uu - tt)
        x_u = x_t + (d + (x_euler - teacher(x_euler, u)) / uu) / 2 * (uu - tt)
    if config.kind == "cm":  # both jump straight to 0
        with torch.no_grad():
            target = student.denoise(x_u, u)
        loss = _music_loss(student, x_t, t, target)
    else:  # both jump to a random level s <= u (0 a quarter of the time), then through the frozen student to 0
        m = (torch.rand(B, generator=generator) * (n + 1).float()).floor().long()
        s = torch.where(torch.rand(B, generator=generator) < 0.25, torch.zeros(B), levels[m])
        s = torch.minimum(s, u)
        with torch.no_grad():
            target = student(student(x_u, u, s), s, torch.zeros(B))
        pred = student(x_t, t, s)
        student.requires_grad_(False)
        loss = _music_loss(student, pred, s, target)
        student.requires_grad_(True)
    return loss


def _music_loss(student, x: torch.Tensor, t, target: torch.Tensor) -> torch.Tensor:
    """How far the student's jump from ``x`` (level ``t``) to 0 lands from ``target`` (music: cells near +-1).

    A ``"binary"`` student is a classifier of the cells, as its teacher is: binary cross-entropy of
    its log-odds against the target's thresholded cells. (Squared error through its tanh would pass
    almost no gradient to a cell it is sure of and wrong about, and rewards hedging near 0, which
    the threshold turns into blips.) An ``"edm"`` student: squared error.
    """
    if student.parameterization == "binary":
        logits, _ = student.raw(x, t, torch.zeros(x.shape[0], device=x.device))
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, (target > 0).to(logits.dtype))
    return (student.denoise(x, t) - target).square().mean()


def train_text(config: TextConfig, run_dir, *, progress: bool = True, max_steps: int | None = None) -> Path:
    """Train (or resume training) the text-music model on captioned chorale windows; returns the checkpoint."""
    from .textmusic import CaptionedWindows, TextMusic, TextMusicNet, contrastive_loss

    torch.manual_seed(config.seed)
    data = CaptionedWindows("train", n_steps=config.window, transpose=config.transpose, progress=progress)
    val = CaptionedWindows("validation", n_steps=config.window, transpose=0, progress=progress)
    batch = functools.partial(data.batch, p_mention=config.p_mention)
    return _fit(config, run_dir, TextMusic(TextMusicNet(config.net)), "text", contrastive_loss, progress=progress,
                max_steps=max_steps, data=batch, val_batch=val.batch(256, generator=torch.Generator().manual_seed(1234),
                                                                     augment=False, p_mention=config.p_mention))


def _fit(config: TrainConfig, run_dir, model: torch.nn.Module, kind: str, loss_fn, *, progress: bool,
         max_steps: int | None, data=None, val_batch=None) -> Path:
    """The loop shared by training and distillation: AdamW, EMA, resume, logs, validation, checkpoints.

    ``model`` wraps a network as ``model.net``; ``loss_fn(model, x0, generator=g)`` is the loss of a batch.
    ``data(batch_size, generator=g)`` draws a training batch (default: chorale windows), ``val_batch``
    is the fixed validation batch.
    """
    from tqdm.auto import tqdm

    from .corpus import ChoraleWindows

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "checkpoint.safetensors"
    if config.threads:
        torch.set_num_threads(config.threads)
    ema = copy.deepcopy(model.net).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step, cpu_seconds = 0, 0.0
    if ckpt.exists():
        meta = read_metadata(ckpt)
        saved = type(config).from_json(meta["config"])
        if meta.get("kind") != kind or saved.net != config.net or saved.window != config.window:
            raise CheckpointError(f"{ckpt} was trained with another network or window; use a new run folder")
        tensors = load_file(str(ckpt))
        _load_state(model.net, {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}, ckpt)
        _load_state(ema, {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, ckpt)
        _restore_optimizer(opt, tensors)
        step, cpu_seconds = int(meta["step"]), float(meta["cpu_seconds"])
    (run_dir / "config.json").write_text(json.dumps(json.loads(config.to_json()), indent=2))

    if data is None:
        windows = ChoraleWindows("train", n_steps=config.window, transpose=config.transpose, progress=progress)
        data = windows.batch
        val = ChoraleWindows("validation", n_steps=config.window, transpose=0, progress=False)
        val_batch = val.batch(256, generator=torch.Generator().manual_seed(1234), augment=False)
        size = f"{len(windows)} training windows, {len(val)} validation windows"
    else:
        size = "captioned windows"

    log = (run_dir / "train.log").open("a")
    csv_path = run_dir / "losses.csv"
    if not csv_path.exists():
        csv_path.write_text("step,loss,val_loss,cpu_seconds\n")
    csv = csv_path.open("a")
    log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} start at step {step}: {size}, config {config.to_json()}\n")
    log.flush()

    end = config.steps if max_steps is None else min(config.steps, step + max_steps)
    bar = tqdm(total=end, initial=step, desc=f"{kind} ({config.preset})", unit="step", disable=not progress)
    running, t_cpu = None, time.process_time()
    model.train()
    while step < end:
        g = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        x0 = data(config.batch_size, generator=g)
        for group in opt.param_groups:
            group["lr"] = _lr(config, step)
        loss = loss_fn(model, x0, generator=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), model.net.parameters()):
                pe.lerp_(p, 1 - decay)
            for be, b in zip(ema.buffers(), model.net.buffers()):
                be.copy_(b)
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        now = time.process_time()
        cpu_seconds, t_cpu = cpu_seconds + now - t_cpu, now
        val_loss = ""
        if step % config.eval_every == 0 or step == end:
            val_loss = f"{validation_loss(type(model)(ema), val_batch, loss_fn):.5f}"
        if step % config.log_every == 0 or val_loss:
            log.write(f"{time.strftime('%H:%M:%S')} step {step} loss {running:.5f} lr {_lr(config, step):.2e}"
                      f"{' val ' + val_loss if val_loss else ''} cpu {cpu_seconds:.0f}s\n")
            log.flush()
            csv.write(f"{step},{running:.6f},{val_loss},{cpu_seconds:.1f}\n")
            csv.flush()
        if step % config.checkpoint_every == 0 or step == end:
            _save(ckpt, model, ema, opt, config, step, cpu_seconds, kind)
    bar.close()
    log.close()
    csv.close()
    return ckpt


def validation_loss(model, batch: torch.Tensor, loss_fn=training_loss, seed: int = 0) -> float:
    """The loss on a fixed validation batch with fixed noise (comparable across checkpoints)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        loss = loss_fn(model, batch, generator=torch.Generator().manual_seed(seed)).item()
    model.train(was_training)
    return loss


# ---------------------------------------------------------------------------------------------
# the model card


def evaluate(denoiser: Denoiser, *, n_samples: int = 256, n_steps: int = 64, sampler: str = "stochastic",
             sampler_steps: int = 18, seed: int = 0, batch: int = 32) -> dict:
    """Quality of ``n_samples`` unconditional samples against the held-out chorales (see :mod:`metrics`).

    The default sampler is EDM's stochastic one (their Algorithm 2, Heun with fresh noise): 18
    levels, 35 network calls, as EDM used it.
    """
    from . import metrics
    from .diffusion import generate

    qualities = []
    for i in range(0, n_samples, batch):
        x = generate(denoiser, n_steps=n_steps, batch=min(batch, n_samples - i), seed=seed + i,
                     sampler_steps=sampler_steps, sampler=sampler)
        qualities += metrics.quality_of_rolls(x)
    return metrics.summary(qualities, metrics.reference(n_steps))


def write_model_card(checkpoint, out, *, baselines: dict | None = None, n_samples: int = 256) -> dict:
    """Export the EMA weights to ``out`` and write a model card beside it (``.md``, ``.json``, loss curve ``.png``).

    ``baselines`` maps a name (e.g. ``"tiny"``) to another checkpoint whose quality is reported alongside.
    """
    from matplotlib.figure import Figure

    from . import metrics
    from .plots import plot_training_curve

    checkpoint, out = Path(checkpoint), Path(out)
    meta = read_metadata(checkpoint)
    config = TrainConfig.from_json(meta["config"])
    model, _ = load_model(checkpoint)
    evals = {"model": evaluate(model, n_samples=n_samples),
             "model, Heun 10 (no fresh noise)": evaluate(model, n_samples=n_samples, sampler="heun", sampler_steps=10),
             "model, 20 Euler steps": evaluate(model, n_samples=n_samples, sampler="euler", sampler_steps=20)}
    for name, path in (baselines or {}).items():
        evals[name] = evaluate(load_model(path)[0], n_samples=n_samples)
    ref = metrics.reference(64)
    card = {
        "name": out.stem,
        "preset": config.preset,
        "steps": int(meta["step"]),
        "cpu_hours": round(float(meta["cpu_seconds"]) / 3600, 2),
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": json.loads(config.to_json()),
        "evaluation": {"samples": n_samples, "bars": 4, "sampler": "stochastic (EDM Algorithm 2), 18 levels",
                       "reference": "256 windows of the held-out chorales"},
        "reference_quality": ref["mean"],
        "quality": evals,
    }
    m = evals["model"]
    card["checks"] = {
        "each measure within 15% of the chorales": all(v <= 0.15 for k, v in m["relative_difference"].items()
                                                       if k != "short_note_rate"),
        "short-note rate at most 2x the chorales'": m["mean"]["short_note_rate"] <= 2 * max(
            ref["mean"]["short_note_rate"], 1e-9),
        **{f"distance better than {name}'s": m["frechet_distance"] < e["frechet_distance"]
           for name, e in evals.items() if name in (baselines or {})},
    }
    export_weights(checkpoint, out, extra={"model_card": out.with_suffix(".md").name})
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    plot_training_curve(checkpoint.parent / "losses.csv", ax=fig.add_subplot())
    fig.savefig(out.with_suffix(".png"), dpi=100)
    out.with_suffix(".json").write_text(json.dumps(card, indent=2))
    out.with_suffix(".md").write_text(_card_markdown(card, out))
    return {"weights": str(out), "card": str(out.with_suffix(".md")), "checks": card["checks"]}


def write_distill_card(checkpoint, out, *, teacher, n_samples: int = 64) -> dict:
    """Export a distilled model's EMA weights to ``out`` with a model card comparing it to its teacher.

    ``checkpoint`` may be ``out`` itself (weights already exported): the card is measured again.
    """
    from . import metrics

    checkpoint, out = Path(checkpoint), Path(out)
    meta = read_metadata(checkpoint)
    config = DistillConfig.from_json(meta["config"])
    model, _ = load_model(checkpoint)
    teacher_model, teacher_config = load_model(teacher)
    quality = {"teacher, 20 Euler steps": evaluate(teacher_model, n_samples=n_samples, sampler="euler", sampler_steps=20)}
    for k in (1, 2, 4):
        quality[f"{config.kind}, {k} step{'s' * (k > 1)}"] = evaluate(model, n_samples=n_samples, sampler_steps=k)
    names = list(quality)
    teacher_mean = quality[names[0]]["mean"]
    one = quality[names[1]]["mean"]
    within = metrics.relative_to(one, teacher_mean)
    card = {"name": out.stem, "kind": config.kind, "preset": config.preset, "teacher": config.teacher,
            "steps": int(meta["step"]), "cpu_hours": round(float(meta["cpu_seconds"]) / 3600, 2),
            "config": json.loads(config.to_json()), "quality": quality,
            "one_step_vs_teacher": within,
            "checks": {"one-step quality within 20% of the teacher's 20-step samples": all(v <= 0.2 for v in within.values())}}
    if checkpoint.resolve() != out.resolve():
        export_weights(checkpoint, out, extra={"model_card": out.with_suffix(".md").name})
    out.with_suffix(".json").write_text(json.dumps(card, indent=2))
    rows = [f"| {m} | " + " | ".join(f"{quality[n]['mean'][m]:.3f}" for n in names) + f" | {100 * within[m]:.0f} % |"
            for m in metrics.MEASURES]
    rows.append("| Fréchet distance | " + " | ".join(f"{quality[n].get('frechet_distance', float('nan')):.2f}"
                                                 for n in names) + " | |")
    loss = ("binary cross-entropy on the student's log-odds (thresholded targets)"
            if config.net.parameterization == "binary" else "squared error")
    terms = [f"consistency (weight {config.consistency_weight:g}; {config.n_levels} teacher levels, one Heun step "
             "of the teacher per pair)" if config.consistency_weight else "",
             f"the one jump from pure noise to the teacher's {config.endpoint_steps}-step Euler solve (weight "
             f"{config.endpoint_weight:g}; {config.endpoint_batch or max(1, config.batch_size // 4)} draws per step)"
             if config.endpoint_weight else "",
             f"denoising (weight {config.dsm_weight:g})" if config.kind == "ctm" and config.dsm_weight else ""]
    command = f"dittoedu distill --kind {config.kind} --preset {config.preset}" + " --init CHECKPOINT" * bool(config.init)
    if not config.init and config.net.blocks_per_level != teacher_config.net.blocks_per_level:
        command += f" --blocks {config.net.blocks_per_level}"
    start = f", starting from CHECKPOINT ({config.init})" if config.init else ""
    out.with_suffix(".md").write_text(f"""# Model card: {out.stem}

A {'consistency-trajectory (CTM, Kim et al. 2023)' if config.kind == 'ctm' else 'consistency (CM, Song et al. 2023)'}
model distilled from `{config.teacher}` by `{command}`:
{card['steps']} steps at batch {config.batch_size}, AdamW lr {config.lr}, EMA {config.ema_decay}, {card['cpu_hours']} CPU-hours{start}.
Network: {config.net.blocks_per_level} residual block{'s' * (config.net.blocks_per_level > 1)} per level, {count_parameters(model.net):,} parameters (the teacher: {teacher_config.net.blocks_per_level}, {count_parameters(teacher_model.net):,}).
Loss terms: {'; '.join(t for t in terms if t)}.
It jumps from noise to music in one step, or in a few (deterministic CTM jumps).
Jumps are compared with the music they should land on by {loss}.

## Quality ({n_samples} unconditional samples of 4 bars, measured on the thresholded notes)

| measure | {' | '.join(names)} | one step vs teacher |
|---|{'---|' * (len(names) + 1)}
{chr(10).join(rows)}

{chr(10).join(f"- [{'x' if ok else ' '}] {name}" for name, ok in card['checks'].items())}
""")
    return {"weights": str(out), "card": str(out.with_suffix(".md")), "checks": card["checks"]}


def _card_markdown(card: dict, out: Path) -> str:
    from .metrics import MEASURES

    names = list(card["quality"])
    head = "| measure | chorales | " + " | ".join(names) + " | model vs chorales |\n|---|---|" + "---|" * (len(names) + 1)
    rows = [f"| {m} | {card['reference_quality'][m]:.3f} | "
            + " | ".join(f"{card['quality'][n]['mean'][m]:.3f}" for n in names)
            + f" | {100 * card['quality']['model']['relative_difference'][m]:.0f} % |" for m in MEASURES]
    rows.append("| Fréchet distance | 0 | " + " | ".join(f"{card['quality'][n].get('frechet_distance', float('nan')):.2f}"
                                                     for n in names) + " | |")
    checks = "\n".join(f"- [{'x' if ok else ' '}] {name}" for name, ok in card["checks"].items())
    cfg = card["config"]
    loss = {"binary": "binary cross-entropy: the network gives each cell's log-odds of being on, the denoiser "
                      "guesses tanh(log-odds / 2)",
            "edm": "EDM's weighted squared error"}[cfg["net"].get("parameterization", "edm")]
    return f"""# Model card: {card['name']}

A {card['parameters'] / 1e6:.2f} M-parameter 1-D U-Net denoiser (EDM preconditioning) trained by
`dittoedu train --preset {card['preset']}` on windows of {cfg['window']} sixteenth-notes from the Bach chorales
in music21's corpus (training split; about one chorale in ten held out), transposed by up to
±{cfg['transpose']} semitones.

- loss: {loss}
- steps: {card['steps']} at batch {cfg['batch_size']}, AdamW lr {cfg['lr']} (warm-up {cfg['warmup']}, cosine), EMA {cfg['ema_decay']}
- CPU time: {card['cpu_hours']} CPU-hours
- network: `{json.dumps(cfg['net'])}`
- weights: `{out.name}` (safetensors, EMA weights, config in its metadata); loss curve: `{out.with_suffix('.png').name}`

## Quality

{card['evaluation']['samples']} unconditional samples of 4 bars ({card['evaluation']['sampler']}), measured on the
thresholded notes, against {card['evaluation']['reference']}. The last column is the relative difference
(rates are compared on an absolute scale of 0.1: see `metrics.relative_differences`).
`dittoedu generate --method none` samples as the "model" column does; DITTO optimizes through
deterministic Euler steps (no fresh noise: the same noise must always give the same music), the last columns.

{head}
{chr(10).join(rows)}

{checks}

![loss curve]({out.with_suffix('.png').name})
"""
