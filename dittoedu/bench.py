"""Benchmarks: figures printed in one run, never timed unit tests (shared machines are noisy).

``dittoedu bench`` prints how long unconditional sampling takes for 1, 4 and 16 bars,
10 and 20 sampler steps, batch 1 and 8: the median of ``repeats`` runs, with the
real-time factor (seconds of music at the default tempo per second of compute).
"""

from __future__ import annotations

import statistics
import time

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
