"""The ``dittoedu`` command.

    dittoedu demo      --out out                  render a chorale excerpt: score, MIDI, audio, figure
    dittoedu generate  --bars 4 --seed 0 --out out   make music with the shipped model
    dittoedu train     --preset tiny|default      train a denoiser (resumable)
    dittoedu corpus                               build the chorale cache
    dittoedu bench                                time the sampler

Every command prints what it wrote; errors a user can cause are one line, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .roll import MusicInputError

REPO_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = WEIGHTS_DIR / "base.safetensors"
DEFAULT_SURROGATE = WEIGHTS_DIR / "ctm.safetensors"
PLAIN_STEPS = 18  # levels of plain sampling (EDM's stochastic sampler, as the model card measures it)


class UsageError(ValueError):
    """A problem with the command line itself (a flag out of range, a missing model)."""


def _positive(name: str, value: int, low: int = 1, high: int | None = None) -> int:
    if value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageError(f"--{name} must be {span}, got {value}")
    return value


# ---------------------------------------------------------------------------------------------
# demo


def cmd_demo(args) -> dict:
    from music21 import corpus

    from . import outputs
    from .roll import stream_to_notes, steps_per_bar

    _positive("bars", args.bars, 1, 32)
    try:
        score = corpus.parse(args.chorale)
    except Exception as exc:
        raise UsageError(f"music21's corpus has no piece called {args.chorale!r} (try 'bach/bwv269')") from exc
    sigs = score.flatten().getElementsByClass("TimeSignature")
    ts = sigs[0].ratioString if sigs else "4/4"
    # start on bar 1 (after a pickup bar, if any) and keep `bars` bars
    bar_one = score.parts[0].measure(1)
    start = round(float(bar_one.offset) * 4) if bar_one is not None else 0
    notes = stream_to_notes(score, out_of_range="drop")
    n_steps = args.bars * steps_per_bar(ts)
    notes = [n._replace(onset=n.onset - start, duration=min(n.end - start, n_steps) - (n.onset - start))
             for n in notes if start <= n.onset < start + n_steps]
    title = f"{args.chorale} (bars 1-{args.bars})"
    paths = outputs.save_piece(args.out, notes, n_steps=n_steps, time_signature=ts, title=title)
    return {"wrote": [str(p) for p in paths.values()]}


# ---------------------------------------------------------------------------------------------
# generate


def load_default_model(path=None, *, device="cpu"):
    """The shipped denoiser (or the one at ``path``), with a clear message when it is missing."""
    from .train import load_model

    path = Path(path) if path else DEFAULT_MODEL
    if not path.exists():
        raise UsageError(f"no model at {path}; train one with 'dittoedu train --preset default' "
                         "(or pass --model PATH to a checkpoint)")
    return load_model(path, device=device)


def cmd_generate(args) -> dict:
    import torch

    from . import controls as C, metrics, outputs
    from .ito import optimize

    _positive("bars", args.bars, 1, 16)
    if args.steps is not None:
        _positive("steps", args.steps, 1, 200)
    if args.iters is not None:
        _positive("iters", args.iters, 1, 1000)
    surrogate_path = Path(args.surrogate) if args.surrogate else DEFAULT_SURROGATE
    if args.method == "ditto2" and not surrogate_path.exists():
        raise UsageError(f"--method ditto2 needs the distilled model, and there is none at {surrogate_path}; "
                         "run 'dittoedu distill --kind ctm --preset default' or use --method ditto")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA GPU here; use --device cpu")
    # every input is read and checked before the model is even loaded
    controls, fixes = C.build(bars=args.bars, melody=args.melody, chords=args.chords, key=args.key,
                              intensity=args.intensity, form=args.form, inpaint=args.inpaint, keep=args.keep,
                              outpaint=args.outpaint, loop=args.loop, text=args.text)
    method = args.method or (("ditto2" if surrogate_path.exists() else "ditto") if controls else "none")
    if controls == [] and method != "none":
        fixes.append(f"no controls were given, so --method {method} has nothing to optimize: sampling plainly")
        method = "none"
    model, _ = load_default_model(args.model, device=args.device)
    surrogate = None
    if method == "ditto2":
        from .train import load_model

        surrogate, _ = load_model(surrogate_path, device=args.device)
    n_steps = 16 * args.bars
    sampler_steps = args.steps or (PLAIN_STEPS if method == "none" else 8)
    result = optimize(model, controls, n_steps=n_steps, method=method, n_iters=args.iters, lr=args.lr,
                      sampler_steps=sampler_steps, seed=args.seed, device=args.device, progress=True,
                      surrogate=surrogate, decode=args.decode, decode_steps=args.decode_steps, sampler=args.sampler)
    notes = result.notes
    quality = metrics.quality(notes, n_steps=n_steps)
    report = {
        "method": method,
        "seed": args.seed,
        "bars": args.bars,
        "sampler_steps": sampler_steps,
        **({"sampler": args.sampler} if method == "none" else {}),
        "iterations": result.iterations,
        "stop_reason": result.stop_reason,
        "device": args.device,
        "model": str(args.model or DEFAULT_MODEL.name),
        "timings": result.timings,
        "controls": result.measure(controls),
        "quality": {**quality, "relative_difference_to_corpus": metrics.relative_differences(
            [quality], metrics.reference(64))},
        "loss_history": result.loss_history,
        "notes": fixes,
        "n_notes": len(notes),
    }
    title = f"dittoedu ({method}), seed {args.seed}"
    history = {k: v for k, v in result.loss_history.items() if k != "total"} if method.startswith("ditto") else None
    paths = outputs.save_piece(args.out, notes, n_steps=n_steps, title=title, result=report, loss_history=history)
    summary = {name: {k: round(v, 3) for k, v in m.items() if isinstance(v, float)}
               for name, m in report["controls"].items()}
    return {"wrote": [str(p) for p in paths.values()], "stopped": result.stop_reason,
            "timings": {k: round(v, 3) for k, v in result.timings.items()}, **({"controls": summary} if summary else {}),
            **({"notes": fixes} if fixes else {})}


# ---------------------------------------------------------------------------------------------
# train, corpus, bench


def _train_run(args, presets: dict, train_fn, name: str):
    """Train (or resume) ``presets[args.preset]`` in ``args.run_dir`` (default ``runs/NAME-PRESET``).

    Returns the checkpoint; with ``args.export``, refuses an unfinished run
    (unless ``args.force``, where the command has it).
    """
    import dataclasses

    from .train import read_metadata

    config = presets[args.preset]
    if args.threads:
        config = dataclasses.replace(config, threads=args.threads)
    run_dir = Path(args.run_dir or REPO_ROOT / "runs" / f"{name}-{args.preset}")
    ckpt = train_fn(config, run_dir, max_steps=args.max_steps)
    if args.export and not getattr(args, "force", False):
        step = int(read_metadata(ckpt)["step"])
        if step < config.steps:
            hint = " (or add --force)" if hasattr(args, "force") else ""
            raise UsageError(f"the run is at step {step} of {config.steps}; finish it first{hint}")
    return ckpt


def cmd_train(args) -> dict:
    from .train import PRESETS, train

    ckpt = _train_run(args, PRESETS, train, "base")
    out = {"checkpoint": str(ckpt)}
    if args.export:
        from .train import write_model_card

        baselines = {}
        if args.preset != "tiny":  # the card compares the model with the tiny preset's
            tiny = REPO_ROOT / "runs" / "base-tiny" / "checkpoint.safetensors"
            if not tiny.exists():
                train(PRESETS["tiny"], tiny.parent)
            baselines["tiny"] = tiny
        out.update(write_model_card(ckpt, Path(args.export), baselines=baselines, n_samples=args.eval_samples))
    return out


def cmd_train_text(args) -> dict:
    from .train import TEXT_PRESETS, train_text

    ckpt = _train_run(args, TEXT_PRESETS, train_text, "text")
    out = {"checkpoint": str(ckpt)}
    if args.export:
        from .textmusic import write_model_card

        out.update(write_model_card(ckpt, Path(args.export)))
    return out


def cmd_distill(args) -> dict:
    from .train import distill

    teacher = Path(args.teacher) if args.teacher else DEFAULT_MODEL
    if not teacher.exists():
        raise UsageError(f"no base model at {teacher} to distill; train one first or pass --teacher PATH")
    run_dir = Path(args.run_dir or REPO_ROOT / "runs" / f"{args.kind}-{args.preset}")
    if args.preset == "jump" and not args.init:
        raise UsageError("--preset jump refines a finished distillation: pass --init "
                         "runs/ctm-default/checkpoint.safetensors (or the checkpoint of another run)")
    if args.init and not Path(args.init).exists():
        raise UsageError(f"no distilled checkpoint at {args.init} to start from")
    if args.blocks is not None and args.blocks < 1:
        raise UsageError(f"--blocks {args.blocks}: a student needs at least one residual block per level")
    ckpt = distill(teacher, args.kind, run_dir, preset=args.preset, max_steps=args.max_steps, threads=args.threads,
                   init=args.init, blocks=args.blocks)
    out = {"checkpoint": str(ckpt)}
    if args.export:
        from .train import write_distill_card

        out.update(write_distill_card(ckpt, Path(args.export), teacher=teacher, n_samples=args.eval_samples))
    return out


def cmd_corpus(args) -> dict:
    from . import metrics
    from .controls import intensity_range
    from .corpus import cache_dir, load_chorales
    from .textmusic import CaptionedWindows

    chorales = load_chorales()
    metrics.reference(64)
    intensity_range()
    for split in ("train", "validation"):  # the key of every window the text model learns from (about a minute)
        CaptionedWindows(split, transpose=0)
    return {"chorales": len(chorales), "cache": str(cache_dir())}


def _bench_text(model, args) -> dict:
    import torch

    from . import bench, metrics
    from .diffusion import SIGMA_MAX, get_sigmas_ctm, sample_ctm
    from .ito import ITERATIONS_OTHERS, default_lr
    from .roll import N_PITCHES
    from .train import load_model

    if not DEFAULT_SURROGATE.exists():
        raise UsageError(f"the text benchmark uses DITTO-2, and there is no distilled model at {DEFAULT_SURROGATE}")
    ctm, _ = load_model(DEFAULT_SURROGATE)
    prompts = bench.TEXT_PROMPTS[: max(args.n, 1)]
    lr = default_lr("ditto2") if args.lr is None else args.lr
    kwargs = dict(n_iters=args.iters or ITERATIONS_OTHERS, lr=lr, surrogate=ctm, decode="ctm", decode_steps=1)
    fixed = kwargs | {"n_iters": 30, "early_stop": False}
    runs = {"ditto2": bench.run_text(model, prompts=prompts, method="ditto2", **kwargs),
            # the text score alone, no analyzer in the loop: 30 iterations, the noise with the best score
            "ditto2, 30 its, no early stop": bench.run_text(model, prompts=prompts, method="ditto2", **fixed),
            "none (plain sampling)": bench.run_text(model, prompts=prompts, method="none", sampler_steps=args.steps)}
    with torch.no_grad():  # 256 unconditional samples decoded as DITTO-2 decodes (one CTM jump)
        noise = torch.randn(256, 2, N_PITCHES, 64, generator=torch.Generator().manual_seed(10_000))
        x = sample_ctm(ctm, noise * SIGMA_MAX, get_sigmas_ctm(kwargs["decode_steps"]))
    print(f"settings: {kwargs | {'surrogate': DEFAULT_SURROGATE.name}}")
    print(bench.text_table(runs, metrics.quality_of_rolls(x)))
    return {}


def cmd_bench(args) -> dict:
    from . import bench
    from .ito import default_lr

    model, _ = load_default_model(args.model, device=args.device)
    if args.text:
        return _bench_text(model, args)
    if args.studio:
        print(bench.studio_table(repeats=args.repeats))  # the Studio's own default iterations
        return {}
    if args.combined:
        from .train import load_model

        surrogate = load_model(DEFAULT_SURROGATE)[0] if DEFAULT_SURROGATE.exists() else None
        print(bench.combined_table(model, surrogate, n_iters=args.iters))
        return {}
    if not args.adherence:
        print(bench.sampling_table(model, device=args.device, repeats=args.repeats))
        if args.device == "cpu":
            print()
            print(bench.iteration_table(model))
        return {}
    only = args.controls.split(",") if args.controls else None
    if args.ditto2:
        from .train import load_model

        path = Path(args.ditto2)
        if not path.exists():
            raise UsageError(f"no distilled model at {path}; run 'dittoedu distill --kind ctm --preset default'")
        print(bench.ditto2_table(model, load_model(path)[0], n=args.n, controls_filter=only, lr=args.lr,
                                 n_iters=args.iters, sampler_steps=args.steps))
        return {}
    kwargs = dict(n_iters=args.iters, lr=default_lr("ditto") if args.lr is None else args.lr, sampler_steps=args.steps)
    rows = bench.run_adherence(model, n=args.n, controls_filter=only, **kwargs)
    settings = {k: v for k, v in kwargs.items() if k != "n_iters"}
    print(bench.adherence_table(rows, title=f"DITTO adherence, {args.n} held-out targets per control, "
                                            f"up to {bench.iterations_text(args.iters)}, {settings}"))
    print()
    print(bench.quality_table(rows, bench.unconditional_quality(model, sampler_steps=args.steps)))
    if args.baselines:
        print()
        print(bench.baselines_at_equal_time(model, rows, n=args.n, controls_filter=only, sampler_steps=args.steps))
    return {}


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dittoedu", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="render a Bach chorale excerpt from music21's corpus")
    p.add_argument("--chorale", default="bach/bwv269", help="a music21 corpus name (default: bach/bwv269)")
    p.add_argument("--bars", type=int, default=4, help="how many bars (default: 4)")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("generate", help="generate music with the shipped model, following controls")
    p.add_argument("--melody", help="a melody for the top voice: a MIDI/MusicXML/ABC file or tinyNotation text")
    p.add_argument("--chords", help="chords, one per bar: 'C G Am F', '| C | G7/B | Am F |', or numerals with --key")
    p.add_argument("--key", help="the key for roman-numeral chords, e.g. 'C' or 'a' (minor)")
    p.add_argument("--intensity", help="a loudness curve in 0..1: a CSV/JSON file or values like '0.2,0.8,0.4'")
    p.add_argument("--form", help="a form over the bars, e.g. AABA")
    p.add_argument("--inpaint", help="a piece to keep parts of (with --keep)")
    p.add_argument("--keep", help="steps of the --inpaint piece to keep, e.g. '0:16,48:64'")
    p.add_argument("--outpaint", help="a piece to continue")
    p.add_argument("--loop", type=int, help="make the last N bars repeat the first N, so the music loops")
    p.add_argument("--text", help="a text prompt, e.g. 'a calm chorale in a minor key, low register' "
                                  "(scored by the shipped text-music model)")
    p.add_argument("--bars", type=int, default=4, help="length in 4/4 bars, 1 to 16 (default: 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same music")
    p.add_argument("--method", default=None, choices=["ditto", "ditto2", "guidance", "best_of_n", "none"],
                   help="how controls are enforced (default with controls: ditto2 when the distilled model "
                        "is there, else ditto; none without controls)")
    p.add_argument("--iters", type=int, default=None,
                   help="most optimization iterations (default: 60 per control, 150 for a melody or a form, "
                        "summed; it stops as soon as every target is met)")
    p.add_argument("--lr", type=float, default=None,
                   help="optimizer step size (default: 1.0 for ditto2, 0.5 for the other methods)")
    p.add_argument("--steps", type=int, default=None,
                   help="sampler steps (default: 8 to optimize through, 18 for plain sampling)")
    p.add_argument("--sampler", default="stochastic", choices=["stochastic", "heun", "euler"],
                   help="how --method none samples (default: stochastic, EDM's sampler with fresh noise); "
                        "optimizing always runs Euler steps")
    p.add_argument("--model", default=None, help="a checkpoint to use instead of the shipped model")
    p.add_argument("--surrogate", default=None, help="ditto2: a distilled CTM checkpoint instead of the shipped one")
    p.add_argument("--decode", default="ctm", choices=["ctm", "cm", "base"], help="ditto2: how to decode (default: ctm)")
    p.add_argument("--decode-steps", type=int, default=1,
                   help="ditto2: decoding jumps (default: 1, the jump it optimized through, which keeps the controls)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("train", help="train a denoiser on the Bach chorales (resumes a stopped run)")
    p.add_argument("--preset", default="tiny", choices=["tiny", "default"])
    p.add_argument("--run-dir", default=None, help="where checkpoints and logs go (default: runs/base-PRESET)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (resume later)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch decides)")
    p.add_argument("--export", default=None, metavar="PATH",
                   help="when done, write the EMA weights and a model card to PATH (.safetensors)")
    p.add_argument("--eval-samples", type=int, default=256, help="samples for the model card's quality measures")
    p.add_argument("--force", action="store_true", help="export even if the run has not finished")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("distill", help="distill the base model into a one-step CM or CTM model (resumable)")
    p.add_argument("--kind", default="ctm", choices=["cm", "ctm"])
    p.add_argument("--preset", default="tiny", choices=["tiny", "default", "jump"],
                   help="jump: a later phase that refines the one jump from pure noise of an --init run (repeatable)")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="start from this distilled checkpoint instead of a copy of the teacher")
    p.add_argument("--teacher", default=None, help="the base checkpoint (default: the shipped model)")
    p.add_argument("--blocks", type=int, default=None, metavar="N",
                   help="residual blocks per level of the student (default: the teacher's; fewer: a faster surrogate)")
    p.add_argument("--run-dir", default=None, help="where checkpoints and logs go (default: runs/KIND-PRESET)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--export", default=None, metavar="PATH", help="write the EMA weights and a model card to PATH")
    p.add_argument("--eval-samples", type=int, default=64)
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("train-text", help="train the text-music model that scores --text prompts (resumable)")
    p.add_argument("--preset", default="tiny", choices=["tiny", "default"])
    p.add_argument("--run-dir", default=None, help="where checkpoints and logs go (default: runs/text-PRESET)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (resume later)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch decides)")
    p.add_argument("--export", default=None, metavar="PATH",
                   help="when done, write the EMA weights and a model card to PATH (.safetensors)")
    p.set_defaults(func=cmd_train_text)

    p = sub.add_parser("corpus", help="parse the chorales into the cache (done once, two minutes or so)")
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("bench", help="time sampling: bars x sampler steps x batch, medians")
    p.add_argument("--model", default=None)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--adherence", action="store_true", help="control adherence on held-out targets instead")
    p.add_argument("--baselines", action="store_true", help="with --adherence: best-of-N and guidance at equal time")
    p.add_argument("--controls", default=None, help="with --adherence: only these controls, e.g. melody,chords "
                   "(same seeds as in the full run, so their rows repeat it)")
    p.add_argument("--ditto2", default=None, metavar="CTM_CHECKPOINT",
                   help="with --adherence: compare DITTO with DITTO-2 through this distilled model")
    p.add_argument("--text", action="store_true",
                   help="text control on held-out prompts: DITTO-2 (the shipped CTM) against plain sampling")
    p.add_argument("--studio", action="store_true",
                   help="seconds from the Studio's Generate button to a complete take, DITTO-2 and DITTO")
    p.add_argument("--combined", action="store_true",
                   help="two controls at once: DITTO and DITTO-2, their gradients balanced or summed")
    p.add_argument("--n", type=int, default=20, help="held-out targets per control (default: 20)")
    p.add_argument("--iters", type=int, default=None,
                   help="most iterations per request (default: 60 per control, 150 for a melody or a form)")
    p.add_argument("--lr", type=float, default=None, help="optimizer step size (default: each method's own)")
    p.add_argument("--steps", type=int, default=8)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    from .train import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        out = args.func(args)
    except (UsageError, MusicInputError, CheckpointError) as exc:
        print(f"dittoedu {args.command}: {exc}", file=sys.stderr)
        return 2
    for key, value in out.items():
        if isinstance(value, list):
            print(f"{key}:")
            for v in value:
                print(f"  {v}")
        else:
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
