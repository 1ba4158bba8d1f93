"""Pick a chord for every bar: :class:`ChordPicker`.

For the teacher
---------------
::

    from dittoedu.widgets import ChordPicker
    chords = ChordPicker(bars=4, key="C")     # key "a" (lower case) is A minor
    chords

* **Click a bar**, then a chord of the **palette**: the triads of the key with their roman
  numerals (in C major: I C, ii Dm, iii Em, IV F, V G, vi Am, vii° Bdim; in a minor key the
  natural-minor triads and the major V). The next bar is selected after each pick.
* **Type any chord symbol** ("G7", "Fmaj7", "Bb", "D7/F#") or a roman numeral in the key
  ("V7", "ii7") in the box and press Enter.
* The **key** menu changes the palette; the chords already picked stay as they are.

Every chord is checked by :func:`dittoedu.targets.parse_chords`, the same parser the
command line uses: a chord it cannot read is marked red, with its message under the bars.
In Python::

    chords.value                 # "C G Am F": what controls.build(chords=...) takes
    chords.set_chords("C G Am F"); chords.set_chord(3, "Em")   # bars counted from 1
    chords.save("chords.json"); ChordPicker.load("chords.json")

``value`` is ``""`` while no bar has a chord (so ``chords.value or None`` means "no chord
control"), and raises :class:`~dittoedu.roll.MusicInputError` while some bars have one and
others do not, or a chord cannot be read.

>>> picker = ChordPicker(bars=4, key="C")
>>> [p["symbol"] for p in picker.palette]
['C', 'Dm', 'Em', 'F', 'G', 'Am', 'Bdim']
>>> picker.set_chords("C G Am F")
>>> picker.value
'C G Am F'
"""

from __future__ import annotations

import functools

import traitlets

from ..roll import MusicInputError
from ..targets import parse_chords
from ._base import STATIC, DittoWidget, validate_saved, whole_number

MAX_BARS = 64
STEPS_PER_BAR = 16

# (as music21 reads it, as a musician writes it)
MAJOR_NUMERALS = [("I", "I"), ("ii", "ii"), ("iii", "iii"), ("IV", "IV"), ("V", "V"), ("vi", "vi"), ("viio", "vii°")]
MINOR_NUMERALS = [("i", "i"), ("iio", "ii°"), ("III", "III"), ("iv", "iv"), ("v", "v"), ("VI", "VI"),
                  ("VII", "VII"), ("V", "V")]  # the last: harmonic minor's major dominant, the usual V in minor

# The keys offered in the menu (any key parse_chords reads can be set from Python): major
# keys in capitals, minor keys in lower case, as in targets.parse_chords.
KEYS = ["C", "G", "D", "A", "E", "B", "F", "Bb", "Eb", "Ab", "Db",
        "a", "e", "b", "f#", "c#", "d", "g", "c", "f", "bb"]


def key_name(key: str) -> str:
    """The key in dittoedu's short spelling (capital: major, lower case: minor), checked by parse_chords.

    >>> key_name("A minor"), key_name("Bb"), key_name("f#"), key_name("Ebm")
    ('a', 'Bb', 'f#', 'eb')
    """
    if not isinstance(key, str):
        raise MusicInputError(f"the key should be text like 'C' (C major) or 'a' (A minor), not {key!r}")
    return _key_name(key)


@functools.lru_cache(maxsize=64)
def _key_name(key: str) -> str:
    tonic, mediant = parse_chords("I III", bars=2, key=key)  # III lies 3 semitones up in minor, 4 in major
    minor = (mediant.bass - tonic.bass) % 12 == 3
    return tonic.symbol.lower() if minor else tonic.symbol


@functools.lru_cache(maxsize=64)
def _palette(key: str) -> tuple:
    numerals = MINOR_NUMERALS if key[:1].islower() else MAJOR_NUMERALS
    chords = parse_chords(" ".join(n for n, _ in numerals), bars=len(numerals), key=key)
    return tuple({"numeral": shown, "symbol": c.symbol} for (_, shown), c in zip(numerals, chords))


def palette(key: str) -> list[dict]:
    """The diatonic triads of ``key`` as ``{"numeral": "vi", "symbol": "Am"}``, in scale order.

    >>> [p["symbol"] for p in palette("a")]
    ['Am', 'Bdim', 'C', 'Dm', 'Em', 'F', 'G', 'E']
    """
    return [dict(p) for p in _palette(key_name(key))]


def key_title(key: str) -> str:
    """``'C'`` -> ``'C major'``, ``'f#'`` -> ``'F# minor'``."""
    return f"{key[0].upper()}{key[1:]} minor" if key[:1].islower() else f"{key} major"


class ChordPicker(DittoWidget):
    """A chord for each of ``bars`` bars, picked from the palette of ``key`` or typed.

    Parameters
    ----------
    bars : int
        How many bars (one chord each).
    key : str
        The key of the palette and of roman numerals: "C" (C major), "a" (A minor), "Bb", "f#"...
    chords : list of str or str, optional
        Chords to start with, one per bar ("" for none); text like "C G Am F" is spread over the bars.

    Traitlets synced with the browser: ``bars``, ``key``, ``chords`` (one str per bar, ``""`` = none
    yet), ``selected`` (the bar the palette writes to, from 0), and, computed here for the browser,
    ``palette`` (``[{"numeral", "symbol"}]``), ``key_menu`` (``[{"key", "title"}]`` for the menu),
    ``bad_bars`` (bars, from 0, whose chord cannot be read) and ``error``.
    """

    _esm = STATIC / "chords.js"

    bars = traitlets.Int(4).tag(sync=True)
    key = traitlets.Unicode("C").tag(sync=True)
    chords = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.Int(0).tag(sync=True)
    palette = traitlets.List(traitlets.Dict()).tag(sync=True)
    key_menu = traitlets.List(traitlets.Dict()).tag(sync=True)
    bad_bars = traitlets.List(traitlets.Int()).tag(sync=True)

    _saved = ("bars", "key", "chords")
    _validate = validate_saved(*_saved)  # e.g. picker.key = "A minor" is stored as "a"

    def __init__(self, bars: int = 4, key: str = "C", *, chords=None, **kwargs):
        state = self._coerce(dict(bars=bars, key=key, chords=[]))
        if chords is not None:
            state["chords"] = _chords_per_bar(chords, state["bars"], state["key"])
        super().__init__(state, **kwargs)
        self._key_changed()

    @classmethod
    def _coerce(cls, state):
        state = dict(state)
        state["bars"] = whole_number(state["bars"], "bars", low=1, high=MAX_BARS)
        state["key"] = key_name(state["key"])
        chords = state.get("chords") or []
        if isinstance(chords, str) or not all(isinstance(c, str) for c in chords):
            raise MusicInputError("chords should be a list of chord names, one per bar, like ['C', 'G', 'Am', 'F']")
        chords = [c.strip() for c in chords][: state["bars"]]
        state["chords"] = chords + [""] * (state["bars"] - len(chords))
        return state

    @classmethod
    def _problems(cls, state) -> list[tuple[int, str]]:
        """(bar from 0, message) for every chord that cannot be read."""
        found = ((i, _chord_problem(chord, state["key"])) for i, chord in enumerate(state["chords"]) if chord)
        return [(i, f"bar {i + 1}{problem}") for i, problem in found if problem]

    @classmethod
    def _check(cls, state):
        problems = cls._problems(state)
        if problems:
            raise MusicInputError("\n".join(message for _, message in problems))

    def _recheck(self, change=None):
        super()._recheck(change)
        self.bad_bars = [i for i, _ in self._problems(self._state())]
        if not 0 <= self.selected < self.bars:
            self.selected = max(0, min(self.selected, self.bars - 1))

    @traitlets.observe("key")
    def _key_changed(self, change=None):
        self.palette = palette(self.key)
        menu = KEYS if self.key in KEYS else [self.key] + KEYS
        self.key_menu = [{"key": k, "title": key_title(k)} for k in menu]

    @traitlets.observe("bars")
    def _bars_changed(self, change):
        if len(self.chords) != self.bars:
            self.chords = (list(self.chords) + [""] * self.bars)[: self.bars]

    # -- what the engine gets ------------------------------------------------------------------

    @property
    def value(self) -> str:
        """The progression as chord symbols, one per bar ("C G Am F"), for ``controls.build(chords=...)``.

        ``""`` while no bar has a chord; raises :class:`~dittoedu.roll.MusicInputError` if some bars
        have none or a chord cannot be read.
        """
        self._ok()
        if not any(self.chords):
            return ""
        empty = [i + 1 for i, c in enumerate(self.chords) if not c]
        if empty:
            which = f"bar {empty[0]} has" if len(empty) == 1 else (
                "bars " + ", ".join(map(str, empty[:-1])) + f" and {empty[-1]} have")
            self._fail(f"{which} no chord yet: click the bar, then a chord of the palette (or type one)")
        targets = parse_chords(list(self.chords), bars=self.bars, key=self.key)
        symbols = [c.symbol for c in targets]
        if any(" " in s for s in symbols):  # a numeral music21 cannot name as a chord symbol: keep the key
            return f"{self.key}: " + " ".join(self.chords)
        return " ".join(symbols)

    # -- editing from Python (the browser does the same with the mouse) -------------------------

    def set_chord(self, bar: int, chord: str) -> None:
        """Put ``chord`` in ``bar`` (counted from 1, as in a score); ``""`` empties the bar."""
        with self._showing_errors():
            bar = whole_number(bar, "the bar (counted from 1)", low=1, high=self.bars)
        if not isinstance(chord, str):
            self._fail(f"a chord is text like 'G7', not {chord!r}")
        chord = chord.strip()
        problem = _chord_problem(chord, self.key) if chord else ""
        if problem:
            self._fail(f"bar {bar}{problem}")
        chords = list(self.chords)
        chords[bar - 1] = chord
        self._update(strict=False, chords=chords)  # other bars may still be work in progress
        self.selected = min(bar, self.bars - 1)

    def set_chords(self, chords) -> None:
        """Replace every bar's chord: text like ``"C G Am F"`` (a shorter progression repeats to
        fill the bars) or a list with one chord per bar (``""`` for none)."""
        with self._showing_errors():
            chords = _chords_per_bar(chords, self.bars, self.key)
        self._update(chords=chords)

    def clear(self) -> None:
        """Empty every bar."""
        self._update(chords=[""] * self.bars)
        self.selected = 0


@functools.lru_cache(maxsize=512)
def _chord_problem(chord: str, key: str) -> str:
    """What is wrong with one bar's ``chord`` in ``key`` (to follow "bar 3"), or ``""``."""
    if len(chord.split()) > 1 or "|" in chord:
        return f" holds {chord!r}: one chord per bar here"
    try:
        parse_chords(chord, bars=1, key=key)
    except MusicInputError as exc:
        return f": {exc}"
    return ""


def _chords_per_bar(chords, bars: int, key: str) -> list[str]:
    """One chord per bar from text ("C G", repeated to fill) or from a list (kept as it is)."""
    if isinstance(chords, (list, tuple)):
        return list(chords)
    if not isinstance(chords, str):
        raise MusicInputError(f"chords should be text like 'C G Am F' or a list, not {type(chords).__name__}")
    targets = parse_chords(chords, bars=bars, key=key)
    starts = {c.start: c for c in targets}
    if len(targets) != bars or any(i * STEPS_PER_BAR not in starts for i in range(bars)):
        raise MusicInputError(f"{chords!r} does not give one chord per bar; the chord picker holds one chord in "
                              "each bar (pass the text to controls.build directly for several chords in a bar)")
    return [starts[i * STEPS_PER_BAR].symbol for i in range(bars)]
