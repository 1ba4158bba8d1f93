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

The exercises of lessons 02-07 (one section each, at the end of this module):

* 02, diffusion: :func:`check_karras_sigmas` (EDM eq. 5), :func:`check_scalings` (eq. 7),
  :func:`check_euler_step` (eq. 3, a DDIM step);
* 03, intensity: :func:`check_sine_db`, :func:`check_swell_curve`, :func:`check_mse_db2`,
  :func:`check_shell_projection`;
* 04, melody: :func:`check_frere_jacques`, :func:`check_accuracy_fn`, :func:`check_hinge_on`;
* 05, chords: :func:`check_chord_tones`, :func:`check_roman_progression`, :func:`check_chord_tone_ratio`;
* 06, form: :func:`check_cosine`, :func:`check_form_reading`, :func:`check_form_ssm`;
* 07, inpainting: :func:`check_keep_mask`, :func:`check_f1`, :func:`check_loop_partner`.

A check of a student's *function* calls it on a small example and compares the result with the
reference formula and with the typical wrong formulas. Solutions are in ``lessons/NN_*.md``, not here.
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


# =============================================================================================
# Lessons 02-07. Shared helpers first: turning an answer into numbers or calling a student's
# function without letting a mistake stop the notebook.


def _numbers(answer, what: str):
    """``(array, None)`` for a number sequence (list, tuple, tensor, array), else ``(None, Feedback)``."""
    import numpy as np

    if _not_answered(answer):
        return None, _not_yet(f"write {what} in place of the '...' (or the None).")
    if hasattr(answer, "detach"):
        answer = answer.detach().cpu().numpy()
    try:
        values = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return None, _not_yet(f"{what} should be numbers (a list, an array or a tensor); "
                              f"you gave {_a(type(answer).__name__)}.")
    if not np.isfinite(values).all():
        return None, _not_yet(f"{what} has a NaN or an infinity in it; check for a division by zero.")
    return values, None


def _number(answer, what: str):
    """``(float, None)`` for one number (also a 1-element tensor or ``"3.5 dB"``), else ``(None, Feedback)``."""
    if _not_answered(answer):
        return None, _not_yet(f"write {what} in place of the '...'.")
    if hasattr(answer, "detach"):
        answer = answer.detach().cpu()
        if answer.numel() != 1:
            return None, _not_yet(f"{what} is one number, but you gave {answer.numel()} of them.")
        answer = float(answer.reshape(()))
    if isinstance(answer, str):
        match = re.match(r"\s*([-+]?\d*\.?\d+(?:e[-+]?\d+)?)", answer)
        if not match:
            return None, _not_yet(f"{what} should be a number; {answer!r} is not one.")
        answer = float(match.group(1))
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return None, _not_yet(f"{what} should be a number; you gave {_a(type(answer).__name__)}.")
    if not math.isfinite(value):
        return None, _not_yet(f"{what} came out as {value}; check for a division by zero.")
    return value, None


def _two_numbers(answer, what: str):
    """``(values [2], None)`` for an answer of two numbers, or ``(None, Feedback)`` saying what is wrong.

    ``what`` names the pair, e.g. ``"(N for best-of-N, steps for guidance)"``.
    """
    if isinstance(answer, (tuple, list)) and any(_not_answered(a) for a in answer):
        return None, _not_yet(f"write both numbers in place of the '...': {what}.")
    values, problem = _numbers(answer, f"your two numbers, {what}")
    if problem:
        return None, problem
    values = values.ravel()
    if values.size != 2:
        return None, _not_yet(f"give two numbers, {what}; you gave {values.size}.")
    return values, None


def _call(fn, *args, what: str):
    """``(result, None)`` from ``fn(*args)``, or ``(None, Feedback)`` if it is not a function or it raises."""
    if not callable(fn):
        return None, _not_yet(f"{what} should be a function (a def); you gave {_a(type(fn).__name__)}.")
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, _not_yet(f"write the body of {what} in place of the '...' / raise NotImplementedError.")
    except Exception as exc:  # the student's code: report it, never stop the notebook
        return None, _not_yet(f"{what} raised {type(exc).__name__}: {exc}. Read the line it points at.")


def _close(a, b, tol: float = 1e-4) -> bool:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=tol, atol=tol))


def _to_numpy(x):
    import numpy as np

    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# lesson 02: diffusion from scratch


def check_karras_sigmas(answer, n: int = 8) -> Feedback:
    """Check ``n`` noise levels computed by hand with the Karras et al. (2022) schedule (their eq. (5)).

    ``sigma_i = (sigma_max^(1/rho) + i / (n - 1) * (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``, ``i = 0..n-1``,
    with ``sigma_max = 80``, ``sigma_min = 0.002``, ``rho = 7``; the final 0 that
    :func:`dittoedu.diffusion.get_sigmas_karras` appends may be there or not.

    >>> from dittoedu.diffusion import get_sigmas_karras
    >>> check_karras_sigmas(get_sigmas_karras(8)).ok
    True
    >>> check_karras_sigmas(get_sigmas_karras(8).flip(0))
    Not yet: your levels go UP...
    """
    import numpy as np

    from .diffusion import RHO, SIGMA_MAX, SIGMA_MIN, get_sigmas_karras

    values, problem = _numbers(answer, "your noise levels")
    if problem:
        return problem
    values = values.ravel()
    want = get_sigmas_karras(n).double().numpy()[:-1]
    if len(values) == n + 1 and abs(values[-1]) < 1e-9:
        values = values[:-1]
    elif len(values) == n + 1 and abs(values[0]) < 1e-9:  # the same, backwards
        values = values[1:]
    if len(values) != n:
        return _not_yet(f"you gave {len(values)} levels; the schedule asks for n = {n} of them (i = 0 to {n - 1}), "
                        "from σ_max down to σ_min (a final 0 may follow).")
    if _close(values, want, 1e-3):
        return _right(f"{n} levels from σ_max = {SIGMA_MAX:g} down to σ_min = {SIGMA_MIN:g}, spaced evenly in "
                      f"σ^(1/ρ) with ρ = {RHO:g}: {', '.join(f'{v:.3g}' for v in values)}. Most of the steps are "
                      "spent at small σ, where the details of the music are decided.")
    if _close(values[::-1], want, 1e-3):
        return _not_yet("your levels go UP: sampling starts from pure noise at σ_max = 80 and walks DOWN to "
                        "σ_min = 0.002. Use i / (n - 1) going from 0 to 1, and start from σ_max^(1/ρ).")
    linear = np.linspace(SIGMA_MAX, SIGMA_MIN, n)
    if _close(values, linear, 1e-3):
        return _not_yet("your levels are evenly spaced in σ itself (ρ = 1): then nearly every step is spent at "
                        "large σ. Interpolate between σ_max^(1/ρ) and σ_min^(1/ρ), then raise the result to the power ρ.")
    roots = SIGMA_MAX ** (1 / RHO) + np.linspace(0, 1, n) * (SIGMA_MIN ** (1 / RHO) - SIGMA_MAX ** (1 / RHO))
    if _close(values, roots, 1e-3):
        return _not_yet("almost: these are the levels to the power 1/ρ. Raise every value to the power ρ = 7 at the end.")
    if abs(values[0] - SIGMA_MAX) > 1e-2 * SIGMA_MAX or abs(values[-1] - SIGMA_MIN) > 1e-2 * SIGMA_MIN:
        return _not_yet(f"the first level should be σ_max = {SIGMA_MAX:g} and the last σ_min = {SIGMA_MIN:g}; "
                        f"yours are {values[0]:.4g} and {values[-1]:.4g}. Check i / (n - 1): it runs from 0 to 1.")
    i = int(np.argmax(~np.isclose(values, want, rtol=1e-3, atol=1e-6)))
    return _not_yet(f"level {i} should be {want[i]:.4g}, but yours is {values[i]:.4g}. "
                    "Check the brackets: (a + i/(n-1) * (b - a)) ** ρ, with a = σ_max^(1/ρ), b = σ_min^(1/ρ).")


def check_scalings(fn) -> Feedback:
    """Check a student's ``fn(sigma) -> (c_skip, c_out)``: EDM's preconditioning (Karras et al. 2022, Table 1).

    ``c_skip = sigma_data^2 / (sigma^2 + sigma_data^2)``, ``c_out = sigma * sigma_data / sqrt(sigma^2 + sigma_data^2)``.

    >>> from dittoedu.diffusion import edm_scalings
    >>> check_scalings(lambda s: edm_scalings(s)[:2]).ok
    True
    """
    import torch

    from .diffusion import SIGMA_DATA, edm_scalings

    sigmas = torch.tensor([0.02, 0.5, 2.0, 80.0], dtype=torch.float64)
    out, problem = _call(fn, sigmas, what="my_scalings(sigma)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_scalings returns nothing yet: end it with 'return c_skip, c_out'.")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return _not_yet("my_scalings should return two things, 'return c_skip, c_out'.")
    try:
        c_skip, c_out = (_to_numpy(torch.as_tensor(c, dtype=torch.float64) * torch.ones_like(sigmas)) for c in out)
    except Exception:
        return _not_yet("c_skip and c_out should be numbers or tensors computed from sigma.")
    want_skip, want_out, _, _ = (_to_numpy(c) for c in edm_scalings(sigmas))
    s, d = sigmas.numpy(), SIGMA_DATA
    ok_skip, ok_out = _close(c_skip, want_skip), _close(c_out, want_out)
    if ok_skip and ok_out:
        return _right("c_skip = σ_d² / (σ² + σ_d²) and c_out = σ σ_d / √(σ² + σ_d²). At small σ, c_skip ≈ 1: "
                      "the input is nearly clean, keep it. At large σ, c_skip ≈ 0 and c_out ≈ σ_d: the input is "
                      "nearly all noise, so the network's output IS the guess of the music.")
    if _close(c_skip, want_out) and _close(c_out, want_skip):
        return _not_yet("c_skip and c_out are swapped: c_skip (the part of the input x kept) must go to 1 as σ → 0.")
    if not ok_skip:
        if _close(c_skip, d / (s + d)):
            return _not_yet("c_skip: square both σ and σ_d: c_skip = σ_d² / (σ² + σ_d²).")
        if _close(c_skip, 1 - want_skip):
            return _not_yet("c_skip is upside down: it should be 1 for a clean input (σ → 0) and 0 for pure "
                            "noise. c_skip = σ_d² / (σ² + σ_d²).")
        return _not_yet(f"c_skip is not right yet: at σ = σ_d = {d} it should be 0.5, yours is {c_skip[1]:.4g}. "
                        "c_skip = σ_d² / (σ² + σ_d²), with σ_d = diffusion.SIGMA_DATA.")
    if _close(c_out, s * d / (s**2 + d**2)):
        return _not_yet("c_skip is right. c_out: the denominator needs a square root: σ σ_d / √(σ² + σ_d²).")
    return _not_yet(f"c_skip is right. c_out is not yet: at σ = 80 it should be close to σ_d = {d} "
                    f"(yours: {c_out[-1]:.4g}). c_out = σ σ_d / √(σ² + σ_d²).")


def check_euler_step(fn) -> Feedback:
    """Check ``fn(x, denoised, sigma, sigma_next)``: one Euler step of the probability-flow ODE (EDM eq. (3)) = DDIM.

    ``x_next = x + (sigma_next - sigma) * (x - denoised) / sigma``.

    >>> check_euler_step(lambda x, d, s, n: x + (n - s) * (x - d) / s).ok
    True
    >>> check_euler_step(lambda x, d, s, n: d)
    Not yet: your step returns the denoiser's guess...
    """
    import torch

    g = torch.Generator().manual_seed(0)
    x = 3.0 * torch.randn(2, 4, 6, generator=g, dtype=torch.float64)
    denoised = torch.randn(2, 4, 6, generator=g, dtype=torch.float64).clamp(-1, 1)
    sigma, sigma_next = torch.tensor(3.0, dtype=torch.float64), torch.tensor(1.2, dtype=torch.float64)
    out, problem = _call(fn, x.clone(), denoised.clone(), sigma, sigma_next, what="my_euler_step(x, denoised, sigma, "
                                                                                  "sigma_next)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_euler_step returns nothing yet: end it with 'return x_next'.")
    try:
        got = _to_numpy(torch.as_tensor(out, dtype=torch.float64) + torch.zeros_like(x))
    except Exception:
        return _not_yet("my_euler_step should return a tensor shaped like x.")
    d = (x - denoised) / sigma
    want = x + (sigma_next - sigma) * d
    if _close(got, want):
        return _right("x_next = x + (σ_next − σ) · (x − D(x; σ)) / σ: a step along the slope dx/dσ, and since σ "
                      "goes down the step is negative. With σ_next = 0 it lands exactly on the denoiser's guess. "
                      "This is one DDIM step.")
    if _close(got, x):
        return _not_yet("x did not move: add the step (σ_next − σ) times the slope (x − denoised) / σ.")
    if _close(got, denoised):
        return _not_yet("your step returns the denoiser's guess: that jumps all the way to σ = 0 at once. An "
                        "Euler step only goes from σ to σ_next: x + (σ_next − σ) · (x − denoised) / σ.")
    if _close(got, x - (sigma_next - sigma) * d):
        return _not_yet("the step goes the wrong way (it adds noise): the slope is (x − denoised) / σ and the "
                        "step is (σ_next − σ), which is negative because σ goes down.")
    if _close(got, x + (sigma_next - sigma) * (x - denoised)):
        return _not_yet("divide by σ: the slope of the ODE is dx/dσ = (x − D(x; σ)) / σ (EDM eq. (3)).")
    if _close(got, x + sigma_next * d) or _close(got, x - sigma * d):
        return _not_yet("the step size is the DIFFERENCE σ_next − σ, not σ or σ_next alone.")
    return _not_yet("not the Euler step yet. It has two parts: the slope d = (x − denoised) / σ, "
                    "then x_next = x + (σ_next − σ) · d.")


# ---------------------------------------------------------------------------------------------
# lesson 03: intensity


def check_sine_db(answer, amplitude: float = 0.1) -> Feedback:
    """Check the loudness, ``20 log10 RMS`` in dB, of a sine wave with peak ``amplitude``.

    >>> check_sine_db(-23.01).ok
    True
    >>> check_sine_db(-20.0)
    Not yet: -20.0 dB is 20 log10 of the PEAK...
    """
    value, problem = _number(answer, "your loudness in dB")
    if problem:
        return problem
    rms = amplitude / math.sqrt(2)
    want = 20 * math.log10(rms)
    if abs(value - want) < 0.05:
        return _right(f"the RMS of a sine is its peak / √2 = {rms:.4f}, and 20 log10({rms:.4f}) = {want:.2f} dB. "
                      "Twice the amplitude would add 6 dB; ten times, 20 dB.")
    if abs(value - 20 * math.log10(amplitude)) < 0.05:
        return _not_yet(f"{value:.1f} dB is 20 log10 of the PEAK, {amplitude}. RMS is the root of the mean "
                        f"square, and the mean of sin² is 1/2: RMS = peak / √2.")
    if abs(value - 10 * math.log10(rms)) < 0.05:
        return _not_yet("10 log10 is for a power (a squared quantity). RMS is an amplitude, so use 20 log10(RMS) "
                        "(the same as 10 log10(RMS²)).")
    if abs(value - 20 * math.log10(amplitude / 2)) < 0.05:
        return _not_yet("you divided the peak by 2; the RMS of a sine is the peak divided by √2.")
    if abs(value - rms) < 1e-3 or abs(value - rms**2) < 1e-4:
        return _not_yet(f"{value:g} is the RMS (or its square), not yet in dB: take 20 log10 of the RMS.")
    if abs(value + want) < 0.05:
        return _not_yet("the sign is flipped: an RMS below 1 is below 0 dB, so the answer is negative.")
    return _not_yet(f"not {value:g} dB. Two steps: RMS = peak / √2 for a sine, then 20 · log10(RMS).")


def check_swell_curve(curve) -> Feedback:
    """Check an intensity curve (values in 0..1) that starts quiet, swells to its loudest in the middle and fades.

    >>> check_swell_curve([0.1, 0.5, 0.9, 0.5, 0.1]).ok
    True
    >>> check_swell_curve([0.1, 0.3, 0.6, 0.9])
    Not yet: the loudest point is at the END...
    """
    import numpy as np

    values, problem = _numbers(curve, "your curve (numbers from 0 to 1)")
    if problem:
        return problem
    values = values.ravel()
    if values.size < 3:
        return _not_yet(f"a swell needs at least 3 points (quiet, loud, quiet); yours has {values.size}.")
    if values.min() < 0 or values.max() > 1:
        return _not_yet(f"the values must lie between 0 (quiet) and 1 (loud); yours go from {values.min():g} "
                        f"to {values.max():g}.")
    peak = int(np.argmax(values))
    where = peak / (values.size - 1)
    if values.max() - values.min() < 0.3:
        return _not_yet("the curve is almost flat: make the middle at least 0.3 louder than the start and the end, "
                        "so that you can hear (and see) the swell.")
    if where > 0.8:
        return _not_yet("the loudest point is at the END: that is a crescendo. Bring the curve back down after "
                        "the middle.")
    if where < 0.2:
        return _not_yet("the loudest point is at the START: that is a fade-out. Start quiet and rise first.")
    low = values.max() - 0.3
    if values[0] > low or values[-1] > low:
        end = "start" if values[0] > low else "end"
        return _not_yet(f"the {end} is nearly as loud as the middle; make both the start and the end at least "
                        "0.3 below the peak.")
    return _right(f"quiet at the start ({values[0]:.2f}), loudest at {where:.0%} of the way ({values.max():.2f}), "
                  f"quiet again at the end ({values[-1]:.2f}). Optimize with it and see whether the music follows.")


def check_mse_db2(answer, target, achieved) -> Feedback:
    """Check the mean squared error in dB² between a target and an achieved loudness curve (DITTO's intensity metric).

    >>> check_mse_db2(2.5, [0.0, 0.0], [1.0, 2.0]).ok
    True
    >>> check_mse_db2(1.5, [0.0, 0.0], [1.0, 2.0])
    Not yet: that is the mean error...
    """
    import numpy as np

    value, problem = _number(answer, "your MSE in dB²")
    if problem:
        return problem
    t, a = _to_numpy(target).ravel(), _to_numpy(achieved).ravel()
    err = a - t
    want = float(np.mean(err**2))
    close = lambda v: abs(value - v) <= 1e-3 * max(1.0, abs(v))  # noqa: E731
    if close(want):
        return _right(f"MSE = mean over the {t.size} steps of (achieved − target)² = {want:.3f} dB². "
                      f"Its root, {math.sqrt(want):.2f} dB, is the typical miss at a step.")
    if close(float(np.mean(err))) or close(float(np.mean(-err))):
        return _not_yet("that is the mean error: misses above and below the target cancel out. Square each "
                        "difference before taking the mean.")
    if close(float(np.mean(np.abs(err)))):
        return _not_yet("that is the mean ABSOLUTE error; the metric squares each difference: mean((a − t)²).")
    if close(math.sqrt(want)):
        return _not_yet("that is the root of the MSE (in dB); leave out the square root: the metric is in dB².")
    if close(float(np.sum(err**2))):
        return _not_yet(f"that is the SUM of the squares; divide by the number of steps ({t.size}): take the mean.")
    return _not_yet(f"not {value:g}. Compute ((achieved − target) ** 2).mean() over all {t.size} steps.")


def check_shell_projection(fn) -> Feedback:
    """Check ``fn(eps [B, ...])``: rescale each item to norm ``sqrt(D)`` (D numbers per item), as ``ito.project_to_shell``.

    >>> from dittoedu.ito import project_to_shell
    >>> check_shell_projection(project_to_shell).ok
    True
    """
    import torch

    g = torch.Generator().manual_seed(1)
    eps = torch.randn(2, 2, 3, 5, generator=g, dtype=torch.float64) * torch.tensor([0.5, 3.0]).reshape(2, 1, 1, 1)
    D = eps[0].numel()
    out, problem = _call(fn, eps.clone(), what="my_projection(eps)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_projection returns nothing yet: end it with 'return' and the rescaled noise.")
    try:
        got = torch.as_tensor(out, dtype=torch.float64)
    except Exception:
        return _not_yet("my_projection should return a tensor shaped like eps.")
    if got.shape != eps.shape:
        return _not_yet(f"the result has shape {list(got.shape)}, but eps has {list(eps.shape)}: rescale, do not "
                        "reshape or sum.")
    norms = got.flatten(1).norm(dim=1)
    cos = torch.nn.functional.cosine_similarity(got.flatten(1), eps.flatten(1), dim=1)
    if (cos < 0.999).any():
        return _not_yet("the direction of the noise changed: only its length may change. Multiply eps by a number "
                        "per item (√D divided by that item's norm).")
    if torch.allclose(norms, torch.full_like(norms, math.sqrt(D)), rtol=1e-4):
        return _right(f"every item now has norm √D = √{D} ≈ {math.sqrt(D):.2f}, where N(0, I) noise almost "
                      "always lies in many dimensions; the optimizer may turn the noise, not blow it up or shrink it.")
    if torch.allclose(norms, torch.ones_like(norms), rtol=1e-4):
        return _not_yet("each item has norm 1: that is a unit vector. Gaussian noise with D numbers has norm about "
                        "√D; multiply by math.sqrt(D).")
    if torch.allclose(norms, torch.full_like(norms, float(D)), rtol=1e-4):
        return _not_yet("each item has norm D; it should be √D (the square root of the number of entries).")
    whole = eps * math.sqrt(D) / eps.flatten(1).norm()
    if torch.allclose(got, whole, rtol=1e-4) or abs(got.flatten(1).norm().item() - math.sqrt(D)) < 1e-3:
        return _not_yet("you rescaled the whole batch at once: each item (eps[0], eps[1], ...) gets its own norm. "
                        "Use eps.flatten(1).norm(dim=1), reshaped to broadcast.")
    return _not_yet(f"the norms are {[round(v, 2) for v in norms.tolist()]}, but each should be √D ≈ "
                    f"{math.sqrt(D):.2f}: eps * (√D / norm of each item).")


# ---------------------------------------------------------------------------------------------
# lesson 04: melody

FRERE_JACQUES = "4/4 c4 d e c | c d e c | e f g2 | e4 f g2"  # as in data/examples/frere_jacques.mid


def check_frere_jacques(text) -> Feedback:
    """Check the first bar (or more) of *Frère Jacques* in C major, written in tinyNotation.

    >>> check_frere_jacques("4/4 c4 d e c").ok
    True
    """
    return check_melody(text, FRERE_JACQUES, name="Frère Jacques", min_notes=4)


def check_accuracy_fn(fn) -> Feedback:
    """Check ``fn(target, achieved, pitch_class=False)``: the share of melody steps whose top voice is right.

    ``target`` and ``achieved`` are lists of MIDI pitches per step, ``None`` for a rest (in the
    target: a free step, not counted; in the music: silence, a miss). With ``pitch_class=True``
    octaves do not matter (``p % 12``).

    >>> def acc(target, achieved, pitch_class=False):
    ...     pairs = [(t, a) for t, a in zip(target, achieved) if t is not None]
    ...     same = lambda t, a: a is not None and (t % 12 == a % 12 if pitch_class else t == a)
    ...     return sum(same(t, a) for t, a in pairs) / len(pairs)
    >>> check_accuracy_fn(acc).ok
    True
    """
    target = [60, 60, 62, 62, None, None, 64, 64]
    achieved = [60, 72, 62, None, 65, 67, 64, 52]  # right, octave up, right, silent, (free), (free), right, octave down
    if not callable(fn):
        return _not_yet(f"my_accuracy should be a function (a def); you gave {_a(type(fn).__name__)}.")
    results = {}
    for pitch_class in (False, True):
        try:
            out = fn(list(target), list(achieved), pitch_class=pitch_class)
        except NotImplementedError:
            return _not_yet("write the body of my_accuracy in place of the '...'.")
        except TypeError as exc:
            if "pitch_class" in str(exc):
                return _not_yet("my_accuracy needs the keyword argument: def my_accuracy(target, achieved, "
                                "pitch_class=False).")
            return _not_yet(f"my_accuracy raised TypeError: {exc}. Is a None (a rest or silence) used in "
                            "arithmetic, like None % 12? Test 'a is not None' first.")
        except ZeroDivisionError:
            return _not_yet("my_accuracy divided by zero: divide by the number of steps where the target has a pitch.")
        except Exception as exc:  # the student's code
            return _not_yet(f"my_accuracy raised {type(exc).__name__}: {exc}.")
        if out is None or out is Ellipsis:
            return _not_yet("my_accuracy returns nothing yet: end it with 'return' and the fraction.")
        value, problem = _number(out, "the accuracy")
        if problem:
            return _not_yet("my_accuracy should return one number, a fraction from 0 to 1.")
        results[pitch_class] = value
    exact, pc = results[False], results[True]
    same = lambda v, w: abs(v - w) < 1e-6  # noqa: E731
    if same(exact, 3 / 6) and same(pc, 5 / 6):
        return _right("on this example exact accuracy is 3/6 and pitch-class accuracy 5/6: the two rests of the "
                      "target are free; a top voice an octave off counts only for pitch classes; silence is a "
                      "miss for both.")
    if exact > 1 or pc > 1:
        kind = "a percentage" if max(exact, pc) <= 100 and (same(exact, 50) or same(pc, 500 / 6)) else "a count"
        return _not_yet(f"you return {kind} ({exact:g}); return a fraction from 0 to 1 (divide by the number "
                        "of melody steps).")
    if same(exact, 3 / 8) or same(pc, 5 / 8):
        return _not_yet("you divide by all 8 steps, but 2 of them are rests in the target: those steps are free "
                        "and are not counted. Keep only the steps where the target is not None.")
    if same(exact, pc):
        return _not_yet(f"both modes give {exact:.3g}: with pitch_class=True compare t % 12 with a % 12, so that a "
                        "C5 counts for a C4.")
    if same(pc, 6 / 6) or same(pc, 1.0):
        return _not_yet("pitch-class accuracy should not forgive silence: where the music is silent (None) the "
                        "melody is missing, a miss in both modes.")
    if same(exact, 4 / 6) and same(pc, 5 / 6):
        return _not_yet("exact accuracy counts silence as right somewhere: a None in the music is a miss.")
    if not same(exact, 3 / 6):
        return _not_yet(f"exact accuracy on this example should be 3/6 (right, octave up, right, silent, right, "
                        f"octave down over the 6 melody steps); yours is {exact:.3g}.")
    return _not_yet(f"exact accuracy is right (3/6). Pitch-class accuracy should be 5/6 here (the two octave "
                    f"errors count, silence does not); yours is {pc:.3g}.")


def check_hinge_on(fn) -> Feedback:
    """Check ``fn(x)``: the cost of a cell that must sound, ``relu(MARGIN - x)^2`` (``controls.hinge_on``).

    >>> from dittoedu.controls import hinge_on
    >>> check_hinge_on(hinge_on).ok
    True
    """
    import torch

    from .controls import MARGIN

    x = torch.tensor([-1.0, -0.2, 0.0, 0.01, 0.3, 0.5, 0.8, 1.0], dtype=torch.float64)
    out, problem = _call(fn, x.clone(), what="my_hinge_on(x)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_hinge_on returns nothing yet: end it with 'return' and the cost.")
    try:
        got = _to_numpy(torch.as_tensor(out, dtype=torch.float64) + torch.zeros_like(x))
    except Exception:
        return _not_yet("my_hinge_on should return a tensor of costs, one per cell of x.")
    relu = torch.nn.functional.relu
    want = _to_numpy(relu(MARGIN - x) ** 2)
    if _close(got, want):
        return _right(f"relu({MARGIN} − x)²: a silent cell (x = −1) costs {want[0]:.2f}, a cell just above the "
                      f"threshold (x = 0.01) still costs {want[3]:.2f}, and only a cell past the margin "
                      f"(x ≥ {MARGIN}) costs nothing. The optimizer cannot park the melody at the threshold.")
    if _close(got, _to_numpy(relu(-x) ** 2)):
        return _not_yet("this hinge has no margin: a cell at x = 0.01 costs nothing, so the optimizer stops right "
                        "at the threshold, where the next tiny change switches the note off. Push it past the "
                        f"margin: relu(MARGIN − x)², MARGIN = {MARGIN}.")
    if _close(got, _to_numpy(relu(x - MARGIN) ** 2)) or _close(got, _to_numpy(relu(x + MARGIN) ** 2)):
        return _not_yet("your cost grows as the cell gets LOUDER; a cell that must sound should cost more when it "
                        "is silent (x small): relu(MARGIN − x)².")
    if _close(got, _to_numpy(relu(MARGIN - x))):
        return _not_yet("square it: relu(MARGIN − x)² is smooth at the margin, so the gradient shrinks as the "
                        "cell gets there instead of jumping.")
    if _close(got, _to_numpy((MARGIN - x) ** 2)):
        return _not_yet("without the relu a cell ABOVE the margin costs something too, so loud cells are pulled "
                        "back down to exactly the margin. Only cells below it should pay: relu(MARGIN − x)².")
    return _not_yet(f"at x = −1 the cost should be ({MARGIN} + 1)² = {want[0]:.2f}, at x = {MARGIN} and above 0; "
                    f"yours gives {got[0]:.3g} and {got[5]:.3g}. Use torch.relu(MARGIN − x) ** 2.")


# ---------------------------------------------------------------------------------------------
# lesson 05: chords


def _pitch_classes(answer) -> set[int] | None:
    """Pitch classes from note names (``"G B D F"``, ``["G", "B"]``, ``"G4"``) or numbers 0-11; None if unreadable."""
    if isinstance(answer, str):
        answer = answer.replace(",", " ").split()
    try:
        items = list(answer)
    except TypeError:
        return None
    out = set()
    for item in items:
        if isinstance(item, bool):
            return None
        if isinstance(item, int):
            out.add(item % 12)
            continue
        if not isinstance(item, str):
            return None
        p = parse_pitch(item if re.search(r"\d\s*$", item) else item + "4")
        if p is None:
            return None
        out.add(p % 12)
    return out


def _pc_names(pcs, root: int = 0) -> str:
    """Names of pitch classes, in order up from ``root``: ``_pc_names({2, 7, 11}, root=7) == 'G B D'``."""
    from .roll import PITCH_NAMES

    return " ".join(PITCH_NAMES[pc] for pc in sorted(pcs, key=lambda pc: (pc - root) % 12))


def check_chord_tones(answer, symbol: str = "G7") -> Feedback:
    """Check the notes of a chord symbol (names like ``"G B D F"`` or pitch classes 0-11), against music21.

    >>> check_chord_tones("G B D F").ok
    True
    >>> check_chord_tones("G B D")
    Not yet: G B D is the G major triad...
    """
    from .targets import parse_chords

    chord = parse_chords(symbol, bars=1)[0]
    want = set(chord.pitch_classes)
    if _not_answered(answer):
        return _not_yet(f"write the notes of {symbol} in place of the '...', e.g. \"C E G\" for C major.")
    got = _pitch_classes(answer)
    if got is None:
        return _not_yet("write note names separated by spaces, like \"C E G\" (sharps '#', flats 'b'), or a list "
                        "of pitch classes 0-11.")
    letter = re.match(r"[A-G][#b]?", symbol[:1].upper() + symbol[1:])
    root = parse_pitch(letter.group(0) + "4") % 12 if letter else chord.bass
    if got == want:
        return _right(f"{symbol} = {_pc_names(want, root)}. The chords control rewards every sounding note whose "
                      "pitch class is one of these, in any octave.")
    missing, extra = want - got, got - want
    triad = {root, (root + 4) % 12, (root + 7) % 12}
    dominant = symbol.endswith("7") and not symbol.endswith("maj7")
    seventh = _pc_names({(root + 10) % 12})
    if dominant and got == triad:
        return _not_yet(f"{_pc_names(got, root)} is the {symbol[:-1]} major triad; the 7 adds a fourth note, a minor "
                        f"seventh above the root ({seventh}).")
    if dominant and got == triad | {(root + 11) % 12}:
        return _not_yet(f"that is {symbol[:-1]}maj7: a plain '7' is a MINOR seventh above the root, ten semitones "
                        f"({seventh}), not eleven.")
    parts = []
    if missing:
        parts.append(f"missing {_pc_names(missing, root)}")
    if extra:
        parts.append(f"{_pc_names(extra, root)} is not in it")
    return _not_yet(f"{symbol} has {len(want)} notes; yours: {', '.join(parts)}. Count up from the root "
                    f"{_pc_names({root})}: a major third (4 semitones), a fifth (7), and for a 7 a minor seventh (10).")


def check_roman_progression(answer, numerals: str = "I vi IV V", key: str = "G") -> Feedback:
    """Check chord symbols (``"G Em C D"``) for a progression of roman numerals in a key, one chord per bar.

    >>> check_roman_progression("G Em C D").ok
    True
    >>> check_roman_progression("C Am F G")
    Not yet: that is I vi IV V in C major...
    """
    from .targets import parse_chords

    want = parse_chords(numerals, bars=len(numerals.split()), key=key)
    if _not_answered(answer):
        return _not_yet("write chord symbols separated by spaces in place of the '...', like \"C Am F G\".")
    if not isinstance(answer, str):
        return _not_yet(f"write the chords as text in quotes, like \"C Am F G\"; you gave {_a(type(answer).__name__)}.")
    if any(t in ("I", "i", "V", "v", "IV", "iv", "vi", "VI") for t in answer.split()):
        return _not_yet("write chord SYMBOLS (letters like 'G' or 'Em'), not roman numerals: the point is to "
                        f"translate {numerals} into the key of {key}.")
    try:
        got = parse_chords(answer, bars=len(answer.split()))
    except MusicInputError as exc:
        return _not_yet(f"dittoedu could not read your chords: {exc}")
    if len(got) != len(want):
        return _not_yet(f"{numerals} has {len(want)} chords; you wrote {len(got)}.")
    in_c = parse_chords(numerals, bars=len(want), key="C")
    if key != "C" and all(g.pitch_classes == c.pitch_classes for g, c in zip(got, in_c)):
        return _not_yet(f"that is {numerals} in C major. In {key} major the scale starts on {key}: "
                        "I is the chord on the 1st note of that scale, vi on the 6th, and so on.")
    for i, (g, w) in enumerate(zip(got, want)):
        if g.pitch_classes != w.pitch_classes:
            numeral = numerals.split()[i]
            quality = "minor (lowercase numeral)" if numeral.islower() else "major (uppercase numeral)"
            if g.bass == w.bass:
                return _not_yet(f"chord {i + 1} ({numeral}) has the right root but should be {quality}: "
                                f"{w.symbol}, not {g.symbol}.")
            return _not_yet(f"chord {i + 1} ({numeral}) should be {w.symbol}, not {g.symbol}. Count up the scale of "
                            f"{key} major: {numeral} is built on its {_ordinal(_numeral_degree(numeral))} note.")
    return _right(f"{numerals} in {key} major is {' '.join(w.symbol for w in want)}: uppercase numerals are major "
                  "chords, lowercase minor. The same numerals in another key give other symbols, the same sound "
                  "moved up or down.")


def _numeral_degree(numeral: str) -> int:
    return {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7}.get(
        re.sub(r"[^ivIV]", "", numeral).lower(), 1)


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def check_chord_tone_ratio(answer, sounding, chord: str) -> Feedback:
    """Check the chord-tone ratio of one step by hand: the share of the sounding notes that belong to ``chord``.

    ``sounding`` lists the notes (names like ``"E4"``); each counts, even two in the same pitch class.

    >>> check_chord_tone_ratio(0.75, ["C3", "E4", "G4", "D5"], "C").ok
    True
    """
    from .targets import parse_chords

    value, problem = _number(answer, "your ratio")
    if problem:
        return problem
    tones = set(parse_chords(chord, bars=1)[0].pitch_classes)
    pcs = [parse_pitch(n) % 12 for n in sounding]
    n_in = sum(pc in tones for pc in pcs)
    want = n_in / len(pcs)
    same = lambda v, w: abs(v - w) < 5e-3  # noqa: E731
    if same(value, want):
        return _right(f"{n_in} of the {len(pcs)} sounding notes are tones of {chord} ({_pc_names(tones)}): "
                      f"{n_in}/{len(pcs)} = {want:.3f}. The metric counts every sounding cell like this, over all steps.")
    if abs(value - 100 * want) < 0.5:
        return _not_yet(f"that is a percentage; give the fraction, {value / 100:g}.")
    if same(value, 1 - want):
        return _not_yet("that is the share of notes OUTSIDE the chord; the ratio counts the chord tones.")
    distinct = {pc for pc in pcs}
    if distinct and same(value, len(distinct & tones) / len(distinct)):
        return _not_yet("you counted pitch classes once each; count every sounding note, even when two share "
                        "a pitch class (C3 and C5 are two notes).")
    if same(value, n_in / len(tones)) or same(value, len(set(pcs) & tones) / len(tones)):
        return _not_yet(f"you divided by the number of chord tones ({len(tones)}); divide by the number of "
                        f"sounding notes ({len(pcs)}).")
    return _not_yet(f"not {value:g}. Which of {', '.join(sounding)} are in {chord} = {_pc_names(tones)}? Divide "
                    "their count by the number of sounding notes.")


# ---------------------------------------------------------------------------------------------
# lesson 06: form


def check_form_ssm(answer, form: str = "ABAB") -> Feedback:
    """Check a target self-similarity matrix written by hand for a form, one bar per letter.

    >>> check_form_ssm([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]]).ok
    True
    """
    import numpy as np

    from .targets import form_ssm

    values, problem = _numbers(answer, "your matrix")
    if problem:
        return problem
    want = form_ssm(form, bars=len(form)).numpy()
    n = len(form)
    if values.shape != (n, n):
        return _not_yet(f"{form} has {n} bars, so the matrix is {n} × {n} (a list of {n} rows of {n} numbers); "
                        f"yours has shape {list(values.shape)}.")
    if np.array_equal(values, want):
        return _right(f"entry [i, j] is 1 when bars i and j carry the same letter: the diagonal is all 1 (a bar "
                      f"is like itself) and the matrix is symmetric. This is DITTO's structure target for {form}.")
    if not np.isin(values, (0, 1)).all():
        return _not_yet("the target only holds 0 (different sections) and 1 (the same section).")
    if not np.all(np.diag(values) == 1):
        return _not_yet("look at the diagonal: every bar is the same as itself, so entry [i, i] is 1.")
    if not np.array_equal(values, values.T):
        return _not_yet("the matrix should be symmetric: if bar i is like bar j, bar j is like bar i.")
    for other in ("AABA", "AABB", "ABBA", "ABAC", "AAAA", "ABCD"):
        if other != form and len(other) == n and np.array_equal(values, form_ssm(other, bars=n).numpy()):
            return _not_yet(f"that is the matrix of {other}, not {form}. Write the letters along both sides and put "
                            "a 1 where the row's letter equals the column's.")
    i, j = map(int, np.argwhere(values != want)[0])
    return _not_yet(f"entry [{i}, {j}] (bar {i + 1} against bar {j + 1}: {form[i]} and {form[j]}) should be "
                    f"{int(want[i, j])}.")


def check_cosine(fn) -> Feedback:
    """Check ``fn(a, b)``: the cosine similarity of two bars flattened to vectors, ``a·b / (|a| |b|)``.

    >>> import torch
    >>> check_cosine(lambda a, b: torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0)).ok
    True
    """
    import torch

    a = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    out, problem = _call(fn, a.clone(), b.clone(), what="my_cosine(a, b)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_cosine returns nothing yet: end it with 'return' and the similarity.")
    value, problem = _number(out, "the similarity")
    if problem:
        return _not_yet("my_cosine should return ONE number for two bars; flatten both and take one dot product.")
    dot, na, nb = (a * b).sum().item(), a.norm().item(), b.norm().item()
    want = dot / (na * nb)
    same = lambda v, w: abs(v - w) < 1e-6  # noqa: E731
    if same(value, want):
        return _right(f"a·b / (|a| |b|) = {dot:g} / ({na:.3f} · {nb:.3f}) = {want:.3f}. 1 means the two bars hold "
                      "the same notes (in proportion), 0 that they share none.")
    if same(value, dot):
        return _not_yet(f"{value:g} is the dot product; divide by both lengths |a| |b| so that a bar with more "
                        "notes is not 'more similar'.")
    if same(value, dot / na) or same(value, dot / nb) or same(value, dot / (na * na)) or same(value, dot / (nb * nb)):
        return _not_yet("divide by the lengths of BOTH vectors: a·b / (|a| · |b|).")
    if same(value, 1 - want):
        return _not_yet("that is the cosine DISTANCE, 1 − similarity; return the similarity itself.")
    if same(value, dot / (na**2 * nb**2)) or same(value, dot / (a.sum().item() * b.sum().item())):
        return _not_yet("the lengths are square roots of sums of squares: |a| = sqrt((a ** 2).sum()).")
    return _not_yet(f"not {value:.4g}. Flatten the bars, then a·b / (|a| |b|): (a * b).sum() / (a.norm() * b.norm()).")


def _canonical_form(letters: str) -> str:
    """Relabel sections in order of appearance: ``'BBAB' -> 'AABA'``."""
    names = {}
    return "".join(names.setdefault(c, "ABCDEFGH"[len(names)]) for c in letters)


def check_form_reading(answer, form: str) -> Feedback:
    """Check a form read off a self-similarity matrix, one letter per bar (``"AABB"``); any letters in the same pattern.

    >>> check_form_reading("AABB", "AABB").ok and check_form_reading("x x y y", "AABB").ok
    True
    >>> check_form_reading("ABAB", "AABB")
    Not yet: ...
    """
    if _not_answered(answer):
        return _not_yet("write one letter per bar in place of the '...', like \"ABAB\".")
    if not isinstance(answer, str):
        return _not_yet(f"write the form as text in quotes, like \"ABAB\"; you gave {_a(type(answer).__name__)}.")
    letters = "".join(answer.split()).upper()
    if len(letters) != len(form):
        return _not_yet(f"the matrix has {len(form)} bars, so write {len(form)} letters, one per bar; "
                        f"you wrote {len(letters)}.")
    if _canonical_form(letters) == _canonical_form(form):
        return _right(f"{_canonical_form(form)}: bars with a bright square between them (similarity near 1) "
                      "share a letter. Which letter you call a section does not matter, only which bars match.")
    for i in range(len(form)):
        for j in range(i + 1, len(form)):
            should = form[i] == form[j]
            says = letters[i] == letters[j]
            if should != says:
                look = f"row {i + 1}, column {j + 1}"
                if should:
                    return _not_yet(f"bars {i + 1} and {j + 1} are alike (look at {look}: a bright square), so "
                                    "they should share a letter.")
                return _not_yet(f"bars {i + 1} and {j + 1} are not alike (look at {look}: a dark square), so "
                                "they need different letters.")
    return _not_yet("compare the bars two by two in the matrix.")  # not reached


# ---------------------------------------------------------------------------------------------
# lesson 07: inpainting, outpainting, looping


def check_keep_mask(answer, bars=(1, 4), n_steps: int = 64, steps_per_bar: int = 16) -> Feedback:
    """Check a keep mask ``[T]`` (bools, 0/1, or text like ``"0:16,48:64"``) that keeps the given bars (1-based).

    >>> import torch
    >>> keep = torch.zeros(64, dtype=torch.bool); keep[0:16] = True; keep[48:64] = True
    >>> check_keep_mask(keep).ok
    True
    """
    import numpy as np

    want = np.zeros(n_steps, dtype=bool)
    for b in bars:
        want[(b - 1) * steps_per_bar : b * steps_per_bar] = True
    ranges = ", ".join(f"{(b - 1) * steps_per_bar}:{b * steps_per_bar}" for b in bars)
    names = " and ".join(f"bar {b}" for b in bars)
    if isinstance(answer, str) and not _not_answered(answer):
        from .controls import parse_keep

        try:
            answer = parse_keep(answer, n_steps=n_steps)
        except MusicInputError as exc:
            return _not_yet(str(exc).replace("--keep", "the text"))
    values, problem = _numbers(answer, "your mask")
    if problem:
        return problem
    values = values.ravel()
    if values.size != n_steps:
        return _not_yet(f"the mask has one value per step: {n_steps} of them; yours has {values.size}.")
    got = values > 0.5
    if np.array_equal(got, want):
        return _right(f"{names} are steps {ranges} (a bar is {steps_per_bar} steps, ends excluded): those steps are "
                      "kept from the reference, the model writes the rest.")
    if np.array_equal(got, ~want):
        return _not_yet(f"that keeps the gap and regenerates {names}: the mask is True on the steps to KEEP.")
    for shift in (-steps_per_bar, steps_per_bar):
        if np.array_equal(got, np.roll(want, shift)) and not (want[0] and shift < 0):
            return _not_yet(f"one bar off: bar 1 is steps 0:{steps_per_bar} (Python counts from 0, bars from 1), "
                            f"so {names} are {ranges}.")
    runs = [(a, b) for a, b in _runs(got)]
    for a, b in runs:
        if (b - a) % steps_per_bar in (1, steps_per_bar - 1):
            return _not_yet(f"steps {a}:{b} are {b - a} steps long, not a whole bar: in a:b the end b is NOT "
                            f"included, so bar 1 is 0:{steps_per_bar}.")
    return _not_yet(f"keep exactly {names}: steps {ranges.replace(', ', ' and ')}; you keep "
                    f"{', '.join(f'{a}:{b}' for a, b in runs) or 'nothing'}.")


def _runs(mask):
    import numpy as np

    padded = np.concatenate([[0], np.asarray(mask, dtype=int), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def check_f1(answer, tp: int, fp: int, fn: int) -> Feedback:
    """Check an F1 score from counts: ``tp`` notes in both, ``fp`` only in the result, ``fn`` only in the reference.

    >>> check_f1(0.8, tp=8, fp=2, fn=2).ok
    True
    """
    value, problem = _number(answer, "your F1")
    if problem:
        return problem
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    want = 2 * tp / (2 * tp + fp + fn)
    same = lambda v, w: abs(v - w) < 5e-3  # noqa: E731
    if same(value, want):
        return _right(f"precision {tp}/{tp + fp} = {precision:.3f}, recall {tp}/{tp + fn} = {recall:.3f}, and F1, "
                      f"their harmonic mean, = 2·{tp} / (2·{tp} + {fp} + {fn}) = {want:.3f}. It is 1 only when "
                      "every kept note is there and nothing else is.")
    if same(value, precision) and not same(precision, recall):
        return _not_yet(f"{value:.3f} is the precision (how many of the result's notes are right); F1 also needs "
                        "the recall, and combines the two: 2PR / (P + R).")
    if same(value, recall) and not same(precision, recall):
        return _not_yet(f"{value:.3f} is the recall (how many of the reference's notes came back); F1 also needs "
                        "the precision, and combines the two: 2PR / (P + R).")
    if same(value, (precision + recall) / 2):
        return _not_yet("that is the ordinary mean of precision and recall; F1 is their HARMONIC mean, "
                        "2PR / (P + R), which punishes a low one more.")
    if same(value, tp / (tp + fp + fn)):
        return _not_yet("that is tp / (tp + fp + fn) (the Jaccard index); F1 counts the matches twice: "
                        "2·tp / (2·tp + fp + fn).")
    if abs(value - 100 * want) < 0.5:
        return _not_yet(f"that is a percentage; give the fraction, {value / 100:g}.")
    return _not_yet(f"not {value:g}. Precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2PR / (P + R).")


def check_loop_partner(answer, step: int, n: int, n_steps: int) -> Feedback:
    """Check which step of the first ``n`` steps must match ``step`` (in the last ``n``) for a seamless loop.

    >>> check_loop_partner(2, step=50, n=16, n_steps=64).ok
    True
    """
    value, problem = _number(answer, "the step number")
    if problem:
        return problem
    start = n_steps - n
    want = step - start
    if value == want:
        return _right(f"the last {n} steps start at step {start}, so step {step} is the {want}th step of the tail "
                      f"(counting from 0) and must match step {want} of the head. Then the end of the piece flows "
                      "back into its beginning when it loops.")
    if value == want + 1 or value == step - start + 1:
        return _not_yet(f"off by one: steps count from 0. The tail starts at step {start}, so step {start} "
                        f"matches step 0.")
    if value == step - n:
        return _not_yet(f"step {step} − {n} = {value:g} is one loop length back, but the tail is the LAST {n} "
                        f"steps: it starts at {n_steps} − {n} = {start}, and matches the first {n} steps.")
    if value == n_steps - step:
        return _not_yet("that counts back from the end; the loop repeats in the same direction: the tail's "
                        "first step matches step 0.")
    return _not_yet(f"not {value:g}. The tail is steps {start}..{n_steps - 1}; it must equal steps 0..{n - 1}, "
                    "in the same order.")


# =============================================================================================
# Lessons 08, 09 and 11 (distillation, DITTO vs DITTO-2, why optimize the noise):
#
# * 08, distillation: :func:`check_cm_scalings` (the consistency boundary condition, Song et al. 2023),
#   :func:`check_ctm_jump` (CTM's G from g, Kim et al. 2023), :func:`check_consistency_step`
#   (multistep consistency sampling, Song et al. 2023, Algorithm 1);
# * 09, DITTO vs DITTO-2: :func:`check_surrogate` (the one jump DITTO-2 optimizes through),
#   :func:`check_real_time_factor`, :func:`check_network_calls`, :func:`check_best_decode`;
# * 11, why optimize the noise: :func:`check_best_of_n_count`, :func:`check_guidance_nudge`,
#   :func:`check_equal_budget`.


# ---------------------------------------------------------------------------------------------
# lesson 08: distillation


def check_cm_scalings(fn) -> Feedback:
    """Check ``fn(t) -> (c_skip, c_out)``: a consistency model's scalings (Song et al. 2023, appendix C).

    ``c_skip(t) = sigma_d^2 / ((t - eps)^2 + sigma_d^2)``, ``c_out(t) = sigma_d (t - eps) / sqrt(sigma_d^2 + t^2)``,
    with ``eps = diffusion.SIGMA_MIN`` and ``sigma_d = diffusion.SIGMA_DATA``: EDM's scalings shifted so that
    ``c_skip(eps) = 1`` and ``c_out(eps) = 0`` exactly (the boundary condition ``f(x, eps) = x``).

    >>> from dittoedu.diffusion import SIGMA_DATA as d, SIGMA_MIN as e
    >>> check_cm_scalings(lambda t: (d**2 / ((t - e)**2 + d**2), d * (t - e) / (d**2 + t**2) ** 0.5)).ok
    True
    >>> check_cm_scalings(lambda t: (d**2 / (t**2 + d**2), d * t / (d**2 + t**2) ** 0.5))
    Not yet: these are EDM's scalings...
    """
    import torch

    from .diffusion import SIGMA_DATA as d, SIGMA_MIN as e

    t = torch.tensor([e, 0.01, 0.5, 2.0, 80.0], dtype=torch.float64)
    out, problem = _call(fn, t.clone(), what="my_cm_scalings(t)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_cm_scalings returns nothing yet: end it with 'return c_skip, c_out'.")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return _not_yet("my_cm_scalings should return two things, 'return c_skip, c_out'.")
    if any(c is Ellipsis for c in out):
        return _not_yet("write c_skip and c_out in place of the '...'.")
    try:
        c_skip, c_out = (_to_numpy(torch.as_tensor(c, dtype=torch.float64) * torch.ones_like(t)) for c in out)
    except Exception:
        return _not_yet("c_skip and c_out should be numbers or tensors computed from t.")
    tn = t.numpy()
    want_skip = d**2 / ((tn - e) ** 2 + d**2)
    want_out = d * (tn - e) / (d**2 + tn**2) ** 0.5
    edm_skip, edm_out = d**2 / (tn**2 + d**2), d * tn / (d**2 + tn**2) ** 0.5
    boundary = abs(c_skip[0] - 1) < 1e-9 and abs(c_out[0]) < 1e-9
    if _close(c_skip, want_skip, 1e-6) and _close(c_out, want_out, 1e-6):
        return _right("at t = ε, c_skip = 1 and c_out = 0 EXACTLY, so f(x, ε) = x whatever the network says: "
                      "the boundary condition holds by construction, not by training. For large t the scalings are "
                      "EDM's, so the network can start from the teacher's weights.")
    if _close(c_skip, want_out, 1e-6) and _close(c_out, want_skip, 1e-6):
        return _not_yet("c_skip and c_out are swapped: c_skip is the part of the INPUT kept, and it must be 1 at "
                        "t = ε (the input is already the music).")
    if _close(c_skip, edm_skip, 1e-6) and _close(c_out, edm_out, 1e-6):
        return _not_yet(f"these are EDM's scalings. They come close, but at t = ε = {e} c_out = {c_out[0]:.2g}, "
                        "not 0: the boundary condition f(x, ε) = x would only hold approximately. Replace t by "
                        "(t − ε) in c_skip's denominator and in c_out's numerator.")
    if boundary and _close(c_skip, want_skip, 1e-6) and _close(c_out, d * (tn - e) / (d**2 + (tn - e) ** 2) ** 0.5, 1e-6):
        return Feedback(True, "Right (a variant): the boundary condition holds exactly, c_skip(ε) = 1 and "
                              "c_out(ε) = 0. Song et al. keep t² (not (t − ε)²) under the square root of c_out, "
                              "a difference you will never see, since ε = 0.002.")
    if not _close(c_skip, want_skip, 1e-6):
        if _close(c_skip, 1 - want_skip, 1e-6):
            return _not_yet("c_skip is upside down: it must be 1 at t = ε (keep the input) and go to 0 for pure noise.")
        if abs(c_skip[0] - 1) > 1e-6:
            return _not_yet(f"at t = ε your c_skip is {c_skip[0]:.6g}; the boundary condition needs exactly 1. "
                            "c_skip(t) = σ_d² / ((t − ε)² + σ_d²).")
        return _not_yet(f"c_skip is 1 at t = ε, good, but at t = {tn[2]:g} it should be {want_skip[2]:.4g} "
                        f"(yours: {c_skip[2]:.4g}). c_skip(t) = σ_d² / ((t − ε)² + σ_d²): square (t − ε) and σ_d.")
    if abs(c_out[0]) > 1e-9:
        return _not_yet(f"c_skip is right. At t = ε your c_out is {c_out[0]:.3g}; it must be exactly 0 so that the "
                        "network cannot change a clean input: use (t − ε) in c_out's numerator.")
    return _not_yet(f"c_skip is right and c_out(ε) = 0, good. At t = 80, c_out should be close to σ_d = {d} "
                    f"(yours: {c_out[-1]:.4g}): c_out(t) = σ_d (t − ε) / √(σ_d² + t²).")


def check_ctm_jump(fn) -> Feedback:
    """Check ``fn(x, g, t, s) -> G``: CTM's jump from level ``t`` to ``s`` built from ``g`` (Kim et al. 2023).

    ``G(x_t, t, s) = (s / t) x_t + (1 - s / t) g(x_t, t, s)``; at ``s = t`` it returns ``x_t`` (the boundary
    condition), at ``s = 0`` it returns ``g`` (a consistency model). As ``TrajectoryModel.forward``.

    >>> check_ctm_jump(lambda x, g, t, s: (s / t) * x + (1 - s / t) * g).ok
    True
    >>> check_ctm_jump(lambda x, g, t, s: (s / t) * g + (1 - s / t) * x)
    Not yet: the two weights are swapped...
    """
    import torch

    gen = torch.Generator().manual_seed(8)
    x = 10.0 * torch.randn(2, 3, 5, generator=gen, dtype=torch.float64)
    g = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64).clamp(-1, 1)
    cases = [(10.0, 10.0), (10.0, 0.0), (10.0, 2.5), (80.0, 20.0)]
    got = []
    for t, s in cases:
        out, problem = _call(fn, x.clone(), g.clone(), t, s, what="my_jump(x, g, t, s)")
        if problem:
            return problem
        if out is None or out is Ellipsis:
            return _not_yet("my_jump returns nothing yet: end it with 'return' and the jumped x.")
        try:
            got.append(_to_numpy(torch.as_tensor(out, dtype=torch.float64) + torch.zeros_like(x)))
        except Exception:
            return _not_yet("my_jump should return a tensor shaped like x.")
    xn, gn = x.numpy(), g.numpy()
    want = [(s / t) * xn + (1 - s / t) * gn for t, s in cases]
    if all(_close(a, b) for a, b in zip(got, want)):
        return _right("G = (s/t)·x + (1 − s/t)·g. At s = t the jump goes nowhere, G = x (the boundary "
                      "condition, exact by construction); at s = 0 it lands on g, a consistency model's guess of "
                      "the music; in between it mixes, like an Euler step that knows where the ODE ends.")
    swapped = [(s / t) * gn + (1 - s / t) * xn for t, s in cases]
    if all(_close(a, b) for a, b in zip(got, swapped)):
        return _not_yet("the two weights are swapped: at s = t (a jump of length zero) your G returns g, but it "
                        "must return x itself. Put s/t on x and (1 − s/t) on g.")
    if _close(got[0], gn) and _close(got[1], gn):
        return _not_yet("your G always returns g: then a jump to s = t would still change x. Mix: "
                        "(s/t)·x + (1 − s/t)·g.")
    if not _close(got[0], xn):
        return _not_yet("check the boundary: with s = t, G(x, t, t) must be x exactly (no jump, no change).")
    if not _close(got[1], gn):
        return _not_yet("with s = 0, G(x, t, 0) must be g (all the way to clean music); check the weight of g: 1 − s/t.")
    return _not_yet("the ends are right (G = x at s = t, G = g at s = 0) but not the middle: the weights are "
                    "s/t and 1 − s/t, linear in s.")


def check_consistency_step(fn) -> Feedback:
    """Check ``fn(denoised, sigma_next, z)``: re-noising in multistep consistency sampling (Song et al. 2023, Alg. 1).

    ``x = denoised + sqrt(sigma_next^2 - eps^2) * z`` (``sigma_next * z`` is the same up to ``eps = 0.002``, and
    is what :func:`dittoedu.diffusion.sample_consistency` does).

    >>> check_consistency_step(lambda d, s, z: d + s * z).ok
    True
    >>> check_consistency_step(lambda d, s, z: d)
    Not yet: your step returns the clean guess...
    """
    import torch

    from .diffusion import SIGMA_MIN

    gen = torch.Generator().manual_seed(11)
    denoised = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64).clamp(-1, 1)
    z = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64)
    s = torch.tensor(2.0, dtype=torch.float64)
    out, problem = _call(fn, denoised.clone(), s, z.clone(), what="my_renoise(denoised, sigma_next, z)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_renoise returns nothing yet: end it with 'return' and the noisy x.")
    try:
        got = _to_numpy(torch.as_tensor(out, dtype=torch.float64) + torch.zeros_like(denoised))
    except Exception:
        return _not_yet("my_renoise should return a tensor shaped like denoised.")
    dn, zn, sn = denoised.numpy(), z.numpy(), float(s)
    if _close(got, dn + sn * zn) or _close(got, dn + math.sqrt(sn**2 - SIGMA_MIN**2) * zn):
        return _right("x = f(x_t, t) + σ_next · z: jump to clean music, then add FRESH noise of the next, "
                      "smaller level and jump again. Each jump sees a new z, so multistep consistency sampling "
                      "is random: the same x_T can give different music (CTM with γ = 0 instead jumps "
                      "deterministically along the ODE).")
    if _close(got, dn):
        return _not_yet("your step returns the clean guess: then the next jump starts from a clean roll, but the "
                        "model expects x at level σ_next. Add noise of that level: denoised + σ_next · z.")
    if _close(got, dn + sn**2 * zn):
        return _not_yet("σ_next² is the VARIANCE of the noise; the noise to add is σ_next · z (its standard deviation).")
    if _close(got, dn + zn):
        return _not_yet("z is unit noise: scale it to the next level, σ_next · z.")
    if _close(got, dn - sn * zn):
        return _not_yet("the sign of z does not matter for the distribution, but write it as denoised + σ_next · z, "
                        "as in Song et al.'s Algorithm 1.")
    if _close(got, sn * zn):
        return _not_yet("you kept only the noise: the new x is the clean guess PLUS noise, denoised + σ_next · z.")
    return _not_yet("not yet: the new x is the denoised guess plus fresh noise of the next level, "
                    "denoised + σ_next · z.")


# ---------------------------------------------------------------------------------------------
# lesson 09: DITTO vs DITTO-2


def check_surrogate(fn, surrogate) -> Feedback:
    """Check ``fn(eps) -> x0``: the function DITTO-2 optimizes through, one CTM jump ``G(sigma_max eps, sigma_max, 0)``.

    ``surrogate`` is the distilled :class:`~dittoedu.diffusion.TrajectoryModel`; the answer must keep gradients.
    """
    import torch

    from .diffusion import SIGMA_MAX, get_sigmas_ctm, sample_ctm

    gen = torch.Generator().manual_seed(9)
    eps = torch.randn(1, 2, N_PITCHES, 16, generator=gen)
    param = eps.clone().requires_grad_(True)
    out, problem = _call(fn, param, what="my_surrogate(eps)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_surrogate returns nothing yet: end it with 'return' and the music x0.")
    if not torch.is_tensor(out) or out.shape != eps.shape:
        shape = list(out.shape) if torch.is_tensor(out) else type(out).__name__
        return _not_yet(f"my_surrogate should return a roll shaped like eps, {list(eps.shape)}; you gave {shape}.")
    with torch.no_grad():
        want = surrogate.denoise(eps * SIGMA_MAX, SIGMA_MAX)
        close = lambda a, b: bool(torch.allclose(a.detach().float(), b.float(), atol=1e-4, rtol=1e-4))  # noqa: E731
        if close(out, want):
            if not out.requires_grad:
                return _not_yet("the music is right, but it carries no gradient: the optimizer needs ∂loss/∂ε. "
                                "Remove torch.no_grad() (or .detach()) from my_surrogate.")
            return _right("x0 = G(σ_max·ε, σ_max, 0): ONE network call from pure noise to music, with gradients. "
                          "An optimization step through it costs one forward and one backward pass, instead of "
                          "one per sampler step for DITTO.")
        if close(out, eps * SIGMA_MAX):
            return _not_yet("your function returns the noise itself: G(x, t, t) is a jump of length zero. Jump to "
                            "the END of the trajectory: s = 0 (or use surrogate.denoise).")
        if close(out, surrogate.denoise(eps, SIGMA_MAX)):
            return _not_yet("the model got unit noise ε, but at level σ_max it expects x_T = σ_max·ε. Multiply by "
                            "diffusion.SIGMA_MAX before the jump.")
        if close(out, sample_ctm(surrogate, eps * SIGMA_MAX, get_sigmas_ctm(2))):
            return _not_yet("that is a 2-jump CTM decode: good music, but two network calls per iteration. DITTO-2 "
                            "optimizes through ONE jump, G(σ_max·ε, σ_max, 0); more jumps are only ever a way to decode.")
        if close(out, eps):
            return _not_yet("your function returns ε unchanged; call the surrogate on σ_max·ε.")
    return _not_yet("not the one-step jump yet: return surrogate.denoise(eps * diffusion.SIGMA_MAX, "
                    "diffusion.SIGMA_MAX), which is surrogate(x, σ_max, 0).")


def check_real_time_factor(answer, *, seconds: float, n_steps: int = 64, tempo: float = 90.0) -> Feedback:
    """Check the real-time factor: seconds of music (``n_steps`` 16th notes at ``tempo``) per second of compute.

    >>> check_real_time_factor(10.6667 / 2.0, seconds=2.0).ok
    True
    >>> check_real_time_factor(2.0 / 10.6667, seconds=2.0)
    Not yet: upside down...
    """
    value, problem = _number(answer, "your real-time factor")
    if problem:
        return problem
    if seconds <= 0:
        return _not_yet("the run took no measurable time; run the cells above first.")
    step_s = 60.0 / tempo / 4  # a 16th note
    music = n_steps * step_s
    want = music / seconds
    near = lambda v: abs(value - v) <= 0.02 * abs(v) + 1e-9  # noqa: E731
    verdict = "faster" if want >= 1 else "slower"
    if near(want):
        return _right(f"{n_steps} sixteenths at ♩ = {tempo:g} last {n_steps} × 60/{tempo:g}/4 = {music:.2f} s; made in "
                      f"{seconds:.2f} s, that is {want:.2f}× real time ({verdict} than the music plays). DITTO's "
                      "paper: 6 s of audio in 82 s on an A100, a factor of about 0.07.")
    if near(seconds / music):
        return _not_yet("upside down: the real-time factor is seconds of MUSIC per second of COMPUTE, "
                        "music / compute (above 1: faster than real time).")
    if near(n_steps * 60.0 / tempo / seconds):
        return _not_yet("you counted each step as a quarter note; a step is a 16th note, a quarter of a beat: "
                        "60 / tempo / 4 seconds.")
    if near(n_steps * 60.0 / tempo / 2 / seconds):
        return _not_yet("a step is a 16th note (60 / tempo / 4 s), not an 8th.")
    if near(n_steps / seconds):
        return _not_yet("that is steps per second; convert the steps to seconds of music first: "
                        f"{n_steps} × 60 / {tempo:g} / 4.")
    if near(100 * want):
        return _not_yet("give the factor as a number, not a percentage.")
    return _not_yet(f"not {value:g}. Seconds of music = {n_steps} steps × 60 / tempo / 4; then divide by the "
                    f"{seconds:.2f} s the run took.")


def check_network_calls(answer, *, n_iters: int, sampler_steps: int, decode_steps: int) -> Feedback:
    """Check ``(ditto_calls, ditto2_calls)``: network forward passes of a run of exactly ``n_iters`` iterations
    plus the final decode (DITTO: ``sampler_steps`` per iteration and for the decode; DITTO-2: 1 per iteration
    and ``decode_steps`` for a CTM decode).

    >>> check_network_calls((30 * 8 + 8, 30 + 2), n_iters=30, sampler_steps=8, decode_steps=2).ok
    True
    """
    values, problem = _two_numbers(answer, "(DITTO's calls, DITTO-2's calls)")
    if problem:
        return problem
    d1, d2 = (int(round(v)) for v in values)
    n, S, k = n_iters, sampler_steps, decode_steps
    want1, want2 = n * S + S, n + k
    if (d1, d2) == (want1, want2):
        return _right(f"DITTO: {n} × {S} + {S} = {want1} forward passes (each with its backward pass in the "
                      f"optimization); DITTO-2: {n} × 1 + {k} = {want2}. About {want1 / want2:.0f}× fewer, and "
                      "the backward passes shrink the same way.")
    if (d1, d2) == (want2, want1):
        return _not_yet("swapped: DITTO is the expensive one (the whole sampler every iteration).")
    hints = []
    if d1 != want1:
        if d1 == n * S:
            hints.append(f"DITTO: {n * S} counts the iterations; the optimized noise is decoded once more at the "
                         f"end ({S} calls)")
        elif d1 in (2 * n * S + S, 3 * n * S + S, 2 * n * S, 3 * n * S, 2 * want1, 3 * want1):
            hints.append("DITTO: count forward passes only (the backward passes are extra work, not extra calls)")
        elif d1 == n + S:
            hints.append(f"DITTO: every iteration runs the WHOLE sampler, {S} calls, not one")
        else:
            hints.append(f"DITTO: {S} calls per iteration, {n} iterations, then one decode of {S} calls")
    if d2 != want2:
        if d2 == n:
            hints.append(f"DITTO-2: {n} counts the iterations; add the final CTM decode ({k} jumps)")
        elif d2 == n * k + k:
            hints.append(f"DITTO-2: it optimizes through ONE jump per iteration; only the decode uses {k}")
        elif d2 == n * S + k or d2 == n * S + S:
            hints.append("DITTO-2: the surrogate replaces the whole sampler: one call per iteration")
        else:
            hints.append(f"DITTO-2: 1 call per iteration, {n} iterations, then {k} jumps to decode")
    return _not_yet("; ".join(hints) + ".")


def check_best_decode(answer, scores: dict, *, lower_is_better: bool = True, metric: str = "the metric") -> Feedback:
    """Check which decode (a key of ``scores``, e.g. ``"CTM ×1"``) kept the control best in the measured ``scores``.

    >>> check_best_decode("CTM ×1", {"CTM ×1": 0.4, "CTM ×2": 1.7}).ok
    True
    """
    if _not_answered(answer):
        return _not_yet(f"write one of {', '.join(repr(k) for k in scores)} in place of the '...'.")
    if answer not in scores:
        match = [k for k in scores if str(answer).strip().lower().replace("x", "×") == k.lower()]
        if not match:
            return _not_yet(f"{answer!r} is not one of the decodes measured: {', '.join(repr(k) for k in scores)}.")
        answer = match[0]
    pick = (min if lower_is_better else max)(scores, key=scores.get)
    mine, best = scores[answer], scores[pick]
    why = {
        "CTM ×1": "it is exactly the function the optimizer saw, G(x_T, σ_max, 0): what was optimized is what you get",
        "CM": "multistep consistency sampling adds FRESH noise after each jump, so it wanders away from the "
              "optimized path at random",
        "base": "the base model's sampler follows the teacher's ODE, which the one-jump surrogate only "
                "approximates: the optimized noise lands on slightly different music",
        "more": "more jumps follow the trajectory in smaller pieces; where they disagree with the one long jump, "
                "the music moves away from what was optimized (though it may sound cleaner)",
    }

    def reason(label):
        if label == "CTM ×1":
            return why["CTM ×1"]
        if label.startswith("CM"):
            return why["CM"]
        if label.startswith("base"):
            return why["base"]
        return why["more"]

    if answer == pick or mine == best:
        return _right(f"{answer} keeps the control best here ({metric} {mine:.3g}): {reason(answer)}. The other "
                      "decodes trade some adherence for other things (quality, a different sample).")
    return _not_yet(f"{answer} scored {mine:.3g}, but {pick} scored {best:.3g} ({metric}, "
                    f"{'lower' if lower_is_better else 'higher'} is better). Why {answer} drifts: {reason(answer)}.")


# ---------------------------------------------------------------------------------------------
# lesson 11: why optimize the noise


def check_best_of_n_count(answer, *, p: float = 0.01, confidence: float = 0.95) -> Feedback:
    """Check the number of samples ``N`` best-of-N needs so that, with probability ``confidence``, at least one of
    them meets a target that one sample meets with probability ``p``: ``1 - (1 - p)^N >= confidence``.

    >>> check_best_of_n_count(299).ok
    True
    >>> check_best_of_n_count(100)
    Not yet: 100 = 1/p...
    """
    value, problem = _number(answer, "your number of samples N")
    if problem:
        return problem
    exact = math.log(1 - confidence) / math.log(1 - p)
    want = math.ceil(exact)
    if want - 1 <= value <= want + 1 or abs(value - math.log(1 - confidence) / -p) <= 1:
        chance = 1 - (1 - p) ** max(1, round(value))
        tiny = p ** 8
        return _right(f"N = ln(1 − {confidence:g}) / ln(1 − {p:g}) = {exact:.1f}, so {want} samples (with "
                      f"{round(value)} the chance is {chance:.1%}). Search costs grow like 1/p: a target met by one "
                      f"sample in a million needs millions of samples, and an exact 8-note melody, each note right "
                      f"with probability {p:g}, has p = {tiny:.0e}. Optimizing the noise does not wait for luck.")
    if abs(value - 1 / p) <= 1:
        return _not_yet(f"{value:g} = 1/p is how many samples you need ON AVERAGE for the first hit; with that many, "
                        f"the chance of at least one hit is only 1 − (1 − p)^{round(1 / p)} ≈ "
                        f"{1 - (1 - p) ** round(1 / p):.0%}. Solve 1 − (1 − p)^N ≥ {confidence:g} for N.")
    if abs(value - confidence / p) <= 1:
        return _not_yet("probabilities of independent tries do not add up to the confidence; the chance that ALL N "
                        "miss is (1 − p)^N. Make that at most 1 − confidence.")
    if abs(value - math.log(confidence) / math.log(1 - p)) <= 1:
        return _not_yet("you solved (1 − p)^N = confidence; the chance that all N MISS must be small: "
                        f"(1 − p)^N ≤ 1 − {confidence:g}.")
    if value < 0:
        return _not_yet("a negative count: both logarithms are negative, so their ratio is positive; check the signs.")
    return _not_yet(f"not {value:g}. All N samples miss with probability (1 − p)^N; you want that ≤ 1 − {confidence:g}, "
                    "so N ≥ ln(1 − confidence) / ln(1 − p).")


def check_guidance_nudge(fn) -> Feedback:
    """Check ``fn(x, grad, step)``: move each item of ``x [B, ...]`` a distance ``step`` DOWN its loss gradient.

    ``x - step * grad / ||grad||`` with one norm per item, as ``ito._guided_sample`` does (after FreeDoM,
    Yu et al. 2023), where ``step`` is a fraction of the noise level.

    >>> check_guidance_nudge(lambda x, g, step: x - step * g / g.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)).ok
    True
    >>> check_guidance_nudge(lambda x, g, step: x + step * g / g.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1))
    Not yet: your step goes UP the gradient...
    """
    import torch

    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 2, 3, 4, generator=gen, dtype=torch.float64)
    grad = torch.randn(2, 2, 3, 4, generator=gen, dtype=torch.float64) * torch.tensor([0.01, 50.0],
                                                                                      dtype=torch.float64).reshape(2, 1, 1, 1)
    step = 0.7
    out, problem = _call(fn, x.clone(), grad.clone(), step, what="my_nudge(x, grad, step)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_nudge returns nothing yet: end it with 'return' and the nudged x.")
    try:
        got = torch.as_tensor(out, dtype=torch.float64) + torch.zeros_like(x)
    except Exception:
        return _not_yet("my_nudge should return a tensor shaped like x.")
    unit = grad / grad.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    close = lambda a, b: bool(torch.allclose(a, b, rtol=1e-5, atol=1e-6))  # noqa: E731
    if close(got, x - step * unit):
        return _right("x − step · g/‖g‖, one norm per item: every item moves the same distance down its own "
                      "gradient, however large or tiny that gradient is. In ito._guided_sample the step is "
                      "0.1 · scale · σ · √D, a fixed fraction of the noise still in x_t, so the nudges shrink as "
                      "the music gets clean.")
    if close(got, x + step * unit):
        return _not_yet("your step goes UP the gradient: that makes the loss larger. Subtract: x − step · g/‖g‖.")
    if close(got, x - step * grad):
        return _not_yet("without normalizing, the step's length is step × ‖g‖: here one item barely moves (a tiny "
                        "gradient) and the other jumps far (a huge one). Divide g by its norm, one per item.")
    whole = grad / grad.norm()
    if close(got, x - step * whole):
        return _not_yet("you divided by the norm of the whole batch; each item needs its own: "
                        "grad.flatten(1).norm(dim=1), reshaped to [B, 1, 1, 1].")
    if close(got, x - step * grad / grad.flatten(1).norm(dim=1).square().reshape(-1, 1, 1, 1)):
        return _not_yet("divide by the norm, not by the norm squared, so that the step has length exactly `step`.")
    if close(got, x):
        return _not_yet("x did not move: subtract step · grad / ‖grad‖.")
    return _not_yet("not yet: x − step · grad / ‖grad‖, with ‖grad‖ = grad.flatten(1).norm(dim=1) reshaped to "
                    "broadcast.")


def check_equal_budget(answer, *, budget_s: float, sample_s: float, guided_s: float, sampler_steps: int = 8) -> Feedback:
    """Check ``(N, steps)``: best-of-N candidates and guidance steps that cost what DITTO cost (``budget_s``).

    One plain sample takes ``sample_s``, one guided sample of ``sampler_steps`` steps ``guided_s``
    (as ``bench.baselines_at_equal_time`` does). Rounding either way is fine.

    >>> check_equal_budget((30, 80), budget_s=3.0, sample_s=0.1, guided_s=0.3).ok
    True
    """
    values, problem = _two_numbers(answer, "(N for best-of-N, steps for guidance)")
    if problem:
        return problem
    n, steps = float(values[0]), float(values[1])
    want_n = budget_s / sample_s
    want_steps = budget_s / guided_s * sampler_steps
    near = lambda v, w: abs(v - w) <= max(1.0, 0.05 * w)  # noqa: E731
    ok_n, ok_steps = near(n, want_n), near(steps, want_steps)
    if ok_n and ok_steps:
        return _right(f"best-of-N gets N ≈ {budget_s:.2f} / {sample_s:.3f} = {want_n:.0f} samples, and guidance "
                      f"≈ {budget_s:.2f} / {guided_s:.3f} × {sampler_steps} = {want_steps:.0f} steps, in the same "
                      "wall time as DITTO. Equal time is the fair comparison: iterations are not the same size for "
                      "the three methods.")
    hints = []
    if not ok_n:
        if near(n, sample_s / budget_s) or (n < 1 and want_n >= 1):
            hints.append("N is upside down: how many samples of sample_s seconds fit in budget_s? budget_s / sample_s")
        elif near(n, want_n * sampler_steps):
            hints.append(f"N: sample_s is already the time of a whole {sampler_steps}-step sample; do not multiply "
                         f"by {sampler_steps}")
        else:
            hints.append(f"N: how many plain samples fit in {budget_s:.2f} s, at {sample_s:.3f} s each?")
    if not ok_steps:
        if near(steps, budget_s / guided_s):
            hints.append(f"steps: {budget_s / guided_s:.0f} is how many guided SAMPLES fit; each has "
                         f"{sampler_steps} steps, so guidance can take {sampler_steps}× as many steps in one sample")
        elif near(steps, guided_s / budget_s * sampler_steps):
            hints.append("steps is upside down: budget_s / guided_s × sampler_steps")
        else:
            hints.append(f"steps: a guided step costs guided_s / {sampler_steps} seconds; how many fit in "
                         f"{budget_s:.2f} s?")
    return _not_yet("; ".join(hints) + ".")


# =============================================================================================
# Lesson 10: text control, steering with a contrastive text-music model as DITTO-2 does with CLAP
# (Novack et al. 2024b):
#
# * :func:`check_similarity_matrix` -- the cosine similarity of every piece with every prompt, ``[B, K]``;
# * :func:`check_prompt` -- a prompt that asks the text model for given attributes
#   (read by :func:`dittoedu.textmusic.parse_prompt`);
# * :func:`check_attribute_prediction` -- the attributes the analyzers will measure on an excerpt;
# * :func:`check_cheat_reason` -- why the optimizer cannot cheat the analyzers (the options are
#   :data:`CHEAT_OPTIONS`).


# ---------------------------------------------------------------------------------------------
# lesson 10: text control


def check_similarity_matrix(fn) -> Feedback:
    """Check ``fn(music, text)``: the cosine of every row of ``music [B, d]`` with every row of ``text [K, d]``.

    The answer is a matrix ``[B, K]``: pieces down the side, prompts along the top.

    >>> import torch.nn.functional as F
    >>> check_similarity_matrix(lambda m, t: F.normalize(m, dim=-1) @ F.normalize(t, dim=-1).T).ok
    True
    >>> check_similarity_matrix(lambda m, t: m @ t.T)
    Not yet: those are plain dot products...
    """
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(10)
    music = torch.randn(3, 4, generator=gen, dtype=torch.float64) * torch.tensor([[0.5], [2.0], [4.0]],
                                                                                dtype=torch.float64)
    text = torch.randn(2, 4, generator=gen, dtype=torch.float64) * torch.tensor([[3.0], [0.25]], dtype=torch.float64)
    out, problem = _call(fn, music.clone(), text.clone(), what="my_similarity(music, text)")
    if problem:
        return problem
    if out is None or out is Ellipsis:
        return _not_yet("my_similarity returns nothing yet: end it with 'return' and the [B, K] matrix.")
    try:
        got = torch.as_tensor(out, dtype=torch.float64)
    except Exception:
        return _not_yet(f"my_similarity should return a tensor; it returned {_a(type(out).__name__)}.")
    m, t = F.normalize(music, dim=-1), F.normalize(text, dim=-1)
    want = m @ t.T
    close = lambda a, b: a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-5, atol=1e-6))  # noqa: E731
    if close(got, want):
        return _right("cos(m, t) = m·t / (|m| |t|) for every pair: normalize every row to length 1, then one matrix "
                      "product, music @ text.T. This is what the text model returns for (rolls, prompts). CLIP's "
                      "training multiplies it by a learnt exp(τ) to make the logits of a softmax.")
    if close(got, want.T):
        return _not_yet(f"rows should be the pieces ({len(music)}) and columns the prompts ({len(text)}): [B, K]. "
                        "Yours is [K, B]: music @ text.T, not text @ music.T.")
    if got.numel() == 1:
        return _not_yet("one number per (piece, prompt) pair: for 3 pieces and 2 prompts, a [3, 2] matrix. "
                        "music @ text.T multiplies every row of one with every row of the other.")
    if close(got, music @ text.T):
        return _not_yet("those are plain dot products: a longer vector gets a bigger number. Divide every vector by "
                        "its length first (F.normalize(v, dim=-1)), so that only the direction counts.")
    if close(got, m @ text.T) or close(got, music @ t.T):
        return _not_yet("normalize BOTH sides: the music vectors and the text vectors, each to length 1.")
    if close(got, F.normalize(music, dim=0) @ F.normalize(text, dim=0).T):
        return _not_yet("you normalized the columns (dim=0); each VECTOR is a row and must get length 1: "
                        "F.normalize(v, dim=-1) (or v / v.norm(dim=-1, keepdim=True)).")
    if close(got, 1 - want):
        return _not_yet("that is the cosine DISTANCE, 1 − similarity (it is the text control's loss); return the "
                        "similarity itself.")
    if close(got, want / 0.07) or close(got, want * math.exp(math.log(1 / 0.07))):
        return _not_yet("that is CLIP's logits, the cosine divided by a temperature; the similarity is the cosine "
                        "itself, between −1 and 1.")
    if tuple(got.shape) != (3, 2):
        return _not_yet(f"for 3 pieces and 2 prompts the matrix is [3, 2]; yours has shape {list(got.shape)}. "
                        "Hint: music @ text.T.")
    if got.abs().max() > 1 + 1e-6:
        return _not_yet("a cosine lies between −1 and 1, but some of yours are larger: normalize each row to length 1 "
                        "before the product.")
    return _not_yet("not yet: F.normalize(music, dim=-1) @ F.normalize(text, dim=-1).T.")


def check_prompt(answer, want: dict | None = None) -> Feedback:
    """Check a prompt that should ask the text model for exactly the attributes ``want`` (default: minor, low).

    >>> check_prompt("a gloomy chorale in a deep register").ok
    True
    >>> check_prompt("a chorale that is not happy, low")
    Not yet: it does not ask for a mode at all...
    """
    from .textmusic import MEANING, WORDS, PromptError, parse_prompt

    want = dict(want or {"mode": "minor", "register": "low"})
    asked = " and ".join(f"{v} {a}" for a, v in want.items())
    if _not_answered(answer):
        return _not_yet(f"write your prompt in quotes in place of the '...', asking for {asked}.")
    if not isinstance(answer, str):
        return _not_yet(f"a prompt is text in quotes; you gave {_a(type(answer).__name__)}.")
    try:
        prompt = parse_prompt(answer)
    except PromptError as exc:
        return _not_yet(f"the text model refuses it: {exc}.")

    def choices(attr, value):
        return ", ".join(f"'{w}'" for w in WORDS[attr][value])

    hints = []
    for attr, value in want.items():
        got = prompt.requested.get(attr)
        if got is None:
            hints.append(f"it does not ask for a {attr} at all; add one of {choices(attr, value)}")
        elif got != value:
            word = next(w for w in prompt.words if MEANING[w] == (attr, got))
            hints.append(f"the word '{word}' asks for {got} {attr}, not {value}; use one of {choices(attr, value)}")
    if hints:
        negation = ""
        if prompt.warnings:
            negation = " Careful: " + "; ".join(prompt.warnings) + " (the model reads only the words it knows)."
        return _not_yet("; ".join(hints) + "." + negation)
    extra = {a: v for a, v in prompt.requested.items() if a not in want}
    if extra:
        said = ", ".join(f"{v} {a} (the word '{next(w for w in prompt.words if MEANING[w] == (a, v))}')"
                         for a, v in extra.items())
        return _not_yet(f"it asks for {asked}, and also for {said}. Ask for {asked} only: every extra attribute is one "
                        "more thing the optimizer has to satisfy and the analyzers will check.")
    ignored = ""
    if prompt.unknown:
        ignored = f" It ignores {', '.join(repr(w) for w in prompt.unknown)} (words it does not know)."
    heard = ", ".join(repr(w) for w in prompt.words)
    return _right(f"the text model hears {heard}, that is {asked}.{ignored} Only the "
                  "attribute words reach its text encoder (an average of word vectors), so word order and grammar "
                  "are lost: 'minor, low' gives the same embedding as your sentence.")


def check_attribute_prediction(answer, notes, *, n_steps: int) -> Feedback:
    """Check a prediction ``{'mode': ..., 'register': ..., 'density': ..., 'contour': ...}`` of what
    :func:`dittoedu.metrics.attributes` measures on ``notes``; each miss is explained with the analyzer's number.

    A string such as ``"minor, middle, calm, falling"`` is read too.

    >>> from dittoedu.roll import Note
    >>> a_minor = [Note(p, 4 * i, 4) for i, p in enumerate([69, 72, 76, 72, 69, 64, 69, 57])]
    >>> check_attribute_prediction("minor, high, moderate, falling", a_minor, n_steps=32).ok
    True
    """
    from .metrics import ATTRIBUTES, CONTOUR_EDGE, DENSITY_EDGES, REGISTER_EDGES, attribute_values, attributes, key_fit
    from .roll import notes_to_roll

    example = "{'mode': 'major', 'register': 'middle', 'density': 'calm', 'contour': 'rising'}"
    if _not_answered(answer):
        return _not_yet(f"write your prediction in place of the '...', e.g. {example}.")
    if isinstance(answer, str):
        by_word = {v: a for a, vs in ATTRIBUTES.items() for v in vs}
        words = re.findall(r"[a-z]+", answer.lower())
        answer = {by_word[w]: w for w in words if w in by_word}
    if not isinstance(answer, dict):
        return _not_yet(f"give a dict, one value per attribute, e.g. {example}; you gave {_a(type(answer).__name__)}.")
    answer = {str(k).strip().lower(): v if _not_answered(v) else str(v).strip().lower() for k, v in answer.items()}
    strange = [k for k in answer if k not in ATTRIBUTES]
    if strange:
        return _not_yet(f"the attributes are {', '.join(ATTRIBUTES)}; "
                        f"{', '.join(repr(k) for k in strange)} is not one.")
    missing = [a for a in ATTRIBUTES if a not in answer or _not_answered(answer[a])]
    if missing:
        return _not_yet(f"predict all four attributes; {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                        f"missing (values: " + "; ".join(f"{a}: {' / '.join(ATTRIBUTES[a])}" for a in missing) + ").")
    bad = [(a, v) for a, v in answer.items() if v not in ATTRIBUTES[a]]
    if bad:
        return _not_yet("; ".join(f"{v!r} is not a value of {a} (choose {' / '.join(ATTRIBUTES[a])})" for a, v in bad)
                        + ".")
    truth = attributes(notes, n_steps=n_steps)
    if not truth:
        return _not_yet("the excerpt is silent: there is nothing to measure.")
    values = {k: float(v[0]) for k, v in attribute_values(notes_to_roll(notes, n_steps)[None]).items()}
    starts, quarters = sum(n.onset < n_steps for n in notes), n_steps / 4
    voices = starts / quarters / values["density"] if values["density"] else 0.0
    r, key = key_fit(notes)
    why = {
        "mode": f"music21's key analysis (Krumhansl–Schmuckler: how long each pitch class sounds, against the major "
                f"and minor key profiles in all 12 keys) finds {key} (r = {r:.2f})",
        "register": f"the mean pitch of everything that sounds, every voice at every step, is {values['register']:.2f} "
                    f"(C4 = 60); below {REGISTER_EDGES[0]} is low, above {REGISTER_EDGES[1]} high, so the bass counts "
                    "as much as the tune",
        "density": f"{starts} notes start in {quarters:g} quarter notes, {voices:.2f} voices sound on average, "
                   f"so each voice starts {values['density']:.2f} notes per quarter; below {DENSITY_EDGES[0]} is calm, "
                   f"above {DENSITY_EDGES[1]} busy (a chorale voice moves about once a beat)",
        "contour": f"the top voice's mean pitch over the last quarter of the excerpt minus over the first is "
                   f"{values['contour']:+.2f} semitones; beyond ±{CONTOUR_EDGE:g} it is rising or falling",
    }
    wrong = [a for a in ATTRIBUTES if answer[a] != truth[a]]
    if not wrong:
        return _right(", ".join(truth.values()) + ". " + "; ".join(f"{a}: {why[a]}" for a in ("register", "density"))
                      + ". These are the facts a training caption could state about this excerpt; no learnt model "
                      "was asked.")
    return _not_yet(f"{len(ATTRIBUTES) - len(wrong)} of {len(ATTRIBUTES)} right. "
                    + "; ".join(f"{a} is {truth[a]}, not {answer[a]}: {why[a]}" for a in wrong) + ".")


CHEAT_OPTIONS = {
    "a": "The analyzers are differentiable, so the optimizer follows their gradient and the music really gets "
         "the attributes.",
    "b": "The text model was trained on captions the analyzers wrote, so it always agrees with them.",
    "c": "The analyzers take no part in the loss: they measure the final, thresholded notes after the "
         "optimization, so the optimizer can at most fool the text model, and a fooled text model shows up "
         "as a missed attribute.",
    "d": "DITTO-2 optimizes through a one-jump surrogate, which is too small a model to be cheated.",
}


def check_cheat_reason(answer) -> Feedback:
    """Check the answer to "why can the optimizer not cheat the analyzers?" (one of :data:`CHEAT_OPTIONS`).

    >>> check_cheat_reason("c").ok
    True
    >>> check_cheat_reason("b")
    Not yet: it was trained on them...
    """
    if _not_answered(answer):
        return _not_yet("answer with one letter in quotes, 'a', 'b', 'c' or 'd', in place of the '...'.")
    text = str(answer).strip().lower()
    match = re.fullmatch(r"\(?(?:option\s*)?([a-d])\)?[.:]?", text)
    letter = match.group(1) if match else next((k for k, v in CHEAT_OPTIONS.items() if v.lower() == text), None)
    if letter is None:
        return _not_yet("answer with one letter in quotes: 'a', 'b', 'c' or 'd'.")
    if letter == "c":
        return _right("the optimizer only ever sees the text model's gradient; the analyzers (music21's key analysis, "
                      "counting pitches and note starts) only ever look at decoded, thresholded notes, and nothing "
                      "flows back from them. If the optimizer finds music the text model likes for the wrong reasons, the "
                      "analyzers report a missed attribute. Two honest caveats: DITTO-2's early stop asks the "
                      "analyzers whether the decoded music already obeys, so they decide WHEN to stop (a selection, "
                      "not a gradient); and the analyzers can themselves be wrong about music (a key is a guess).")
    why = {
        "a": "the analyzers are not differentiable: music21's key analysis and counting note starts on thresholded "
             "notes give no gradient at all. The gradient comes from the text model only.",
        "b": "it was trained on them, but it agrees on roughly nine held-out windows in ten (see its model card, "
             "dittoedu/weights/text.md), not always; and an optimizer actively searches for the inputs where a model "
             "is wrong (adversarial examples). That is exactly why it is not allowed to grade its own homework.",
        "d": "the surrogate is how the gradient is computed, not what judges the result; DITTO through the full "
             "sampler is judged in exactly the same way. Ask instead: what does the loss contain, and what measures "
             "the final notes?",
    }
    return _not_yet(why[letter])


# ---------------------------------------------------------------------------------------------
# lesson 00: the Studio


def check_loss_direction(answer, take) -> Feedback:
    """Did the total loss of a Studio take go ``"down"`` or ``"up"`` over its iterations? (lesson 00)

    >>> class Take: number, method, loss_history = 1, "ditto", {"total": [0.8, 0.5, 0.1]}
    >>> check_loss_direction("down", Take())
    Right: ...
    """
    if take is None:
        return _not_yet("there is no take yet: press Generate (or run the cell with studio.generate()) first.")
    if _not_answered(answer):
        return _not_yet('look at the loss curves of your take, then write "down" or "up" in place of the ....')
    history = take.loss_history.get("total", [])
    if len(history) < 2:
        return _not_yet(f"take {take.number} has {len(history)} loss value(s): with method {take.method!r} there is "
                        "no search to watch. Make a take with DITTO or DITTO-2, then look again.")
    answer = str(answer).strip().lower()
    if answer not in ("down", "up"):
        return _not_yet(f'answer "down" or "up", not {answer!r}.')
    first, last = history[0], history[-1]
    truth = "down" if last < first else "up"
    if answer == truth and truth == "down":
        return _right(f"the total loss of take {take.number} went from {first:.3g} to {last:.3g} in {len(history)} "
                      "iterations. Each iteration nudged the starting noise so that the music moved closer to "
                      "what you drew; the model itself never changed.")
    if answer == truth:
        return _right(f"this time it went up, from {first:.3g} to {last:.3g}: the search can overshoot (the step is "
                      "too big, or two controls pull apart). The Studio keeps the best music it met, not the last.")
    return _not_yet(f"look again: take {take.number} started at {first:.3g} and ended at {last:.3g}. Read the loss "
                    "plot from left (first iteration) to right (last); lower means closer to your drawing.")


def _melody_accuracy(take) -> float | None:
    m = take.metrics.get("melody")
    return None if m is None else m["accuracy"]


def check_studio_methods(studio) -> Feedback:
    """Has the student compared a searched take (DITTO or DITTO-2) with plain sampling on a melody? (lesson 00)"""
    takes = [t for t in getattr(studio, "takes", []) if _melody_accuracy(t) is not None]
    plain = [t for t in takes if t.method == "none"]
    searched = [t for t in takes if t.method in ("ditto", "ditto2")]
    if not searched:
        return _not_yet("first make a take with DITTO-2 or DITTO that follows a melody (tick melody, press Generate).")
    if not plain:
        return _not_yet("now set the method to 'none: plain sampling' and press Generate (same drawing): the loss "
                        "is measured but not used. Then run this check again.")
    best = max(searched, key=_melody_accuracy)
    last_plain = plain[-1]
    a, b = _melody_accuracy(best), _melody_accuracy(last_plain)
    if a > b:
        return _right(f"take {best.number} ({best.method}) sings {a:.0%} of your melody exactly, plain sampling "
                      f"(take {last_plain.number}) {b:.0%}. Same model, same drawing: only the search for the "
                      "starting noise makes it follow you.")
    return _not_yet(f"plain sampling (take {last_plain.number}, {b:.0%}) did as well as your best search "
                    f"(take {best.number}, {a:.0%}). That is rare: try more iterations, or a melody with more "
                    "notes, and compare again.")


def check_best_take(answer, studio) -> Feedback:
    """Which take follows the melody best? The answer is a take number, read from the Studio's table. (lesson 00)"""
    takes = [t for t in getattr(studio, "takes", []) if _melody_accuracy(t) is not None]
    if not takes:
        return _not_yet("there is no take with a melody yet: tick melody, press Generate, then read the table.")
    if _not_answered(answer):
        return _not_yet("read the table under the pictures (column 'how well it follows'), then write the number "
                        "of the best take in place of the ....")
    try:
        number = int(answer)
    except (TypeError, ValueError):
        return _not_yet(f"write the take's number, like 2, not {answer!r}.")
    by_number = {t.number: t for t in takes}
    if number not in by_number:
        return _not_yet(f"there is no take {number} with a melody; your takes are "
                        f"{', '.join(str(n) for n in by_number)}.")
    best = max(_melody_accuracy(t) for t in takes)
    if _melody_accuracy(by_number[number]) == best:
        return _right(f"take {number} sings {best:.0%} of your melody exactly, the best of your "
                      f"{len(takes)} take{'s' * (len(takes) > 1)}.")
    winners = [str(t.number) for t in takes if _melody_accuracy(t) == best]
    return _not_yet(f"take {number} sings {_melody_accuracy(by_number[number]):.0%} of the melody exactly, but "
                    f"take {' and '.join(winners)} reach{'es' * (len(winners) == 1)} {best:.0%}. Look at the "
                    "'melody … exact' figure of each row.")
