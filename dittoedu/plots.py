"""Pictures of music and of an optimization run, with matplotlib.

Every ``plot_*`` function draws on the axes you give it (``ax=``) or on a new one, and
returns what it drew (an image, or a list of lines), like librosa's ``specshow``. Nothing
here calls ``plt.show()``: in a notebook the figure appears by itself, in a script you save it.

* :func:`plot_roll` -- the piano roll the model works on: dark cells are note starts
  (onsets), light cells are held notes, so two repeated notes look different from one long
  note. Give it a soft roll straight from the model with ``threshold=None`` to see the
  shades the optimizer sees, before they are rounded to notes;
* :func:`plot_spectrogram` -- what the music sounds like: a mel spectrogram in dB;
* :func:`plot_score` -- the score engraved by :mod:`dittoedu.score`;
* :func:`plot_losses` -- how each control's loss fell during the optimization;
* :func:`result_figure` -- all four side by side, in one figure to save.

In a notebook::

    from dittoedu import plots
    plots.plot_roll(notes)                        # a quick look, on a new figure
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    plots.plot_roll(x0, ax=a, threshold=None)     # what the optimizer sees ...
    plots.plot_roll(x0, ax=b)                     # ... and the notes it becomes
    plots.result_figure(notes=notes, loss_history=history)   # the cell shows it

The piano roll picture is an array you can check; two repeated C's are not one long C:

>>> from dittoedu.roll import Note
>>> roll_image([Note(60, 0, 4), Note(60, 4, 4)])[60 - 36].tolist()   # onset, held, ..., onset, ...
[1.0, 0.5, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5]
"""

from __future__ import annotations

import math

import numpy as np

from .roll import (FRAME, LOW_PITCH, N_PITCHES, ONSET, STEPS_PER_QUARTER, notes_to_roll, pitch_name,
                   roll_to_notes, steps_per_bar)

HELD, STRUCK = 0.5, 1.0  # image values of a held cell and of an onset cell in plot_roll
MEL_HTK_BREAK_HZ = 700.0  # HTK mel scale, m = 2595 log10(1 + f / 700), as in audio.mel_spectrogram


def _new_axes(figsize=(8, 3.5)):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, maybe on a GPU, maybe with gradients
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def _is_piece(music) -> bool:
    return hasattr(music, "notes") and hasattr(music, "time_signature")  # a roll.Piece


def _note_list(notes) -> list:
    """The notes as a list, or a clear error for anything that is not notes."""
    try:
        notes = list(notes)
    except TypeError:
        raise TypeError(f"expected a list of Note(pitch, onset, duration) or a roll [2, P, T], "
                        f"got a {type(notes).__name__}") from None
    for n in notes:
        if not all(hasattr(n, field) for field in ("pitch", "onset", "duration", "end")):
            raise TypeError(f"expected notes like Note(pitch=60, onset=0, duration=4), got {n!r}")
    return notes


# ---------------------------------------------------------------------------------------------
# piano roll


def roll_image(roll_or_notes, *, threshold: float | None = 0.0, n_steps: int | None = None) -> np.ndarray:
    """The picture :func:`plot_roll` draws, as an array ``[P, T]`` with values in [0, 1].

    0 is silence, ``HELD`` (0.5) a sounding note, ``STRUCK`` (1.0) the step where a note starts.
    With ``threshold=None`` a soft roll gives in-between shades:
    ``frame_gate * (HELD + (1 - HELD) * onset_gate)`` with ``gate = clip((x + 1) / 2, 0, 1)``.

    >>> from dittoedu.roll import Note
    >>> roll_image([Note(36, 1, 2)], n_steps=4)[0].tolist()
    [0.0, 1.0, 0.5, 0.0]
    """
    if _is_piece(roll_or_notes):
        roll_or_notes = roll_or_notes.notes
    if hasattr(roll_or_notes, "shape"):
        roll = _as_numpy(roll_or_notes)
        if roll.ndim == 4 and roll.shape[0] == 1:
            roll = roll[0]
        if roll.ndim != 3 or roll.shape[0] != 2:
            raise ValueError(
                f"a piano roll has shape [2, P, T] (onset and frame channels), got {tuple(roll.shape)}; "
                "for a batch, plot one item, e.g. roll[0]"
            )
        if n_steps is not None and n_steps != roll.shape[-1]:
            raise ValueError(f"n_steps={n_steps} does not match the roll's {roll.shape[-1]} steps")
        if threshold is None:
            onset = np.clip((roll[ONSET] + 1) / 2, 0, 1)
            frame = np.clip((roll[FRAME] + 1) / 2, 0, 1)
            return frame * (HELD + (STRUCK - HELD) * onset)
        import torch

        notes = roll_to_notes(torch.from_numpy(roll), threshold=threshold)
        n_pitches, n_steps = roll.shape[1], roll.shape[2]
    else:
        notes = _note_list(roll_or_notes)
        n_pitches = N_PITCHES
        if n_steps is None:
            n_steps = max((n.end for n in notes), default=0)
    image = np.zeros((n_pitches, n_steps), dtype=np.float32)
    for n in notes:
        p = n.pitch - LOW_PITCH
        if not 0 <= p < n_pitches:
            raise ValueError(f"note {pitch_name(n.pitch)} is outside the piano roll "
                             f"({pitch_name(LOW_PITCH)} to {pitch_name(LOW_PITCH + n_pitches - 1)})")
        if n.onset < n_steps and n.duration > 0:
            image[p, n.onset : n.end] = HELD
            image[p, n.onset] = STRUCK
    return image


def plot_roll(roll_or_notes, *, ax=None, steps_per_bar: int = 16, threshold: float | None = 0.0,
              cmap: str = "Blues", n_steps: int | None = None):
    """Draw a piano roll: pitch up, time across, one cell per pitch and 16th note.

    Parameters
    ----------
    roll_or_notes : list of Note, or roll [2, P, T] (tensor or array)
        The music. A roll is thresholded into notes at ``threshold``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.
    steps_per_bar : int
        Steps between bar lines (16 for 4/4; see :func:`dittoedu.roll.steps_per_bar`).
    threshold : float or None
        Value above which a roll cell counts as on. ``None`` draws the soft values as
        shades instead (what the optimizer sees); see :func:`roll_image`.
    cmap : str
        A matplotlib colormap, light for silence and dark for onsets.
    n_steps : int, optional
        Length in steps for a list of notes (default: the end of the last note, filled up to
        whole bars).

    Returns
    -------
    matplotlib.image.AxesImage
        Its array is :func:`roll_image`, ``[P, T]``, row ``p`` = MIDI pitch ``LOW_PITCH + p``.
    """
    if steps_per_bar < 1:
        raise ValueError(f"steps_per_bar must be a positive number of steps, got {steps_per_bar}")
    if n_steps is None and not hasattr(roll_or_notes, "shape"):
        notes = _note_list(roll_or_notes.notes if _is_piece(roll_or_notes) else roll_or_notes)
        end = max((n.end for n in notes), default=0)
        n_steps = max(1, math.ceil(end / steps_per_bar)) * steps_per_bar
        roll_or_notes = notes
    image = roll_image(roll_or_notes, threshold=threshold, n_steps=n_steps)
    n_pitches, n_steps = image.shape
    ax = ax if ax is not None else _new_axes()

    artist = ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0,
                       interpolation="nearest",
                       extent=(-0.5, n_steps - 0.5, LOW_PITCH - 0.5, LOW_PITCH + n_pitches - 0.5))
    # grid: bar lines, quarter-note lines and a line under every C
    bars = set(range(0, n_steps + 1, steps_per_bar))
    for t in sorted(bars | set(range(0, n_steps + 1, STEPS_PER_QUARTER))):
        is_bar = t in bars
        ax.axvline(t - 0.5, color="0.35" if is_bar else "0.85", lw=0.9 if is_bar else 0.5, zorder=2)
    cs = [p for p in range(LOW_PITCH, LOW_PITCH + n_pitches) if p % 12 == 0]
    for p in cs:
        ax.axhline(p - 0.5, color="0.85", lw=0.5, zorder=2)
    ax.set_yticks(cs, [pitch_name(p) for p in cs])
    n_bars = math.ceil(n_steps / steps_per_bar)
    every = max(1, math.ceil(n_bars / 16))  # at most ~16 bar numbers
    ax.set_xticks([b * steps_per_bar - 0.5 for b in range(0, n_bars, every)],
                  [str(b + 1) for b in range(0, n_bars, every)], ha="left")
    ax.tick_params(axis="x", length=0)
    ax.set_xlabel("bar")
    ax.set_ylabel("pitch")
    return artist


# ---------------------------------------------------------------------------------------------
# spectrogram


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / MEL_HTK_BREAK_HZ)


def _mel_band_of(hz, *, sr: int, n_mels: int):
    """Fractional index of the mel band centred on ``hz`` (torchaudio: n_mels + 2 points from 0 to sr/2)."""
    return _hz_to_mel(hz) / _hz_to_mel(sr / 2) * (n_mels + 1) - 1


def plot_spectrogram(wave=None, *, sr: int = 16000, ax=None, spec_db=None, hop_length: int = 256,
                     cmap: str = "magma"):
    """Draw the mel spectrogram of a sound in dB: time across (seconds), pitch up (Hz, mel-spaced).

    Parameters
    ----------
    wave : Tensor or ndarray [N], optional
        The waveform; its spectrogram comes from :func:`dittoedu.audio.mel_spectrogram`
        and :func:`dittoedu.audio.amplitude_to_db` (80 dB range).
    sr : int
        Sample rate in Hz.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.
    spec_db : Tensor or ndarray [n_mels, frames], optional
        A spectrogram already in dB, instead of ``wave``.
    hop_length : int
        Samples between frames (for the time axis, and for computing from ``wave``).
    cmap : str
        A matplotlib colormap, dark for quiet.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    if (wave is None) == (spec_db is None):
        raise ValueError("plot_spectrogram needs either a waveform (wave=...) or a spectrogram (spec_db=...), "
                         "not both")
    if spec_db is None:
        import torch

        from .audio import amplitude_to_db, mel_spectrogram

        wave = torch.as_tensor(_as_numpy(wave))
        if wave.dim() == 2 and wave.shape[0] == 1:
            wave = wave[0]
        if wave.dim() != 1:
            raise ValueError(f"plot_spectrogram expects a mono waveform [N], got shape {tuple(wave.shape)}")
        if wave.numel() == 0:
            raise ValueError("the waveform is empty: there is no sound to draw")
        spec_db = amplitude_to_db(mel_spectrogram(wave, sr=sr, hop_length=hop_length))
    spec = _as_numpy(spec_db)
    if spec.ndim == 3 and spec.shape[0] == 1:
        spec = spec[0]
    if spec.ndim != 2:
        raise ValueError(f"spec_db must be a spectrogram [n_mels, frames], got shape {spec.shape}")
    n_mels, n_frames = spec.shape
    ax = ax if ax is not None else _new_axes()
    seconds = n_frames * hop_length / sr
    artist = ax.imshow(spec, origin="lower", aspect="auto", cmap=cmap, interpolation="nearest",
                       extent=(0.0, seconds, -0.5, n_mels - 0.5))
    hz = [f for f in (100, 500, 1000, 2000, 4000, 8000, 16000) if f < sr / 2]
    ax.set_yticks(_mel_band_of(hz, sr=sr, n_mels=n_mels), [f"{f:g}" if f < 1000 else f"{f // 1000:g}k" for f in hz])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    return artist


# ---------------------------------------------------------------------------------------------
# score


def plot_score(svg_or_png, *, ax=None, zoom: float = 2.0):
    """Show an engraved score in matplotlib, axes off.

    Parameters
    ----------
    svg_or_png : str, bytes, or music
        SVG text (from :func:`dittoedu.score.render_svg`), PNG bytes, or anything ``render_svg``
        takes (notes, a roll, a music21 score, MusicXML text).
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.
    zoom : float
        Pixels per SVG pixel when rasterizing SVG.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    import io

    import matplotlib.image

    from . import score

    if isinstance(svg_or_png, (bytes, bytearray)):
        if not bytes(svg_or_png[:8]) == score.PNG_MAGIC:
            raise ValueError("plot_score got bytes that are not a PNG image; give SVG text or PNG bytes")
        png = bytes(svg_or_png)
    else:
        svg = svg_or_png
        if not (isinstance(svg, str) and "<svg" in svg[:2000]):
            svg = score.render_svg(svg)
        png = score.svg_to_png(svg, zoom=zoom)
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    if ax is None:
        height, width = pixels.shape[:2]
        ax = _new_axes(figsize=(min(12.0, width / 150), min(12.0, width / 150) * height / width))
    artist = ax.imshow(pixels, interpolation="antialiased")
    ax.set_axis_off()
    return artist


# ---------------------------------------------------------------------------------------------
# losses


def plot_losses(loss_history: dict, *, ax=None):
    """Draw each control's loss against the optimization step, one line per control.

    Parameters
    ----------
    loss_history : dict of str to list of float
        ``{control name: loss at each iteration}``, as in ``result.json``'s ``loss_history``.
        The y axis is logarithmic when every value is positive. An empty dict (no
        optimization was run) gives an axes that says so.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.

    Returns
    -------
    list of matplotlib.lines.Line2D
        One per control, in the order of the dict.
    """
    if not isinstance(loss_history, dict):
        raise TypeError(f"loss_history must be a dict {{control name: [loss per iteration]}}, "
                        f"got a {type(loss_history).__name__}")
    ax = ax if ax is not None else _new_axes(figsize=(5, 3.5))
    curves = {name: _as_numpy(values).reshape(-1) for name, values in loss_history.items()}
    curves = {name: values for name, values in curves.items() if values.size}
    if not curves:
        ax.text(0.5, 0.5, "no optimization\n(no loss to show)", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
        ax.set_xticks([])
        ax.set_yticks([])
        return []
    lines = []
    for name, values in curves.items():
        (line,) = ax.plot(np.arange(values.size), values, label=name, lw=1.5)
        lines.append(line)
    finite = np.concatenate([v[np.isfinite(v)] for v in curves.values()])
    if finite.size and (finite > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.grid(True, which="major", color="0.9", lw=0.6)
    ax.legend(frameon=False, fontsize="small")
    return lines


# ---------------------------------------------------------------------------------------------
# everything at once


def result_figure(*, notes=None, roll=None, wave=None, sr: int = 16000, svg=None, loss_history=None,
                  title=None, time_signature: str = "4/4", spec_db=None, tempo: float = 90, dpi: float = 200):
    """One figure with the score, the piano roll, the spectrogram and (if given) the loss curves.

    Layout: the score on the left; the piano roll above the spectrogram on the right, the same
    width, so a note and its sound line up in time; with ``loss_history``, the score shares
    the left column with the loss curves (four panels, else three).

    Parameters
    ----------
    notes : list of Note, optional
        The result as notes. Default: ``roll`` thresholded at 0.
    roll : roll [2, P, T], optional
        The model's output. If given, the piano roll panel shows its soft values
        (``threshold=None``); the score shows the notes.
    wave : Tensor or ndarray [N], optional
        The audio. Default: the notes played by :func:`dittoedu.audio.synthesize`.
    sr : int
        Sample rate of ``wave`` in Hz.
    svg : str, optional
        The engraved score. Default: :func:`dittoedu.score.render_svg` of the notes.
    loss_history : dict of str to list of float, optional
        Loss per control per iteration; ``{}`` shows "no optimization".
    title : str, optional
        Title over the whole figure.
    time_signature : str
        For bar lines and the score.
    spec_db : array [n_mels, frames], optional
        A spectrogram in dB to show instead of computing one from ``wave``.
    tempo : float
        Quarter notes per minute, for the synthesized audio and the score.
    dpi : float
        The highest resolution the figure will be saved or shown at: the score is rasterized
        for it (more costs time, less blurs the notes).

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot: a notebook shows it as a cell's value, a script saves it
        with ``fig.savefig("figure.png", dpi=120)``.
    """
    from matplotlib.figure import Figure

    from . import score as score_module

    if notes is None and roll is None:
        raise ValueError("result_figure needs the music: notes=... or roll=...")
    spb = steps_per_bar(time_signature)
    if roll is not None:
        roll_np = _as_numpy(roll)
        roll_np = roll_np[0] if roll_np.ndim == 4 and roll_np.shape[0] == 1 else roll_np
        if roll_np.ndim != 3 or roll_np.shape[0] != 2:
            raise ValueError(f"roll must have shape [2, P, T], got {tuple(roll_np.shape)}")
        n_steps = roll_np.shape[-1]
        if notes is None:
            import torch

            notes = roll_to_notes(torch.from_numpy(roll_np))
    else:
        notes = _note_list(notes.notes if _is_piece(notes) else notes)
        end = max((n.end for n in notes), default=0)
        n_steps = max(1, math.ceil(end / spb)) * spb
    if wave is None and spec_db is None:
        from .audio import synthesize

        wave = synthesize(notes_to_roll(notes, n_steps), sr=sr, tempo=tempo)

    with_losses = loss_history is not None
    fig = Figure(figsize=(15, 7.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(1, 1))
    if with_losses:
        ax_score, ax_loss = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
    else:
        ax_score, ax_loss = fig.add_subplot(grid[:, 0]), None
    ax_roll, ax_spec = fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 1])

    box = ax_score.get_position()  # before layout: close enough to choose how to wrap the score
    box_in = (box.width * fig.get_figwidth(), box.height * fig.get_figheight())
    if svg is None:
        svg = score_module.render_svg_to_fit(notes, width_in=box_in[0], height_in=box_in[1],
                                             time_signature=time_signature, tempo=round(tempo), n_steps=n_steps)
    # enough pixels for a sharp picture when the figure is saved at up to ``dpi``
    zoom = max(1.0, min(4.0, box_in[0] * dpi / score_module.svg_size(svg)[0]))
    plot_score(svg, ax=ax_score, zoom=zoom)
    ax_score.set_anchor("N")  # the picture keeps its shape; it hangs from the top of its panel
    ax_score.set_title("score", loc="left")
    if roll is not None:
        plot_roll(roll_np, ax=ax_roll, steps_per_bar=spb, threshold=None)
        soft = not np.isin(roll_np, (-1.0, 1.0)).all()
        ax_roll.set_title("piano roll" + (" (model output before rounding to notes)" if soft else ""), loc="left")
    else:
        plot_roll(notes, ax=ax_roll, steps_per_bar=spb, n_steps=n_steps)
        ax_roll.set_title("piano roll  (dark: note starts, light: note held)", loc="left")
    image = plot_spectrogram(wave, sr=sr, ax=ax_spec, spec_db=spec_db)
    ax_spec.set_title("sound: mel spectrogram (dB)", loc="left")
    # the roll's bar lines, in seconds, so that a note and its sound line up across the two panels
    bar_s = spb * 60.0 / tempo / STEPS_PER_QUARTER
    seconds = image.get_extent()[1]
    for b in range(1, math.ceil(n_steps / spb) + 1):
        if b * bar_s < seconds:
            ax_spec.axvline(b * bar_s, color="white", lw=0.8, ls=(0, (2, 3)), alpha=0.6)
    ax_spec.set_xlim(0, max(seconds, n_steps * 60.0 / tempo / STEPS_PER_QUARTER))
    if with_losses:
        plot_losses(loss_history, ax=ax_loss)
        ax_loss.set_title("loss per control during optimization", loc="left")
    if title:
        fig.suptitle(title, fontsize="x-large", fontweight="bold")
    return fig


def plot_training_curve(losses_csv, *, ax=None, label: str | None = None):
    """Training and validation loss against the step, from a run's ``losses.csv``; returns the lines."""
    import csv

    with open(losses_csv) as f:
        rows = list(csv.DictReader(f))
    ax = ax if ax is not None else _new_axes()
    steps = [int(r["step"]) for r in rows]
    lines = ax.plot(steps, [float(r["loss"]) for r in rows], lw=1, label=f"{label or 'training'} (smoothed)")
    val = [(int(r["step"]), float(r["val_loss"])) for r in rows if r["val_loss"]]
    if val:
        lines += ax.plot(*zip(*val), "o-", ms=3, label=f"{label + ' ' if label else ''}validation")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("denoising loss (EDM-weighted MSE)")
    ax.grid(alpha=0.3)
    ax.legend()
    return lines


# ---------------------------------------------------------------------------------------------
# comparing runs and methods (lessons 08, 09 and 11)


def plot_loss_comparison(results: dict, *, key: str = "total", against: str = "iteration", ax=None):
    """Loss curves of several optimization runs on one axes, against iterations or against seconds.

    Parameters
    ----------
    results : dict of str to Result
        ``{label: ito.Result}`` (anything with ``loss_history`` and ``timings`` works), e.g.
        ``{"DITTO": ditto, "DITTO-2": ditto2}``.
    key : str
        Which loss to draw: a control's name, or ``"total"`` (the weighted sum).
    against : {"iteration", "seconds"}
        The x axis. ``"seconds"`` spreads the run's ``timings['optimize_s']`` evenly over its
        iterations (each iteration of one method costs about the same), so a fast method's
        curve is short: that is the point of the picture.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.

    Returns
    -------
    list of matplotlib.lines.Line2D
        One per run that has a ``key`` loss, in the order of the dict.
    """
    if against not in ("iteration", "seconds"):
        raise ValueError(f"against must be 'iteration' or 'seconds', not {against!r}")
    if not isinstance(results, dict):
        raise TypeError(f"results must be a dict {{label: Result}}, got a {type(results).__name__}")
    ax = ax if ax is not None else _new_axes(figsize=(5, 3.5))
    lines, values = [], []
    for label, result in results.items():
        history = _as_numpy(result.loss_history.get(key, [])).reshape(-1)
        if not history.size:
            continue
        if against == "seconds":
            per_iteration = result.timings.get("optimize_s", 0.0) / history.size
            x = per_iteration * np.arange(1, history.size + 1)
        else:
            x = np.arange(history.size)
        (line,) = ax.plot(x, history, marker="." if history.size < 30 else None, lw=1.5, label=label)
        lines.append(line)
        values.append(history)
    if not lines:
        ax.text(0.5, 0.5, f"no '{key}' loss to show", ha="center", va="center", transform=ax.transAxes, color="0.4")
        return []
    finite = np.concatenate(values)
    finite = finite[np.isfinite(finite)]
    if finite.size and (finite > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("iteration" if against == "iteration" else "seconds of optimization")
    ax.set_ylabel(f"loss ({key})")
    ax.grid(True, color="0.9", lw=0.6)
    ax.legend(frameon=False, fontsize="small")
    return lines


def plot_tradeoff(points: dict, *, ax=None, xlabel: str = "wall time (s)", ylabel: str = "",
                  lower_is_better: bool = False, logx: bool = True, annotate: bool = True):
    """One line with markers per method through ``(cost, score)`` points: what each method buys with more time.

    Parameters
    ----------
    points : dict of str to list of (float, float)
        ``{method: [(x, y), ...]}``, e.g. seconds and adherence of best-of-N with N = 4, 16, 64,
        or network calls and a quality distance of a sampler with 1, 2, 4 steps. A method with
        a single point is drawn as a marker.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.
    xlabel, ylabel : str
        Axis labels.
    lower_is_better : bool
        Says so on the y axis with an arrow ("↓ better" or "↑ better").
    logx : bool
        A logarithmic x axis (costs often span orders of magnitude).
    annotate : bool
        Write each point's label (``(x, y, "N = 16")`` triples) next to it.

    Returns
    -------
    list of matplotlib.lines.Line2D
        One per method, in the order of the dict.
    """
    if not isinstance(points, dict) or not points:
        raise ValueError("points must be a non-empty dict {method: [(x, y), ...]}")
    ax = ax if ax is not None else _new_axes(figsize=(6, 4))
    lines = []
    for name, pts in points.items():
        pts = list(pts)
        if not pts:
            raise ValueError(f"method {name!r} has no points")
        xs = [float(p[0]) for p in pts]
        ys = [float(p[1]) for p in pts]
        (line,) = ax.plot(xs, ys, marker="o", lw=1.5, ms=6, label=name)
        lines.append(line)
        if annotate:
            for p in pts:
                if len(p) > 2:
                    ax.annotate(str(p[2]), (float(p[0]), float(p[1])), textcoords="offset points", xytext=(4, 4),
                                fontsize="x-small", color=line.get_color())
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel}  ({'↓' if lower_is_better else '↑'} better)" if ylabel else
                  ("↓ better" if lower_is_better else "↑ better"))
    ax.grid(True, which="both", color="0.92", lw=0.6)
    ax.legend(frameon=False, fontsize="small")
    return lines


def plot_metric_bars(values: dict, *, ax=None, ylabel: str = "", lower_is_better: bool = False, fmt: str = "{:.2f}"):
    """One bar per method or setting, the best one outlined, each bar labelled with its value.

    Parameters
    ----------
    values : dict of str to float
        ``{label: metric}``, e.g. the loudness MSE of each way to decode the same noise.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.
    ylabel : str
        Name of the metric.
    lower_is_better : bool
        Which bar is the best (outlined in black).
    fmt : str
        Format of the value written over each bar.

    Returns
    -------
    matplotlib.container.BarContainer
        The bars, in the order of the dict; ``bars.best`` is the index of the best one.
    """
    if not isinstance(values, dict) or not values:
        raise ValueError("values must be a non-empty dict {label: number}")
    labels = list(values)
    heights = np.array([float(values[k]) for k in labels])
    ax = ax if ax is not None else _new_axes(figsize=(max(4, 1.3 * len(labels)), 3.5))
    bars = ax.bar(range(len(labels)), heights, color="tab:blue", alpha=0.75)
    finite = np.where(np.isfinite(heights), heights, np.inf if lower_is_better else -np.inf)
    best = int(np.argmin(finite) if lower_is_better else np.argmax(finite))
    bars[best].set_edgecolor("black")
    bars[best].set_linewidth(2.0)
    bars.best = best
    for i, h in enumerate(heights):
        ax.annotate(fmt.format(h), (i, h), textcoords="offset points", xytext=(0, 3), ha="center", fontsize="small")
    ax.set_xticks(range(len(labels)), labels, rotation=20 if max(len(k) for k in labels) > 10 else 0, ha="right"
                  if max(len(k) for k in labels) > 10 else "center")
    ax.set_ylabel(f"{ylabel}  ({'↓' if lower_is_better else '↑'} better)" if ylabel else "")
    ax.margins(y=0.15)
    ax.grid(True, axis="y", color="0.92", lw=0.6)
    return bars


def plot_quality_profile(qualities: dict, reference: dict, *, ax=None):
    """How far each method's music is from the chorales' style, measure by measure (grouped bars).

    Each bar is :func:`dittoedu.metrics.relative_differences` of one method's quality measures
    to the held-out chorales (0 = like Bach on average; 0.5 = 50 % off).

    Parameters
    ----------
    qualities : dict of str to dict or list of dict
        ``{method: metrics.quality(...)}`` (one piece) or a list of them (several pieces: their mean).
    reference : dict
        :func:`dittoedu.metrics.reference`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.

    Returns
    -------
    list of matplotlib.container.BarContainer
        One per method, in the order of the dict.
    """
    from .metrics import MEASURES, relative_differences

    if not isinstance(qualities, dict) or not qualities:
        raise ValueError("qualities must be a non-empty dict {method: metrics.quality(...)}")
    ax = ax if ax is not None else _new_axes(figsize=(10, 3.5))
    width = 0.8 / len(qualities)
    containers = []
    for k, (name, q) in enumerate(qualities.items()):
        q = [q] if isinstance(q, dict) else list(q)
        diff = relative_differences(q, reference)
        x = np.arange(len(MEASURES)) + (k - (len(qualities) - 1) / 2) * width
        containers.append(ax.bar(x, [diff[m] for m in MEASURES], width=width, label=name))
    ax.set_xticks(range(len(MEASURES)), [m.replace("_", " ") for m in MEASURES])
    ax.set_ylabel("relative difference to the chorales  (↓ closer)")
    ax.grid(True, axis="y", color="0.92", lw=0.6)
    ax.legend(frameon=False, fontsize="small", ncols=min(4, len(qualities)))
    return containers


def plot_consistency_scalings(*, ax=None, epsilon: float | None = None, sigma_data: float | None = None,
                              sigma_max: float | None = None, n: int = 200):
    """A consistency model's ``c_skip`` and ``c_out`` (Song et al. 2023), beside EDM's, against the noise level.

    The consistency model's scalings are EDM's shifted by ``epsilon`` (the smallest level) so that
    ``c_skip(epsilon) = 1`` and ``c_out(epsilon) = 0`` *exactly*: at the end of the trajectory the model
    returns its input, whatever the network says (the boundary condition ``f(x, epsilon) = x``).

    Returns
    -------
    list of matplotlib.lines.Line2D
        ``[c_skip (CM), c_out (CM), c_skip (EDM), c_out (EDM)]``.
    """
    from .diffusion import SIGMA_DATA, SIGMA_MAX, SIGMA_MIN

    eps = SIGMA_MIN if epsilon is None else epsilon
    sd = SIGMA_DATA if sigma_data is None else sigma_data
    top = SIGMA_MAX if sigma_max is None else sigma_max
    t = np.logspace(math.log10(eps), math.log10(top), n)
    t[0] = eps  # exactly: the boundary is at t = eps
    cm_skip = sd**2 / ((t - eps) ** 2 + sd**2)  # Song et al. 2023, appendix C
    cm_out = sd * (t - eps) / np.sqrt(sd**2 + t**2)
    edm_skip = sd**2 / (t**2 + sd**2)  # Karras et al. 2022, Table 1
    edm_out = sd * t / np.sqrt(sd**2 + t**2)
    ax = ax if ax is not None else _new_axes(figsize=(6, 3.5))
    lines = []
    for values, label, style in ((cm_skip, r"$c_\mathrm{skip}$, consistency model", "-"),
                                 (cm_out, r"$c_\mathrm{out}$, consistency model", "-"),
                                 (edm_skip, r"$c_\mathrm{skip}$, EDM denoiser", "--"),
                                 (edm_out, r"$c_\mathrm{out}$, EDM denoiser", "--")):
        (line,) = ax.plot(t, values, ls=style, lw=1.8 if style == "-" else 1.2, label=label)
        lines.append(line)
    lines[2].set_color(lines[0].get_color())
    lines[3].set_color(lines[1].get_color())
    ax.plot([eps, eps], [0, 1], "o", color="black", ms=4, zorder=3)
    ax.annotate(r"$t=\epsilon$: $c_\mathrm{skip}=1$, $c_\mathrm{out}=0$", (eps, 1.0), textcoords="offset points",
                xytext=(8, -14), fontsize="small")
    ax.set_xscale("log")
    ax.set_xlabel(r"noise level $t$ ($\sigma$)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small", loc="center right")
    return lines


# ---------------------------------------------------------------------------------------------
# text control (lesson 10): a contrastive model's similarities, and the analyzers' scales


def plot_similarity_matrix(sims, *, rows=None, columns=None, marks=None, ax=None, annotate: bool | None = None,
                           vmin: float = -1.0, vmax: float = 1.0, cmap: str = "RdBu_r"):
    """A matrix of cosine similarities, pieces down the side and prompts along the top.

    Parameters
    ----------
    sims : array or Tensor [B, K]
        ``sims[i, j]`` = cos(music_i, text_j), e.g. ``TextMusic(rolls, prompts)``.
    rows, columns : list of str, optional
        Labels of the B pieces and the K prompts.
    marks : bool array or Tensor [B, K], optional
        Cells to outline, e.g. where the prompt is true of the piece (what the analyzers measured).
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.
    annotate : bool, optional
        Write each value in its cell (default: when there are at most 150 cells).

    Returns
    -------
    matplotlib.image.AxesImage
        The matrix; the outlines are ``ax.patches``.
    """
    from matplotlib.patches import Rectangle

    values = _as_numpy(sims).astype(np.float64)
    if values.ndim != 2:
        raise ValueError(f"sims must be a matrix [pieces, prompts]; got shape {list(values.shape)}")
    n_rows, n_cols = values.shape
    for name, labels, n in (("rows", rows, n_rows), ("columns", columns, n_cols)):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{len(labels)} {name} labels for a matrix with {n} {name}")
    ax = ax if ax is not None else _new_axes(figsize=(max(4, 0.7 * n_cols + 2), max(3, 0.4 * n_rows + 1.5)))
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    if marks is not None:
        marked = _as_numpy(marks).astype(bool)
        if marked.shape != values.shape:
            raise ValueError(f"marks has shape {list(marked.shape)} but sims has {list(values.shape)}")
        for i, j in np.argwhere(marked):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=1.6))
    if annotate is None:
        annotate = values.size <= 150
    if annotate:
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize="x-small",
                    color="white" if abs(v) > 0.6 * max(abs(vmin), abs(vmax)) else "black")
    ax.set_xticks(range(n_cols), columns if columns is not None else range(n_cols),
                  rotation=35 if columns is not None and max(map(len, map(str, columns))) > 3 else 0,
                  ha="right" if columns is not None and max(map(len, map(str, columns))) > 3 else "center")
    ax.set_yticks(range(n_rows), rows if rows is not None else range(n_rows))
    ax.figure.colorbar(image, ax=ax, label="cosine similarity", fraction=0.04)
    return image


_SCALES = {  # attribute -> (x label, default x range) for plot_attribute_scale
    "register": ("mean pitch of the sounding notes (MIDI; C4 = 60)", (52.0, 72.0)),
    "density": ("note onsets per quarter note, per voice", (0.0, 2.5)),
    "contour": ("top voice: last quarter minus first quarter (semitones)", (-12.0, 12.0)),
}


def plot_attribute_scale(attribute: str, values, *, ax=None):
    """One measured attribute on its scale: the zones between the edges named by their words, and pieces on it.

    This is how :func:`dittoedu.metrics.attributes` turns a number into a word (``register``,
    ``density`` or ``contour``; the mode is named by music21's key analysis, not a scale).

    Parameters
    ----------
    attribute : str
        ``"register"``, ``"density"`` or ``"contour"``.
    values : dict of str to float, or float
        ``{label: number}`` for each piece to mark, e.g. ``{"before": 58.2, "after": 66.0}``
        (numbers from :func:`dittoedu.metrics.attribute_values`).
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.

    Returns
    -------
    list of matplotlib.lines.Line2D
        One marker per piece, in the order given.
    """
    from .metrics import ATTRIBUTES, CONTOUR_EDGE, DENSITY_EDGES, REGISTER_EDGES

    edges = {"register": REGISTER_EDGES, "density": DENSITY_EDGES, "contour": (-CONTOUR_EDGE, CONTOUR_EDGE)}
    if attribute not in edges:
        hint = " (the mode is named by music21's key analysis, not read off a scale)" if attribute == "mode" else ""
        raise ValueError(f"attribute must be one of {', '.join(edges)}; got {attribute!r}{hint}")
    if not isinstance(values, dict):
        values = {"": values}
    marks = {str(k): float(_as_numpy(v).reshape(())) for k, v in values.items()}
    lo_edge, hi_edge = edges[attribute]
    xlabel, (lo, hi) = _SCALES[attribute]
    finite = [v for v in marks.values() if math.isfinite(v)]
    lo, hi = min([lo, *finite]) - 0.5, max([hi, *finite]) + 0.5
    ax = ax if ax is not None else _new_axes(figsize=(7, 1.8))
    zones = ((lo, lo_edge), (lo_edge, hi_edge), (hi_edge, hi))
    for (a, b), word, shade in zip(zones, ATTRIBUTES[attribute], ("0.93", "0.85", "0.93")):
        ax.axvspan(a, b, color=shade, zorder=0)
        ax.text((a + b) / 2, 0.85, word, ha="center", va="center", fontsize="small", transform=ax.get_xaxis_transform())
    for edge in (lo_edge, hi_edge):
        ax.axvline(edge, color="0.4", lw=0.9, ls="--", zorder=1)
    markers = []
    for k, (label, v) in enumerate(marks.items()):
        y = 0.45 - 0.25 * (k % 2)  # alternate heights so that close labels do not overlap
        (marker,) = ax.plot([v], [y], "o", ms=8, color=f"C{k}", label=label, zorder=3,
                            transform=ax.get_xaxis_transform())
        if label:
            ax.annotate(f"{label}: {v:.2f}", (v, y), xycoords=("data", "axes fraction"), textcoords="offset points",
                        xytext=(6, 0), va="center", fontsize="small")
        markers.append(marker)
    ax.set_xlim(lo, hi)
    ax.set_yticks([])
    ax.set_xlabel(xlabel)
    ax.set_title(attribute, loc="left", fontsize="medium")
    return markers
