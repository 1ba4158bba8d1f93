"""The music representation: a piano roll with an onset and a frame channel.

A roll is a tensor ``[2, P, T]`` (or ``[B, 2, P, T]`` for a batch):

* channel 0, **onset**: +1 on the step where a note starts, -1 elsewhere;
* channel 1, **frame**: +1 on every step where a note sounds, -1 elsewhere.

Row ``p`` is MIDI pitch ``LOW_PITCH + p``; column ``t`` is a 16th note
(``STEPS_PER_QUARTER = 4``). The onset channel is what keeps two repeated notes
apart: a held C and two C's in a row have the same frames but different onsets.
Values live in [-1, 1] so that the diffusion model sees a centred signal; a roll
is turned back into notes by thresholding at 0.

Notes are ``Note(pitch, onset, duration)`` with onset and duration in steps:

>>> notes = [Note(60, 0, 4), Note(60, 4, 4), Note(64, 0, 8)]
>>> roll = notes_to_roll(notes, n_steps=16)
>>> roll.shape
torch.Size([2, 48, 16])
>>> roll_to_notes(roll) == sorted(notes)
True
>>> print(render_text(roll))
E4 |o-------........|
C4 |o---o---........|

Music comes in from MIDI, MusicXML, ABC or tinyNotation (:func:`load`) and goes
out as a music21 score (:func:`notes_to_stream`), MIDI or MusicXML
(:func:`write_midi`, :func:`write_musicxml`).
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import torch

LOW_PITCH = 36  # C2, the lowest pitch row
N_PITCHES = 48  # four octaves: C2 .. B5, the range of a Bach chorale
STEPS_PER_QUARTER = 4  # one step is a 16th note
ONSET, FRAME = 0, 1  # channel indices

PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


class MusicInputError(ValueError):
    """Raised when a piece of music given by the user cannot be used; the message says why and what to do."""


class Note(NamedTuple):
    """One note: MIDI ``pitch``, ``onset`` and ``duration`` in steps (16th notes)."""

    pitch: int
    onset: int
    duration: int

    @property
    def end(self) -> int:
        return self.onset + self.duration


@dataclass
class Piece:
    """Notes plus the little context a score needs.

    ``time_signature`` is a string such as ``"3/4"``; ``source`` says where the
    music came from (a file name, or "text"), for messages.
    """

    notes: list[Note]
    time_signature: str = "4/4"
    title: str = ""
    source: str = ""
    transposed_by: int = field(default=0)

    @property
    def n_steps(self) -> int:
        return max((n.end for n in self.notes), default=0)

    @property
    def steps_per_bar(self) -> int:
        return steps_per_bar(self.time_signature)

    def to_roll(self, n_steps: int | None = None) -> torch.Tensor:
        return notes_to_roll(self.notes, n_steps)


def pitch_name(pitch: int) -> str:
    """Name of a MIDI pitch with its octave, e.g. ``pitch_name(60) == 'C4'``.

    >>> pitch_name(60), pitch_name(70)
    ('C4', 'Bb4')
    """
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def steps_per_bar(time_signature: str = "4/4") -> int:
    """Number of 16th-note steps in one bar of ``time_signature``.

    >>> steps_per_bar("4/4"), steps_per_bar("3/4"), steps_per_bar("6/8")
    (16, 12, 12)
    """
    try:
        num, den = (int(x) for x in time_signature.split("/"))
        if num <= 0 or den not in (1, 2, 4, 8, 16):
            raise ValueError
    except ValueError:
        raise MusicInputError(
            f"time signature {time_signature!r} is not one dittoedu understands; write it like '4/4', '3/4' or '6/8'"
        ) from None
    return num * STEPS_PER_QUARTER * 4 // den


# ---------------------------------------------------------------------------------------------
# notes <-> roll


def check_range(notes: Iterable[Note], *, what: str = "the music") -> None:
    """Raise :class:`MusicInputError` if a note lies outside the roll's pitch range."""
    notes = list(notes)
    if not notes:
        return
    lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
    top = LOW_PITCH + N_PITCHES - 1
    if lo < LOW_PITCH or hi > top:
        shift = fitting_shift(lo, hi)
        hint = f"; transposing by {shift:+d} semitones would fit it" if shift is not None else ""
        raise MusicInputError(
            f"{what} goes from {pitch_name(lo)} to {pitch_name(hi)}, but dittoedu's piano roll only covers "
            f"{pitch_name(LOW_PITCH)} to {pitch_name(top)}{hint}"
        )


def notes_to_roll(notes: Iterable[Note], n_steps: int | None = None) -> torch.Tensor:
    """Piano roll ``[2, P, T]`` in {-1, +1} from notes.

    ``n_steps`` defaults to the end of the last note; notes (or their tails) past
    ``n_steps`` are cut. Pitches outside the range raise :class:`MusicInputError`.
    """
    notes = list(notes)
    check_range(notes)
    if n_steps is None:
        n_steps = max((n.end for n in notes), default=0)
    roll = -torch.ones(2, N_PITCHES, n_steps)
    for n in notes:
        if n.onset >= n_steps or n.duration <= 0:
            continue
        p = n.pitch - LOW_PITCH
        roll[ONSET, p, n.onset] = 1.0
        roll[FRAME, p, n.onset : n.end] = 1.0
    return roll


def note_starts(on: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Where notes start, from the thresholded onset and frame channels (bool ``[..., P, T]``).

    A note starts where the frame channel turns on, or where the onset channel fires inside a
    run of frames (a repeated note).
    """
    before = torch.zeros_like(frame)
    before[..., 1:] = frame[..., :-1]
    return frame & (on | ~before)


def lone_cells(roll: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Frame cells of ``roll [..., 2, P, T]`` that no note looks like (bool ``[..., P, T]``).

    A lone cell would be a note one step long that was never struck: no onset, silent the step
    before, and the step after silent or struck again; not the first step. A note written from
    music always has its onset, except one held into the clip from before it (the first step).
    A model that jumps from noise to music in one step writes many such cells where it is unsure
    (most of its one-step "notes"), sampling in many steps hardly any: they are smudges, not
    notes, and would be heard as clicks.
    """
    on, fr = roll[..., ONSET, :, :] > threshold, roll[..., FRAME, :, :] > threshold
    edge = torch.ones_like(fr[..., :1])
    before = torch.cat([edge, fr[..., :-1]], -1)  # the first step counts as held from before the clip
    held_on = torch.cat([fr[..., 1:] & ~on[..., 1:], ~edge], -1)  # the next step holds this note
    return fr & ~on & ~before & ~held_on


def tidy(roll: torch.Tensor) -> torch.Tensor:
    """``roll [..., 2, P, T]`` with its :func:`lone_cells` turned off (-1): the music a sampler delivers."""
    lone = lone_cells(roll)
    if not lone.any():
        return roll
    roll = roll.clone()
    roll[..., FRAME, :, :] = torch.where(lone, -1.0, roll[..., FRAME, :, :])
    return roll


def roll_to_notes(roll: torch.Tensor, threshold: float = 0.0) -> list[Note]:
    """Notes from a roll ``[2, P, T]``, thresholded at ``threshold``.

    A note starts where the frame channel turns on, or where the onset channel
    fires inside a run of frames (a repeated note); it ends where the frame
    channel turns off. An onset with no frame is ignored, and so is a note of
    one step that was never struck (:func:`lone_cells`).
    """
    if roll.dim() != 3 or roll.shape[0] != 2:
        raise ValueError(f"expected a roll of shape [2, P, T], got {tuple(roll.shape)}")
    on = (roll[ONSET] > threshold).cpu()
    fr = (roll[FRAME] > threshold).cpu() & ~lone_cells(roll, threshold).cpu()
    starts = note_starts(on, fr)
    notes = []
    for p, t in starts.nonzero().tolist():
        end = t + 1
        while end < fr.shape[1] and fr[p, end] and not starts[p, end]:
            end += 1
        notes.append(Note(LOW_PITCH + p, t, end - t))
    return sorted(notes)


def render_text(music, *, steps_per_bar: int = 16) -> str:
    """A text picture of a roll or a list of notes, one row per pitch used, high to low.

    ``o`` is an onset, ``-`` a held note, ``.`` silence and ``|`` a bar line.

    >>> print(render_text([Note(67, 0, 2), Note(60, 2, 6)], steps_per_bar=4))
    G4 |o-..|....|
    C4 |..o-|----|
    """
    if isinstance(music, torch.Tensor):
        notes, n_steps = roll_to_notes(music), music.shape[-1]
    else:
        notes = list(music)
        n_steps = max((n.end for n in notes), default=0)
    n_steps = -(-n_steps // steps_per_bar) * steps_per_bar
    rows = {}
    for n in notes:
        row = rows.setdefault(n.pitch, ["."] * n_steps)
        row[n.onset] = "o"
        for t in range(n.onset + 1, min(n.end, n_steps)):
            row[t] = "-"
    lines = []
    for pitch in sorted(rows, reverse=True):
        cells = rows[pitch]
        bars = ["".join(cells[i : i + steps_per_bar]) for i in range(0, n_steps, steps_per_bar)]
        lines.append(f"{pitch_name(pitch):<3}|" + "|".join(bars) + "|")
    return "\n".join(lines) if lines else "(silence)"


# ---------------------------------------------------------------------------------------------
# music21 streams <-> notes


def stream_to_notes(score, *, out_of_range: str = "error") -> list[Note]:
    """Notes of a music21 score, part or stream, quantized to 16th notes.

    Tied notes are merged; grace notes and unpitched notes are skipped; chords give
    one note per pitch. ``out_of_range`` is ``"error"`` (raise), ``"drop"`` (skip
    those notes) or ``"keep"`` (return them; :func:`notes_to_roll` will complain).
    """
    from music21 import stream as m21stream

    parts = list(score.parts) if isinstance(score, m21stream.Score) and score.parts else [score]
    notes = set()
    for part in parts:
        for el in part.stripTies().flatten().notes:
            if el.duration.isGrace or el.quarterLength <= 0:
                continue
            onset = round(float(el.offset) * STEPS_PER_QUARTER)
            end = round(float(el.offset + el.quarterLength) * STEPS_PER_QUARTER)
            for p in getattr(el, "pitches", ()):
                notes.add(Note(int(p.midi), onset, max(1, end - onset)))
    notes = sorted(notes)
    if out_of_range == "drop":
        notes = [n for n in notes if LOW_PITCH <= n.pitch < LOW_PITCH + N_PITCHES]
    elif out_of_range == "error":
        check_range(notes)
    return notes


def split_voices(notes: Iterable[Note]) -> list[list[Note]]:
    """Split notes into monophonic voices, highest voice first.

    Notes that start together are handed, from the highest down, to the free voices
    in the same order (voices never cross at an onset), each to the nearest free voice
    that leaves enough voices below it; so a chorale's soprano, alto, tenor and bass
    come back as they were written.

    >>> [[n.pitch for n in v] for v in split_voices([Note(72, 0, 4), Note(60, 0, 8), Note(71, 4, 4)])]
    [[72, 71], [60]]
    """
    by_onset: dict[int, list[Note]] = {}
    for n in notes:
        by_onset.setdefault(n.onset, []).append(n)
    voices: list[list[Note]] = []
    for onset in sorted(by_onset):
        group = sorted(by_onset[onset], key=lambda n: -n.pitch)
        free = sorted((v for v in voices if v[-1].end <= onset), key=lambda v: -v[-1].pitch)
        for i, n in enumerate(group):
            left = len(group) - i - 1  # notes still to place below this one
            choices = free[: max(0, len(free) - left)] if len(free) > left else []
            if choices:
                best = min(choices, key=lambda v: abs(v[-1].pitch - n.pitch))
                best.append(n)
                free = free[free.index(best) + 1 :]
            else:
                voices.append([n])
    return sorted(voices, key=lambda v: -sum(n.pitch for n in v) / len(v))


MIDDLE_C = 60  # on a grand staff, notes from middle C up go on the treble staff, lower ones on the bass staff


def staff_layers(notes: Iterable[Note]) -> list[list[tuple[int, int, list[int]]]]:
    """The notes of one staff as layers of chords ``(onset, duration, pitches)``, highest layer first.

    Notes struck and released together make one chord; chords that overlap go to different
    layers, found as :func:`split_voices` finds voices (by each chord's top note).

    >>> staff_layers([Note(64, 0, 4), Note(60, 0, 4), Note(67, 0, 8), Note(65, 4, 4)])
    [[(0, 8, [67])], [(0, 4, [60, 64]), (4, 4, [65])]]
    """
    chords: dict[tuple[int, int], list[int]] = {}
    for n in notes:
        chords.setdefault((n.onset, n.duration), []).append(n.pitch)
    tops = [Note(max(pitches), onset, duration) for (onset, duration), pitches in chords.items()]
    return [[(n.onset, n.duration, sorted(chords[n.onset, n.duration])) for n in layer] for layer in split_voices(tops)]


def notes_to_stream(notes: Iterable[Note], *, time_signature: str = "4/4", title: str = "", tempo: int = 90,
                    n_steps: int | None = None, staves: str = "voices"):
    """A music21 ``Score`` of the notes.

    ``staves="voices"``: one part per voice (:func:`split_voices`), what files need: MIDI read back
    merges notes that start together in one track into a chord as long as the shortest, and music21
    does not merge tied notes across a staff's layers. ``"grand"`` (for pictures, see
    :mod:`dittoedu.score`): one staff for a single line (treble or bass clef, whichever suits it),
    else a grand staff, as a piano score or a hymnal prints a chorale: middle C and above on the
    treble staff, the rest on the bass staff, each staff in layers of chords (:func:`staff_layers`).
    ``n_steps`` pads the score with rests to that length.

    >>> chord = [Note(64, 0, 4), Note(60, 0, 4), Note(48, 0, 4)]
    >>> len(notes_to_stream(chord).parts), len(notes_to_stream(chord, staves="grand").parts)
    (3, 2)
    """
    from music21 import chord, clef, layout, metadata, meter, note, stream, tempo as m21tempo

    if staves not in ("grand", "voices"):
        raise ValueError(f"staves must be 'grand' or 'voices', not {staves!r}")
    notes = list(notes)
    steps_per_bar(time_signature)  # validates
    check_range(notes)
    end = max([n.end for n in notes] + [n_steps or 0])

    def suited_clef(line):
        mean = sum(n.pitch for n in line) / len(line) if line else MIDDLE_C + 12
        return clef.TrebleClef() if mean >= MIDDLE_C else clef.BassClef()

    voices = split_voices(notes)
    if staves == "voices":
        groups = [(v, suited_clef(v)) for v in voices or [[]]]
    elif len(voices) <= 1:
        groups = [(notes, suited_clef(notes))]
    else:
        groups = [([n for n in notes if n.pitch >= MIDDLE_C], clef.TrebleClef()),
                  ([n for n in notes if n.pitch < MIDDLE_C], clef.BassClef())]
    score = stream.Score()
    score.metadata = metadata.Metadata(title=title or "dittoedu")
    parts = []
    for k, (staff, staff_clef) in enumerate(groups):
        part = stream.PartStaff(id=f"staff{k + 1}") if staves == "grand" else stream.Part(id=f"voice{k + 1}")
        if staves == "voices":
            part.partName = f"Voice {k + 1}"
        part.insert(0, meter.TimeSignature(time_signature))
        part.insert(0, staff_clef)
        if k == 0:
            part.insert(0, m21tempo.MetronomeMark(number=tempo))
        for i, layer in enumerate(staff_layers(staff) or [[]]):
            voice, t = stream.Voice(id=str(i + 1)), 0  # t: where this layer's music has got to, in steps
            for onset, duration, pitches in layer + [(end, 0, [])]:
                if onset > t:
                    rest = note.Rest(quarterLength=(onset - t) / STEPS_PER_QUARTER)
                    rest.style.hideObjectOnPrint = staves == "grand" and i > 0  # a staff's other layers: no rests drawn
                    voice.insert(t / STEPS_PER_QUARTER, rest)
                if pitches:
                    sound = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(pitches)
                    for p in sound.pitches:
                        if p.accidental is not None and p.accidental.alter == 0:
                            p.accidental = None  # music21 marks MIDI naturals explicitly: let notation decide
                    sound.quarterLength = duration / STEPS_PER_QUARTER
                    voice.insert(onset / STEPS_PER_QUARTER, sound)
                t = max(t, onset + duration)
            part.insert(0, voice)
        parts.append(part)
        score.insert(0, part)
    if staves == "grand" and len(parts) == 2:
        score.insert(0, layout.StaffGroup(parts, symbol="brace"))
    return score.makeNotation()


# ---------------------------------------------------------------------------------------------
# files and text in


_MIDI_SUFFIXES = {".mid", ".midi"}
_XML_SUFFIXES = {".musicxml", ".xml", ".mxl"}
_ABC_SUFFIXES = {".abc"}
_TEXT_SUFFIXES = {".txt", ".tny"}


def _looks_like_abc(text: str) -> bool:
    lines = [ln.strip() for ln in text.strip().splitlines()]
    return any(ln.startswith("K:") for ln in lines) or (bool(lines) and lines[0].startswith("X:"))


def _check_file_bytes(path: Path, data: bytes) -> None:
    """Cheap sanity checks that catch most broken files before music21 sees them."""
    suffix = path.suffix.lower()
    if not data.strip():
        raise MusicInputError(f"{path.name} is empty")
    if suffix in _MIDI_SUFFIXES:
        if not data.startswith(b"MThd") or len(data) < 14:
            raise MusicInputError(f"{path.name} is not a MIDI file (it does not start with a MIDI header)")
        length, fmt, ntracks = struct.unpack(">IHH", data[4:12])
        if length < 6 or fmt > 2 or ntracks == 0 or b"MTrk" not in data[14:]:
            raise MusicInputError(f"{path.name} is a damaged MIDI file (its header or tracks are broken)")
    elif suffix == ".mxl":
        if not zipfile.is_zipfile(path):
            raise MusicInputError(f"{path.name} is not a compressed MusicXML (.mxl) file")
    elif suffix in {".musicxml", ".xml"}:
        head = data[:2000].lstrip(b"\xef\xbb\xbf").lstrip()
        if not head.startswith(b"<") or (b"score-partwise" not in data and b"score-timewise" not in data):
            raise MusicInputError(f"{path.name} is not a MusicXML file (no <score-partwise> inside)")


def load(source, *, what: str | None = None, out_of_range: str = "error") -> Piece:
    """Read music from a file (MIDI, MusicXML, ABC, tinyNotation) or from text.

    Text is ABC if it has a ``K:`` line, otherwise tinyNotation (``"4/4 c4 d e f g1"``;
    the ``tinyNotation:`` prefix is optional). Problems raise :class:`MusicInputError`
    with a message in plain words; nothing is written anywhere. ``out_of_range="keep"``
    returns notes outside the roll's range instead of refusing them (e.g. to transpose them).

    >>> piece = load("3/4 c4 e g c'2.")
    >>> piece.time_signature, [tuple(n) for n in piece.notes[:2]]
    ('3/4', [(60, 0, 4), (64, 4, 4)])
    """
    from music21 import converter

    text, path = None, None
    known = _MIDI_SUFFIXES | _XML_SUFFIXES | _ABC_SUFFIXES | _TEXT_SUFFIXES
    if isinstance(source, Path) or (
        isinstance(source, str)
        and "\n" not in source
        and (Path(source).suffix.lower() in known or (os.sep in source and not any(c.isspace() for c in source)))
    ):
        path = Path(source)
        if not path.exists():
            raise MusicInputError(f"there is no file {str(path)!r}; check the name and the folder")
        if path.is_dir():
            raise MusicInputError(f"{str(path)!r} is a folder, not a music file")
        data = path.read_bytes()
        _check_file_bytes(path, data)
        if path.suffix.lower() in _ABC_SUFFIXES | _TEXT_SUFFIXES:
            text = data.decode("utf-8", errors="replace")
    else:
        text = str(source)
    what = what or (path.name if path else "the text you gave")

    try:
        if text is not None:
            if not text.strip():
                raise MusicInputError(f"{what} is empty: write some notes, e.g. '4/4 c4 d e f'")
            if _looks_like_abc(text):
                if not any(ln.strip().startswith("L:") for ln in text.splitlines()):
                    # ABC's default note length is an eighth; music21 insists on being told
                    text = "\n".join("L:1/8\n" + ln if ln.strip().startswith("K:") else ln
                                      for ln in text.splitlines())
                score = converter.parse(text, format="abc")
            else:
                body = text.strip()
                if body.lower().startswith("tinynotation:"):
                    body = body.split(":", 1)[1]
                score = converter.parse("tinyNotation: " + body.strip())
        else:
            score = converter.parse(str(path), forceSource=True)
    except MusicInputError:
        raise
    except Exception as exc:  # music21 raises many kinds of errors for broken input
        kind = "ABC" if text is not None and _looks_like_abc(text) else ("tinyNotation" if text is not None else path.suffix)
        raise MusicInputError(f"could not read {what} as {kind} music: {exc}".rstrip()) from exc

    notes = stream_to_notes(score, out_of_range="keep")
    if not notes:
        hint = ""
        if text is not None:
            hint = (" (ABC needs a K: line, then notes such as 'C D E F')" if _looks_like_abc(text)
                    else " (tinyNotation looks like '4/4 c4 d e f': pitch letters, then durations)")
        raise MusicInputError(f"{what} has no notes in it{hint}")
    if out_of_range == "error":
        check_range(notes, what=what)
    sigs = score.flatten().getElementsByClass("TimeSignature")
    ts = sigs[0].ratioString if sigs else "4/4"
    title = (score.metadata.title if score.metadata and score.metadata.title else "") or (path.stem if path else "")
    return Piece(notes=notes, time_signature=ts, title=title, source=str(path) if path else "text")


def fitting_shift(lo: int, hi: int) -> int | None:
    """The smallest transposition that brings pitches ``lo..hi`` into the roll: whole octaves if possible.

    >>> fitting_shift(60, 72), fitting_shift(24, 40), fitting_shift(80, 90), fitting_shift(20, 90)
    (0, 12, -12, None)
    """
    top = LOW_PITCH + N_PITCHES - 1
    if hi - lo > top - LOW_PITCH:
        return None
    fits = lambda k: LOW_PITCH <= lo + k and hi + k <= top  # noqa: E731
    for k in sorted(range(-48, 49, 12), key=abs):
        if fits(k):
            return k
    return LOW_PITCH - lo if lo < LOW_PITCH else top - hi


def fit_range(piece: Piece) -> Piece:
    """Transpose a piece by whole octaves (or, failing that, semitones) so that it fits the roll.

    The returned piece says how far it moved in ``transposed_by``; a piece wider than
    the roll raises :class:`MusicInputError`.

    >>> fit_range(Piece([Note(96, 0, 4)])).transposed_by
    -24
    """
    lo, hi = min(n.pitch for n in piece.notes), max(n.pitch for n in piece.notes)
    shift = fitting_shift(lo, hi)
    if shift is None:
        check_range(piece.notes, what=piece.title or "the music")
    notes = [Note(n.pitch + shift, n.onset, n.duration) for n in piece.notes]
    return Piece(notes, piece.time_signature, piece.title, piece.source, piece.transposed_by + shift)


# ---------------------------------------------------------------------------------------------
# files out


def write_musicxml(notes: Iterable[Note], path, **kwargs) -> Path:
    """Write notes as MusicXML (keyword arguments go to :func:`notes_to_stream`)."""
    score = notes_to_stream(notes, **kwargs)  # build first: errors before anything is written
    return Path(score.write("musicxml", fp=str(path)))


def write_midi(notes: Iterable[Note], path, **kwargs) -> Path:
    """Write notes as a standard MIDI file, a track per voice (keyword arguments go to :func:`notes_to_stream`)."""
    score = notes_to_stream(notes, **kwargs)
    return Path(score.write("midi", fp=str(path)))
