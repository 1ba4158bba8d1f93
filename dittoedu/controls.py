"""Controls: what the student asks for, as a feature of the music and a loss on it.

Each control is a small dataclass holding a *target* and a *weight*, with

* ``feature(x0)``: a differentiable feature of the generated roll ``x0 [B, 2, P, T]``;
* ``loss(feature) -> [B]``: how far that feature is from the target (0 = met);
* ``measure(roll)``: the control's metric on the *final* notes (and rendered audio), a dict
  with ``achieved`` and the metric, see :mod:`dittoedu.metrics`;
* ``done(loss)``: whether the loss says the target is met, for early stopping.

They are values, not code paths: ``optimize(model, [Melody(...), Chords(...)])`` combines
any of them, weighted.

Two lessons from DITTO and from our own prototype shape these losses:

1. **Optimizers cheat soft features.** A note pushed to 0.01 counts as "a bit on" in a soft
   feature but vanishes when the roll is thresholded at 0. So the note-based losses are
   *hinges with a margin*: a cell that must sound is pushed above ``+MARGIN``, a cell that
   must be silent below ``-MARGIN``, and a cell already past its margin costs nothing.
   Features that are not per-cell (the self-similarity of bars) use a *straight-through*
   roll: the forward pass sees the thresholded notes, the backward pass a smooth sigmoid.
2. **Judge on the final notes.** ``measure`` never looks at the soft tensor.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from . import audio
from .roll import FRAME, LOW_PITCH, N_PITCHES, ONSET, STEPS_PER_QUARTER, roll_to_notes, tidy

MARGIN = 0.5  # how far past the threshold a constrained cell must be pushed
STE_TEMPERATURE = 0.25  # softness of the sigmoid behind straight-through features


def hinge_on(x: torch.Tensor) -> torch.Tensor:
    """Cost of a cell that must be on: ``relu(MARGIN - x)^2``."""
    return F.relu(MARGIN - x) ** 2


def hinge_off(x: torch.Tensor) -> torch.Tensor:
    """Cost of a cell that must be off: ``relu(x + MARGIN)^2``."""
    return F.relu(x + MARGIN) ** 2


def straight_through(x: torch.Tensor) -> torch.Tensor:
    """``1[x > 0]`` forward, ``sigmoid(x / STE_TEMPERATURE)`` backward (Bengio et al. 2013)."""
    soft = torch.sigmoid(x / STE_TEMPERATURE)
    return soft + ((x > 0).to(x.dtype) - soft).detach()


def hard(x0: torch.Tensor) -> torch.Tensor:
    """The thresholded roll in {-1, +1}, without lone cells (:func:`~dittoedu.roll.tidy`): what the student gets."""
    return torch.where(tidy(x0) > 0, 1.0, -1.0).to(x0.dtype)


def agreement_cost(parts: torch.Tensor) -> torch.Tensor:
    """The cost ``[B, k, 2, P, n]`` of making ``k`` stretches of music ``parts [B, k, 2, P, n]`` one and the same.

    They are pushed to one roll, decided by vote: each cell to the side of the threshold the parts'
    *sum* is on (the surer parts win, the others follow), except the onset of a sounding cell: it is
    struck if any part strikes it (unless the step before is struck too), so that notes split rather
    than merge (a strike is rarer and less sure than a held cell and would nearly always lose the vote).
    Loops make their two ends agree with it (:class:`Loop`), forms the bars of a letter (:class:`Structure`).
    """
    on = parts.sum(1).detach() > 0  # [B, 2, P, n]
    struck = parts[:, :, ONSET].amax(1).detach() > 0  # [B, P, n]
    after_strike = torch.zeros_like(struck)
    after_strike[..., 1:] = struck[..., :-1]
    on[:, ONSET] = torch.where(on[:, FRAME], struck & ~after_strike, on[:, ONSET])
    return torch.where(on[:, None], hinge_on(parts), hinge_off(parts))


@dataclass
class Control:
    """Base class: a target and a weight. Subclasses define feature, loss, measure and met."""

    weight: float = field(default=1.0, kw_only=True)
    name = "control"

    def feature(self, x0: torch.Tensor):
        raise NotImplementedError

    def loss(self, feature) -> torch.Tensor:
        raise NotImplementedError

    def measure(self, roll: torch.Tensor) -> dict:
        """Metrics on one final roll ``[2, P, T]`` (thresholded here)."""
        raise NotImplementedError

    def done(self, loss: torch.Tensor) -> bool:
        """True when the loss ``[B]`` of the *thresholded* roll says every item meets the target.

        On a thresholded roll (values exactly +-1) a hinge loss is 0 exactly when every
        constrained cell is on the right side, so the notes obey the control."""
        return bool((loss <= 0).all())

    def confirmed(self, x0: torch.Tensor) -> bool:
        """For a control whose loss cannot tell when it is met (text): do its judges agree on the
        thresholded rolls ``x0 [B, 2, P, T]``? Early stopping needs ``done`` and this."""
        return True

    def describe_target(self):
        """The target in JSON-friendly form, for ``result.json``."""
        return None

    def start_noise(self, eps: torch.Tensor) -> torch.Tensor:
        """The noise ``[B, 2, P, T]`` to start from, made from a fresh draw ``eps``; by default ``eps``."""
        return eps

    def noise_cells(self, n_steps: int) -> torch.Tensor | None:
        """Bool, broadcast to ``[2, P, T]`` (``T = n_steps``): the cells whose starting noise DITTO may
        move for this control (None: all of them).

        A control that leaves part of the music to the model (the gap of an inpainting, the
        continuation of an outpainting, the middle of a loop, the voices under a melody) leaves that
        part's noise as drawn, and the model writes it as freely as in a plain sample: see
        :mod:`dittoedu.ito`."""
        return None

    def check_length(self, n_steps: int) -> None:
        """Raise ``ValueError`` (in the user's words) if the target does not fit ``n_steps`` steps."""


# ---------------------------------------------------------------------------------------------
# intensity (DITTO section 4.1: 20 log10 RMS, smoothed, MSE in dB^2)

SMOOTH_SECONDS = 1.0  # DITTO smooths the loudness curve over about a second
DB_FLOOR = -60.0  # silence is this loud
# Intensity is met when the loudness of the rendered audio is this close to the target, in dB^2, and
# follows its shape this closely (Pearson): the benchmark's bar, judged on what the student hears.
DONE_DB2 = 1.0
DONE_PEARSON = 0.95
# The envelopes' loudness (what the optimizer sees, :func:`loudness_from_roll`) differs from the audio's by
# up to about 1 dB^2 on the benchmark's runs: notes further off than this on their envelopes are not
# rendered to check (rendering costs about a quarter of an iteration).
SCREEN_DB2 = 2.0
SCREEN_PEARSON = 0.9
SHAPE_DB2 = 10.0  # the loss adds SHAPE_DB2 * (1 - Pearson): a curve followed in shape, not only on average


@functools.lru_cache(maxsize=8)
def _savgol_kernel(seconds: float, frame_s: float) -> torch.Tensor:
    from scipy.signal import savgol_coeffs

    window = max(3, round(seconds / frame_s) | 1)  # odd
    return torch.tensor(savgol_coeffs(window, 2), dtype=torch.float32)


def smooth(curve: torch.Tensor, *, frame_s: float, seconds: float = SMOOTH_SECONDS) -> torch.Tensor:
    """Savitzky-Golay smoothing (order 2, ``seconds`` long) of curves ``[B, F]``, edges padded by replication."""
    kernel = _savgol_kernel(seconds, frame_s).to(curve)
    pad = len(kernel) // 2
    padded = F.pad(curve[:, None], (pad, pad), mode="replicate")
    return F.conv1d(padded, kernel.flip(0)[None, None])[:, 0]


def _power_to_db(power: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(power + 10 ** (DB_FLOOR / 10))


def loudness_from_audio(wave: torch.Tensor, n_steps: int, *, tempo: float = audio.TEMPO,
                        sr: int = audio.SR) -> torch.Tensor:
    """DITTO's intensity on a waveform ``[B, N]``: per-step 20 log10 RMS in dB, smoothed: ``[B, n_steps]``."""
    bounds = [round(t * wave.shape[-1] / n_steps) for t in range(n_steps + 1)]
    power = torch.stack([wave[:, a:b].square().mean(-1) for a, b in zip(bounds, bounds[1:])], dim=-1)
    return smooth(_power_to_db(power), frame_s=audio.step_seconds(tempo))


def loudness_from_roll(x0: torch.Tensor, *, tempo: float = audio.TEMPO, sr: int = audio.SR) -> torch.Tensor:
    """The same loudness as :func:`loudness_from_audio`, computed from the synthesizer's envelopes.

    The mean square of the audio in each step comes from :func:`audio.step_power`, with no need
    to render the audio: about 10x faster, and what the optimizer uses. ``x0 [B, 2, P, T]`` -> ``[B, T]`` in dB.
    """
    power = audio.step_power(x0, tempo=tempo, sr=sr)
    return smooth(_power_to_db(power), frame_s=audio.step_seconds(tempo))


def top_voice_only(x0: torch.Tensor) -> torch.Tensor:
    """Keep only the highest sounding note of each step of ``x0 [B, 2, P, T]``: a melody alone."""
    on = x0[:, FRAME] > 0
    from_top = on.flip(1).cumsum(1).flip(1)  # number of sounding pitches at or above each row
    keep = (on & (from_top == 1))[:, None]
    return torch.where(keep, x0, -torch.ones_like(x0))


INTENSITY_RANGE_VERSION = 1  # bump when the synthesizer or the loudness measure changes: the cache is rebuilt


@functools.lru_cache(maxsize=None)
def intensity_range(n_windows: int = 256) -> tuple[float, float]:
    """The loudness range a curve in [0, 1] is mapped onto, calibrated on the held-out chorales.

    0 is the median loudness of a chorale's top voice sung alone; 1 is the 95th percentile of
    the full four-part chorales. Our synthesizer has no dynamics, so louder means more notes
    (and more attacks): the range runs from a single line to the fullest chorale texture.
    Measured once (about ten seconds) and cached beside the corpus.
    """
    import json

    from .corpus import ChoraleWindows, cache_dir

    path = cache_dir() / f"intensity-range-v{INTENSITY_RANGE_VERSION}-{n_windows}.json"
    try:
        low, high = json.loads(path.read_text())
        return float(low), float(high)
    except (OSError, ValueError, TypeError):
        pass
    val = ChoraleWindows("validation", n_steps=64, transpose=0, progress=False)
    picks = torch.linspace(0, len(val) - 1, min(n_windows, len(val))).round().long().tolist()
    with torch.no_grad():
        x = torch.stack([val.window(k) for k in picks])
        low = loudness_from_roll(top_voice_only(x)).median().item()
        high = torch.quantile(loudness_from_roll(x).flatten(), 0.95).item()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([low, high]))
    return low, high


def pearson(curves: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each curve ``[B, T]`` with ``target [T]``: ``[B]`` (0 where either is flat).

    >>> r = pearson(torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 2.0, 2.0]]), torch.tensor([0.0, 1.0, 2.0]))
    >>> [round(v, 3) for v in r.tolist()]
    [1.0, -1.0, 0.0]
    """
    a = curves - curves.mean(-1, keepdim=True)
    b = target - target.mean()
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm()).clamp(min=1e-6)


@dataclass
class Intensity(Control):
    """Loudness over time: ``target_db [T]``, one value per step (see :func:`targets.read_curve`)."""

    target_db: torch.Tensor = None
    name = "intensity"

    @classmethod
    def from_curve(cls, curve, *, n_steps: int, weight: float = 1.0) -> "Intensity":
        """A curve in [0, 1] (any length >= 1) mapped onto the chorales' loudness range."""
        from .targets import curve_to_db, read_curve

        lo, hi = intensity_range()
        db = curve_to_db(read_curve(curve, n=n_steps), low_db=lo, high_db=hi)
        return cls(target_db=torch.as_tensor(db, dtype=torch.float32), weight=weight)

    def check_length(self, n_steps: int) -> None:
        if len(self.target_db) != n_steps:
            raise ValueError(f"the intensity curve has {len(self.target_db)} points but the music has {n_steps} steps")

    def feature(self, x0):
        return loudness_from_roll(2 * straight_through(x0) - 1)  # loudness of the notes as thresholded

    def loss(self, feature):
        """``MSE (dB^2) + SHAPE_DB2 * (1 - r)``, with ``r`` the Pearson correlation with the target: ``[B]``.

        The MSE alone is DITTO's loss; it already contains ``2 sd(a) sd(t) (1 - r)``, but weighs
        a level error as much as a shape error, and a listener hears the shape (``r >= 0.95`` in
        the benchmark).
        """
        target = self.target_db.to(feature)
        return (feature - target).square().mean(-1) + SHAPE_DB2 * (1 - pearson(feature, target))

    def measure(self, roll):
        wave = audio.synthesize(hard(roll)[None])
        achieved = loudness_from_audio(wave, roll.shape[-1])[0]
        target = self.target_db.to(achieved)
        mse = (achieved - target).square().mean().item()
        return {"achieved": achieved.tolist(), "mse_db2": mse, "pearson": pearson(achieved[None], target).item()}

    def done(self, loss):
        return True  # the loss mixes dB^2 and correlation: confirmed() checks each on the audio

    def confirmed(self, x0):
        """Is the loudness of the thresholded rolls' ``x0 [B, 2, P, T]`` audio within ``DONE_DB2`` of the
        target, and does it rise and fall with it (``DONE_PEARSON``; a flat target has no shape)?

        Judged as :meth:`measure` judges, on the rendered audio, once the envelopes are close enough
        (``SCREEN_DB2``, ``SCREEN_PEARSON``). Judging the envelopes alone needed a margin (0.8 dB^2 and
        0.96) and cost the benchmark's curves a median of 30 iterations instead of 24.
        """
        with torch.no_grad():
            return (self._within(loudness_from_roll(x0), SCREEN_DB2, SCREEN_PEARSON)
                    and self._within(loudness_from_audio(audio.synthesize(x0), x0.shape[-1]), DONE_DB2, DONE_PEARSON))

    def _within(self, got, max_db2, min_pearson) -> bool:
        """Is every loudness curve of ``got [B, T]`` within ``max_db2`` of the target, and correlated with it
        at least ``min_pearson``?"""
        target = self.target_db.to(got)
        close = (got - target).square().mean(-1) <= max_db2
        shaped = pearson(got, target) >= min_pearson if target.std() > 1e-3 else torch.ones_like(close)
        return bool((close & shaped).all())

    def describe_target(self):
        return [round(v, 2) for v in self.target_db.tolist()]


# ---------------------------------------------------------------------------------------------
# melody: the target pitch is the top voice


def top_voice(roll: torch.Tensor) -> list[int | None]:
    """The highest sounding pitch at each step of a roll ``[2, P, T]`` (thresholded at 0), or None."""
    on = roll[FRAME] > 0
    out = []
    for t in range(on.shape[-1]):
        pitches = on[:, t].nonzero()
        out.append(LOW_PITCH + int(pitches.max()) if len(pitches) else None)
    return out


ROOM_BELOW = 3  # semitones under the melody whose noise moves with it (see Melody.noise_cells)


@dataclass
class Melody(Control):
    """``pitches [T]``: MIDI pitch per step (None: free); ``onsets``: steps where a melody note starts.

    Loss (after our prototype, which reached ~98 % exact top-voice accuracy): the melody cell must
    sound, every cell above it must be silent, and the melody's notes start where they should.
    """

    pitches: list = None
    onsets: list = None
    name = "melody"

    message: str = ""  # what was done to make the melody fit (transposed, padded), in words

    @classmethod
    def from_melody(cls, melody, *, n_steps: int, weight: float = 1.0) -> "Melody":
        """From notes, a Piece, a roll, a file or tinyNotation/ABC text (see :func:`targets.melody_target`)."""
        from .targets import melody_target

        pitches, info = melody_target(melody, n_steps=n_steps)
        return cls(pitches=pitches, onsets=info["onsets"], message=info["message"], weight=weight)

    def check_length(self, n_steps):
        if len(self.pitches) != n_steps:
            raise ValueError(f"the melody covers {len(self.pitches)} steps but the music has {n_steps}")

    @functools.cached_property
    def _masks(self):
        T = len(self.pitches)
        on, above, start, held = (torch.zeros(N_PITCHES, T) for _ in range(4))
        onsets = set(self.onsets or [])
        for t, p in enumerate(self.pitches):
            if p is None:
                continue
            row = p - LOW_PITCH
            on[row, t] = 1
            above[row + 1 :, t] = 1
            (start if t in onsets else held)[row, t] = 1
        return on, above, start, held, max(1, int(on.sum()))

    @property
    def cells(self) -> torch.Tensor:
        """``[P, T]`` bool: the cells the melody asks to sound."""
        return self._masks[0] > 0

    def feature(self, x0):
        return x0

    def loss(self, x0):
        on, above, start, held, n = (m.to(x0) if torch.is_tensor(m) else m for m in self._masks)
        frame, onset = x0[:, FRAME], x0[:, ONSET]
        cost = on * hinge_on(frame) + above * hinge_off(frame) + start * hinge_on(onset) + held * hinge_off(onset)
        return cost.sum((1, 2)) / n

    def noise_cells(self, n_steps):
        """``[P, T]``: on the melody's steps, its row, every row above it and ``ROOM_BELOW`` rows under it.

        The voices further down are the model's own: their noise stays as drawn. (With all of
        the noise moving, DITTO's outputs had 3.9 voices and 4 % one-step notes against plain
        samples' 3.2 and 1.3 %; the melody's row and up alone cost DITTO-2 three iterations.)
        """
        mask = torch.zeros(N_PITCHES, len(self.pitches), dtype=torch.bool)
        for t, p in enumerate(self.pitches):
            if p is not None:
                mask[max(0, p - LOW_PITCH - ROOM_BELOW) :, t] = True
        return mask

    def measure(self, roll):
        top = top_voice(roll)
        pairs = [(t, a) for t, a in zip(self.pitches, top) if t is not None]
        acc = sum(a == t for t, a in pairs) / max(1, len(pairs))
        pc = sum(a is not None and a % 12 == t % 12 for t, a in pairs) / max(1, len(pairs))
        return {"achieved": top, "accuracy": acc, "pc_accuracy": pc}

    def describe_target(self):
        return self.pitches


# ---------------------------------------------------------------------------------------------
# chords: every sounding note is a chord tone, the bass plays the chord's bass


BASS_LOW = LOW_PITCH + 4  # E2: the bass note of a chord is placed in E2..D#3
BASS_PULSE = STEPS_PER_QUARTER  # the bass is struck at least this often (every beat), see Chords.loss


@dataclass
class Chords(Control):
    """``target [2, 12, T]`` from :func:`targets.chord_target_tensor`: chord tones and bass per step.

    ``exempt [P, T]`` marks cells the chords do not judge: with a melody, its notes may be
    passing notes outside the chord (as in a chorale), so :func:`build` exempts them.
    """

    target: torch.Tensor = None
    symbols: list = None
    exempt: torch.Tensor | None = None
    name = "chords"

    @classmethod
    def from_text(cls, text, *, n_steps: int, key=None, weight: float = 1.0) -> "Chords":
        from .targets import chord_target_tensor, parse_chords

        chords = parse_chords(text, bars=n_steps // 16, key=key)
        return cls(target=chord_target_tensor(chords, n_steps), symbols=[c.symbol for c in chords], weight=weight)

    def check_length(self, n_steps):
        if self.target.shape[-1] != n_steps:
            raise ValueError(f"the chords cover {self.target.shape[-1]} steps but the music has {n_steps}")

    @functools.cached_property
    def _masks(self):
        tones, bass = self.target[0] > 0, self.target[1] > 0  # [12, T]
        pcs = torch.arange(LOW_PITCH, LOW_PITCH + N_PITCHES) % 12
        outside = (~tones[pcs]).float()  # [P, T]: 1 where the pitch is not a chord tone
        if self.exempt is not None:
            outside = outside * (~self.exempt).float()
        bass_pc = bass.float().argmax(0)  # [T]
        has_bass = bass.any(0)
        bass_row = (bass_pc - BASS_LOW) % 12 + (BASS_LOW - LOW_PITCH)  # [T]
        bass_on = torch.zeros(N_PITCHES, bass.shape[-1])
        below = torch.zeros_like(bass_on)
        for t in has_bass.nonzero().flatten().tolist():
            bass_on[bass_row[t], t] = 1
            below[: bass_row[t], t] = 1
        beats = (torch.arange(bass.shape[-1]) % BASS_PULSE == 0).float()
        struck = bass_on * beats * BASS_PULSE  # the bass cell on each beat, weighing as much as the beat's steps
        return outside, bass_on, below, struck

    def feature(self, x0):
        return x0

    def loss(self, x0):
        """Hinges: no sounding cell outside the chord or below its bass; the bass sounds throughout
        and is struck on every beat (``BASS_PULSE``). ``[B]``.

        Without the strike, the bass held each chord as one long note (12 sixteenths on the
        benchmark's one-chord-per-bar progressions) and the upper voices held with it: the notes
        were more than twice as long as in plain samples. Struck on every beat, as a chorale's
        bass walks in quarter notes, the music moves again (mean note length 7.6 -> 3.9 sixteenths,
        plain samples 3.4: ``benchmarks/ito.txt``). The strike is one cell per beat where the bass's frame is four: it
        weighs ``BASS_PULSE`` times as much, or DITTO needed 29 iterations instead of 18.
        """
        outside, bass_on, below, struck = (m.to(x0) for m in self._masks)
        frame, onset = x0[:, FRAME], x0[:, ONSET]
        T = frame.shape[-1]
        cost = (outside + below) * hinge_off(frame) + bass_on * hinge_on(frame) + struck * hinge_on(onset)
        return cost.sum((1, 2)) / T

    def measure(self, roll):
        on = roll[FRAME] > 0  # [P, T]
        if self.exempt is not None:
            on = on & ~self.exempt
        pcs = torch.arange(LOW_PITCH, LOW_PITCH + N_PITCHES) % 12
        tones = self.target[0] > 0
        is_tone = tones[pcs]  # [P, T]
        sounding = on.sum().item()
        ratio = (on & is_tone).sum().item() / sounding if sounding else 0.0
        bass_pc = (self.target[1] > 0).float().argmax(0)
        steps = [t for t in range(on.shape[-1]) if on[:, t].any() and self.target[1, :, t].any()]
        bass_hits = sum(int((on[:, t].nonzero().min() + LOW_PITCH) % 12 == bass_pc[t]) for t in steps)
        return {"achieved": None, "chord_tone_ratio": ratio, "bass_ratio": bass_hits / max(1, len(steps))}

    def describe_target(self):
        return self.symbols


# ---------------------------------------------------------------------------------------------
# structure: the self-similarity of bars follows a form (DITTO section 4.1)


def bar_ssm(x: torch.Tensor, steps_per_bar: int = 16) -> torch.Tensor:
    """Cosine self-similarity ``[B, bars, bars]`` of the bars of a (0/1) frame roll ``x [B, P, T]``."""
    B, P, T = x.shape
    bars = x.reshape(B, P, T // steps_per_bar, steps_per_bar).permute(0, 2, 1, 3).reshape(B, T // steps_per_bar, -1)
    bars = F.normalize(bars, dim=-1, eps=1e-6)
    return bars @ bars.transpose(1, 2)


EXACT = 1e-6  # an SSM this close (MSE) to the form's is the form exactly: the rest is float rounding


@dataclass
class Structure(Control):
    """``ssm [bars, bars]``: 1 where two bars share a section letter, 0 elsewhere (see :func:`targets.form_ssm`)."""

    ssm: torch.Tensor = None
    form: str = ""
    name = "structure"

    @classmethod
    def from_form(cls, form: str, *, bars: int, weight: float = 1.0) -> "Structure":
        from .targets import form_ssm

        return cls(ssm=form_ssm(form, bars=bars).float(), form=form, weight=weight)

    def check_length(self, n_steps):
        if self.ssm.shape[0] * 16 != n_steps:
            raise ValueError(f"the form covers {self.ssm.shape[0]} bars but the music has {n_steps // 16}")

    def feature(self, x0):
        """The bars' SSM ``[B, bars, bars]`` on the notes as thresholded, and the roll as delivered."""
        return bar_ssm(straight_through(x0[:, FRAME])), tidy(x0)

    def loss(self, feature):
        """DITTO's loss, the MSE between the SSMs, plus the cost of making each letter's bars agree by
        vote, as a loop's two ends do (:func:`agreement_cost`; per cell of the roll).

        The SSM alone makes alike bars grow into their union: the cosine's gradient adds a cell that
        another bar has more strongly than it removes one the others lack, and a form of four alike
        bars came out in 6.5 voices. With the vote, a cell most of the letter's bars lack goes. (On the
        benchmark's forms, +21 % voices over plain samples became +1 %, in 24 iterations instead of 30,
        all twenty exact; its fifteen four-bar forms drawn with two other sets of seeds: +19 % and +11 %
        became 0 % and -1 %.) At an exact form both terms are 0 (unless its bars strike one pitch on
        two steps running, which the vote's onset rule undoes): the vote only says which way to go.
        """
        ssm, x0 = feature
        cost = (ssm - self.ssm.to(ssm)).square().mean((1, 2))
        B, _, P, T = x0.shape
        bars = x0.reshape(B, 2, P, T // 16, 16).permute(0, 3, 1, 2, 4)  # [B, bars, 2, P, 16]
        letters = self.ssm.argmax(0)  # each bar's letter, as the first bar that has it
        for letter in letters.unique().tolist():
            alike = (letters == letter).nonzero().flatten()
            if len(alike) > 1:
                cost = cost + agreement_cost(bars[:, alike]).sum((1, 2, 3, 4)) / x0[0].numel()
        return cost

    def measure(self, roll):
        ssm = bar_ssm((roll[FRAME] > 0).float()[None])[0]
        return {"achieved": ssm.tolist(), "ssm_mse": (ssm - self.ssm).square().mean().item()}

    def done(self, loss):
        """Met when the form is exact: the bars of a letter alike, cell for cell, and no cell shared
        with another letter's bars (``EXACT``: rounding in the cosines).

        A repeat that is nearly the same is heard as a variation. (Stopping at an MSE of 1e-3, DITTO
        ended the benchmark's twenty forms at 0.0005, none of them exact, in 16.5 iterations, where
        guidance at the same time had fourteen exact; stopping only when exact: nineteen exact, the
        other at 3e-6, in 30 iterations, with no more voices; with the vote in the loss, all twenty.)
        """
        return bool((loss <= EXACT).all())

    def describe_target(self):
        return self.form


# ---------------------------------------------------------------------------------------------
# inpainting, outpainting, looping: keep parts of a reference


def kept_f1(roll: torch.Tensor, reference: torch.Tensor, keep: torch.Tensor) -> float:
    """Note-level F1 between a roll and a reference ``[2, P, T]``, both cut to the kept steps ``keep [T]``."""
    from .roll import roll_to_notes

    def cut(r):
        r = torch.where(keep[None, None], r, -torch.ones_like(r))
        return set(roll_to_notes(r))

    a, b = cut(roll), cut(reference)
    if not a and not b:
        return 1.0
    tp = len(a & b)
    return 2 * tp / (len(a) + len(b))


@dataclass
class Inpaint(Control):
    """Keep the reference ``[2, P, T]`` on the steps where ``keep [T]`` is True; the model fills the rest.

    Outpainting (continuing a piece) is the same with ``keep`` True at the start.
    """

    reference: torch.Tensor = None
    keep: torch.Tensor = None
    name = "inpaint"

    def check_length(self, n_steps):
        if self.reference.shape[-1] != n_steps:
            raise ValueError(f"the reference covers {self.reference.shape[-1]} steps but the music has {n_steps}")

    def feature(self, x0):
        return x0

    def loss(self, x0):
        ref, keep = self.reference.to(x0), self.keep.to(x0)
        cost = torch.where(ref > 0, hinge_on(x0), hinge_off(x0)) * keep
        return cost.sum((1, 2, 3)) / max(1.0, keep.sum().item())

    def measure(self, roll):
        return {"achieved": None, "kept_f1": kept_f1(hard(roll), self.reference, self.keep)}

    def noise_cells(self, n_steps):
        return self.keep  # [T]: every cell of the kept steps

    def describe_target(self):
        steps = self.keep.nonzero().flatten().tolist()
        return {"kept_steps": [steps[0], steps[-1] + 1] if steps else []}


class Outpaint(Inpaint):
    """Continue a piece: :class:`Inpaint` with the kept steps at the start."""

    name = "outpaint"


@dataclass
class Loop(Control):
    """The last ``n`` steps repeat the first ``n``, so the piece can loop seamlessly (DITTO's looping)."""

    n: int = 16
    name = "loop"

    def check_length(self, n_steps):
        if not 0 < self.n <= n_steps // 2:
            raise ValueError(f"a loop of {self.n} steps needs at least {2 * self.n} steps of music")

    def feature(self, x0):
        # as delivered (no lone cells): a cell can be lone at one end and not at the other, whose
        # neighbours differ; the loss then turns off the side that keeps it
        x0 = tidy(x0)
        return x0[..., : self.n], x0[..., -self.n :]

    def loss(self, feature):
        """Both ends are pushed to one roll, by vote (:func:`agreement_cost`): each cell to the sign of
        the two ends' sum, a sounding note's onset struck if either end strikes it.

        (Pushing each side to the other's sign made a weak on-cell and a weak off-cell swap places
        for dozens of iterations; on the benchmark's 20 loop targets, run on their own, the median
        went from 35 to 15.5 iterations with DITTO and from 18 to 10 with DITTO-2. Deciding onsets
        by the sum too, the sum nearly always said "not struck": a struck cell is rarer and less
        sure than a held one, so the notes either side merged, and the loops' notes were 52 % longer
        than plain samples' (5.2 sixteenths against 3.4), with half as many notes in the first and
        last bars. Struck if either end strikes: 3.6-3.8 sixteenths, in as many iterations or fewer. The
        exception for the step after a strike keeps the ends from striking a note twice in a row.)
        """
        head, tail = feature
        return agreement_cost(torch.stack([head, tail], 1)).sum(1).mean((1, 2, 3))

    def start_noise(self, eps):
        """The last ``n`` steps start from the same noise as the first ``n``: a piece that nearly loops
        already. (From independent noise, DITTO needed 18 iterations on the benchmark's loops and left
        5.5 % of the steps empty where the two ends were made to agree; from this, 16 and 2.3 %.)"""
        eps = eps.clone()
        eps[..., -self.n :] = eps[..., : self.n]
        return eps

    def noise_cells(self, n_steps):
        """``[T]``: the first and last ``n`` steps; the music between is the model's own.

        (With all of the noise moving, the benchmark's twenty loops had one-step notes 2.7 times as
        often as plain samples (3.5 % against 1.3 %; one loop, 37 iterations long, flickered in the
        middle of the piece where no target is); with the ends' alone, 1.3 %, in 19 iterations instead
        of 15 (median).)
        """
        steps = torch.arange(n_steps)
        return (steps < self.n) | (steps >= n_steps - self.n)

    def measure(self, roll):
        keep = torch.ones(self.n, dtype=torch.bool)
        return {"achieved": None, "kept_f1": kept_f1(hard(roll[..., -self.n :]), hard(roll[..., : self.n]), keep)}

    def describe_target(self):
        return {"loop_steps": self.n}


# ---------------------------------------------------------------------------------------------
# from what a user asks for to a list of controls


# ---------------------------------------------------------------------------------------------
# text (DITTO-2 section 3.4: maximize a contrastive text-music score, there CLAP's)


@functools.lru_cache(maxsize=4)
def text_model(path=None):
    """The shipped text-music model (or the one at ``path``), loaded once per process."""
    from . import textmusic
    from .roll import MusicInputError

    path = Path(path or TEXT_MODEL)
    if not path.exists():
        raise MusicInputError(f"text control needs the text-music model, and there is none at {path}; "
                              "train it with 'dittoedu train-text --preset default --export " + str(path) + "'")
    return textmusic.load(path)


TEXT_MODEL = Path(__file__).resolve().parent / "weights" / "text.safetensors"


TEXT_VOICES = 4  # the text model learnt from four-voice chorales: it has never heard more voices at once
TEXT_EXTRA_VOICES = 0.1  # a finished piece may average this many voices beyond four per step (overlaps)


def extra_voices(x0: torch.Tensor) -> torch.Tensor:
    """Notes sounding beyond four, per step, averaged over time: ``[B]`` for thresholded ``x0 [B, 2, P, T]``.

    >>> from dittoedu.roll import Note, notes_to_roll
    >>> six = notes_to_roll([Note(p, 0, 8) for p in (48, 52, 55, 60, 64, 67)] + [Note(72, 8, 8)], 16)
    >>> extra_voices(six[None]).tolist()  # two voices too many for the first half, none after
    [1.0]
    """
    return F.relu((x0[:, FRAME] > 0).sum(1).float() - TEXT_VOICES).mean(-1)


@dataclass
class Text(Control):
    """A prompt: make the music's embedding point where the prompt's does, in a chorale's texture.

    ``loss = 1 - cos(music(x0), text(prompt)) + mean_t relu(voices_t - 4)^2`` per item, with the
    music embedded from the notes as thresholded (straight-through). The second term keeps the
    music where the text model's score means something: it learnt from four-voice chorales, and
    an optimizer left free finds that piling up voices raises the score (five to six voices at
    once; ``benchmarks/text.txt``). It is judged by independent analyzers: each attribute the
    prompt asks for (major/minor by music21's key analysis, register, density, contour; see
    :func:`dittoedu.metrics.attributes`) is met or not on the final notes.
    """

    prompt: str = ""
    model: object = None  # a textmusic.TextMusic; the shipped one when None
    name = "text"

    def __post_init__(self):
        from .textmusic import parse_prompt

        self.parsed = parse_prompt(self.prompt)  # raises a PromptError in words before any work
        if self.model is None:
            self.model = text_model()

    @functools.cached_property
    def _target(self):
        return self.model.net.embed_text([self.prompt])[0]

    def feature(self, x0):
        """``(embedding [B, dim], voices [B, T])``: the notes' embedding and how many sound at each step."""
        notes = straight_through(x0)
        return self.model.net.embed_music((2 * notes - 1).to(self._target.device)), notes[:, FRAME].sum(1)

    def loss(self, feature):
        embedding, voices = feature
        return 1 - embedding @ self._target + F.relu(voices - TEXT_VOICES).square().mean(-1).to(embedding)

    def met(self, roll: torch.Tensor) -> dict[str, dict]:
        """Each requested attribute on one final roll ``[2, P, T]``: ``{'asked', 'found', 'met'}``."""
        from .metrics import attributes

        found = attributes(roll_to_notes(roll), n_steps=roll.shape[-1])
        return {a: {"asked": v, "found": found.get(a), "met": found.get(a) == v}
                for a, v in self.parsed.requested.items()}

    def measure(self, roll):
        with torch.no_grad():
            embedding, _ = self.feature(hard(roll)[None].float())
            similarity = float(embedding[0] @ self._target)
        checks = self.met(roll)
        return {"achieved": {a: c["found"] for a, c in checks.items()}, "similarity": similarity,
                "attributes": checks, "attributes_met": sum(c["met"] for c in checks.values()) / len(checks),
                "unknown_words": self.parsed.unknown}

    def done(self, loss):
        return True  # a similarity has no "met" value: the analyzers decide (confirmed)

    def confirmed(self, x0):
        return (bool((extra_voices(x0) <= TEXT_EXTRA_VOICES).all())
                and all(all(c["met"] for c in self.met(r.cpu()).values()) for r in x0))

    def describe_target(self):
        return {"prompt": self.prompt, "attributes": self.parsed.requested}


def parse_keep(text: str, *, n_steps: int) -> torch.Tensor:
    """Kept steps ``[T]`` from ranges like ``"0:16,48:64"`` (steps, end excluded).

    >>> parse_keep("0:4,12:16", n_steps=16).nonzero().flatten().tolist()
    [0, 1, 2, 3, 12, 13, 14, 15]
    """
    from .roll import MusicInputError

    keep = torch.zeros(n_steps, dtype=torch.bool)
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        try:
            a, b = (int(v) for v in part.split(":"))
        except ValueError:
            raise MusicInputError(f"--keep range {part!r} is not START:END in steps, e.g. '0:16,48:64'") from None
        if not 0 <= a < b <= n_steps:
            raise MusicInputError(f"--keep range {part!r} must lie inside 0:{n_steps} (the music has {n_steps} steps)")
        keep[a:b] = True
    if not keep.any():
        raise MusicInputError("--keep keeps nothing: give the steps to keep, e.g. '0:16,48:64'")
    if keep.all():
        raise MusicInputError("--keep keeps every step, so there is nothing left to generate; leave a gap")
    return keep


def build(*, bars: int, melody=None, chords=None, key=None, intensity=None, form=None, inpaint=None,
          keep=None, outpaint=None, loop=None, text=None, weights: dict | None = None) -> tuple[list[Control], list[str]]:
    """Controls from what a student asks for (the ``dittoedu generate`` flags), and notes on any fixes made.

    Every input is checked here, before any optimization starts; problems raise
    :class:`~dittoedu.roll.MusicInputError` in plain words.
    """
    from .roll import MusicInputError, load

    weights = weights or {}
    n_steps = 16 * bars
    controls, notes = [], []
    if melody is not None:
        controls.append(Melody.from_melody(melody, n_steps=n_steps, weight=weights.get("melody", 1.0)))
        if controls[-1].message:
            notes.append(controls[-1].message)
    if chords is not None:
        exempt = controls[0].cells if melody is not None else None  # the melody may pass outside the chords
        controls.append(Chords.from_text(chords, n_steps=n_steps, key=key, weight=weights.get("chords", 1.0)))
        controls[-1].exempt = exempt
    if intensity is not None:
        controls.append(Intensity.from_curve(intensity, n_steps=n_steps, weight=weights.get("intensity", 1.0)))
    if form is not None:
        controls.append(Structure.from_form(form, bars=bars, weight=weights.get("structure", 1.0)))
    if inpaint is not None and outpaint is not None:
        raise MusicInputError("give --inpaint or --outpaint, not both")
    if inpaint is not None:
        if keep is None:
            raise MusicInputError("--inpaint needs --keep to say which steps of the piece to keep, e.g. '0:16,48:64'")
        piece = load(inpaint)
        mask = parse_keep(keep, n_steps=n_steps)
        last_kept = int(mask.nonzero().max()) + 1
        if piece.n_steps < last_kept:
            raise MusicInputError(f"--keep goes up to step {last_kept}, but the piece to inpaint is only "
                                  f"{piece.n_steps} steps long; keep less or give a longer piece")
        controls.append(Inpaint(reference=piece.to_roll(n_steps), keep=mask, weight=weights.get("inpaint", 1.0)))
    if outpaint is not None:
        piece = load(outpaint)
        if piece.n_steps >= n_steps:
            raise MusicInputError(f"the piece to continue is already {piece.n_steps} steps long and --bars {bars} "
                                  f"asks for {n_steps}: raise --bars to continue it")
        given = -(-piece.n_steps // 4) * 4  # keep whole beats
        mask = torch.arange(n_steps) < given
        notes.append(f"keeping the first {given} steps of the piece, generating the {n_steps - given} after them")
        controls.append(Outpaint(reference=piece.to_roll(n_steps), keep=mask, weight=weights.get("outpaint", 1.0)))
    if loop is not None:
        if not 1 <= loop <= bars // 2:
            raise MusicInputError(f"--loop {loop} bars needs at least {2 * loop} bars of music (--bars {bars})")
        controls.append(Loop(n=16 * loop, weight=weights.get("loop", 1.0)))
    if text is not None:
        from .textmusic import PromptError

        try:
            controls.append(Text(prompt=text, weight=weights.get("text", 1.0)))
        except PromptError as exc:
            raise MusicInputError(str(exc)) from None
        if controls[-1].parsed.unknown:
            notes.append("the text model does not know the words " + ", ".join(map(repr, controls[-1].parsed.unknown))
                         + "; it listens to " + ", ".join(controls[-1].parsed.words))
        notes += controls[-1].parsed.warnings
    return controls, notes
