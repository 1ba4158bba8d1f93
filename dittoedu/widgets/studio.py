"""The Studio: draw what you want, press *Generate*, hear the model follow it.

For the teacher
---------------
One dashboard for a first class on DITTO (Novack et al. 2024)::

    from dittoedu.widgets import Studio
    studio = Studio(bars=4, restore=True)   # restore=True: bring back the last autosaved drawing
    studio                                  # the last line of a cell shows it

On top, the four drawing widgets, each with a **use** box: a melody on a piano roll
(:class:`PianoRollDrawer`), a chord per bar (:class:`ChordPicker`), an intensity curve
(:class:`CurveDrawer`) and a form (:class:`FormPicker`), then a **text** box for a prompt
("a calm chorale in a minor key, low register"). Drawing in a widget (or typing a prompt and
pressing Enter) ticks its box.
Below them: the **method** (DITTO-2, DITTO, or a baseline to compare with), the number of
**iterations**, the **seed**, and the **Generate** and **Stop** buttons, a progress bar and a
status line.

*Generate* reads the drawings (every input is checked first: a chord the parser cannot read
is reported in the status line, and nothing the student drew is lost), then optimizes the
initial noise of the diffusion model in a background thread, so *Stop* can be clicked at any
time: the best result so far is kept. While it runs, the loss curves and the piano roll are
redrawn every few seconds. Each result is a **take**; every take is kept (the *take* menu
shows any of them, the table compares them) with

* the score (engraved by verovio, an SVG),
* the piano roll above the spectrogram of the sound,
* the loss of each control at each iteration,
* what was asked against what came out (the melody against the top voice, the intensity
  curve against the loudness of the audio, the form's self-similarity),
* a player for the audio.

Each take also leaves its score, its piano roll and spectrogram, its loss curves (as images)
and its audio in the notebook's output under the Studio, so the results stay in the notebook
when it is saved or exported, without the widgets.

Work survives mistakes: every change is written to ``studio_autosave.json`` in the folder the
notebook runs in, and ``Studio(restore=True)`` brings it back after a re-run of the cell or a
kernel restart. ``studio.save("mine.json")`` / ``Studio.load("mine.json")`` keep a copy by name.

In Python, without a browser, the same steps::

    studio.melody.set_notes("4/4 e'4 d' c' d' e' e' e'2")
    studio.chords.set_chords("C G C C")
    take = studio.generate(block=True)      # what the Generate button does, waiting for the result
    take.metrics["melody"]["accuracy"], take.result.loss_history["melody"]
"""

from __future__ import annotations

import html
import io
import json
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import ipywidgets as W
import numpy as np

from ..roll import MusicInputError, pitch_name
from ._base import FORMAT_VERSION
from .chords import ChordPicker
from .curve import CurveDrawer
from .form import FormPicker
from .piano_roll import STEPS_PER_BAR, PianoRollDrawer

AUTOSAVE_NAME = "studio_autosave.json"
CONTROLS = ("melody", "chords", "intensity", "form")  # the drawing widgets, in the order shown
USES = CONTROLS + ("text",)  # what a take can follow: the drawings, and a text prompt
METHOD_LABELS = {
    "ditto2": "DITTO-2 (one-step surrogate)",
    "ditto": "DITTO (through the sampler)",
    "guidance": "guidance (baseline)",
    "best_of_n": "best of N (baseline)",
    "none": "none: plain sampling",
}
MAX_ITERATIONS = 500
LIVE_EVERY_S = 2.0  # while optimizing, redraw the live loss and piano-roll pictures every this many seconds
FIGURE_DPI = 72


# ---------------------------------------------------------------------------------------------
# one result


@dataclass
class Take:
    """One generation: what was asked, what came out, and the pictures and sound shown for it."""

    number: int  # 1, 2, ... in the order generated
    method: str
    seed: int
    iterations: int  # asked for; ``result.iterations`` says how many ran
    asked: dict  # what the widgets held: {"melody": [[p, o, d]...], "chords": "C G", "intensity": [...], ...}
    result: object  # dittoedu.ito.Result
    notes: list  # the final notes (list of Note)
    metrics: dict  # result.measure(controls): per control, target, achieved and its metric
    svg: str  # the score, from score.render_svg
    wave: np.ndarray  # the audio, float32 [N] at audio.SR
    roll_png: bytes  # piano roll above the spectrogram
    losses_png: bytes  # loss per control per iteration
    targets_png: bytes  # target vs achieved, per control
    audio_html: str  # an <audio> element (audio.player)
    messages: list = field(default_factory=list)  # fixes made to the inputs, in words
    seconds: float = 0.0

    @property
    def stop_reason(self) -> str:
        return self.result.stop_reason

    @property
    def loss_history(self) -> dict:
        return self.result.loss_history

    def summary(self, *, number: bool = True) -> str:
        """One line: ``take 2 · DITTO · seed 0 · 12 iterations in 8.1 s · melody 94% exact``."""
        parts = [f"take {self.number}"] if number else []
        parts += [METHOD_LABELS.get(self.method, self.method).split(" (")[0], f"seed {self.seed}",
                  f"{self.result.iterations} iterations in {self.seconds:.1f} s"]
        parts += [metric_words(name, m) for name, m in self.metrics.items()]
        return " · ".join(parts)


def metric_words(name: str, m: dict) -> str:
    """A control's main metric in a few words (see DESIGN.md for the metrics).

    >>> metric_words("melody", {"accuracy": 0.875, "pc_accuracy": 0.9})
    'melody 88% exact'
    >>> metric_words("intensity", {"mse_db2": 3.21, "pearson": 0.8})
    'intensity off by 3.2 dB² (r = 0.80)'
    """
    if name == "melody":
        return f"melody {m['accuracy']:.0%} exact"
    if name == "chords":
        return f"chords {m['chord_tone_ratio']:.0%} chord tones, bass {m['bass_ratio']:.0%}"
    if name == "intensity":
        return f"intensity off by {m['mse_db2']:.1f} dB² (r = {m['pearson']:.2f})"
    if name == "structure":
        return f"form off by {m['ssm_mse']:.3f} (self-similarity MSE)"
    if name == "text":
        found = ", ".join(f"{c['found']}{'' if c['met'] else ' (asked ' + c['asked'] + ')'}"
                          for c in m["attributes"].values())
        n_met = sum(c["met"] for c in m["attributes"].values())
        return f"text {n_met}/{len(m['attributes'])} attributes: {found}; similarity {m['similarity']:.2f}"
    return name


def describe_asked(asked: dict) -> str:
    """What a take was asked for, in words (shown in the status line).

    >>> describe_asked({"melody": [[72, 0, 4], [76, 4, 4]], "chords": "C G", "intensity": [0.1, 0.9], "form": "AB"})
    'melody of 2 notes (C5 E5) · chords C G · intensity curve from 0.10 to 0.90 · form AB'
    >>> describe_asked({})
    'no control'
    """
    parts = []
    if "melody" in asked:
        notes = sorted(asked["melody"], key=lambda n: n[1])
        names = " ".join(pitch_name(n[0]) for n in notes[:8]) + (" ..." if len(notes) > 8 else "")
        parts.append(f"melody of {len(notes)} note{'s' * (len(notes) != 1)} ({names})")
    if "chords" in asked:
        parts.append(f"chords {asked['chords']}")
    if "intensity" in asked:
        curve = asked["intensity"]
        parts.append(f"intensity curve from {min(curve):.2f} to {max(curve):.2f}")
    if "form" in asked:
        parts.append(f"form {asked['form']}")
    if "text" in asked:
        parts.append(f"text {asked['text']!r}")
    return " · ".join(parts) or "no control"


# ---------------------------------------------------------------------------------------------
# pictures (matplotlib Figures without pyplot: safe to draw in the generation thread)


def _png(fig, dpi: int = FIGURE_DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def roll_and_spectrogram_png(roll, wave=None, *, title: str = "") -> bytes:
    """The piano roll ``[2, P, T]`` above the spectrogram of ``wave`` (or of the roll alone) as PNG bytes."""
    from matplotlib.figure import Figure

    from ..plots import plot_roll, plot_spectrogram

    fig = Figure(figsize=(7.5, 5.2 if wave is not None else 2.8), layout="constrained")
    if wave is None:
        ax = fig.add_subplot(1, 1, 1)
        plot_roll(roll, ax=ax, threshold=None)
        ax.set_title(title or "piano roll (model output)", loc="left")
        return _png(fig)
    ax_roll, ax_spec = fig.subplots(2, 1)
    plot_roll(roll, ax=ax_roll, threshold=None)
    ax_roll.set_title(title or "piano roll (model output)", loc="left")
    plot_spectrogram(wave, ax=ax_spec)
    ax_spec.set_title("sound: mel spectrogram (dB)", loc="left")
    return _png(fig)


def losses_png(loss_history: dict) -> bytes:
    """Each control's loss against the iteration (``plots.plot_losses``) as PNG bytes."""
    from matplotlib.figure import Figure

    from ..plots import plot_losses

    fig = Figure(figsize=(5.5, 3.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    plot_losses({k: v for k, v in loss_history.items() if k != "total"}, ax=ax)
    ax.set_title("loss per control", loc="left")
    return _png(fig)


def targets_png(metrics: dict) -> bytes:
    """What was asked against what came out, one panel per control that can be drawn, as PNG bytes.

    Melody: the target pitch per step against the top voice. Intensity: the target loudness
    curve against the loudness of the rendered audio (dB). Form: the target self-similarity of
    the bars next to the achieved one. Chords have no curve (see the metrics table).
    """
    from matplotlib.figure import Figure

    panels = [n for n in ("melody", "intensity", "structure") if n in metrics]
    fig = Figure(figsize=(5.5, 1.0 + 2.2 * max(1, len(panels))), layout="constrained")
    if not panels:
        ax = fig.add_subplot(1, 1, 1)
        text = "no melody, intensity or form asked for:\nnothing to compare here"
        ax.text(0.5, 0.5, text, ha="center", va="center", color="0.4", transform=ax.transAxes)
        ax.set_axis_off()
        return _png(fig)
    rows = fig.subfigures(len(panels), 1, squeeze=False)[:, 0]
    for sub, name in zip(rows, panels):
        m = metrics[name]
        if name == "melody":
            ax = sub.add_subplot(1, 1, 1)
            target = np.array([np.nan if p is None else p for p in m["target"]], dtype=float)
            got = np.array([np.nan if p is None else p for p in m["achieved"]], dtype=float)
            steps = np.arange(len(target))
            ax.step(steps, target, where="post", lw=4, alpha=0.35, color="tab:blue", label="your melody")
            ax.step(steps, got, where="post", lw=1.5, color="tab:orange", label="top voice generated")
            shown = np.concatenate([target[np.isfinite(target)], got[np.isfinite(got)]])
            if shown.size:
                ticks = range(int(shown.min()) - int(shown.min()) % 12, int(shown.max()) + 1, 12)
                ax.set_yticks(list(ticks), [pitch_name(p) for p in ticks])
            ax.set_title(metric_words(name, m), loc="left", fontsize="medium")
            ax.set_xlabel("step (16th notes)")
            ax.legend(frameon=False, fontsize="small", loc="upper right")
        elif name == "intensity":
            ax = sub.add_subplot(1, 1, 1)
            ax.plot(m["target"], lw=4, alpha=0.35, color="tab:blue", label="your curve (target)")
            ax.plot(m["achieved"], lw=1.5, color="tab:orange", label="loudness of the audio")
            ax.set_ylabel("dB")
            ax.set_xlabel("step (16th notes)")
            ax.set_title(metric_words(name, m), loc="left", fontsize="medium")
            ax.legend(frameon=False, fontsize="small", loc="lower right")
        else:
            ax_t, ax_a = sub.subplots(1, 2)
            from ..targets import form_ssm

            achieved = np.asarray(m["achieved"], dtype=float)
            target = form_ssm(m["target"], bars=achieved.shape[0]).float().numpy()
            for ax, image, what in ((ax_t, target, f"form {m['target']}"), (ax_a, achieved, "generated")):
                ax.imshow(image, vmin=0, vmax=1, cmap="Greens", origin="upper")
                ticks = range(image.shape[0])
                ax.set_xticks(list(ticks), [str(b + 1) for b in ticks])
                ax.set_yticks(list(ticks), [str(b + 1) for b in ticks])
                ax.set_title(what, fontsize="small")
            sub.suptitle(metric_words(name, m) + "  (bar vs bar similarity)", x=0.02, ha="left", fontsize="medium")
    return _png(fig)


def metrics_html(metrics: dict) -> str:
    """A small table: each control, what was asked, how well the final notes follow it."""
    if not metrics:
        return "<p><i>No control was used: plain sampling.</i></p>"
    items = "".join(f"<li>{html.escape(metric_words(name, m))}</li>" for name, m in metrics.items())
    return f"<div><b>How well the final notes follow each control</b><ul style='margin:2px 0'>{items}</ul></div>"


# ---------------------------------------------------------------------------------------------
# the Studio


class Studio:
    """The dittoedu dashboard: draw the controls, generate, compare the takes (see the module docstring).

    Parameters
    ----------
    bars : int
        Length of the music in bars of 4/4.
    key : str
        The key of the chord palette ("C", "a" for A minor...).
    model, model_path :
        The denoiser, or the checkpoint to load it from (default: the shipped
        ``dittoedu/weights/base.safetensors``). Loaded at the first *Generate*.
    surrogate :
        DITTO-2's distilled consistency-trajectory model, or its checkpoint (default: the shipped
        ``dittoedu/weights/ctm.safetensors`` when it exists). Without one, DITTO-2 is not offered
        and the default method is DITTO.
    method : str
        The method selected at first: "ditto2", "ditto", "guidance", "best_of_n" or "none".
    iterations, seed : int
        The first values of the iterations and seed boxes.
    restore : bool
        Start from the autosaved work (``studio_autosave.json``), if there is any.
    autosave : bool or path
        Where every change is saved: True (default) for ``studio_autosave.json`` in the
        current folder (the notebook's folder in Jupyter), a path, or False for no autosave.
    sampler_steps, lr :
        Euler steps DITTO optimizes through, and Adam's step on the noise (both the
        ``dittoedu generate`` defaults: 8, and None for each method's own step, see
        :func:`dittoedu.ito.default_lr`).
    device : str
        "cpu" or "cuda".

    Attributes
    ----------
    melody, chords, intensity, form : the drawing widgets
    text : ipywidgets.Text, a prompt for the text control (see :mod:`dittoedu.textmusic`)
    use : dict of ipywidgets.Checkbox, one per drawing widget
    takes : list of :class:`Take`, oldest first
    view : ipywidgets.VBox, the whole dashboard
    """

    def __init__(self, bars: int = 4, *, key: str = "C", model=None, model_path=None, surrogate=None,
                 method: str | None = None, iterations: int = 30, seed: int = 0, restore: bool = False,
                 autosave=True, sampler_steps: int = 8, lr: float | None = None, device: str = "cpu"):
        from ..cli import DEFAULT_MODEL, DEFAULT_SURROGATE

        self.model_path = Path(model_path) if model_path else DEFAULT_MODEL
        self._model = model
        self._surrogate = None
        self.surrogate_path = None
        if surrogate is not None and not isinstance(surrogate, (str, os.PathLike)):
            self._surrogate = surrogate
        elif surrogate is not None:
            self.surrogate_path = Path(surrogate)
        elif DEFAULT_SURROGATE.exists():
            self.surrogate_path = DEFAULT_SURROGATE
        self.sampler_steps = sampler_steps
        self.lr = lr
        self.device = device
        if autosave is True:
            self.autosave_path = Path.cwd() / AUTOSAVE_NAME
        else:
            self.autosave_path = Path(autosave) if autosave else None
        self.takes: list[Take] = []
        self.last_error: str = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._busy = False
        self._quiet = 0  # > 0 while restoring: no autosave, no automatic ticking of the use boxes
        self._records = []  # display handles of the static pictures under the Studio
        self._build_widgets(bars, key, method, iterations, seed)
        if restore:
            self._restore_autosave()

    # -- layout ----------------------------------------------------------------------------------

    def _build_widgets(self, bars, key, method, iterations, seed):
        self.melody = PianoRollDrawer(bars=bars)
        self.chords = ChordPicker(bars=bars, key=key)
        self.intensity = CurveDrawer(points=STEPS_PER_BAR * bars, label="intensity", bars=bars)
        self.form = FormPicker(bars=bars)
        self.text = W.Text(value="", placeholder="e.g. a calm chorale in a minor key, low register",
                           continuous_update=False, layout=W.Layout(width="480px"))
        self.text.add_class("ditto-studio-text")
        titles = {
            "melody": "use the melody (it becomes the top voice)",
            "chords": "use the chords (one per bar)",
            "intensity": "use the intensity curve (how full and loud)",
            "form": "use the form (bars with the same letter sound alike)",
            "text": "use the text (what the music should be like, in words)",
        }
        self.use = {name: W.Checkbox(value=name in ("melody", "chords"), description=titles[name], indent=False,
                                     layout=W.Layout(width="auto"))
                    for name in USES}
        for name in USES:
            self.use[name].add_class(f"ditto-studio-use-{name}")

        options = [(label, m) for m, label in METHOD_LABELS.items() if m != "ditto2" or self.has_surrogate]
        first = method or ("ditto2" if self.has_surrogate else "ditto")
        self._method_note = ""
        if first == "ditto2" and not self.has_surrogate:
            self._method_note = ("DITTO-2 needs the distilled model (dittoedu/weights/ctm.safetensors), which is not "
                                 "here: using DITTO")
            first = "ditto"
        if first not in METHOD_LABELS:
            raise MusicInputError(f"method {first!r} is not one the Studio knows; choose one of "
                                  f"{', '.join(METHOD_LABELS)}")
        self.method = W.Dropdown(options=options, value=first, description="method",
                                 layout=W.Layout(width="310px"))
        self.iterations = W.BoundedIntText(value=max(1, min(MAX_ITERATIONS, int(iterations))), min=1,
                                           max=MAX_ITERATIONS, description="iterations",
                                           layout=W.Layout(width="170px"))
        self.method.add_class("ditto-studio-method")
        self.iterations.add_class("ditto-studio-iterations")
        self.seed = W.BoundedIntText(value=int(seed), min=0, max=2**31 - 1, description="seed",
                                     layout=W.Layout(width="160px"))
        # text symbols rather than icons: Voila would fetch the icon font from a CDN
        self.generate_button = W.Button(description="▶ Generate", button_style="success",
                                        tooltip="Optimize the model's starting noise until the music follows "
                                                "the controls you ticked")
        self.stop_button = W.Button(description="■ Stop", button_style="danger", disabled=True,
                                    tooltip="Stop after the current iteration and keep the best result so far")
        self.generate_button.add_class("ditto-studio-generate")
        self.stop_button.add_class("ditto-studio-stop")
        self.generate_button.on_click(lambda _: self.generate(block=False))
        self.stop_button.on_click(lambda _: self.stop())
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="260px"))
        self.progress.add_class("ditto-studio-progress")
        self.status = W.HTML(layout=W.Layout(width="auto"))
        self.status.add_class("ditto-studio-status")

        # outputs
        self.take_menu = W.Dropdown(options=[], description="take", layout=W.Layout(width="420px"))
        self.take_menu.observe(self._show_selected, names="value")
        self.score = W.HTML(layout=W.Layout(width="50%", overflow="auto"))
        self.score.add_class("ditto-studio-score")
        self.roll_image = W.Image(format="png", layout=W.Layout(width="50%", object_fit="contain"))
        self.roll_image.add_class("ditto-studio-roll")
        self.losses_image = W.Image(format="png", layout=W.Layout(width="50%", object_fit="contain"))
        self.losses_image.add_class("ditto-studio-losses")
        self.targets_image = W.Image(format="png", layout=W.Layout(width="50%", object_fit="contain"))
        self.targets_image.add_class("ditto-studio-targets")
        self.player = W.HTML()
        self.player.add_class("ditto-studio-audio")
        self.metrics = W.HTML()
        self.metrics.add_class("ditto-studio-metrics")
        self.comparison = W.HTML()
        self.comparison.add_class("ditto-studio-takes")

        def section(name, widget, explain):
            return W.VBox([W.HBox([self.use[name], W.HTML(f"<span style='color:#666'>{explain}</span>")]), widget])

        drawings = W.VBox([
            section("melody", self.melody, "&nbsp;— press and drag right to draw a note"),
            section("chords", self.chords, "&nbsp;— click a bar, then a chord"),
            section("intensity", self.intensity, "&nbsp;— high: loud and full, low: one quiet voice"),
            section("form", self.form, "&nbsp;— click a section to change its letter"),
            section("text", self.text, "&nbsp;— words it knows: major/minor (happy, sad...), low/high, "
                                       "calm/busy, rising/falling; press Enter"),
        ])
        settings = W.HBox([self.method, self.iterations, self.seed, self.generate_button, self.stop_button],
                          layout=W.Layout(flex_flow="row wrap", align_items="center"))
        running = W.HBox([self.progress, self.status], layout=W.Layout(align_items="center"))
        results = W.VBox([
            W.HBox([self.take_menu, self.player], layout=W.Layout(align_items="center", flex_flow="row wrap")),
            W.HBox([self.score, self.roll_image]),
            W.HBox([self.losses_image, self.targets_image]),
            self.metrics,
            self.comparison,
        ])
        header = W.HTML("<h3 style='margin:4px 0'>dittoedu Studio</h3>"
                        "<div style='color:#555'>Draw what you want, tick what the model must follow, press "
                        "<b>Generate</b>. The model's starting noise is optimized until the music matches.</div>")
        self.view = W.VBox([header, drawings, settings, running, results])
        self.view.add_class("ditto-studio")

        for name, widget in self._drawings().items():
            widget.observe(lambda change, name=name: self._drawing_changed(name, change),
                           names=[n for n in widget._saved if n != "bars"])
        self.text.observe(lambda change: self._drawing_changed("text", change), names="value")
        for box in [*self.use.values(), self.method, self.iterations, self.seed]:
            box.observe(lambda change: self._autosave(), names="value")
        self._set_status(self._method_note or "Draw a melody (or pick chords), then press Generate.")

    def _drawings(self) -> dict:
        return {"melody": self.melody, "chords": self.chords, "intensity": self.intensity, "form": self.form}

    def _ipython_display_(self):
        from IPython.display import display

        display(self.view)
        # a place in the notebook's output for the static pictures and sound of every take
        self._records.append(display({"text/plain": ""}, raw=True, display_id=True))
        if self.takes:
            self._update_record()

    def close(self) -> None:
        """Close every widget of the Studio (they disappear from the notebook)."""
        self.stop()
        for w in [*self._drawings().values(), *self.use.values(), self.method, self.iterations, self.seed,
                  self.generate_button, self.stop_button, self.progress, self.status, self.take_menu, self.score,
                  self.roll_image, self.losses_image, self.targets_image, self.player, self.metrics,
                  self.comparison, self.view]:
            w.close()

    @property
    def bars(self) -> int:
        return self.melody.bars

    @property
    def has_surrogate(self) -> bool:
        return self._surrogate is not None or (self.surrogate_path is not None and self.surrogate_path.exists())

    @property
    def running(self) -> bool:
        return self._busy

    # -- status ------------------------------------------------------------------------------------

    def _set_status(self, text: str, *, kind: str = "info") -> None:
        colour = {"info": "#333", "error": "#b91c1c", "done": "#166534", "busy": "#1d4ed8"}[kind]
        icon = {"info": "", "error": "⚠ ", "done": "✓ ", "busy": "⏳ "}[kind]
        self.status_text = text
        body = html.escape(text).replace("\n", "<br>")
        self.status.value = f"<div data-state='{kind}' style='color:{colour}; white-space:normal'>{icon}{body}</div>"

    # -- what the student asked for --------------------------------------------------------------

    def asked(self) -> tuple[dict, list[str]]:
        """What the ticked widgets hold, as ``controls.build`` takes it, and notes on what is left out.

        Raises :class:`~dittoedu.roll.MusicInputError` (naming the widget) if a ticked widget's
        input cannot be used; nothing is changed in the widgets.
        """
        wanted, notes = {}, []
        for name, widget in self._drawings().items():
            if not self.use[name].value:
                continue
            try:
                value = widget.value
            except MusicInputError as exc:
                raise MusicInputError(f"{name}: {exc}") from None
            if name == "melody" and not value:
                notes.append("the melody is empty, so it is not used")
            elif name == "chords" and not value:
                notes.append("no chord is picked, so chords are not used")
            else:
                wanted[name] = value
        if self.use["text"].value:
            if self.text.value.strip():
                wanted["text"] = self.text.value.strip()
            else:
                notes.append("the text box is empty, so text is not used")
        return wanted, notes

    def build_controls(self):
        """The controls from the ticked widgets: ``(controls, asked, notes)``; raises MusicInputError."""
        from .. import controls as C

        wanted, notes = self.asked()
        built, fixes = C.build(bars=self.bars, melody=wanted.get("melody"), chords=wanted.get("chords"),
                               key=self.chords.key if "chords" in wanted else None,
                               intensity=wanted.get("intensity"), form=wanted.get("form"), text=wanted.get("text"))
        asked = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in wanted.items()}
        if "melody" in asked:  # [pitch, onset, duration] in time order, as drawn
            asked["melody"] = sorted(([int(x) for x in n] for n in asked["melody"]), key=lambda n: (n[1], n[0]))
        return built, asked, notes + list(fixes)

    # -- generating -----------------------------------------------------------------------------

    def _load_models(self):
        from ..cli import load_default_model

        if self._model is None:
            self._model, _ = load_default_model(self.model_path, device=self.device)
        if self._surrogate is None and self.surrogate_path is not None and self.surrogate_path.exists():
            from ..train import load_model

            self._surrogate, _ = load_model(self.surrogate_path, device=self.device)
        return self._model, self._surrogate

    def generate(self, block: bool = True):
        """Generate a take from the ticked controls: what the *Generate* button does.

        With ``block=True`` (from Python) this waits and returns the new :class:`Take`, or None
        when the input could not be used or generation failed (the status line says why).
        With ``block=False`` (the button) the work runs in a background thread so that *Stop*
        can be clicked; it returns at once (see :meth:`wait`).
        """
        if self._busy:
            self._set_status("Already generating: wait for it, or press Stop first.", kind="busy")
            return None
        self.last_error = ""
        method = self.method.value
        try:
            n_iters = int(self.iterations.value)
            seed = int(self.seed.value)
            if "intensity" in self._wanted_names():
                self._set_status("Reading your intensity curve (the first time, dittoedu measures how loud the "
                                 "chorales are: a few seconds)...", kind="busy")
            built, asked, notes = self.build_controls()
        except MusicInputError as exc:  # the drawings stay as they are: only the status line changes
            self.last_error = str(exc)
            self._set_status(f"{exc}", kind="error")
            return None
        if not built and method != "none":
            notes.append(f"no control is ticked (or all are empty), so {method} has nothing to optimize: "
                         "sampling plainly")
            method = "none"
        if method == "ditto2" and not self.has_surrogate:
            notes.append("DITTO-2 needs the distilled model, which is not here: using DITTO")
            method = "ditto"
        self._autosave()
        self._stop.clear()
        self._busy = True
        self.generate_button.disabled = True
        self.stop_button.disabled = False
        self.progress.bar_style = ""
        self.progress.value = 0
        self.progress.max = n_iters if method in ("ditto", "ditto2", "best_of_n") else 1
        job = {"controls": built, "asked": asked, "notes": notes, "method": method, "n_iters": n_iters, "seed": seed}
        if block:
            return self._run(**job)
        self._thread = threading.Thread(target=self._run, kwargs=job, name="dittoedu-studio", daemon=True)
        self._thread.start()
        return self._thread

    def _wanted_names(self):
        return [n for n in USES if self.use[n].value]

    def stop(self) -> None:
        """Ask the running generation to stop after its current iteration (the *Stop* button)."""
        if self._busy:
            self._stop.set()
            self.stop_button.disabled = True
            self._set_status("Stopping after this iteration; the best result so far is kept...", kind="busy")

    def wait(self, timeout: float | None = None) -> Take | None:
        """Wait for a generation started by the button (or ``generate(block=False)``); the latest take."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.takes[-1] if self.takes else None

    def _run(self, *, controls, asked, notes, method, n_iters, seed):
        from .. import ito

        t0 = time.perf_counter()
        number = len(self.takes) + 1
        try:
            self._set_status(f"Take {number}: loading the model...", kind="busy")
            model, surrogate = self._load_models()
            t0 = time.perf_counter()  # the take's time: optimizing, decoding and drawing (not loading)
            what = ", ".join(c.name for c in controls) or "no control"
            self._set_status(f"Take {number}: {METHOD_LABELS[method]}, following {what}...", kind="busy")
            live = {"last": time.perf_counter(), "history": {}}  # a quick take needs no film strip

            def callback(info):
                it = info["iteration"] + 1
                self.progress.value = min(self.progress.max, it)
                for k, v in info["losses"].items():
                    live["history"].setdefault(k, []).append(v)
                total = info["losses"].get("total", float("nan"))
                self._set_status(f"Take {number}: iteration {it} of {n_iters} · loss {total:.4g}", kind="busy")
                now = time.perf_counter()
                if now - live["last"] > LIVE_EVERY_S:  # the film strip: the music as the noise moves
                    live["last"] = now
                    self.roll_image.value = roll_and_spectrogram_png(
                        info["x0"][0].cpu(), title=f"take {number}, iteration {it}: the music so far")
                    self.losses_image.value = losses_png(live["history"])

            result = ito.optimize(model, controls, n_steps=STEPS_PER_BAR * self.bars, method=method,
                                  n_iters=n_iters, lr=self.lr, sampler_steps=self.sampler_steps, seed=seed,
                                  callback=callback, should_stop=self._stop.is_set, surrogate=surrogate,
                                  device=self.device)
            self._set_status(f"Take {number}: {result.stop_reason}; drawing the score and the plots...", kind="busy")
            take = self._make_take(number, method, seed, n_iters, asked, notes, controls, result)
            take.seconds = time.perf_counter() - t0
            self.takes.append(take)
            self._refresh_takes()
            self.progress.value = self.progress.max
            self.progress.bar_style = "success"
            extra = f" ({'; '.join(notes)})" if notes else ""
            if len(controls) > 1 and result.stop_reason.startswith("reached"):
                from ..ito import iteration_budget

                extra += (f" The {len(controls)} controls share each step: for more of them to be met, "
                          f"try {iteration_budget(controls)} iterations.")
            self._set_status(f"Take {number} ready: {take.summary(number=False)}. {result.stop_reason}. "
                             f"Asked for: {describe_asked(asked)}.{extra}", kind="done")
            self._update_record()
            return take
        except Exception as exc:  # noqa: BLE001 - shown, never lost in a thread; the drawings are untouched
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.last_traceback = traceback.format_exc()
            self.progress.bar_style = "danger"
            self._set_status(f"Take {number} failed: {exc}", kind="error")
            return None
        finally:
            self._busy = False
            self.generate_button.disabled = False
            self.stop_button.disabled = True

    def _make_take(self, number, method, seed, n_iters, asked, notes, controls, result) -> Take:
        import torch

        from .. import audio, score
        from ..roll import notes_to_roll

        n_steps = STEPS_PER_BAR * self.bars
        final = result.notes
        metrics = result.measure(controls)
        with torch.no_grad():
            wave = audio.synthesize(notes_to_roll(final, n_steps)).reshape(-1).cpu().numpy().astype(np.float32)
        title = f"take {number}: {METHOD_LABELS[method]}, seed {seed}"
        try:
            svg = score.render_svg(final, n_steps=n_steps, title=title) if final else ""
        except MusicInputError as exc:
            svg = f"<p>(the score could not be engraved: {html.escape(str(exc))})</p>"
        return Take(
            number=number, method=method, seed=seed, iterations=n_iters, asked=asked, result=result,
            notes=list(final), metrics=metrics, svg=svg, wave=wave,
            roll_png=roll_and_spectrogram_png(result.x0[0].cpu(), wave, title=f"take {number}: piano roll"),
            losses_png=losses_png(result.loss_history), targets_png=targets_png(metrics),
            audio_html=audio.player(wave)._repr_html_(), messages=list(notes),
        )

    # -- showing the takes ------------------------------------------------------------------------

    def _refresh_takes(self) -> None:
        self.take_menu.options = [(t.summary(), t.number) for t in self.takes]
        self.take_menu.value = self.takes[-1].number  # shows it (observer)
        self._show_selected()
        rows = "".join(f"<tr><td>{t.number}</td><td>{html.escape(METHOD_LABELS[t.method])}</td><td>{t.seed}</td>"
                       f"<td>{t.result.iterations}</td><td>{t.seconds:.1f} s</td>"
                       f"<td>{html.escape(' · '.join(metric_words(n, m) for n, m in t.metrics.items()))}</td></tr>"
                       for t in self.takes)
        self.comparison.value = ("<table class='ditto-studio-takes'><tr><th>take</th><th>method</th><th>seed</th>"
                                 "<th>iterations</th><th>time</th><th>how well it follows</th></tr>"
                                 f"{rows}</table>")

    def show_take(self, number: int) -> None:
        """Show take ``number`` (from 1) in the output panels."""
        self.take_menu.value = number

    def _show_selected(self, change=None) -> None:
        number = self.take_menu.value
        take = next((t for t in self.takes if t.number == number), None)
        if take is None:
            return
        self.score.value = (f"<div style='background:white; overflow:auto'>{take.svg}</div>" if take.svg
                            else "<p><i>no notes: the model was silent</i></p>")
        self.roll_image.value = take.roll_png
        self.losses_image.value = take.losses_png
        self.targets_image.value = take.targets_png
        self.player.value = take.audio_html
        self.metrics.value = metrics_html(take.metrics)

    def _record_bundle(self) -> dict:
        """The static output under the Studio: every take's pictures and sound (kept when the notebook is saved).

        The pictures the panels already show, as images (the score too, as an SVG image: an
        inline SVG would not survive a notebook opened untrusted), so nothing is drawn twice.
        """
        import base64

        def img(data: bytes, mime: str, alt: str, style: str = "") -> str:
            return (f"<img alt='{html.escape(alt)}' style='max-width:100%;{style}' "
                    f"src='data:{mime};base64,{base64.b64encode(data).decode('ascii')}'/>")

        parts = ["<div class='ditto-studio-record'>"]
        for t in self.takes:
            score = (img(t.svg.encode(), "image/svg+xml", f"take {t.number}: score", "background:white")
                     if t.svg.lstrip().startswith("<svg") else "")
            parts.append(f"<div class='ditto-studio-take'><p><b>{html.escape(t.summary())}</b></p>{score}"
                         "<div style='display:flex; flex-wrap:wrap; gap:8px; align-items:flex-start'>"
                         f"{img(t.roll_png, 'image/png', f'take {t.number}: piano roll and spectrogram')}"
                         f"{img(t.losses_png, 'image/png', f'take {t.number}: loss per control')}</div>"
                         f"{t.audio_html}</div>")
        parts.append("</div>")
        latest = self.takes[-1]
        return {"text/html": "".join(parts), "image/png": base64.b64encode(latest.roll_png).decode("ascii"),
                "text/plain": "\n".join(t.summary() for t in self.takes)}

    def _update_record(self) -> None:
        if not self.takes:
            return
        bundle = self._record_bundle()
        for handle in self._records:
            try:
                handle.update(bundle, raw=True)
            except Exception:  # noqa: BLE001, S110 - a display that is gone is no reason to lose the take
                pass

    # -- saving and loading -------------------------------------------------------------------------

    def state(self) -> dict:
        """Every widget's state (the student's work), as a JSON-ready dict."""
        return {
            "widget": "Studio",
            "format": FORMAT_VERSION,
            "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "bars": self.bars,
            **{name: json.loads(w.to_json()) for name, w in self._drawings().items()},
            "text": self.text.value,
            "use": {name: bool(box.value) for name, box in self.use.items()},
            "method": self.method.value,
            "iterations": int(self.iterations.value),
            "seed": int(self.seed.value),
        }

    def to_json(self) -> str:
        return json.dumps(self.state(), indent=1)

    def save(self, path) -> Path:
        """Write every widget's state to a JSON file (atomically); returns its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json() + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path, **kwargs) -> Studio:
        """A new Studio holding the work saved in ``path`` (``kwargs`` as for :class:`Studio`)."""
        data = cls._read(path)
        studio = cls(bars=data.get("bars", 4), **kwargs)
        studio.restore(data)
        return studio

    @classmethod
    def _read(cls, source) -> dict:
        if isinstance(source, dict):
            data = source
        else:
            path = Path(source)
            if not path.is_file():
                raise MusicInputError(f"there is no file {str(path)!r}; check the name and the folder")
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                raise MusicInputError(f"{path.name} is not a saved Studio: it is not JSON text") from None
        if not isinstance(data, dict) or data.get("widget") != "Studio":
            raise MusicInputError("this is not a saved Studio (it was not written by Studio.save)")
        if data.get("format", FORMAT_VERSION) > FORMAT_VERSION:
            raise MusicInputError("this Studio was saved by a newer dittoedu; update dittoedu to load it")
        return data

    def restore(self, source) -> None:
        """Put the work saved by :meth:`save` (a path, or the dict of :meth:`state`) back into this Studio."""
        data = self._read(source)
        self._quiet += 1
        try:
            for name, widget in self._drawings().items():
                if name in data:
                    widget.restore(json.dumps(data[name]))
            if isinstance(data.get("text"), str):
                self.text.value = data["text"]
            for name, value in data.get("use", {}).items():
                if name in self.use:
                    self.use[name].value = bool(value)
            if data.get("method") in dict(self.method.options).values():
                self.method.value = data["method"]
            for box, key in ((self.iterations, "iterations"), (self.seed, "seed")):
                if isinstance(data.get(key), int):
                    box.value = max(box.min, min(box.max, data[key]))
        finally:
            self._quiet -= 1

    def _restore_autosave(self) -> None:
        path = self.autosave_path
        if path is None or not path.is_file():
            self._set_status("Nothing autosaved yet: a fresh start. Draw a melody (or pick chords), then press "
                             "Generate.")
            return
        try:
            data = self._read(path)
            self.restore(data)
        except MusicInputError as exc:
            self._set_status(f"Could not restore {path.name}: {exc}. Starting fresh (the file is left as it is).",
                             kind="error")
            return
        self._set_status(f"Restored your work from {path.name} (saved {data.get('saved_at', '')}).")

    def _drawing_changed(self, name, change) -> None:
        if self._quiet:
            return
        drawn = change.get("name") in ("notes", "chords", "values", "letters", "value") and change["new"] != change["old"]
        if drawn and (name != "text" or change["new"].strip()):
            self.use[name].value = True  # drawing in a widget means: use it
        self._autosave()

    def _autosave(self) -> None:
        if self._quiet or self.autosave_path is None:
            return
        try:
            self.save(self.autosave_path)
        except OSError as exc:
            self._set_status(f"Could not autosave to {self.autosave_path}: {exc}", kind="error")
