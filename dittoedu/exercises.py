"""Checks for the exercises in the notebooks: a student's answer in, feedback in plain words out.

Every ``check_*`` function takes what the student wrote and returns a :class:`Feedback`:
``ok`` says whether the answer is right, ``message`` says what is right, or what is wrong
and a hint towards fixing it. A check never raises on a wrong, half-finished or missing
answer, so a notebook that is run top to bottom before anyone has answered still runs.

>>> check_frequency(220.0, note="A3")
Right: A3 is MIDI pitch 57, and f = 440 * 2**((57 - 69) / 12) = 220.00 Hz. ...
>>> check_frequency(440.0, note="A3").ok
False

The exercises (notebook 01, "Piano roll, score and sound"):

* :func:`check_ode_to_joy` -- write the first bar of *Ode to Joy* in tinyNotation
  (built on :func:`check_melody`, which a teacher can point at any other tune);
* :func:`check_repeated_cs` -- build a piano roll by hand: two C4 quarter notes;
* :func:`check_frequency` -- the frequency of a pitch, ``f = 440 * 2 ** ((p - 69) / 12)``;
* :func:`check_highest_note` -- name the highest note heard in a spectrogram.

Solutions are in ``lessons/01_roll_score_sound.md``, not here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .audio import pitch_to_hz
from .roll import FRAME, LOW_PITCH, N_PITCHES, ONSET, MusicInputError, Note, load, pitch_name, roll_to_notes

# Ode to Joy (Beethoven, Symphony No. 9), the first four bars in C major, as in data/examples/ode_to_joy.abc
ODE_TO_JOY = "4/4 e4 e f g | g f e d | c c d e | e4. d8 d2"

_DURATION_NAMES = {1: "16th note", 2: "8th note", 3: "dotted 8th note", 4: "quarter note", 6: "dotted quarter note",
                   8: "half note", 12: "dotted half note", 16: "whole note"}
_TINY_HELP = ("in tinyNotation a note is a letter and a duration, e.g. 'e4' (a quarter-note E4); "
              "'4' is a quarter, '8' an eighth, '2' a half note; a note without a number keeps the last duration")


@dataclass(frozen=True)
class Feedback:
    """The verdict on an answer: ``ok`` (right or not) and a ``message`` for the student.

    In a notebook the message is what a check cell shows.

    >>> Feedback(True, "Right!")
    Right!
    """

    ok: bool
    message: str

    def __repr__(self) -> str:
        return self.message

    __str__ = __repr__


def _right(message: str) -> Feedback:
    return Feedback(True, "Right: " + message)


def _not_yet(message: str) -> Feedback:
    return Feedback(False, "Not yet: " + message)


def _duration_name(steps: int) -> str:
    """Plain name of a duration in steps (16th notes).

    >>> _duration_name(4), _duration_name(5)
    ('quarter note', '5 sixteenths')
    """
    return _DURATION_NAMES.get(steps, f"{steps} sixteenths")


def _a(word: str) -> str:
    """``word`` with its indefinite article.

    >>> _a("8th note"), _a("quarter note"), _a("int")
    ('an 8th note', 'a quarter note', 'an int')
    """
    return ("an " if word[:1].lower() in "aeio8" else "a ") + word


def _names(pitches) -> str:
    return " ".join(pitch_name(p) for p in pitches)


def parse_pitch(text) -> int | None:
    """MIDI pitch of a note name such as ``'A4'``, ``'F#5'``, ``'Bb3'`` (or a MIDI number); None if unreadable.

    A name without an octave (``'A'``) is unreadable here: :func:`check_highest_note` asks for the octave.

    >>> parse_pitch("A4"), parse_pitch("c4"), parse_pitch("F#5"), parse_pitch("Bb3"), parse_pitch(69)
    (69, 60, 78, 58, 69)
    >>> parse_pitch("A") is None, parse_pitch("H4") is None
    (True, True)
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int) or (isinstance(text, float) and text.is_integer()):
        return int(text)
    if not isinstance(text, str):
        return None
    match = re.fullmatch(r"\s*([A-Ga-g])([#♯b♭-]*)(\d)\s*", text)
    if not match:
        return None
    letter, accidentals, octave = match.groups()
    alter = sum(1 if a in "#♯" else -1 for a in accidentals)
    return 12 * (int(octave) + 1) + {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[letter.upper()] + alter


def _not_answered(answer) -> bool:
    return (answer is None or answer is Ellipsis
            or (isinstance(answer, str) and (not answer.strip() or "..." in answer or answer.strip() == "?")))


# ---------------------------------------------------------------------------------------------
# exercise 1: a melody in tinyNotation


def check_melody(text, target: str = ODE_TO_JOY, *, name: str = "Ode to Joy", min_notes: int = 4) -> Feedback:
    """Compare a melody written as tinyNotation (or ABC) text with ``target``, note by note.

    The answer may stop early, but must have at least ``min_notes`` notes (the first bar
    of the target, by default); every note it has is checked, pitch first, then rhythm.

    Parameters
    ----------
    text : str
        The student's melody, e.g. ``"4/4 e4 e f g"``.
    target : str
        The right melody, in any text :func:`dittoedu.roll.load` reads.
    name : str
        The tune's name, for the messages.
    min_notes : int
        How many notes the answer needs at least.

    Returns
    -------
    Feedback

    >>> check_melody("4/4 c4 d e", "4/4 c4 d e f", name="a scale", min_notes=3).ok
    True
    >>> check_melody("4/4 c4 d f", "4/4 c4 d e f", name="a scale", min_notes=3)
    Not yet: note 3 should be E4, but it is F4. ...
    """
    if _not_answered(text):
        return _not_yet("write your answer in place of the '...', e.g. \"4/4 c4 d e f\" for C D E F "
                        "in quarter notes.")
    if not isinstance(text, str):
        return _not_yet(f"write the melody as text in quotes, like \"4/4 c4 d e f\"; "
                        f"you gave {_a(type(text).__name__)}.")
    try:
        yours = load(text, out_of_range="keep")
    except MusicInputError as exc:
        hint = "" if "tinyNotation looks like" in str(exc) else f" Hint: {_TINY_HELP}."
        return _not_yet(f"dittoedu could not read your text as music: {exc}.{hint}")
    by_time = lambda notes: sorted(notes, key=lambda n: (n.onset, -n.pitch))  # noqa: E731
    want, got = by_time(load(target).notes), by_time(yours.notes)
    onsets = [n.onset for n in got]
    if len(set(onsets)) < len(onsets):
        return _not_yet("some of your notes start together (a chord); a melody plays one note at a time: "
                        "write the notes one after the other, separated by spaces.")
    meter = load(target).time_signature
    if yours.time_signature != meter:
        return _not_yet(f"{name} is in {meter} time, but your text says {yours.time_signature}; "
                        f"start the text with '{meter}'.")
    if len(got) < min_notes:
        return _not_yet(f"you wrote {len(got)} note{'s' * (len(got) != 1)} ({_names(n.pitch for n in got)}); "
                        f"the first bar of {name} has {min_notes}. Write at least the whole first bar.")

    n = min(len(got), len(want))
    # pitches first: a melody that is right but in the wrong octave or key gets its own hint
    diffs = {g.pitch - w.pitch for g, w in zip(got[:n], want[:n])}
    if len(diffs) == 1 and 0 not in diffs:
        shift = diffs.pop()
        if shift % 12 == 0:
            octaves = abs(shift) // 12
            return _not_yet(
                f"the right notes, but {octaves} octave{'s' * (octaves > 1)} too {'high' if shift > 0 else 'low'} "
                f"(you start on {pitch_name(got[0].pitch)}, {name} starts on {pitch_name(want[0].pitch)}). "
                "In tinyNotation lowercase 'c' is middle C (C4), uppercase 'C' is C3 and \"c'\" is C5.")
        return _not_yet(
            f"the shape of the tune is right, but it starts on {pitch_name(got[0].pitch)} instead of "
            f"{pitch_name(want[0].pitch)}: every note is {abs(shift)} semitone{'s' * (abs(shift) > 1)} too "
            f"{'high' if shift > 0 else 'low'}. Start on {pitch_name(want[0].pitch)[:-1].lower()}.")
    for i, (g, w) in enumerate(zip(got[:n], want[:n])):
        if g.pitch != w.pitch:
            hint = ""
            if abs(g.pitch - w.pitch) == 1 and any(pitch_name(q)[1] in "#b" for q in (g.pitch, w.pitch)):
                hint = " One semitone off: check the sharp ('#') or flat ('-')."
            elif g.pitch % 12 == w.pitch % 12:
                hint = " Right letter, wrong octave: lowercase letters are octave 4, add ' to go up an octave."
            so_far = f" (The first {i} note{'s are' if i != 1 else ' is'} right.)" if i else ""
            return _not_yet(f"note {i + 1} should be {pitch_name(w.pitch)}, but it is {pitch_name(g.pitch)}."
                            f"{hint}{so_far}")
    # then rhythm
    for i, (g, w) in enumerate(zip(got[:n], want[:n])):
        if g.onset != w.onset:
            if i > 0 and g.onset > got[i - 1].end:
                return _not_yet(f"there is a rest before note {i + 1} ({pitch_name(g.pitch)}); {name} has none there. "
                                "A rest is written 'r4': take it out.")
            return _not_yet(f"the pitches are right, but note {i + 1} starts on step {g.onset} instead of {w.onset}. "
                            f"Check the lengths of the notes before it: {_TINY_HELP}.")
        if g.duration != w.duration:
            return _not_yet(f"the pitches are right, but note {i + 1} ({pitch_name(g.pitch)}) is "
                            f"{_a(_duration_name(g.duration))} and should be {_a(_duration_name(w.duration))}. "
                            f"Hint: {_TINY_HELP}.")
    if len(got) > len(want):
        extra = len(got) - len(want)
        return _right(f"all {len(want)} notes of {name} are there; the {extra} note{'s' * (extra > 1)} after them "
                      f"{'are' if extra > 1 else 'is'} your own continuation, which this check leaves alone.")
    if len(got) == len(want):
        return _right(f"that is {name}, all {len(want)} notes, pitches and rhythm.")
    return _right(f"{_names(n.pitch for n in got)} is how {name} begins, pitches and rhythm. Bonus: carry on "
                  f"to the end ({len(want)} notes in all) and run this check again.")


def check_ode_to_joy(text) -> Feedback:
    """Check the first bar (or more) of *Ode to Joy* in C major, written in tinyNotation.

    >>> check_ode_to_joy("4/4 ...").ok
    False
    >>> check_ode_to_joy("4/4 E4 E F G")
    Not yet: the right notes, but 1 octave too low...
    """
    return check_melody(text, ODE_TO_JOY, name="Ode to Joy", min_notes=4)


# ---------------------------------------------------------------------------------------------
# exercise 2: a roll by hand


def check_repeated_cs(x) -> Feedback:
    """Check a hand-made roll ``[2, 48, 8]`` that should hold two C4 quarter notes, one after the other.

    Parameters
    ----------
    x : Tensor (or array) [2, 48, 8]
        Channel 0 onsets, channel 1 frames; -1 silence, +1 on.

    >>> import torch
    >>> x = -torch.ones(2, 48, 8)
    >>> x[FRAME, 24, :] = 1
    >>> x[ONSET, 24, 0] = 1
    >>> check_repeated_cs(x)
    Not yet: this is ONE C4 half note...
    >>> x[ONSET, 24, 4] = 1
    >>> check_repeated_cs(x).ok
    True
    """
    import torch

    row = 60 - LOW_PITCH
    want = [Note(60, 0, 4), Note(60, 4, 4)]
    if x is None or x is Ellipsis:
        return _not_yet("make a roll first, e.g. x = -torch.ones(2, 48, 8), then switch cells on.")
    try:
        x = torch.as_tensor(x, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        return _not_yet(f"expected a tensor of shape [2, 48, 8], got {_a(type(x).__name__)}.")
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if tuple(x.shape) != (2, N_PITCHES, 8):
        if x.dim() == 3 and x.shape[:2] == (2, N_PITCHES):
            return _not_yet(f"your roll has {x.shape[-1]} steps; two quarter notes take 8 steps "
                            "(one step is a 16th note, a quarter note is 4 steps). Use shape [2, 48, 8].")
        return _not_yet(f"a roll has shape [2, 48, T] = [channel (onset, frame), pitch row, step]; yours has shape "
                        f"{list(x.shape)}. Start from x = -torch.ones(2, 48, 8).")
    if not bool(((x == 1) | (x == -1)).all()):
        if bool(((x == 0) | (x == 1)).all()):
            return _not_yet("your roll uses 0 for silence, but dittoedu's rolls use -1 for off and +1 for on "
                            "(a centred signal for the diffusion model). Start from -torch.ones(2, 48, 8).")
        return _not_yet("every cell of a roll should be -1 (off) or +1 (on); some of yours are neither.")
    onset, frame = x[ONSET] > 0, x[FRAME] > 0
    if not frame.any():
        if onset.any():
            return _not_yet("you set onsets but no frames: the frame channel (x[FRAME], channel 1) says when a note "
                            "sounds, and a note needs both. Switch on the frames of C4 as well.")
        return _not_yet("the roll is silent. C4 is MIDI pitch 60, and row r is pitch LOW_PITCH + r: which row is "
                        "that? Set its frame cells (x[FRAME, row, ...]) to 1 where the notes sound and its onset "
                        "cells (x[ONSET, row, ...]) where they start.")
    if int(frame.sum()) <= 2 < int(onset.sum()):
        return _not_yet("the channels look swapped: channel 0 (ONSET) marks only the steps where a note starts, "
                        "channel 1 (FRAME) every step where it sounds.")
    stray = (onset & ~frame).nonzero().tolist()
    if stray:
        p, t = stray[0]
        return _not_yet(f"there is an onset at {pitch_name(LOW_PITCH + p)}, step {t}, where the frame is off; "
                        "an onset with no frame is ignored. Switch on the frame there too, or remove the onset.")
    notes = roll_to_notes(x)
    if notes == want:
        return _right("two C4 quarter notes. One C4 half note has the same frame channel; "
                      "only the second onset tells them apart.")
    others = [n for n in notes if n.pitch != 60]
    if others and all(n.pitch != 60 for n in notes):
        p = others[0].pitch
        return _not_yet(f"your notes are on row {p - LOW_PITCH}, which is {pitch_name(p)} (row r is MIDI pitch "
                        f"LOW_PITCH + r = 36 + r). C4 is MIDI 60: row {row}.")
    if others:
        return _not_yet(f"besides C4 there are other notes ({_names(sorted({n.pitch for n in others}))}); "
                        "only C4 should sound.")
    if notes == [Note(60, 0, 8)]:
        return _not_yet("this is ONE C4 half note: the frame channel is right, but a second note needs its own "
                        "onset. Which step does the second quarter note start on?")
    starts = [n.onset for n in notes]
    if len(notes) > 2:
        return _not_yet(f"there are {len(notes)} C4 notes (starting on steps {starts}); two quarter notes "
                        "need exactly two onsets, on steps 0 and 4.")
    if len(notes) == 1:
        return _not_yet(f"there is one C4 note, {notes[0].duration} steps long; you need two notes, each 4 steps "
                        "(a quarter note), one after the other, over all 8 steps.")
    return _not_yet(f"two C4 notes, but they start on steps {starts} and last {[n.duration for n in notes]} steps; "
                    "two quarter notes start on steps 0 and 4 and last 4 steps each.")


# ---------------------------------------------------------------------------------------------
# exercise 3: pitch and frequency


def check_frequency(answer, note="A3") -> Feedback:
    """Check a frequency in Hz for ``note`` (a name like ``'A3'`` or a MIDI number), within 0.5 Hz.

    Equal temperament with A4 = 440 Hz: ``f = 440 * 2 ** ((p - 69) / 12)``.

    >>> check_frequency(261.63, note="C4").ok
    True
    >>> check_frequency(57, note="A3")
    Not yet: 57 is A3's MIDI number, not its frequency. ...
    """
    p = parse_pitch(note)
    if p is None:
        raise ValueError(f"note={note!r} is not a note name like 'A3' or a MIDI number")  # a teacher's mistake
    name, f = pitch_name(p), pitch_to_hz(p)
    formula = f"f = 440 * 2**((p - 69) / 12) with p = {p}"
    if _not_answered(answer) or (isinstance(answer, (int, float)) and not isinstance(answer, bool) and answer == 0):
        return _not_yet(f"compute the frequency of {name} and put it in place of the 0. Hint: {formula}.")
    if hasattr(answer, "item"):  # a tensor or numpy number
        answer = answer.item()
    if isinstance(answer, str):
        try:
            answer = float(answer.lower().replace("hz", "").strip())
        except ValueError:
            return _not_yet(f"give the frequency as a number of Hz, like 123.4, not the text {answer!r}.")
    if not isinstance(answer, (int, float)) or isinstance(answer, bool) or not math.isfinite(answer):
        return _not_yet(f"give the frequency as a number of Hz, like 123.4; you gave {answer!r}.")
    if abs(answer - f) <= 0.5:
        return _right(f"{name} is MIDI pitch {p}, and f = 440 * 2**(({p} - 69) / 12) = {f:.2f} Hz. "
                      "Each octave down halves the frequency; each semitone is a factor 2**(1/12).")
    if answer <= 0:
        return _not_yet(f"a frequency is a positive number of vibrations per second. Hint: {formula}.")
    if answer == p:
        return _not_yet(f"{p} is {name}'s MIDI number, not its frequency. Put it into {formula.split(' with')[0]}.")
    if p != 69 and abs(answer - 440 * 2.0 ** ((69 - p) / 12)) <= 0.5:
        return _not_yet("the sign is flipped: it is (p - 69), not (69 - p), so notes below A4 come out "
                        "below 440 Hz.")
    octaves = math.log2(answer / f)
    if abs(octaves - round(octaves)) < 0.003 and 0 < abs(round(octaves)) <= 4:
        k = round(octaves)
        return _not_yet(f"{answer:g} Hz is {pitch_name(p + 12 * k)}, {abs(k)} octave{'s' * (abs(k) > 1)} too "
                        f"{'high' if k > 0 else 'low'}. Each octave doubles the frequency; check your p: {name} "
                        f"is MIDI {p} (A4 = 69, C4 = 60).")
    semis = 12 * octaves
    if abs(semis - round(semis)) < 0.05 and abs(round(semis)) <= 3:
        k = round(semis)
        return _not_yet(f"{answer:g} Hz is {pitch_name(p + k)}, {abs(k)} semitone{'s' * (abs(k) > 1)} away "
                        f"from {name}. Check p: {name} is MIDI {p} (A4 = 69, and each letter step is 1 or 2 "
                        "semitones).")
    if abs(answer - 440 * 2.0 ** (p - 69)) < 0.01 * max(answer, 1e-9):
        return _not_yet(f"it looks as if the division by 12 was left out: {formula}. "
                        "12 semitones make one octave, a doubling.")
    where = f"{abs(69 - p)} semitones {'below' if p < 69 else 'above'} A4 (440 Hz)" if p != 69 else "A4 itself"
    return _not_yet(f"{answer:g} Hz is not {name}. Hint: {formula}; {name} is {where}.")


# ---------------------------------------------------------------------------------------------
# exercise 4: reading a spectrogram


def check_highest_note(answer, notes) -> Feedback:
    """Check the name (e.g. ``'A4'``) or MIDI number of the highest note among ``notes``.

    Meant for a spectrogram question: the synthesizer plays every note with harmonics at
    2, 3 and 4 times its frequency, so the highest line is not the highest note.

    Parameters
    ----------
    answer : str or int
        A note name with its octave, or a MIDI number.
    notes : list of Note, or a Piece
        The music the spectrogram shows.

    >>> melody = [Note(60, 0, 4), Note(69, 4, 4), Note(67, 8, 4)]
    >>> check_highest_note("A4", melody).ok
    True
    >>> check_highest_note("A5", melody)
    Not yet: A5 is the 2nd harmonic ...
    """
    notes = list(getattr(notes, "notes", notes))
    if not notes:
        raise ValueError("check_highest_note needs the notes the spectrogram shows")  # a teacher's mistake
    top = max(n.pitch for n in notes)
    played = sorted({n.pitch for n in notes})
    if _not_answered(answer):
        return _not_yet("write the note's name with its octave in place of the '...', like 'C5', or its MIDI number.")
    p = parse_pitch(answer)
    if p is None:
        letter = re.fullmatch(r"\s*([A-Ga-g][#♯b♭-]*)\s*", answer) if isinstance(answer, str) else None
        if letter:
            same = parse_pitch(letter.group(1) + "4") % 12 == top % 12
            example = letter.group(1).upper() + "4"
            return _not_yet(("right letter! Now add" if same else "add") + f" the octave, like '{example}' "
                            "(octave 4 runs from middle C, C4, up to B4).")
        return _not_yet(f"write a note name with its octave, like 'F#4', or a MIDI number like 66; "
                        f"{answer!r} is neither.")
    if p == top:
        return _right(f"{pitch_name(top)} (MIDI {top}, {pitch_to_hz(top):.0f} Hz) is the highest fundamental. "
                      "The fainter lines above it are its harmonics, at 2, 3 and 4 times that frequency.")
    if p in played:
        return _not_yet(f"{pitch_name(p)} is in the music, but it is not the highest note: look for a stack "
                        "whose lowest line sits higher.")
    for h, semitones in ((2, 12), (3, 19), (4, 24)):
        if p - semitones in played:
            nth = {2: "2nd", 3: "3rd", 4: "4th"}[h]
            return _not_yet(f"{pitch_name(p)} is the {nth} harmonic of {pitch_name(p - semitones)}, not a note "
                            "of its own: the synthesizer plays every note with copies at 2, 3 and 4 times its "
                            "frequency. A note's fundamental is the LOWEST line of its "
                            "stack; which stack's lowest line is highest?")
    if (top - p) % 12 == 0:
        return _not_yet(f"right letter, wrong octave: {pitch_name(p)} is not played. f = 440 * 2**((p - 69) / 12) "
                        "turns the Hz you read off into p.")
    return _not_yet(f"{pitch_name(p)} ({pitch_to_hz(p):.0f} Hz) is not played in this music. Read the Hz of the "
                    "lowest line of the highest stack, then find its name with f = 440 * 2**((p - 69) / 12).")
