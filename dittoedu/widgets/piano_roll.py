"""Draw a melody on a piano roll, in the browser: :class:`PianoRollDrawer`.

For the teacher
---------------
Show the widget in a notebook cell and let the student draw::

    from dittoedu.widgets import PianoRollDrawer
    melody = PianoRollDrawer(bars=4)        # rows C4..B5, 16th-note columns
    melody                                  # the last line of a cell shows it

* **Press and drag right** on an empty cell to draw a note: where you press is its start,
  how far you drag its length. Notes snap to 16ths, 8ths or quarters (the *snap* menu).
* **Click a note** (or right-click it) to erase it; the *Erase* mode erases everything
  you drag over. *Undo* takes back the last change, *Clear* erases everything.
* **One note at a time** (on by default, for melodies): a new note removes the notes it
  overlaps. Switch it off to draw chords.
* **Play** plays the drawing in the browser (simple oscillators, no samples).

The drawing is sent to Python once per mouse release, never on every mouse move, so it
stays smooth while the kernel is busy. In Python::

    melody.value                 # [Note(pitch=72, onset=0, duration=4), ...] sorted; [] if empty
    controls.build(bars=4, melody=melody.value or None)
    melody.to_midi("melody.mid")
    melody.save("melody.json")   # survives a kernel restart:
    melody = PianoRollDrawer.load("melody.json")
    PianoRollDrawer.from_notes("4/4 c'4 d' e' f' g'1")   # start from written music

Anything that cannot be used (a note past the last bar, two notes at once in a melody)
raises :class:`~dittoedu.roll.MusicInputError` from ``.value``, and the same words appear
under the drawing.

>>> drawer = PianoRollDrawer(bars=1)
>>> drawer.add_note(72, 0, 4)
>>> drawer.add_note(74, 2, 4)        # one note at a time: the C5 it overlaps goes
>>> drawer.value
[Note(pitch=74, onset=2, duration=4)]
"""

from __future__ import annotations

from pathlib import Path

import traitlets

from .. import audio
from ..roll import (
    LOW_PITCH,
    N_PITCHES,
    MusicInputError,
    Note,
    Piece,
    load,
    pitch_name,
    write_midi,
)
from ._base import STATIC, DittoWidget, validate_saved, whole_number

STEPS_PER_BAR = 16  # 4/4 in 16th notes, as everywhere in dittoedu
TOP_PITCH = LOW_PITCH + N_PITCHES - 1
SNAPS = {1: "16th notes", 2: "8th notes", 4: "quarter notes"}
MAX_BARS = 64


def overlaps(a, b) -> bool:
    """Whether two notes ``[pitch, onset, duration]`` sound at the same time (at any pitch)."""
    return a[1] < b[1] + b[2] and b[1] < a[1] + a[2]


def add_note(notes: list, note, *, monophonic: bool) -> list:
    """``notes`` with ``note`` drawn in: the notes it overlaps go (all of them when ``monophonic``,
    else those on its pitch). The browser does the same (``addNote`` in ``static/piano_roll.js``).

    >>> add_note([[60, 0, 4], [64, 0, 8]], [62, 2, 2], monophonic=True)
    [[62, 2, 2]]
    >>> add_note([[60, 0, 4], [64, 0, 8]], [62, 2, 2], monophonic=False)
    [[60, 0, 4], [64, 0, 8], [62, 2, 2]]
    """
    note = [int(v) for v in note]
    kept = [list(n) for n in notes if not (overlaps(n, note) and (monophonic or n[0] == note[0]))]
    return sorted(kept + [note], key=lambda n: (n[1], n[0]))


class PianoRollDrawer(DittoWidget):
    """A piano roll to draw notes on: ``bars`` of 16th-note steps, pitch rows ``low``..``high``.

    Parameters
    ----------
    bars : int
        Length in bars of 4/4 (16 steps each).
    low, high : int
        The lowest and highest pitch row shown (MIDI numbers), inside dittoedu's roll
        (C2 = 36 .. B5 = 83). The default, C4..B5, suits a melody.
    notes : list of [pitch, onset, duration] or Note
        Notes to start with (onset and duration in steps).
    monophonic : bool
        One note at a time (a melody): a new note removes the notes it overlaps.
    snap : int
        Grid for drawing, in steps: 1 (16ths), 2 (8ths) or 4 (quarters).
    tempo : int
        Quarter notes per minute for *Play* and :meth:`to_midi`.

    Traitlets synced with the browser: ``bars``, ``low``, ``high``, ``notes`` (a list of
    ``[pitch, onset, duration]``), ``monophonic``, ``snap``, ``tempo``, ``erase`` (erase mode),
    ``error`` (the message shown), ``steps_per_bar`` (16, read by the browser).
    """

    _esm = STATIC / "piano_roll.js"

    bars = traitlets.Int(4).tag(sync=True)
    low = traitlets.Int(60).tag(sync=True)
    high = traitlets.Int(TOP_PITCH).tag(sync=True)
    notes = traitlets.List().tag(sync=True)
    monophonic = traitlets.Bool(True).tag(sync=True)
    snap = traitlets.Int(1).tag(sync=True)
    tempo = traitlets.Int(audio.TEMPO).tag(sync=True)
    erase = traitlets.Bool(False).tag(sync=True)
    steps_per_bar = traitlets.Int(STEPS_PER_BAR, read_only=True).tag(sync=True)

    _saved = ("bars", "low", "high", "monophonic", "snap", "tempo", "notes")
    _validate = validate_saved(*_saved)

    def __init__(self, bars: int = 4, low: int = 60, high: int = TOP_PITCH, *, notes=(), monophonic: bool = True,
                 snap: int = 1, tempo: int = audio.TEMPO, **kwargs):
        state = dict(bars=bars, low=low, high=high, monophonic=monophonic, snap=snap, tempo=tempo, notes=notes)
        super().__init__(state, **kwargs)

    # -- checks ------------------------------------------------------------------------------

    @classmethod
    def _coerce(cls, state):
        state = dict(state)
        state["bars"] = whole_number(state["bars"], "bars", low=1, high=MAX_BARS)
        top = f"{TOP_PITCH} ({pitch_name(TOP_PITCH)})"
        bottom = f"{LOW_PITCH} ({pitch_name(LOW_PITCH)})"
        for name, what in (("low", "the lowest row (low)"), ("high", "the highest row (high)")):
            state[name] = whole_number(state[name], f"{what} as a MIDI pitch", low=LOW_PITCH, high=TOP_PITCH)
        if state["low"] > state["high"]:
            raise MusicInputError(
                f"the lowest row, low={state['low']} ({pitch_name(state['low'])}), is above the highest, "
                f"high={state['high']} ({pitch_name(state['high'])}); dittoedu's roll spans {bottom} to {top}"
            )
        if state["snap"] not in SNAPS or isinstance(state["snap"], bool):
            raise MusicInputError(
                f"snap must be 1 (16th notes), 2 (8th notes) or 4 (quarter notes), not {state['snap']!r}"
            )
        state["snap"] = int(state["snap"])
        state["tempo"] = whole_number(state["tempo"], "the tempo (quarter notes per minute)", low=20, high=400)
        state["monophonic"] = bool(state["monophonic"])
        state["notes"] = _note_lists(state["notes"])
        return state

    @classmethod
    def _check(cls, state):
        notes, low, high = state["notes"], state["low"], state["high"]
        n_steps = state["bars"] * STEPS_PER_BAR
        for i, (p, o, d) in enumerate(notes):
            what = "the note" if len(notes) == 1 else f"note {i + 1}"
            if LOW_PITCH <= p <= TOP_PITCH:
                what += f" ({pitch_name(p)} at step {o})"
            if not LOW_PITCH <= p <= TOP_PITCH:
                raise MusicInputError(
                    f"{what} has pitch {p}, outside dittoedu's piano roll ({pitch_name(LOW_PITCH)} = {LOW_PITCH} to "
                    f"{pitch_name(TOP_PITCH)} = {TOP_PITCH}); move it by an octave (12)"
                )
            if p < low or p > high:
                side, fix = ("below the lowest row", f"low={p}") if p < low else ("above the highest row", f"high={p}")
                raise MusicInputError(
                    f"{what} is {side} shown ({pitch_name(low if p < low else high)}); set {fix} to show it"
                )
            if o < 0 or d < 1:
                raise MusicInputError(f"{what} has onset {o} and duration {d}; the onset must be 0 or more and the "
                                      "duration at least 1 (in 16th-note steps)")
            if o + d > n_steps:
                bars_needed = -(-(o + d) // STEPS_PER_BAR)
                raise MusicInputError(
                    f"{what} ends at step {o + d}, past the end of {state['bars']} bar"
                    f"{'s' * (state['bars'] != 1)} ({n_steps} steps); shorten it or set bars={bars_needed}"
                )
        by_time = sorted(range(len(notes)), key=lambda i: (notes[i][1], notes[i][0]))
        for a_pos, a in enumerate(by_time):
            for b in by_time[a_pos + 1:]:
                na, nb = notes[a], notes[b]
                if nb[1] >= na[1] + na[2]:
                    break
                both = f"{pitch_name(na[0])} (step {na[1]}) and {pitch_name(nb[0])} (step {nb[1]})"
                if na[0] == nb[0]:
                    raise MusicInputError(f"two notes on {pitch_name(na[0])} overlap, at steps {na[1]} and {nb[1]}; "
                                          "erase one of them")
                if state["monophonic"]:
                    raise MusicInputError(
                        f"{both} sound at the same time, but a melody plays one note at a time; erase one of them, "
                        "or switch off 'one note at a time' (monophonic=False) to draw chords"
                    )

    # -- what the engine gets ----------------------------------------------------------------

    @property
    def value(self) -> list[Note]:
        """The notes drawn, as :class:`~dittoedu.roll.Note` s sorted by pitch then onset; ``[]`` if none.

        Raises :class:`~dittoedu.roll.MusicInputError` if the drawing cannot be used.
        """
        self._ok()
        return sorted(Note(*n) for n in self.notes)

    @property
    def n_steps(self) -> int:
        """Length of the roll in steps (16th notes)."""
        return self.bars * STEPS_PER_BAR

    # -- editing from Python (the browser does the same with the mouse) ------------------------

    def add_note(self, pitch: int, onset: int, duration: int) -> None:
        """Draw a note, as the mouse would (in monophonic mode the notes it overlaps go)."""
        with self._showing_errors():
            note = _note_lists([(pitch, onset, duration)])[0]
            self._check({**self._state(), "notes": [note]})  # the new note itself must fit
        # the others are kept as they are, even if one still has a problem (it stays on show)
        self._update(strict=False, notes=add_note(self.notes, note, monophonic=self.monophonic))

    def erase_at(self, pitch: int, step: int) -> bool:
        """Erase the note sounding on ``pitch`` at ``step``, as a click would; False if there is none."""
        kept = [n for n in self.notes if not (n[0] == pitch and n[1] <= step < n[1] + n[2])]
        if len(kept) == len(self.notes):
            return False
        self._update(notes=kept)
        return True

    def clear(self) -> None:
        """Erase every note (the *Clear* button)."""
        self._update(notes=[])

    def set_notes(self, notes) -> None:
        """Replace the drawing with ``notes``: Notes or ``[pitch, onset, duration]`` lists, a
        :class:`~dittoedu.roll.Piece`, or anything :func:`dittoedu.roll.load` reads (a MIDI or
        MusicXML file, tinyNotation or ABC text). The rows shown widen to fit the notes.
        """
        with self._showing_errors():
            notes = _read_notes(notes)
        low, high = self.low, self.high
        if notes:
            low = min(low, max(LOW_PITCH, min(n[0] for n in notes)))
            high = max(high, min(TOP_PITCH, max(n[0] for n in notes)))
        self._update(notes=notes, low=low, high=high)

    @classmethod
    def from_notes(cls, notes, *, bars: int | None = None, **kwargs) -> "PianoRollDrawer":
        """A drawer holding ``notes`` (anything :meth:`set_notes` takes), ``bars`` long
        (default: enough whole bars for the notes)."""
        notes = _read_notes(notes)
        if bars is None:
            bars = max(1, -(-max((n[1] + n[2] for n in notes), default=0) // STEPS_PER_BAR))
        drawer = cls(bars=bars, **kwargs)
        drawer.set_notes(notes)
        return drawer

    def to_midi(self, path, **kwargs) -> Path:
        """Write the drawing as a MIDI file (via :func:`dittoedu.roll.write_midi`); returns its path."""
        notes = self.value
        if not notes:
            self._fail("there is nothing to write yet: draw some notes first")
        kwargs.setdefault("tempo", self.tempo)
        kwargs.setdefault("n_steps", self.n_steps)
        return write_midi(notes, path, **kwargs)


def _note_lists(notes) -> list[list[int]]:
    """``[[pitch, onset, duration], ...]`` from Notes, tuples or lists of whole numbers."""
    if isinstance(notes, (str, bytes)) or not hasattr(notes, "__iter__"):
        raise MusicInputError(f"notes should be a list of [pitch, onset, duration], not {type(notes).__name__}")
    out = []
    for i, n in enumerate(notes):
        try:
            p, o, d = n
            values = [whole_number(v, "x", low=-(10 ** 9), high=10 ** 9) for v in (p, o, d)]
        except (TypeError, ValueError):
            raise MusicInputError(
                f"note {i + 1} is {n!r}; a note is [pitch, onset, duration]: three whole numbers, the MIDI pitch "
                "(60 = C4), and the onset and duration in 16th-note steps"
            ) from None
        out.append(values)
    return out


def _read_notes(notes) -> list[list[int]]:
    if isinstance(notes, Piece):
        notes = notes.notes
    elif isinstance(notes, (str, Path)):
        notes = load(notes).notes
    return _note_lists(notes)
