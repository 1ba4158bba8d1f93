"""Control targets: what a student writes, turned into numbers a loss can compare with.

DITTO steers a diffusion model towards *targets*: a chord progression, a melody, an
intensity curve, a musical form. A student gives these as text ("C G Am F", "AABA"),
files (a CSV curve, a MIDI melody) or lists, and this module turns each one into the
plain data that :mod:`dittoedu.controls` and :mod:`dittoedu.metrics` use. Nothing here
knows about tensors of music or about the model; every function is pure, and every
mistake a student can make is raised early as a :class:`~dittoedu.roll.MusicInputError`
whose message says what was wrong and how to fix it.

Chords
------
Chord symbols (music21's :class:`~music21.harmony.ChordSymbol`) or roman numerals in a
key (music21's :class:`~music21.roman.RomanNumeral`) become :class:`ChordTarget` spans,
in 16th-note steps. Without bar lines, four chords over four bars take one bar each:

>>> [(c.symbol, c.start, c.end) for c in parse_chords("C G Am F", bars=4)]
[('C', 0, 16), ('G', 16, 32), ('Am', 32, 48), ('F', 48, 64)]

and a shorter progression repeats to fill the bars (two chords over four bars: C G C G).
Bar lines put several chords in one bar, which they share evenly:

>>> [(c.symbol, c.start, c.end) for c in parse_chords("| C | G | Am F |", bars=3)]
[('C', 0, 16), ('G', 16, 32), ('Am', 32, 40), ('F', 40, 48)]

Roman numerals need a key, given with ``key=`` or written first (lower case for minor):

>>> [c.symbol for c in parse_chords("C: I V vi IV", bars=4)]
['C', 'G', 'Am', 'F']
>>> sorted(parse_chords("V7", bars=1, key="a")[0].pitch_classes)  # E G# B D
[2, 4, 8, 11]

A loss sees a chord target as two ``[12, T]`` masks, chord tones and bass
(:func:`chord_target_tensor`).

Form
----
A form string such as ``"AABA"`` spreads its sections evenly over the bars
(:func:`parse_form`); DITTO's structure target is the bar-by-bar self-similarity
matrix of that form, 1 where two bars belong to the same section (:func:`form_ssm`).

Intensity
---------
An intensity curve is a list of numbers between 0 and 1, from a list, a CSV or JSON
file, or text like ``"0.2,0.5,0.9,0.4"`` (:func:`read_curve`), resampled to the length
a loss needs; :func:`curve_to_db` turns it into the loudness in dB that DITTO's
intensity loss compares with.

Melody
------
A melody (a file, tinyNotation or ABC text, or notes) becomes the pitch the top voice
should sing at each step, ``None`` for a rest (:func:`melody_target`).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from dittoedu.roll import (
    LOW_PITCH,
    N_PITCHES,
    STEPS_PER_QUARTER,
    MusicInputError,
    Note,
    Piece,
    fit_range,
    load,
    pitch_name,
    roll_to_notes,
)

__all__ = [
    "ChordTarget",
    "parse_chords",
    "chord_target_tensor",
    "parse_form",
    "form_ssm",
    "read_curve",
    "curve_to_db",
    "melody_target",
]


def _or_list(items: Sequence) -> str:
    """``[1, 2, 4]`` -> ``'1, 2 or 4'``."""
    items = [str(x) for x in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _bars(x: float) -> str:
    """``1`` -> ``'1 bar'``, ``2.5`` -> ``'2.5 bars'``."""
    return f"{x:g} bar" + ("" if x == 1 else "s")


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MusicInputError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


# =============================================================================================
# chords


@dataclass(frozen=True)
class ChordTarget:
    """One chord of a progression and the steps it covers.

    ``symbol`` is the chord as a chord symbol (what the student wrote, or, for a roman
    numeral, the chord it names in the key); ``pitch_classes`` its tones (0 = C ... 11 = B);
    ``bass`` the pitch class of its lowest note; ``start`` and ``end`` the steps it covers
    (``end`` excluded); ``numeral`` the roman numeral as written, or ``None``.
    """

    symbol: str
    pitch_classes: frozenset[int]
    bass: int
    start: int
    end: int
    numeral: str | None = None


# A roman numeral as dittoedu accepts it: an optional flat/sharp, I..VII (upper case major,
# lower case minor), an optional quality (o diminished, ø or /o half-diminished, + augmented),
# an optional figure (7, 65, 43, 42, 6, 64, ...), and secondary numerals after '/' (V7/V).
# music21 reads much more than this, some of it surprisingly ('IIII' is E major, 'Vb' a G minor
# chord), so anything else is refused before music21 sees it.
_NUMERAL = r"[b#-]?(?:VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(?:o|°|ø|/o|\+)?(?:M7|7|9|11|13|64|65|6|43|42|2)?"
_ROMAN_RE = re.compile(rf"^(?:It6|Fr43|Ger65|N6|Cad64|{_NUMERAL}(?:/{_NUMERAL})*)$")
_ROMANISH_RE = re.compile(r"^[b#-]?[IViv]|^(It|Fr|Ger|N|Cad)\d")  # looks like a numeral: check it as one
_MODE = r"(?:[Mm]ajor|[Mm]inor|maj|min|m)"
_KEY_RE = re.compile(rf"^([A-Ga-g])([#b-]?)\s*({_MODE})?$")
_INLINE_KEY_RE = re.compile(rf"^\s*([A-Ga-g][#b-]?\s*{_MODE}?)\s*:")
_ROOT_RE = re.compile(r"^([A-Ga-g])(bb|b|##|#)?")
_SLASH_BASS_RE = re.compile(r"/([A-Ga-g])(bb|b|##|#|--|-)?$")
_CHORD_CHARS = re.compile(r"[A-Za-z0-9#\-+/()ø°Δ^.%|:,\s]")
_CHORD_HELP = "write a root A–G, then the kind, e.g. 'C', 'Am', 'G7', 'Fmaj7', 'Bbdim', 'G7/B'"


def _to_music21_spelling(symbol: str) -> str:
    """Flats written 'b' become music21's '-': 'Bb7' -> 'B-7', 'G7/Bb' -> 'G7/B-'.

    music21 reads a flat only as '-'; 'Bb' is an error there, and worse, 'Ab7' silently
    becomes an A7 chord. So the root and the slash bass are respelled before it parses.
    """
    flat = lambda m: m.group(1) + (m.group(2) or "").replace("b", "-")  # noqa: E731
    symbol = _ROOT_RE.sub(flat, symbol, count=1)
    return _SLASH_BASS_RE.sub(lambda m: "/" + flat(m), symbol)


def _display(figure: str) -> str:
    """music21's spelling back to the usual one: 'B-7/A-' -> 'Bb7/Ab'."""
    return re.sub(r"([A-G])-", r"\1b", figure)


def _music21_chord_symbol(symbol: str):
    """The music21 ChordSymbol for ``symbol``, or ``None`` if music21 cannot read it."""
    from music21 import harmony

    try:
        cs = harmony.ChordSymbol(_to_music21_spelling(symbol))
        pitches = cs.pitches
        bass = cs.bass()
    except Exception:  # music21 raises ValueError, ChordException, AttributeError... for bad symbols
        return None
    if not pitches or bass is None:
        return None
    return cs


def _suggest_symbol(symbol: str) -> str | None:
    """A spelling of ``symbol`` that music21 reads, when the mistake is a common one."""
    rewrites = [
        lambda s: ("B" if s[0] in "Hh" else s[0]) + s[1:].replace("/H", "/B").replace("/h", "/B"),  # German H
        lambda s: s[0].upper() + s[1:],
        lambda s: s[0] + s[1:].replace("major", "").replace("Major", ""),
        lambda s: s[0] + s[1:].replace("minor", "m").replace("Minor", "m"),
        lambda s: s[0] + re.sub(r"^mi(?!n)", "m", s[1:]),
        lambda s: s[0] + re.sub(r"maj(9|11|13)", r"M\1", s[1:]),
        lambda s: s[0] + s[1:].replace("Δ7", "maj7").replace("Δ", "maj7").replace("^7", "maj7").replace("^", "maj7"),
        lambda s: s[0] + s[1:].replace("°", "o").replace("O", "o"),
        lambda s: s[0] + s[1:].replace("(", "").replace(")", ""),
    ]
    candidates = [rw(symbol) for rw in rewrites]
    combined = symbol
    for rw in rewrites:
        combined = rw(combined)
    candidates.append(combined)
    for candidate in candidates:
        if candidate != symbol and _music21_chord_symbol(candidate) is not None:
            return candidate
    return None


def _parse_key(text: str):
    """A music21 Key from 'C', 'a' (A minor), 'Bb', 'f#', 'A minor', 'Am'."""
    from music21 import key as m21key

    m = _KEY_RE.match(text.strip())
    if not m:
        raise MusicInputError(
            f"key {text!r} is not a key dittoedu understands; write it like 'C' (C major), 'a' (A minor), "
            "'Bb' or 'f#'"
        )
    letter, accidental, mode = m.groups()
    if mode:
        mode = "major" if mode.lower() in ("major", "maj") else "minor"
    else:
        mode = "major" if letter.isupper() else "minor"
    return m21key.Key(letter.upper() + accidental.replace("b", "-"), mode)


def _one_chord(token: str, key, key_text: str | None) -> tuple[str, frozenset[int], int, str | None]:
    """(symbol, pitch classes, bass, numeral) for one chord as written."""
    if token.upper() in ("N.C.", "NC", "N.C"):
        raise MusicInputError(
            f"{token!r} (no chord) is not supported: repeat the chord before it, or write '%' to hold it"
        )
    if _ROMANISH_RE.match(token):
        if not _ROMAN_RE.match(token):
            raise MusicInputError(
                f"{token!r} is not a roman numeral dittoedu understands; use I to VII, upper case for major and "
                "lower case for minor, with an optional 7 or inversion figure: 'I V vi IV', 'ii7 V7 I', 'V7/V'"
            )
        if key is None:
            raise MusicInputError(
                f"{token!r} is a roman numeral, so it needs a key: write the key first, like 'C: I V vi IV' "
                "(lower case for minor: 'a: i iv V7 i'), or pass key='C'"
            )
        from music21 import harmony, roman

        try:
            rn = roman.RomanNumeral(token, key)
            pcs = frozenset(p.pitchClass for p in rn.pitches)
            bass = rn.bass().pitchClass
            figure = harmony.chordSymbolFigureFromChord(rn)
        except Exception:
            raise MusicInputError(
                f"music21 could not read {token!r} as a roman numeral in {key_text}; try a plain one like 'V7'"
            ) from None
        symbol = _display(figure) if "Cannot" not in figure else f"{token} in {key_text}"
        return symbol, pcs, bass, token
    if token[0] in "abcdefgh":
        # music21 would read 'am' as A minor but 'a' as A major: ask for the usual capital root.
        if len(token) == 1 or token[1:] in ("b", "#"):
            cap = ("B" if token[0] == "h" else token[0].upper()) + token[1:]
            raise MusicInputError(
                f"chord {token!r} should start with a capital letter: try {cap!r} (major) or {cap + 'm'!r} (minor)"
            )
        hint = _suggest_symbol(token)
        hint = f"; try {hint!r}" if hint else ""
        raise MusicInputError(f"chord {token!r} should start with a capital letter (the root){hint}")
    if len(token) > 1 and token[1] == "-":
        # music21 spells flats '-', jazz charts spell minor '-': refuse to guess
        flat, minor = _display(token[:2]) + token[2:], token[0] + "m" + token[2:]
        raise MusicInputError(
            f"chord {token!r} is ambiguous: in jazz '-' means minor ({minor!r}), in music21 it means flat "
            f"({flat!r}); write one of those"
        )
    cs = _music21_chord_symbol(token)
    if cs is None:
        hint = _suggest_symbol(token)
        hint = f"try {hint!r}" if hint else _CHORD_HELP
        raise MusicInputError(f"chord {token!r} is not a chord symbol music21 understands; {hint}")
    return token, frozenset(p.pitchClass for p in cs.pitches), cs.bass().pitchClass, None


def parse_chords(text: str | Sequence[str], *, bars: int, key: str | None = None, steps_per_bar: int = 16,
                 per: str = "bar") -> list[ChordTarget]:
    """Chord targets from a progression written as text.

    Parameters
    ----------
    text : str or list of str
        Chord symbols ``"C G7/B Am F"`` (flats as ``b``: ``"Bb"``), roman numerals
        ``"I V vi IV"`` with a key, the key written first (``"a: i iv V7 i"``), bar lines
        ``"| C | G | Am F |"``, and ``%`` to hold the previous chord. Chords are separated
        by spaces or commas. A list of chord names is read as if joined by spaces.
    bars : int
        Length of the music in bars.
    key : str, optional
        Key for roman numerals: ``"C"``, ``"a"`` (A minor), ``"Bb"``, ``"f# minor"``.
    steps_per_bar : int
        Steps (16th notes) in a bar; 16 for 4/4, 12 for 3/4.
    per : {"bar", "beat"}
        Without bar lines, each chord lasts a bar (or a beat). A progression shorter than
        the music repeats, if it fits a whole number of times. With bar lines, the chords of
        a bar share it evenly, and ``per`` is not used.

    Returns
    -------
    list of ChordTarget
        In time order, covering ``bars * steps_per_bar`` steps.

    >>> [(c.symbol, sorted(c.pitch_classes), c.bass) for c in parse_chords("G7/B", bars=1)]
    [('G7/B', [2, 5, 7, 11], 11)]
    >>> [c.symbol for c in parse_chords("C G", bars=4)]
    ['C', 'G', 'C', 'G']
    >>> [(c.start, c.end) for c in parse_chords("Dm G7", bars=1, per="beat")]
    [(0, 4), (4, 8), (8, 12), (12, 16)]
    """
    bars = _check_count(bars, "the number of bars")
    steps_per_bar = _check_count(steps_per_bar, "steps_per_bar")
    if per not in ("bar", "beat"):
        raise MusicInputError(f"per must be 'bar' or 'beat', not {per!r}")
    if isinstance(text, (list, tuple)):
        if not all(isinstance(t, str) for t in text):
            raise MusicInputError("a list of chords should hold chord names as text, like ['C', 'G', 'Am', 'F']")
        text = " ".join(text)
    if not isinstance(text, str):
        raise MusicInputError(f"chords should be text like 'C G Am F', not {type(text).__name__}")
    original = text
    text = text.replace("♭", "b").replace("♯", "#")
    if not text.strip():
        raise MusicInputError("no chords given: write a progression like 'C G Am F' or 'C: I V vi IV'")
    for i, ch in enumerate(text):
        if not _CHORD_CHARS.fullmatch(ch):
            raise MusicInputError(
                f"stray character {ch!r} at position {i + 1} in {original!r}; chords are separated by spaces "
                "and bars by '|', like '| C | G | Am F |'"
            )

    # the key: from key= or written first ("C: I V vi IV")
    key_text = key
    m = _INLINE_KEY_RE.match(text)
    if m:
        inline = m.group(1).strip()
        if key is not None and _parse_key(key).name != _parse_key(inline).name:
            raise MusicInputError(f"two keys given, {key!r} and {inline!r} (before the ':'); keep one of them")
        key_text, text = inline, text[m.end():]
    if ":" in text:
        raise MusicInputError(
            f"stray ':' in {original!r}; a colon only follows a key at the very start, like 'C: I V vi IV'"
        )
    m21key = _parse_key(key_text) if key_text is not None else None
    if m21key is not None:
        key_text = f"{_display(m21key.tonic.name)} {m21key.mode}"

    # bars of tokens
    with_bar_lines = "|" in text
    if with_bar_lines:
        body = re.sub(r"\|\|+", "|", text).strip()
        body = body.removeprefix("|").removesuffix("|")
        groups = [[t for t in re.split(r"[\s,]+", seg) if t] for seg in body.split("|")]  # ',' alone is empty
        for i, g in enumerate(groups):
            if not g:
                raise MusicInputError(
                    f"bar {i + 1} of {original!r} is empty; write a chord in it, or '%' to hold the one before"
                )
    else:
        groups = [[t] for t in re.split(r"[\s,]+", text.strip()) if t]
    if not groups or not any(groups):
        raise MusicInputError(f"no chords in {original!r}: write a progression like 'C G Am F'")

    # every token to a chord ('%' holds the previous one)
    parsed: list[list[tuple]] = []
    previous = None
    for g in groups:
        row = []
        for token in g:
            if token == "%":
                if previous is None:
                    raise MusicInputError("'%' holds the chord before it, so it cannot come first")
                row.append(previous)
                continue
            previous = _one_chord(token, m21key, key_text)
            row.append(previous)
        parsed.append(row)

    # spans in steps
    if with_bar_lines:
        n = len(parsed)
        if n > bars or bars % n:
            fits = [d for d in range(1, bars + 1) if bars % d == 0]
            raise MusicInputError(
                f"the progression has {n} bar{'s' * (n != 1)} (between '|' lines) but the music has {bars}; "
                f"write {_or_list(fits)} bars of chords (they repeat to fill), or set the number of bars "
                f"(--bars) to a multiple of {n}"
            )
        spans = []
        for i, row in enumerate(parsed):
            if len(row) > steps_per_bar:
                raise MusicInputError(
                    f"bar {i + 1} has {len(row)} chords but only {steps_per_bar} steps (16th notes); "
                    f"give it at most {steps_per_bar} chords"
                )
            k = len(row)
            spans.append([(c, j * steps_per_bar // k, (j + 1) * steps_per_bar // k) for j, c in enumerate(row)])
        unit, pattern = steps_per_bar, spans
        repeats = bars // n
    else:
        chords = [row[0] for row in parsed]
        if per == "bar":
            unit, n_units, what = steps_per_bar, bars, "bar"
        else:
            if steps_per_bar % STEPS_PER_QUARTER:
                raise MusicInputError(
                    f"a bar of {steps_per_bar} steps (16th notes) is not a whole number of beats; use per='bar' "
                    "or bar lines"
                )
            unit, n_units, what = STEPS_PER_QUARTER, bars * steps_per_bar // STEPS_PER_QUARTER, "beat"
        c = len(chords)
        if c > bars * steps_per_bar:
            raise MusicInputError(
                f"{c} chords are more than the {bars * steps_per_bar} steps (16th notes) of {_bars(bars)}"
            )
        if c > n_units or n_units % c:
            fewer = [d for d in range(1, n_units) if n_units % d == 0]
            units = f"{n_units} {what}{'s' * (n_units != 1)}"
            raise MusicInputError(
                f"{units} take {n_units} chord{'s' * (n_units != 1)} (one per {what})"
                + (f", or {_or_list(fewer)} to repeat" if fewer else "")
                + f"; you gave {c}. To put several chords in one bar, mark the bars: '| C | G | Am F |'"
                + (", or use per='beat' for one chord per beat" if per == "bar" else "")
            )
        pattern = [[(ch, 0, unit)] for ch in chords]
        repeats = n_units // c
        n = c

    out = []
    for r in range(repeats):
        for i, row in enumerate(pattern):
            base = (r * n + i) * unit
            for (symbol, pcs, bass, numeral), s, e in row:
                out.append(ChordTarget(symbol, pcs, bass, base + s, base + e, numeral))
    return out


def chord_target_tensor(chords: Iterable[ChordTarget], n_steps: int) -> torch.Tensor:
    """Chord targets as masks ``[2, 12, T]``: chord tones (channel 0) and bass (channel 1).

    Entry ``[0, pc, t]`` is 1 where pitch class ``pc`` is a tone of the chord at step
    ``t``, ``[1, pc, t]`` is 1 where ``pc`` is its bass; steps without a chord are all 0.
    Chords past ``n_steps`` are cut.

    >>> mask = chord_target_tensor(parse_chords("C G/B", bars=1, per="beat")[:2], 12)
    >>> mask.shape
    torch.Size([2, 12, 12])
    >>> mask[0, :, 0].nonzero().flatten().tolist(), mask[1, :, 4].nonzero().flatten().tolist()
    ([0, 4, 7], [11])
    >>> float(mask[:, :, 8:].sum())
    0.0
    """
    n_steps = _check_count(n_steps, "n_steps")
    mask = torch.zeros(2, 12, n_steps)
    for c in chords:
        s, e = max(0, c.start), min(c.end, n_steps)
        if s >= e:
            continue
        mask[0, sorted(c.pitch_classes), s:e] = 1.0
        mask[1, c.bass, s:e] = 1.0
    return mask


# =============================================================================================
# form


def parse_form(form: str, *, bars: int) -> list[str]:
    """The section letter of every bar, from a form such as ``"AABA"``.

    Letters A to H name sections (upper or lower case, spaces allowed); each section
    gets ``bars // len(form)`` bars, so ``bars`` must be a multiple of the number of
    sections.

    Returns
    -------
    list of str, length ``bars``

    >>> parse_form("ABA", bars=6)
    ['A', 'A', 'B', 'B', 'A', 'A']
    >>> "".join(parse_form("a a b a", bars=8))
    'AAAABBAA'
    """
    bars = _check_count(bars, "the number of bars")
    if not isinstance(form, str):
        raise MusicInputError(f"a form should be text like 'AABA', not {type(form).__name__}")
    for i, ch in enumerate(form):
        if ch.isspace():
            continue
        if ch.upper() in "ABCDEFGH" and ch.isascii():
            continue
        what = "is not a section letter" if ch.isalpha() else "is a stray character"
        raise MusicInputError(
            f"in form {form!r}, {ch!r} (position {i + 1}) {what}; write section letters A to H, "
            "like 'AABA' or 'A A B A'"
        )
    letters = [ch.upper() for ch in form if not ch.isspace()]
    if not letters:
        raise MusicInputError("the form is empty; write section letters A to H, like 'ABA' or 'AABA'")
    n = len(letters)
    if n > bars:
        raise MusicInputError(
            f"form {''.join(letters)} has {n} sections but the music has only {_bars(bars)}; "
            f"give at least {n} bars (a multiple of {n})"
        )
    if bars % n:
        choices = [k * n for k in range(1, 5)]
        if bars > choices[-1]:
            choices = [bars // n * n, (bars // n + 1) * n]
        raise MusicInputError(
            f"{''.join(letters)} over {bars} bars does not split evenly into {n} sections: "
            f"choose {_or_list(choices)} bars"
        )
    per = bars // n
    return [letter for letter in letters for _ in range(per)]


def form_ssm(form: str, *, bars: int) -> torch.Tensor:
    """The self-similarity matrix ``[bars, bars]`` of a form: DITTO's structure target.

    Entry ``[i, j]`` is 1 when bars ``i`` and ``j`` belong to the same section letter,
    0 otherwise (DITTO, Novack et al. 2024).

    >>> form_ssm("AB", bars=4)
    tensor([[1., 1., 0., 0.],
            [1., 1., 0., 0.],
            [0., 0., 1., 1.],
            [0., 0., 1., 1.]])
    """
    letters = parse_form(form, bars=bars)
    codes = torch.tensor([ord(c) for c in letters])
    return (codes[:, None] == codes[None, :]).float()


# =============================================================================================
# intensity curves


_CURVE_SUFFIXES = {".csv", ".json", ".txt", ".tsv"}
_CURVE_HELP = "give numbers like '0.2,0.5,0.9,0.4', a CSV file (one column, or time,value) or a JSON list"


def _number(value, where: str) -> float:
    """A finite float, or an error saying ``where`` the bad value is."""
    if isinstance(value, (bool, np.bool_)):
        raise MusicInputError(f"{where} is {value!r}, not a number; {_CURVE_HELP}")
    if isinstance(value, str):
        text = value.strip()
        try:
            x = float(text)
        except ValueError:
            raise MusicInputError(f"{where} is {text!r}, which is not a number; {_CURVE_HELP}") from None
    elif isinstance(value, (int, float, np.integer, np.floating)):
        x = float(value)
    else:
        raise MusicInputError(f"{where} is {value!r}, not a number; {_CURVE_HELP}")
    if math.isnan(x):
        raise MusicInputError(f"{where} is NaN (not a number); every value of the curve must be a number")
    if math.isinf(x):
        raise MusicInputError(f"{where} is infinite; every value of the curve must be a finite number")
    return x


def _numbers(items: Sequence, what: str) -> list[float]:
    n = len(items)
    return [_number(v, f"value {i + 1} of {n} in {what}") for i, v in enumerate(items)]


def _read_table(path: Path) -> tuple[list[float], list[float] | None]:
    """(values, times or None) from a CSV/TSV/TXT file."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            rows.append((lineno, [c for c in re.split(r"\s*[,;\t]\s*|\s+", line) if c != ""]))
    if not rows:
        raise MusicInputError(f"{path.name} has no numbers in it; {_CURVE_HELP}")

    def is_number(cell):
        try:
            float(cell)
            return True
        except ValueError:
            return False

    header = None
    if not all(is_number(c) for c in rows[0][1]):
        header, rows = rows[0], rows[1:]
        if not rows:
            raise MusicInputError(f"{path.name} has a header but no numbers under it")
    if len(rows) == 1 and header is None:  # one line: a row of values
        lineno, cells = rows[0]
        return [_number(c, f"value {i + 1} on line {lineno} of {path.name}") for i, c in enumerate(cells)], None
    width = len(rows[0][1])
    if header is not None and len(header[1]) != width:
        raise MusicInputError(
            f"{path.name}: the header on line {header[0]} has {len(header[1])} columns but the numbers have {width}"
        )
    if width > 2:
        raise MusicInputError(
            f"{path.name} has {width} columns; give one column of values, or two: time,value"
        )
    columns: list[list[float]] = [[] for _ in range(width)]
    for lineno, cells in rows:
        if len(cells) != width:
            raise MusicInputError(
                f"line {lineno} of {path.name} has {len(cells)} columns, but the lines before it have {width}"
            )
        for j, cell in enumerate(cells):
            columns[j].append(_number(cell, f"line {lineno} of {path.name} ({cell!r})"))
    if width == 1:
        return columns[0], None
    times, values = columns
    for (lineno, _), a, b in zip(rows[1:], times, times[1:]):
        if b <= a:
            raise MusicInputError(
                f"line {lineno} of {path.name}: the times in the first column must increase, but {b:g} follows {a:g}"
            )
    return values, times


def _read_json(path: Path) -> list[float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MusicInputError(f"{path.name} is not valid JSON ({exc}); {_CURVE_HELP}") from None
    if isinstance(data, dict):
        if "values" not in data:
            raise MusicInputError(
                f"{path.name} holds an object without a \"values\" key; write {{\"values\": [0.2, 0.5, 0.9]}} "
                "or just a list [0.2, 0.5, 0.9]"
            )
        data = data["values"]
    if not isinstance(data, list):
        raise MusicInputError(f"{path.name} should hold a list of numbers, like [0.2, 0.5, 0.9]")
    return _numbers(data, path.name)


def _looks_like_path(text: str) -> bool:
    """Whether a string names a file (existing or not) rather than holding numbers."""
    text = text.strip()
    if "\n" in text or not text:
        return False
    if Path(text).suffix.lower() in _CURVE_SUFFIXES or "/" in text or os.sep in text:
        return True
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte, is not a file
        return False


def read_curve(source, *, n: int | None = None) -> np.ndarray:
    """An intensity curve from a list, an array, a file or text.

    Parameters
    ----------
    source : list, array, str or Path
        Numbers (a list, NumPy array or tensor); text such as ``"0.2,0.5,0.9,0.4"``
        (commas, semicolons or spaces between numbers); or the path of a CSV/TSV/TXT
        file (one column of values, or two columns ``time,value``, a header line
        allowed; a file of one line is read as a row of values) or a JSON file (a list,
        or ``{"values": [...]}``).
    n : int, optional
        Resample the curve to ``n`` points by linear interpolation (over the times, when
        the file has them); a single value becomes a constant curve.

    Returns
    -------
    np.ndarray [n] (or as many values as given), float64

    >>> read_curve("0.2, 0.5, 0.9, 0.4")
    array([0.2, 0.5, 0.9, 0.4])
    >>> read_curve([0.0, 1.0], n=5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    >>> read_curve([0.3], n=3)
    array([0.3, 0.3, 0.3])
    """
    if n is not None:
        n = _check_count(n, "the number of points n")
    times = None
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        path = Path(source.strip() if isinstance(source, str) else source)
        if not path.exists():
            raise MusicInputError(f"there is no file {str(path)!r}; check the name and the folder")
        if path.is_dir():
            raise MusicInputError(f"{str(path)!r} is a folder, not a curve file")
        if path.suffix.lower() == ".json":
            values = _read_json(path)
        else:
            values, times = _read_table(path)
    elif isinstance(source, str):
        cells = [c for c in re.split(r"[,;\s]+", source.strip()) if c]
        if not cells:
            raise MusicInputError(f"the curve is empty; {_CURVE_HELP}")
        if len(cells) == 1 and not any(ch.isdigit() for ch in cells[0]) and cells[0].lower().strip("+-") not in (
                "nan", "inf", "infinity"):
            raise MusicInputError(
                f"{cells[0]!r} is neither numbers nor a file that exists; {_CURVE_HELP}"
            )
        values = _numbers(cells, "the curve")
    else:
        if isinstance(source, torch.Tensor):
            source = source.detach().cpu().numpy()
        if isinstance(source, np.ndarray):
            if source.ndim != 1:
                raise MusicInputError(f"a curve is one row of numbers, but this array has shape {source.shape}")
            source = source.tolist()
        if not isinstance(source, (list, tuple)):
            raise MusicInputError(f"cannot read a curve from {type(source).__name__}; {_CURVE_HELP}")
        values = _numbers(source, "the curve")
    if not values:
        raise MusicInputError(f"the curve is empty; {_CURVE_HELP}")

    values = np.asarray(values, dtype=np.float64)
    if n is None:
        return values
    if len(values) == 1:
        return np.full(n, values[0])
    x = np.asarray(times, dtype=np.float64) if times is not None else np.arange(len(values), dtype=np.float64)
    return np.interp(np.linspace(x[0], x[-1], n), x, values)


def curve_to_db(curve, *, low_db: float, high_db: float) -> np.ndarray:
    """Map a curve in [0, 1] linearly to loudness in dB: 0 -> ``low_db``, 1 -> ``high_db``.

    DITTO's intensity target is a loudness curve in dB (Novack et al. 2024);
    a student draws it between 0 (quiet) and 1 (loud).

    >>> curve_to_db([0.0, 0.5, 1.0], low_db=-40.0, high_db=-10.0)
    array([-40., -25., -10.])
    """
    c = np.asarray(curve, dtype=np.float64)
    if not (math.isfinite(low_db) and math.isfinite(high_db)):
        raise MusicInputError(f"low_db and high_db must be finite numbers, not {low_db!r} and {high_db!r}")
    bad = np.flatnonzero(~np.isfinite(c.ravel()))
    if bad.size:
        raise MusicInputError(f"value {bad[0] + 1} of the curve is {c.ravel()[bad[0]]}; every value must be a number")
    outside = np.flatnonzero((c.ravel() < 0) | (c.ravel() > 1))
    if outside.size:
        i = outside[0]
        raise MusicInputError(
            f"value {i + 1} of the curve is {c.ravel()[i]:g}, outside 0..1; give a curve between 0 (quiet) and "
            "1 (loud), or give the loudness in dB directly"
        )
    return low_db + c * (high_db - low_db)


# =============================================================================================
# melody


def _as_piece(melody) -> Piece:
    if isinstance(melody, Piece):
        return melody
    if isinstance(melody, torch.Tensor):
        return Piece(roll_to_notes(melody), source="roll")
    if isinstance(melody, (str, os.PathLike)):
        return load(melody, what=None, out_of_range="keep")  # melody_target transposes it
    if isinstance(melody, (list, tuple)):
        notes = []
        for i, n in enumerate(melody):
            try:
                p, o, d = n
                if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (p, o, d)):
                    raise TypeError
                if o < 0 or d < 1:
                    raise ValueError
            except (TypeError, ValueError):
                raise MusicInputError(
                    f"note {i + 1} of the melody is {n!r}; notes are Note(pitch, onset, duration) with whole "
                    "numbers, onset >= 0 and duration >= 1 (in 16th-note steps)"
                ) from None
            notes.append(Note(int(p), int(o), int(d)))
        return Piece(notes, source="notes")
    raise MusicInputError(
        f"cannot read a melody from {type(melody).__name__}; give a file, tinyNotation text like '4/4 c4 d e f', "
        "or a list of notes"
    )


def melody_target(melody, *, n_steps: int, steps_per_bar: int = 16) -> tuple[list[int | None], dict]:
    """The pitch the top voice should have at each step, from a melody.

    Parameters
    ----------
    melody : Piece, list of Note, roll tensor [2, P, T], str or Path
        Notes, or anything :func:`dittoedu.roll.load` reads (a MIDI/MusicXML/ABC file,
        tinyNotation or ABC text). If it has chords, the highest note counts.
    n_steps : int
        Length of the music in steps; a shorter melody is padded with rests.
    steps_per_bar : int
        Steps in a bar of the music, for messages (16 for 4/4).

    Returns
    -------
    target : list of (int or None), length ``n_steps``
        MIDI pitch of the highest sounding note at each step, ``None`` for a rest.
    info : dict
        ``transposed_by`` (semitones the melody was moved to fit the roll),
        ``padded_steps`` (rest steps added at the end), ``onsets`` (the steps where a note of
        the top voice starts, so repeated notes stay repeated) and ``message`` (what was done,
        in words; ``""`` if nothing).

    >>> target, info = melody_target("4/4 c'4 e'8 d'8", n_steps=8)
    >>> [pitch_name(p) if p else None for p in target]
    ['C5', 'C5', 'C5', 'C5', 'E5', 'E5', 'D5', 'D5']
    >>> info["transposed_by"], info["padded_steps"]
    (0, 0)
    """
    n_steps = _check_count(n_steps, "n_steps")
    steps_per_bar = _check_count(steps_per_bar, "steps_per_bar")
    piece = _as_piece(melody)
    notes = [n for n in piece.notes if n.duration > 0]
    if not notes:
        raise MusicInputError("the melody has no notes in it; give at least one note, e.g. '4/4 c4 d e f'")
    piece = Piece(notes, piece.time_signature, piece.title, piece.source, piece.transposed_by)

    messages = []
    top = LOW_PITCH + N_PITCHES - 1
    lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
    fitted = fit_range(piece)  # raises if the melody is wider than the roll
    shift = fitted.transposed_by - piece.transposed_by
    if shift:
        where = "above" if hi > top else "below"
        if shift % 12 == 0:
            amount = f"{abs(shift) // 12} octave{'s' * (abs(shift) != 12)}"
        else:
            amount = f"{abs(shift)} semitones"
        span = pitch_name(lo) if lo == hi else f"{pitch_name(lo)}–{pitch_name(hi)}"
        messages.append(
            f"the melody ({span}) lies {where} the piano roll's range "
            f"({pitch_name(LOW_PITCH)}–{pitch_name(top)}), so it was moved {'up' if shift > 0 else 'down'} {amount}"
        )

    length = fitted.n_steps
    if length > n_steps:
        bars_needed = -(-length // steps_per_bar)
        raise MusicInputError(
            f"the melody lasts {_bars(length / steps_per_bar)} ({length} steps) but the music is only "
            f"{_bars(n_steps / steps_per_bar)} ({n_steps} steps) long; raise --bars to {bars_needed} "
            "or shorten the melody"
        )
    target: list[int | None] = [None] * n_steps
    for n in fitted.notes:
        for t in range(n.onset, min(n.end, n_steps)):
            if target[t] is None or n.pitch > target[t]:
                target[t] = n.pitch
    padded = n_steps - length
    if padded:
        messages.append(
            f"the melody lasts {_bars(length / steps_per_bar)}, the music {_bars(n_steps / steps_per_bar)}: the last "
            f"{padded} steps are rests in the target, where the music is free"
        )
    onsets = sorted({n.onset for n in fitted.notes if n.onset < n_steps and target[n.onset] == n.pitch})
    return target, {"transposed_by": shift, "padded_steps": padded, "onsets": onsets, "message": "; ".join(messages)}
