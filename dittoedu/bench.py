"""Benchmarks: figures printed in one run, never timed unit tests (shared machines are noisy).

``dittoedu bench`` prints how long unconditional sampling takes for 1, 4 and 16 bars,
10 and 20 sampler steps, batch 1 and 8: the median of ``repeats`` runs, with the
real-time factor (seconds of music at the default tempo per second of compute).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import Counter

import torch

from .audio import TEMPO, step_seconds
from .diffusion import generate


def median_seconds(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def sampling_table(model, *, device="cpu", repeats: int = 5, bars=(1, 4, 16), steps=(10, 20), batches=(1, 8)) -> str:
    """A Markdown table of sampling times (medians), one row per setting."""
    lines = [f"sampling on {device} ({torch.get_num_threads()} threads), tempo {TEMPO}, median of {repeats}",
             "| bars | steps | batch | seconds | per piece | real-time factor |", "|---|---|---|---|---|---|"]
    for n_bars in bars:
        for n in steps:
            for b in batches:
                s = median_seconds(lambda: generate(model, n_steps=16 * n_bars, batch=b, sampler_steps=n,
                                                    device=device), repeats=repeats)
                music = 16 * n_bars * step_seconds() * b
                lines.append(f"| {n_bars} | {n} | {b} | {s:.3f} | {s / b:.3f} | {music / s:.0f}x |")
    return "\n".join(lines)


def iteration_table(model, *, repeats: int = 15, sampler_steps: int = 8, bars: int = 4) -> str:
    """The time of one DITTO iteration (the sampler forwards and backwards, batch 1) with the network
    run eagerly and traced (:class:`~dittoedu.nets.TracedNet`), measured in turn in one run."""
    from .diffusion import SIGMA_MAX, get_sigmas_karras, sample_euler
    from .ito import traced

    sigmas = get_sigmas_karras(sampler_steps)
    eps = torch.randn(1, 2, model.net.config.n_pitches, 16 * bars, requires_grad=True)

    def iteration(m):
        return lambda: torch.autograd.grad(sample_euler(m, eps * SIGMA_MAX, sigmas).sum(), eps)

    eager = model.eval()
    fast = traced(eager)
    times = {"eager": [], "traced": []}
    for _ in range(3):  # warm up (the first call traces the graph)
        iteration(eager)(), iteration(fast)()
    for _ in range(repeats):
        times["eager"].append(median_seconds(iteration(eager), repeats=1, warmup=0))
        times["traced"].append(median_seconds(iteration(fast), repeats=1, warmup=0))
    e, t = (statistics.median(v) for v in times.values())
    return "\n".join([f"one DITTO iteration ({sampler_steps} Euler steps forwards and backwards, {bars} bars, batch 1, "
                      f"{torch.get_num_threads()} threads), median of {repeats}, taken in turn",
                      "| network | ms per iteration |", "|---|---|",
                      f"| eager | {1000 * e:.1f} |", f"| traced (TracedNet) | {1000 * t:.1f} ({t / e:.2f}x) |"])


# ---------------------------------------------------------------------------------------------
# control adherence: held-out targets, DITTO against the baselines


def _validation_windows(n: int, n_steps: int = 64):
    from .corpus import ChoraleWindows

    val = ChoraleWindows("validation", n_steps=n_steps, transpose=0, progress=False)
    picks = torch.linspace(0, len(val) - 1, n).round().long().tolist()
    return [val.window(k) for k in picks]


def melody_targets(n: int = 20, n_steps: int = 64) -> list[list]:
    """Melodies: the top voice of held-out chorale windows, and the start of Essen folk songs from music21."""
    from music21 import corpus

    from .controls import top_voice
    from .roll import fit_range, Piece, stream_to_notes

    melodies = []
    for x in _validation_windows(n - n // 3, n_steps):
        onsets = sorted({t for t, p in enumerate(top_voice(x)) if p is not None and x[0, p - 36, t] > 0})
        melodies.append((top_voice(x), onsets))
    folk = corpus.getComposer("essenFolksong")[0]
    k = 1
    while len(melodies) < n:
        notes = [nt for nt in stream_to_notes(corpus.parse(folk, number=k), out_of_range="keep") if nt.onset < n_steps]
        k += 1
        if len(notes) < 8:
            continue
        notes = fit_range(Piece(notes)).notes
        pitches = [None] * n_steps
        for nt in notes:
            for t in range(nt.onset, min(nt.end, n_steps)):
                pitches[t] = max(pitches[t] or 0, nt.pitch)
        melodies.append((pitches, sorted({nt.onset for nt in notes})))
    return melodies


CHORD_FIGURE = r"[A-G][b#]?(m|7|m7|maj7)?(/[A-G][b#]?)?"  # plain triads and seventh chords, as a student writes them


def _chord_at(x: torch.Tensor, t: int) -> str | None:
    """The chord symbol of the notes sounding at step ``t`` of a roll ``[2, P, T]``, or None when they
    are not a plain triad or seventh chord (a passing-note sonority)."""
    from music21 import chord, harmony

    from .roll import FRAME, LOW_PITCH

    pitches = [LOW_PITCH + p for p in (x[FRAME, :, t] > 0).nonzero().flatten().tolist()]
    if len(pitches) < 3:
        return None
    figure = harmony.chordSymbolFigureFromChord(chord.Chord(pitches)).replace("-", "b")
    return figure if re.fullmatch(CHORD_FIGURE, figure) else None


def chord_targets(n: int = 20, n_steps: int = 64, *, per: str = "beat") -> list[str]:
    """Chord progressions read off held-out chorales: their chord on every beat (``per="beat"``,
    written with bar lines, ``"| C G/B Am F | ... |"``) or on every downbeat (``per="bar"``).

    A beat whose notes are not a plain chord is a passing sonority: it keeps the chord before it
    (at most four in a window). A window whose first beat, or any downbeat with ``per="bar"``,
    is not a chord is skipped.
    """
    if per not in ("beat", "bar"):
        raise ValueError(f"per must be 'beat' or 'bar', not {per!r}")
    beats = 4 if per == "beat" else 1
    progressions = []
    for x in _validation_windows((8 if per == "beat" else 4) * n, n_steps):  # per bar: the targets of earlier runs
        bars, previous, carried = [], None, 0
        for bar in range(n_steps // 16):
            symbols = []
            for beat in range(beats):
                symbol = _chord_at(x, bar * 16 + beat * 16 // beats)
                if symbol is None and previous is not None and per == "beat":
                    symbol, carried = previous, carried + 1
                if symbol is None:
                    break
                symbols.append(symbol)
                previous = symbol
            if len(symbols) < beats:
                break
            bars.append(" ".join(symbols))
        if len(bars) == n_steps // 16 and carried <= 4:
            progressions.append("| " + " | ".join(bars) + " |" if per == "beat" else " ".join(bars))
        if len(progressions) == n:
            break
    return progressions


def intensity_targets(n: int = 20, n_steps: int = 64) -> list[torch.Tensor]:
    """Hand-shaped curves in [0, 1]: ramps, swells, dips, terraces and waves."""
    t = torch.linspace(0, 1, n_steps)
    shapes = [t, 1 - t, torch.sin(math.pi * t), 1 - torch.sin(math.pi * t), (t > 0.5).float(), (t < 0.5).float()]
    for f in (1, 1.5, 2):
        for phase in (0.0, math.pi):
            shapes.append(0.5 + 0.5 * torch.sin(2 * math.pi * f * t + phase))
    for k in (3, 4):
        shapes.append(torch.floor(t * k).clamp(max=k - 1) / (k - 1))
    shapes += [t**2, 1 - t**2, torch.sqrt(t), torch.exp(-4 * t), 0.2 + 0.6 * t, 0.8 - 0.6 * t]
    return [s.clamp(0, 1) for s in shapes[:n]]


FORMS = ["AAAA", "AAAB", "AABA", "AABB", "AABC", "ABAA", "ABAB", "ABAC", "ABBA", "ABBB", "ABBC", "ABCA", "ABCB",
         "ABCC", "ABCD", "AB", "AABB", "AABA", "ABAB", "ABAC"]  # the last five over 8 bars, the rest over 4


def adherence_requests(n: int = 20, only=None):
    """``(control name, bars, builder)``: ``builder()`` makes that request's controls, ``n`` per control.

    ``only``: the names of the controls to make targets for (default: all).
    """
    from . import controls as C

    def wanted(name):
        return only is None or name in only

    requests = []
    for pitches, onsets in melody_targets(n) if wanted("melody") else []:
        requests.append(("melody", 4, lambda p=pitches, o=onsets: [C.Melody(pitches=p, onsets=o)]))
    for text in chord_targets(n) if wanted("chords") else []:
        requests.append(("chords", 4, lambda s=text: [C.Chords.from_text(s, n_steps=64)]))
    for text in chord_targets(n, per="bar") if wanted("chords/bar") else []:
        requests.append(("chords/bar", 4, lambda s=text: [C.Chords.from_text(s, n_steps=64)]))
    for curve in intensity_targets(n) * SEEDS_PER_TARGET["intensity"] if wanted("intensity") else []:
        requests.append(("intensity", 4, lambda c=curve: [C.Intensity.from_curve(c, n_steps=64)]))
    for i, form in enumerate(FORMS[:n] if wanted("structure") else []):
        bars = 8 if i >= 15 else 4
        requests.append(("structure", bars, lambda f=form, b=bars: [C.Structure.from_form(f, bars=b)]))
    windows = _validation_windows(n) if any(wanted(k) for k in ("inpaint", "outpaint")) else []
    for x in windows if wanted("inpaint") else []:
        keep = C.parse_keep("0:24,40:64", n_steps=64)
        requests.append(("inpaint", 4, lambda r=x, k=keep: [C.Inpaint(reference=r, keep=k)]))
    for x in windows if wanted("outpaint") else []:
        keep = torch.arange(64) < 32
        requests.append(("outpaint", 4, lambda r=x, k=keep: [C.Outpaint(reference=r, keep=k)]))
    for _ in range(n) if wanted("loop") else []:
        requests.append(("loop", 4, lambda: [C.Loop(n=16)]))
    return requests


HEADLINE = {"melody": "accuracy", "chords": "chord_tone_ratio", "chords/bar": "chord_tone_ratio",
            "intensity": "mse_db2", "structure": "ssm_mse", "inpaint": "kept_f1", "outpaint": "kept_f1",
            "loop": "kept_f1"}
LOWER_IS_BETTER = {"mse_db2", "ssm_mse"}


# Intensity's runs are chaotic (thresholded notes, a yes/no stop on the audio): float rounding alone moves a
# curve between 15 and 60 iterations, and the median of its 20 curves moved between 22 and 36 with code
# changes that left the mean of 60 runs where it was (29). Each curve is asked with this many seeds.
SEEDS_PER_TARGET = {"intensity": 3}


def request_seed(control: str, index: int, n: int = 20) -> int:
    """The seed of ``control``'s ``index``-th request out of ``n`` targets: ``20 * (its place in HEADLINE) +
    index``, the same whichever controls a run asks for, so a run of one control repeats that control's row
    of the full benchmark (with 20 requests per control, the seed is the request's place in the full list).
    A target asked again (``SEEDS_PER_TARGET``) is asked with 1000 more each time.

    >>> request_seed("melody", 3), request_seed("structure", 0), request_seed("intensity", 21)
    (3, 80, 1061)
    """
    return 20 * list(HEADLINE).index(control) + index % n + 1000 * (index // n)


def iterations_text(n_iters: int | None) -> str:
    """How many iterations a benchmark gave each request, in words.

    >>> iterations_text(None), iterations_text(30)
    ('60 iterations per control (150 for melody, 150 for structure)', '30 iterations')
    """
    from .ito import ITERATIONS, ITERATIONS_OTHERS

    longer = ", ".join(f"{v} for {k}" for k, v in ITERATIONS.items())
    return f"{n_iters} iterations" if n_iters else f"{ITERATIONS_OTHERS} iterations per control ({longer})"


def run_adherence(model, *, n: int = 20, method: str = "ditto", controls_filter=None, progress: bool = True,
                  **optimize_kwargs) -> dict:
    """Run every request with ``method``; per control: metrics (mean and worst), time and quality."""
    return run_interleaved(model, {method: dict(method=method, **optimize_kwargs)}, n=n,
                           controls_filter=controls_filter, progress=progress)[method]


def run_interleaved(model, runs: dict[str, dict], *, n: int = 20, controls_filter=None, progress: bool = True) -> dict:
    """Every request with each of ``runs`` (name -> :func:`~dittoedu.ito.optimize` keywords), one after
    the other before the next request: a machine that slows down during the benchmark slows every
    method alike, so their ratios hold. Returns name -> control -> metrics, seconds, iterations, quality.
    """
    from tqdm.auto import tqdm

    from . import metrics
    from .ito import optimize

    out = {name: {} for name in runs}
    requests = adherence_requests(n, only=controls_filter)
    done = Counter()  # requests of each control so far
    for control, bars, build in tqdm(requests, desc=f"adherence ({', '.join(runs)})", disable=not progress):
        seed = request_seed(control, done[control], n)
        done[control] += 1
        for name, kwargs in runs.items():
            controls = build()
            res = optimize(model, controls, n_steps=16 * bars, seed=seed, **kwargs)
            measured = res.measure(controls)[controls[0].name]
            row = out[name].setdefault(control, {"metrics": {}, "seconds": [], "iterations": [], "quality": []})
            for key, value in measured.items():
                if isinstance(value, float):
                    row["metrics"].setdefault(key, []).append(value)
            row.setdefault("met", []).append(all(res.met(controls).values()))
            row["seconds"].append(res.timings["total_s"])
            row["iterations"].append(res.iterations)
            if bars == 4:
                row["quality"].append(metrics.quality(res.notes, n_steps=64))
    return out


def metric_text(value: float) -> str:
    """A metric for a table: four decimals, or two significant digits where that would read 0.0000
    for a value that is not 0 (an SSM error of 2e-7 is not an exact form).

    >>> metric_text(0.61394), metric_text(0.0), metric_text(8.5e-5), metric_text(2e-7)
    ('0.6139', '0.0000', '0.0001', '2.0e-07')
    """
    return f"{value:.1e}" if 0 < abs(value) < 5e-5 else f"{value:.4f}"


def _other_metrics(row: dict, key: str) -> str:
    """The means of ``row``'s metrics other than ``key``, e.g. ``"bass_ratio 1.000"``."""
    return ", ".join(f"{k} {statistics.mean(v):.3f}" for k, v in row["metrics"].items() if k != key)


def _metrics_text(row: dict, key: str) -> str:
    """The mean of ``row``'s headline metric ``key``, then its other metrics' in brackets (two methods
    that both meet every chord tone may still differ on the bass), then how many requests met their
    target (``Result.met``: DITTO stops as soon as it is met, where the baselines use all their time)."""
    others = _other_metrics(row, key)
    return (metric_text(statistics.mean(row["metrics"][key])) + (f" [{others}]" if others else "")
            + f", met {sum(row['met'])}/{len(row['met'])}")


def adherence_table(rows: dict, *, title: str) -> str:
    """Mean and worst of each control's headline metric, median seconds and iterations."""
    lines = [title, "| control | n | metric | mean | worst | other metrics (mean) | median s | median iters |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        key = HEADLINE[name]
        values = row["metrics"][key]
        worst = max(values) if key in LOWER_IS_BETTER else min(values)
        lines.append(f"| {name} | {len(values)} | {key} | {metric_text(statistics.mean(values))} | {metric_text(worst)} "
                     f"| {_other_metrics(row, key)} | "
                     f"{statistics.median(row['seconds']):.2f} | {statistics.median(row['iterations']):.0f} |")
    return "\n".join(lines)


def quality_table(rows: dict, unconditional: list[dict]) -> str:
    """Mean quality measures of the controlled outputs, relative to unconditional samples.

    A first row puts the held-out chorales themselves (:func:`~dittoedu.metrics.reference`) on the
    same scale: how far the model's own samples are from Bach, and so how far music can be from the
    samples while being chorale-like.
    """
    from .metrics import MEASURES, means, reference

    ref = means(unconditional)
    chorales = reference(64)["mean"]
    lines = [f"quality of controlled outputs vs {len(unconditional)} unconditional samples (relative difference of "
             "the means)",
             "| control | " + " | ".join(MEASURES) + " |", "|---|" + "---|" * len(MEASURES)]
    lines.append("| unconditional | " + " | ".join(f"{ref[k]:.3f}" for k in MEASURES) + " |")
    lines.append("| *held-out chorales* | " + " | ".join(_mean_cells(chorales, ref)) + " |")
    for name, row in rows.items():
        if row["quality"]:
            lines.append(f"| {name} | " + " | ".join(_quality_cells(row["quality"], ref)) + " |")
    return "\n".join(lines)


def _quality_cells(qualities: list[dict], ref: dict[str, float]) -> list[str]:
    """Per measure, the mean over ``qualities`` and its relative difference to the means ``ref``: ``0.123 (4 %)``."""
    from .metrics import means

    return _mean_cells(means(qualities), ref)


def _mean_cells(mean: dict[str, float], ref: dict[str, float]) -> list[str]:
    """Per measure, ``mean`` and its relative difference to ``ref``: ``0.123 (4 %)``."""
    from .metrics import MEASURES, relative_to

    diff = relative_to(mean, ref)
    return [f"{mean[k]:.3f} ({100 * diff[k]:.0f} %)" for k in MEASURES]


def unconditional_quality(model, *, n: int = 256, sampler_steps: int = 8) -> list[dict]:
    """Quality of ``n`` plain samples of 4 bars: the reference for the controlled outputs' quality.

    256, as the model cards: a reference for a 20 % criterion must not move with the draw (20
    samples put the empty-step rate at 0.028, 256 at 0.014).
    """
    from . import metrics

    x = generate(model, n_steps=64, batch=n, seed=10_000, sampler_steps=sampler_steps)
    return metrics.quality_of_rolls(x)


def baselines_at_equal_time(model, rows: dict, *, n: int = 20, controls_filter=None, sampler_steps: int = 8,
                            progress: bool = True) -> str:
    """Best-of-N and guidance given the same wall time per request as DITTO took (its median).

    A sample and a guided step are timed on the control's own first request: a control whose
    loss is dear (intensity renders loudness at every guided step) buys fewer of them.
    """
    from .ito import optimize

    lines = ["adherence at equal wall time (DITTO's median seconds per request)",
             "| control | metric | ditto | best_of_n (N) | guidance (steps) | seconds |", "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        if controls_filter is not None and name not in controls_filter:
            continue
        _, bars, build = adherence_requests(n, only=[name])[0]
        probe, n_steps = build(), 16 * bars
        t_sample = median_seconds(lambda: optimize(model, probe, n_steps=n_steps, method="best_of_n", n_iters=4,
                                                   sampler_steps=sampler_steps, early_stop=False), 3) / 4
        t_guided = median_seconds(lambda: optimize(model, probe, n_steps=n_steps, method="guidance",
                                                   sampler_steps=sampler_steps), 3)
        budget = statistics.median(row["seconds"])
        n_best = max(2, round(budget / t_sample))
        steps = max(sampler_steps, round(budget / t_guided * sampler_steps))
        best = run_adherence(model, n=n, method="best_of_n", controls_filter=[name], progress=progress,
                             n_iters=n_best, sampler_steps=sampler_steps)[name]
        guided = run_adherence(model, n=n, method="guidance", controls_filter=[name], progress=progress,
                               sampler_steps=steps)[name]
        key = HEADLINE[name]
        lines.append(f"| {name} | {key} | {_metrics_text(row, key)} | {_metrics_text(best, key)} ({n_best}) "
                     f"| {_metrics_text(guided, key)} ({steps}) "
                     f"| {budget:.2f} / {statistics.median(best['seconds']):.2f} / "
                     f"{statistics.median(guided['seconds']):.2f} |")
    return "\n".join(lines)


# Requests of two controls that can be met together: a form's repeated bars can be equally loud
# (AABB under a terrace, not ABAB under a swell), its repeated bars can have the same chords.
COMBINATIONS = {
    "intensity+form": dict(intensity=[0.2] * 32 + [0.8] * 32, form="AABB"),
    "intensity+chords": dict(intensity=[0.0, 1.0], chords="C G Am F"),
    "form+chords": dict(form="AABA", chords="C C F C"),
    "melody+intensity": dict(melody="4/4 e4 e f g g f e d c c d e e4. d8 d2", intensity=[0.9, 0.1]),
    "melody+chords": dict(melody="4/4 e4 e f g g f e d c c d e e4. d8 d2", chords="C G C G"),
}


def combined_table(model, surrogate=None, *, seeds=range(5), n_iters: int | None = None, progress: bool = True) -> str:
    """Requests of two controls at once (``COMBINATIONS``, 4 bars, one per seed): how many meet both
    targets, each control's headline metric, median iterations and seconds; DITTO, and DITTO-2
    through ``surrogate`` when given, each with its controls' gradients balanced
    (:func:`~dittoedu.ito.balanced_gradient`) and summed as they come (``balance=False``). ``n_iters``:
    None gives each request its :func:`~dittoedu.ito.iteration_budget`.
    """
    from tqdm.auto import tqdm

    from . import controls as C
    from .ito import optimize

    methods = ["ditto"] + (["ditto2"] if surrogate is not None else [])
    configs = {f"{m} {'balanced' if b else 'summed'}": dict(method=m, balance=b) for m in methods for b in (True, False)}
    lines = [f"two controls at once, {len(seeds)} seeds each, 4 bars, up to {iterations_text(n_iters)}: requests that met "
             "both targets, each control's metric (mean), median iterations and seconds",
             "| controls | method | both met | metrics | median iters | median s |", "|---|---|---|---|---|---|"]
    jobs = [(combo, seed) for combo in COMBINATIONS for seed in seeds]
    rows = {(combo, name): [] for combo in COMBINATIONS for name in configs}
    for combo, seed in tqdm(jobs, desc="two controls at once", disable=not progress):
        for name, kwargs in configs.items():
            controls, _ = C.build(bars=4, **COMBINATIONS[combo])
            res = optimize(model, controls, n_steps=64, seed=seed, n_iters=n_iters, surrogate=surrogate, **kwargs)
            rows[combo, name].append((res, res.measure(controls)))
    for (combo, name), results in rows.items():
        met = sum(r.stop_reason.startswith("targets met") for r, _ in results)
        metrics = "; ".join(f"{c} {HEADLINE[c]} {metric_text(statistics.mean(m[c][HEADLINE[c]] for _, m in results))}"
                            for c in results[0][1])
        lines.append(f"| {combo} | {name} | {met}/{len(results)} | {metrics} | "
                     f"{statistics.median(r.iterations for r, _ in results):g} | "
                     f"{statistics.median(r.timings['total_s'] for r, _ in results):.2f} |")
    for name in configs:
        results = [r for combo in COMBINATIONS for r, _ in rows[combo, name]]
        met = sum(r.stop_reason.startswith("targets met") for r in results)
        lines.append(f"| all | {name} | {met}/{len(results)} | | {statistics.median(r.iterations for r in results):g} | "
                     f"{statistics.median(r.timings['total_s'] for r in results):.2f} |")
    return "\n".join(lines)


def ditto2_table(model, surrogate, *, n: int = 20, controls_filter=None, lr: float | None = None, n_iters: int | None = None,
                 sampler_steps: int = 8, decodes=(("ctm", 2), ("ctm", 1), ("cm", 2), ("base", 8)),
                 progress: bool = True) -> str:
    """DITTO against DITTO-2 with each decode, on the same held-out targets: adherence, seconds, real-time factor.

    The methods take turns request by request (:func:`run_interleaved`), so the speed-ups compare
    runs made under the same load.
    """
    music_s = 64 * step_seconds()
    configs = {"ditto": dict(method="ditto", n_iters=n_iters, lr=lr, sampler_steps=sampler_steps)}
    for decode, steps in decodes:
        configs[f"ditto2 ({decode} x{steps})"] = dict(
            method="ditto2", n_iters=n_iters, lr=lr, sampler_steps=steps if decode == "base" else sampler_steps,
            surrogate=surrogate, decode=decode, decode_steps=steps)
    runs = run_interleaved(model, configs, n=n, controls_filter=controls_filter, progress=progress)
    names = list(runs)
    lines = [f"DITTO vs DITTO-2, {n} held-out targets per control, up to {iterations_text(n_iters)} (4 bars = "
             f"{music_s:.1f} s of music at tempo {TEMPO}; the methods take turns on each request)",
             "| control | metric | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for control in runs["ditto"]:
        key = HEADLINE[control]
        cells = [metric_text(statistics.mean(runs[m][control]["metrics"][key])) for m in names]
        lines.append(f"| {control} | {key} | " + " | ".join(cells) + " |")
    for label, fn in (("median s", lambda r: statistics.median(r["seconds"])),
                      ("real-time factor", lambda r: music_s / statistics.median(r["seconds"]))):
        cells = [f"{statistics.median([fn(runs[m][c]) for c in runs[m]]):.2f}" for m in names]
        lines.append(f"| all | {label} (median over controls) | " + " | ".join(cells) + " |")
    base = statistics.median([statistics.median(r["seconds"]) for r in runs["ditto"].values()])
    cells = [f"{base / statistics.median([statistics.median(r['seconds']) for r in runs[m].values()]):.1f}x"
             for m in names]
    lines.append("| all | speed-up over DITTO | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", ditto2_time_table(runs), "", ditto2_quality_table(runs)])


def ditto2_time_table(runs: dict) -> str:
    """Median seconds and iterations per control and method: where the speed-up comes from."""
    names = list(runs)
    lines = ["median seconds (iterations) per request", "| control | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for control in runs[names[0]]:
        lines.append(f"| {control} | " + " | ".join(f"{statistics.median(runs[m][control]['seconds']):.3f} "
                                                    f"({statistics.median(runs[m][control]['iterations']):g})"
                                                    for m in names) + " |")
    return "\n".join(lines)


def ditto2_quality_table(runs: dict) -> str:
    """Quality of each method's 4-bar outputs, all controls together, relative to DITTO's (``runs["ditto"]``)."""
    from .metrics import MEASURES, means

    pooled = {m: [q for row in rows.values() for q in row["quality"]] for m, rows in runs.items()}
    ref = means(pooled["ditto"])
    names = list(runs)
    lines = [f"quality of the outputs ({len(pooled['ditto'])} 4-bar requests, all controls; relative difference "
             "to DITTO's)", "| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    cells = {m: _quality_cells(pooled[m], ref) for m in names}
    for i, k in enumerate(MEASURES):
        lines.append(f"| {k} | " + " | ".join(cells[m][i] for m in names) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# text control (DITTO-2's CLAP score, with our own text-music model)

# Held-out prompts: written by hand, in phrasings the training captions never use verbatim.
TEXT_PROMPTS = [
    "a gloomy hymn", "something joyful and lively", "a sad chorale in a low register",
    "a cheerful tune with a rising melody", "a calm, peaceful piece in a major key",
    "dark music with a descending line", "high and bright", "a busy chorale, low and dark",
    "a slow melancholy hymn with a falling melody", "an energetic piece in a minor key", "a gentle, high chorale",
    "deep and calm", "a mournful tune, climbing upward", "a sunny hymn in a high register with a falling melody",
    "a lively tune that rises", "something dense and dark in a deep register",
    "a relaxed chorale in a major key with a steady melody", "minor, low, slow", "an active piece in a high register",
    "a happy chorale with a descending melody", "a melancholy chorale in the middle register",
    "a joyful, busy hymn, lofty and ascending", "sparse and sad", "a bright chorale in a moderate rhythm",
]


def run_text(model, *, prompts=TEXT_PROMPTS, method: str = "ditto2", text_model=None, progress: bool = True,
             **optimize_kwargs) -> list[dict]:
    """Each prompt once with ``method`` (seed = its index): attributes met, similarity, seconds, quality."""
    from tqdm.auto import tqdm

    from . import controls as C, metrics
    from .ito import optimize

    rows = []
    for i, prompt in enumerate(tqdm(prompts, desc=f"text ({method})", disable=not progress)):
        control = C.Text(prompt=prompt, model=text_model)
        res = optimize(model, [control], n_steps=64, method=method, seed=i, **optimize_kwargs)
        m = res.measure([control])["text"]
        rows.append({"prompt": prompt, "met": [c["met"] for c in m["attributes"].values()],
                     "attributes": m["attributes"], "similarity": m["similarity"], "seconds": res.timings["total_s"],
                     "iterations": res.iterations, "quality": metrics.quality(res.notes, n_steps=64)})
    return rows


def text_table(runs: dict[str, list[dict]], unconditional: list[dict]) -> str:
    """Per prompt and in total: requested attributes met, similarity, time; quality vs unconditional samples.

    ``runs``: method -> the rows :func:`run_text` returned; ``unconditional``: quality dicts
    (:func:`dittoedu.metrics.quality`) of plain samples, the reference for the quality table.
    """
    from .metrics import MEASURES, means

    names = list(runs)
    lines = [f"text control, {len(runs[names[0]])} held-out prompts (4 bars); per prompt: attributes met / asked",
             "| prompt | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for i, row in enumerate(runs[names[0]]):
        cells = []
        for m in names:
            r = runs[m][i]
            missed = [f"{a}: {c['found']}" for a, c in r["attributes"].items() if not c["met"]]
            cells.append(f"{sum(r['met'])}/{len(r['met'])}" + (f" (got {'; '.join(missed)})" if missed else ""))
        lines.append(f"| {row['prompt']} | " + " | ".join(cells) + " |")
    total = {m: [ok for r in runs[m] for ok in r["met"]] for m in names}
    lines.append("| **attributes met** | " + " | ".join(f"**{100 * sum(t) / len(t):.1f} %**" for t in total.values())
                 + " |")
    for label, fn in (("mean similarity", lambda rs: statistics.mean(r["similarity"] for r in rs)),
                      ("median seconds", lambda rs: statistics.median(r["seconds"] for r in rs)),
                      ("median iterations", lambda rs: statistics.median(r["iterations"] for r in rs))):
        lines.append(f"| {label} | " + " | ".join(f"{fn(runs[m]):.3f}" for m in names) + " |")
    ref = means(unconditional)
    lines += ["", "quality (mean; relative difference to unconditional samples)",
              "| | " + " | ".join(MEASURES) + " |", "|---|" + "---|" * len(MEASURES),
              "| unconditional | " + " | ".join(f"{ref[k]:.3f}" for k in MEASURES) + " |"]
    for m in names:
        lines.append(f"| {m} | " + " | ".join(_quality_cells([r["quality"] for r in runs[m]], ref)) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the Studio: from the Generate button to a complete take

STUDIO_DRAWING = {  # what a student draws in a first class: a melody and a chord per bar
    "melody": [[72, 0, 4], [76, 4, 4], [79, 8, 8], [76, 16, 8], [72, 24, 8], [74, 32, 8], [71, 40, 8], [72, 48, 16]],
    "chords": ["C", "C", "G", "C"],  # every melody note is a tone of its bar's chord: the request can be met
}


def studio_table(*, methods=("ditto2", "ditto"), repeats: int = 5, iterations: int = 30, progress: bool = True) -> str:
    """Seconds from *Generate* to a complete take (optimize, decode, score, plots, audio), median of ``repeats``.

    The Studio runs as the button runs it (``generate``), on the shipped models, with a melody
    and chords drawn; each repeat uses another seed. The first take of each method warms up.
    """
    from tqdm.auto import tqdm

    from .widgets import Studio

    studio = Studio(bars=4, autosave=False, iterations=iterations)
    studio.melody.notes = STUDIO_DRAWING["melody"]
    studio.chords.chords = STUDIO_DRAWING["chords"]
    lines = [f"Studio: Generate -> complete take (4 bars, melody + chords, up to {iterations} iterations; "
             f"median of {repeats})",
             "| method | median s | optimize s | decode s | pictures, score and audio s | iterations | met |",
             "|---|---|---|---|---|---|---|"]
    for method in methods:
        studio.method.value = method
        studio.seed.value = 999
        studio.generate()  # warm-up: loads the models, first plots
        rows = []
        for r in tqdm(range(repeats), desc=f"studio ({method})", disable=not progress):
            studio.seed.value = r
            t0 = time.perf_counter()
            take = studio.generate()
            wall = time.perf_counter() - t0
            if take is None:
                raise RuntimeError(f"the Studio failed: {studio.last_error}")
            t = take.result.timings
            rows.append((wall, t["optimize_s"], t["decode_s"], wall - t["total_s"], take.result.iterations,
                         take.result.stop_reason.startswith("targets met")))
        med = [statistics.median(col) for col in zip(*rows)]
        lines.append(f"| {method} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.3f} | {med[3]:.2f} | {med[4]:.0f} | "
                     f"{sum(r[5] for r in rows)}/{repeats} |")
    studio.close()
    return "\n".join(lines)
