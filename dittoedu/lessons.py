"""Pictures for the lessons: small matplotlib helpers that the notebooks 02-07 share.

Like :mod:`dittoedu.plots`, every function draws on the axes you give it (``ax=``) or on a
new one, returns what it drew, and never calls ``plt.show()``. These are the pictures a
teacher points at while explaining DITTO (Novack et al. 2024):

* :func:`plot_film_strip` -- several piano rolls side by side on one axes: the noisy rolls
  of the forward process, the sampler's guesses step by step, or the music an
  optimization run produced every few iterations (``Result.snapshots``);
* :func:`plot_scalings` -- EDM's preconditioning ``c_skip, c_out, c_in`` against the noise level;
* :func:`plot_target_vs_achieved` -- a target curve (loudness in dB, or a melody) and what
  the final notes achieved, misses marked;
* :func:`plot_ssm` -- a self-similarity matrix of bars (DITTO's structure control);
* :func:`plot_chord_tones` -- a piano roll over the chord tones of a progression, notes
  outside the chords in red;
* :func:`shade_steps` -- shade ranges of steps (the kept bars of an inpainting);
* :class:`SoftMelody` -- a deliberately naive melody loss (a softmax-weighted average pitch),
  to show how an optimizer cheats a soft feature (lesson 04).

In a notebook::

    from dittoedu import lessons
    result = ito.optimize(model, wanted, snapshot_every=5)
    lessons.plot_film_strip(result.snapshots)          # the music, every 5 iterations

>>> import numpy as np
>>> _step_runs(np.array([0, 1, 1, 0, 1], dtype=bool))
[(1, 3), (4, 5)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .controls import BASS_LOW, Melody
from .diffusion import SIGMA_MAX, SIGMA_MIN, edm_scalings
from .plots import _as_numpy, _new_axes, roll_image
from .roll import FRAME, LOW_PITCH, N_PITCHES, STEPS_PER_QUARTER, pitch_name

MISS_COLOR = "tab:red"


def _step_runs(mask) -> list[tuple[int, int]]:
    """``(start, end)`` of every run of True in a 1-D boolean array (end excluded)."""
    mask = np.asarray(mask, dtype=bool).ravel()
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _pitch_axis(ax, n_pitches: int = N_PITCHES) -> None:
    cs = [p for p in range(LOW_PITCH, LOW_PITCH + n_pitches) if p % 12 == 0]
    ax.set_yticks(cs, [pitch_name(p) for p in cs])
    ax.set_ylabel("pitch")


def _bar_lines(ax, n_steps: int, steps_per_bar: int, *, offset: float = 0.0, color="0.35", lw=0.9) -> None:
    for t in range(steps_per_bar, n_steps, steps_per_bar):
        ax.axvline(offset + t - 0.5, color=color, lw=lw, zorder=2)


# ---------------------------------------------------------------------------------------------
# film strip


def plot_film_strip(frames, *, ax=None, titles=None, threshold: float | None = None, gap: int = 3,
                    steps_per_bar: int = 16, cmap: str = "Blues"):
    """Draw several piano rolls side by side on one axes, like the frames of a film.

    Parameters
    ----------
    frames : list of roll [2, P, T], or of (label, roll) pairs
        The rolls, all of the same shape (a batch of one is fine). ``Result.snapshots`` from
        :func:`dittoedu.ito.optimize` is a list of ``(iteration, roll)`` pairs and can be
        passed as it is; so can the ``'x'`` or ``'denoised'`` of a sampler's callback.
    ax : matplotlib Axes, optional
        Where to draw; a new, wide figure if None.
    titles : list of str, optional
        A title over each frame. Default: the pair's label (``"iteration 5"`` for an int),
        else ``"1"``, ``"2"``, ...
    threshold : float or None
        ``None`` (default) shows the soft values as shades, as the model and the optimizer
        see them; ``0.0`` shows the notes they become.
    gap : int
        Empty columns between frames.
    steps_per_bar : int
        Bar lines inside each frame (0: none).
    cmap : str
        A matplotlib colormap, light for silence.

    Returns
    -------
    matplotlib.image.AxesImage
        One image: the frames with ``gap`` columns of NaN between them.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("plot_film_strip needs at least one roll to draw")
    labels, rolls = [], []
    for i, frame in enumerate(frames):
        if isinstance(frame, tuple) and len(frame) == 2:
            label, frame = frame
            labels.append(f"iteration {label}" if isinstance(label, int) else str(label))
        else:
            labels.append(str(i + 1))
        rolls.append(roll_image(frame, threshold=threshold))
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != len(rolls):
            raise ValueError(f"got {len(titles)} titles for {len(rolls)} frames")
        labels = titles
    shapes = {r.shape for r in rolls}
    if len(shapes) != 1:
        raise ValueError(f"all frames must have the same shape to make a strip, got {sorted(shapes)}")
    n_pitches, n_steps = rolls[0].shape
    spacer = np.full((n_pitches, gap), np.nan, dtype=np.float32)
    strip = np.concatenate([part for r in rolls for part in (r, spacer)][:-1], axis=1)
    ax = ax if ax is not None else _new_axes(figsize=(min(18, 2.6 * len(rolls) + 1), 3.2))
    import matplotlib

    colormap = matplotlib.colormaps[cmap].with_extremes(bad="white")  # the gaps between frames
    artist = ax.imshow(strip, origin="lower", aspect="auto", cmap=colormap, vmin=0.0, vmax=1.0,
                       interpolation="nearest",
                       extent=(-0.5, strip.shape[1] - 0.5, LOW_PITCH - 0.5, LOW_PITCH + n_pitches - 0.5))
    for k, label in enumerate(labels):
        start = k * (n_steps + gap)
        if steps_per_bar:
            _bar_lines(ax, n_steps, steps_per_bar, offset=start, color="0.8", lw=0.6)
        ax.text(start + n_steps / 2 - 0.5, LOW_PITCH + n_pitches, label, ha="center", va="bottom",
                fontsize="small")
    ax.set_xticks([])
    _pitch_axis(ax, n_pitches)
    ax.set_xlabel("time, one frame after another")
    return artist


# ---------------------------------------------------------------------------------------------
# preconditioning


def plot_scalings(*, ax=None, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, n: int = 200):
    """EDM's ``c_skip``, ``c_out`` and ``c_in`` (Karras et al. 2022, Table 1) against the noise level.

    Returns
    -------
    list of matplotlib.lines.Line2D
        ``[c_skip, c_out, c_in]``.
    """
    sigma = torch.logspace(math.log10(sigma_min), math.log10(sigma_max), n)
    c_skip, c_out, c_in, _ = edm_scalings(sigma)
    ax = ax if ax is not None else _new_axes(figsize=(6, 3.5))
    lines = []
    for values, label in ((c_skip, r"$c_\mathrm{skip}$: how much of the input is kept"),
                          (c_out, r"$c_\mathrm{out}$: how much the network adds"),
                          (c_in, r"$c_\mathrm{in}$: input scaling")):
        (line,) = ax.plot(sigma.numpy(), values.numpy(), label=label, lw=1.8)
        lines.append(line)
    ax.set_xscale("log")
    ax.set_xlabel(r"noise level $\sigma$")
    ax.axvline(0.5, color="0.6", ls=":", lw=1)
    ax.text(0.5, 1.02, r" $\sigma_\mathrm{data}$", color="0.4", transform=ax.get_xaxis_transform(),
            fontsize="small")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return lines


# ---------------------------------------------------------------------------------------------
# target vs achieved


def _as_series(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().float().numpy()
    return np.array([np.nan if v is None else float(v) for v in np.asarray(values, dtype=object).ravel()],
                    dtype=np.float64)


def plot_target_vs_achieved(target, achieved, *, ax=None, ylabel: str = "", pitches: bool = False,
                            steps_per_bar: int = 16, tolerance: float = 1.0):
    """A target curve and what the music achieved, one value per step, misses marked in red.

    Parameters
    ----------
    target, achieved : sequence of float or None, length T
        For intensity: loudness in dB per step (``Intensity.target_db`` and the ``achieved``
        of ``Intensity.measure``). For a melody (``pitches=True``): the MIDI pitch per step,
        ``None`` for a rest (``Melody.pitches`` and ``Melody.measure(...)['achieved']``).
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.
    ylabel : str
        Label of the y axis (default: "pitch" for melodies).
    pitches : bool
        Draw steps (a melody) with note names on the y axis, instead of smooth curves.
    steps_per_bar : int
        Bar lines (0: none).
    tolerance : float
        A step counts as a miss when ``|achieved - target| > tolerance`` (for pitches, any
        difference; a step where the target is a rest is never a miss).

    Returns
    -------
    list of matplotlib.lines.Line2D
        ``[target line, achieved line, misses]`` (the misses as markers, maybe empty).
    """
    t_values, a_values = _as_series(target), _as_series(achieved)
    if t_values.shape != a_values.shape:
        raise ValueError(f"target has {t_values.size} steps but achieved has {a_values.size}")
    ax = ax if ax is not None else _new_axes(figsize=(8, 3))
    steps = np.arange(t_values.size)
    draw = dict(where="mid") if pitches else {}
    plot = ax.step if pitches else ax.plot
    (t_line,) = plot(steps, t_values, color="0.55", lw=5, alpha=0.55, label="target", solid_capstyle="butt", **draw)
    (a_line,) = plot(steps, a_values, color="tab:blue", lw=1.8, label="achieved", **draw)
    if pitches:
        miss = ~np.isnan(t_values) & ((np.isnan(a_values)) | (a_values != t_values))
    else:
        miss = ~np.isnan(t_values) & (np.isnan(a_values) | (np.abs(a_values - t_values) > tolerance))
    y_miss = np.where(np.isnan(a_values), t_values, a_values)[miss]
    (m_line,) = ax.plot(steps[miss], y_miss, "x", color=MISS_COLOR, ms=6, mew=1.5,
                        label=f"miss ({int(miss.sum())} of {int((~np.isnan(t_values)).sum())} steps)")
    if steps_per_bar:
        _bar_lines(ax, t_values.size, steps_per_bar, color="0.8")
    if pitches:
        finite = np.concatenate([t_values[~np.isnan(t_values)], a_values[~np.isnan(a_values)]])
        if finite.size:
            lo, hi = int(finite.min()) - 1, int(finite.max()) + 1
            ticks = list(range(lo, hi + 1, max(1, (hi - lo) // 8)))
            ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
        ylabel = ylabel or "pitch of the top voice"
    ax.set_xlim(-0.5, t_values.size - 0.5)
    ax.set_xlabel(f"step (16th note; {STEPS_PER_QUARTER} per beat)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.25)
    ax.legend(frameon=False, fontsize="small", loc="best")
    return [t_line, a_line, m_line]


# ---------------------------------------------------------------------------------------------
# self-similarity


def plot_ssm(ssm, *, ax=None, title: str | None = None, labels=None, annotate: bool = True, cmap: str = "viridis"):
    """Draw a self-similarity matrix of bars ``[bars, bars]``, 0 (different) to 1 (the same).

    Parameters
    ----------
    ssm : Tensor or array [bars, bars]
        E.g. :func:`dittoedu.controls.bar_ssm` of a roll, or :func:`dittoedu.targets.form_ssm`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.
    title : str, optional
    labels : str or list of str, optional
        Names of the bars, e.g. the section letters ``"AABA"``; default ``bar 1, bar 2, ...``.
    annotate : bool
        Write each value in its cell.
    cmap : str

    Returns
    -------
    matplotlib.image.AxesImage
    """
    matrix = _as_numpy(ssm)
    if matrix.ndim == 3 and matrix.shape[0] == 1:
        matrix = matrix[0]
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a self-similarity matrix is square [bars, bars], got shape {tuple(matrix.shape)}")
    n = matrix.shape[0]
    names = [f"bar {i + 1}" for i in range(n)] if labels is None else [str(x) for x in labels]
    if len(names) != n:
        raise ValueError(f"got {len(names)} labels for {n} bars")
    ax = ax if ax is not None else _new_axes(figsize=(3.6, 3.2))
    artist = ax.imshow(matrix, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.tick_params(length=0)
    if annotate and n <= 12:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize="small",
                        color="black" if matrix[i, j] > 0.6 else "white")
    if title:
        ax.set_title(title)
    return artist


# ---------------------------------------------------------------------------------------------
# chords

CHORD_TONE_BG = (0.85, 0.94, 0.85)  # light green: a chord tone at this step
BASS_BG = (0.62, 0.85, 0.62)  # darker green: the chord's bass pitch class
IN_CHORD = (0.12, 0.35, 0.75)  # blue: a note that is a chord tone
OUT_OF_CHORD = (0.85, 0.15, 0.15)  # red: a note outside the chord
EXEMPT = (0.55, 0.55, 0.55)  # grey: a note the chords do not judge (a melody note)


def plot_chord_tones(roll_or_notes, chord_target, *, ax=None, exempt=None, symbols=None, steps_per_bar: int = 16):
    """A piano roll over the chord tones of a progression: chord tones green, notes outside them red.

    Parameters
    ----------
    roll_or_notes : roll [2, P, T] (thresholded at 0) or list of Note
        The music.
    chord_target : Tensor [2, 12, T]
        :func:`dittoedu.targets.chord_target_tensor`, or ``Chords.target``: channel 0 the chord
        tones per step, channel 1 the bass.
    ax : matplotlib Axes, optional
    exempt : Tensor [P, T] of bool, optional
        Cells the chords do not judge (``Chords.exempt``: the melody's notes), drawn grey.
    symbols : list of str, optional
        One chord name per bar (``Chords.symbols``), written over the bars.
    steps_per_bar : int

    Returns
    -------
    matplotlib.image.AxesImage
        An RGB image ``[P, T, 3]``.
    """
    target = torch.as_tensor(chord_target).detach().cpu()
    if target.dim() != 3 or target.shape[:2] != (2, 12):
        raise ValueError(f"chord_target must have shape [2, 12, T], got {tuple(target.shape)}")
    n_steps = target.shape[-1]
    image = roll_image(roll_or_notes, n_steps=n_steps if not hasattr(roll_or_notes, "shape") else None)
    if image.shape[1] != n_steps:
        raise ValueError(f"the music has {image.shape[1]} steps but the chords cover {n_steps}")
    pcs = np.arange(LOW_PITCH, LOW_PITCH + N_PITCHES) % 12
    tones = target[0].numpy()[pcs] > 0  # [P, T]
    bass = np.zeros_like(tones)  # the bass row where the chords loss wants it: in the octave from BASS_LOW up
    for t in np.flatnonzero(target[1].numpy().any(0)):
        bass_pc = int(target[1, :, t].argmax())
        bass[(bass_pc - BASS_LOW) % 12 + (BASS_LOW - LOW_PITCH), t] = True
    rgb = np.ones((N_PITCHES, n_steps, 3), dtype=np.float32)
    rgb[tones] = CHORD_TONE_BG
    rgb[bass] = BASS_BG
    on = image > 0
    free = np.zeros_like(on) if exempt is None else torch.as_tensor(exempt).cpu().numpy().astype(bool)
    shade = np.where(image >= 1.0, 1.0, 0.8)[..., None]  # onsets a little darker than held cells
    for mask, color in ((on & tones & ~free, IN_CHORD), (on & ~tones & ~free, OUT_OF_CHORD), (on & free, EXEMPT)):
        rgb[mask] = (np.array(color) * shade + (1 - shade))[mask]
    ax = ax if ax is not None else _new_axes(figsize=(9, 4))
    artist = ax.imshow(rgb, origin="lower", aspect="auto", interpolation="nearest",
                       extent=(-0.5, n_steps - 0.5, LOW_PITCH - 0.5, LOW_PITCH + N_PITCHES - 0.5))
    if steps_per_bar:
        _bar_lines(ax, n_steps, steps_per_bar)
    if symbols:
        for b, symbol in enumerate(symbols):
            ax.text(b * steps_per_bar + steps_per_bar / 2 - 0.5, LOW_PITCH + N_PITCHES - 1, symbol, ha="center",
                    va="top", fontweight="bold", bbox=dict(facecolor="white", edgecolor="none", alpha=0.8))
    _pitch_axis(ax)
    ax.set_xticks([])
    ax.set_xlabel("blue: chord tone   red: outside the chord   grey: melody (free)   "
                  "green: the chord's tones (darker: its bass)")
    return artist


# ---------------------------------------------------------------------------------------------
# kept steps


def shade_steps(ax, mask, *, color: str = "gold", alpha: float = 0.18, label: str | None = None):
    """Shade every run of True in ``mask [T]`` (steps) on a piano-roll axes; returns the patches.

    For inpainting: ``shade_steps(ax, ~keep, label="generated")`` marks what the model wrote.
    """
    patches = []
    for k, (a, b) in enumerate(_step_runs(_as_numpy(mask) > 0)):
        patches.append(ax.axvspan(a - 0.5, b - 0.5, color=color, alpha=alpha, lw=0,
                                  label=label if k == 0 else None, zorder=0.5))
    return patches


# ---------------------------------------------------------------------------------------------
# a loss that can be cheated


@dataclass
class SoftMelody(Melody):
    """A deliberately naive melody loss, for lesson 04: the *average* pitch of each step should be the melody's.

    A natural first try at a differentiable "pitch of this step": weigh every pitch row by a
    softmax over the column of frame values, and take the weighted mean pitch::

        w_p(t) = softmax_p(x_frame[p, t] / temperature),   pitch(t) = sum_p (LOW_PITCH + p) * w_p(t)
        loss   = mean over melody steps of (pitch(t) - target(t))^2          # semitones^2

    It can be driven to almost 0 by music that does not contain the melody at all: a softmax
    does not care whether any value is above the threshold at 0 (a column of silence still
    has an average pitch), nor whether the average comes from one note or from two notes
    around it. :class:`~dittoedu.controls.Melody` uses hinges with a margin on the very cells
    that must sound or be silent instead. Build it from a :class:`Melody`: ``SoftMelody.like(melody)``.
    """

    temperature: float = 1.0

    @classmethod
    def like(cls, melody: Melody, *, temperature: float = 1.0, weight: float = 1.0) -> "SoftMelody":
        return cls(pitches=melody.pitches, onsets=melody.onsets, message=melody.message, temperature=temperature,
                   weight=weight)

    def feature(self, x0):
        """The softmax-weighted mean pitch of each step: ``[B, T]``."""
        pitch = torch.arange(LOW_PITCH, LOW_PITCH + N_PITCHES, dtype=x0.dtype, device=x0.device)
        weights = torch.softmax(x0[:, FRAME] / self.temperature, dim=1)  # [B, P, T], each column sums to 1
        return (weights * pitch[None, :, None]).sum(1)

    def loss(self, pitch):
        target = torch.tensor([math.nan if p is None else float(p) for p in self.pitches], device=pitch.device)
        given = ~target.isnan()
        return (pitch[:, given] - target[given].to(pitch)).square().mean(-1)

    def done(self, loss):
        return False
