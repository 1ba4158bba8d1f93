"""The exercise checks: a right answer is praised, a typical wrong one gets a hint that names the mistake.

Each wrong answer below is one a student is likely to give; the test asserts that the feedback
says what is wrong (a few words that would be false for a different mistake), not only "wrong".
"""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from dittoedu import exercises as ex
from dittoedu.roll import FRAME, ONSET, Note

ROW_C4 = 60 - 36


def roll_with(*cells, n_steps=8):
    """A silent roll [2, 48, n_steps] with the given (channel, row, step-slice) cells switched on."""
    x = -torch.ones(2, 48, n_steps)
    for channel, row, steps in cells:
        x[channel, row, steps] = 1.0
    return x


TWO_CS = roll_with((FRAME, ROW_C4, slice(0, 8)), (ONSET, ROW_C4, 0), (ONSET, ROW_C4, 4))


def says(feedback, *words):
    """Whether the feedback is a 'not yet' that contains every one of ``words`` (case-insensitive)."""
    text = feedback.message.lower()
    return not feedback.ok and all(w.lower() in text for w in words)


# ---------------------------------------------------------------------------------------------
# feedback itself


def test_feedback_shows_its_message_in_a_notebook():
    fb = ex.check_frequency(220.0, note="A3")
    assert fb.ok and repr(fb) == str(fb) == fb.message and fb.message.startswith("Right")


# ---------------------------------------------------------------------------------------------
# exercise 1: Ode to Joy


@pytest.mark.parametrize("answer", [
    "4/4 e4 e f g",
    "e4 e f g",  # no time signature: 4/4 is the default
    "tinyNotation: 4/4 e4 e f g",
    "X:1\nM:4/4\nL:1/4\nK:C\nE E F G",  # ABC is fine too
])
def test_ode_to_joy_first_bar_is_right_and_invites_more(answer):
    fb = ex.check_ode_to_joy(answer)
    assert fb.ok, fb.message
    assert "E4 E4 F4 G4" in fb.message and "bonus" in fb.message.lower()


def test_ode_to_joy_all_four_bars():
    fb = ex.check_ode_to_joy(ex.ODE_TO_JOY)
    assert fb.ok and "all 15 notes" in fb.message
    fb = ex.check_ode_to_joy(ex.ODE_TO_JOY + " c1")
    assert fb.ok and "continuation" in fb.message


@pytest.mark.parametrize("answer, words", [
    ("4/4 ...", ["in place of the '...'"]),
    ("", ["in place of"]),
    (None, ["in place of"]),
    (42, ["text in quotes", "an int"]),
    ("4/4 E4 E F G", ["octave too low", "lowercase 'c' is middle c"]),
    ("4/4 e'4 e' f' g'", ["octave too high"]),
    ("4/4 e4 e f# g", ["note 3 should be F4", "F#4", "sharp", "first 2 notes are right"]),
    ("4/4 d4 d e f", ["note 1 should be E4", "D4"]),
    ("4/4 e8 e f g", ["pitches are right", "note 1", "an 8th note", "should be a quarter note"]),
    ("4/4 e4 e f g2", ["note 4", "a half note"]),
    ("4/4 e4 r e f g", ["rest before note 2"]),
    ("4/4 e4 e f", ["3 notes", "first bar", "has 4"]),
    ("3/4 e4 e f g", ["4/4 time", "3/4"]),
    ("4/4 e4 e f g | g f e c", ["note 8 should be D4", "C4", "first 7 notes are right"]),
    ("4/4 e4 e f g | g f e d | c c d e | e4 d d2", ["note 13", "a quarter note", "a dotted quarter note"]),
    ("4/4 x y z", ["could not read", "tinyNotation"]),
])
def test_ode_to_joy_wrong_answers_get_a_specific_hint(answer, words):
    fb = ex.check_ode_to_joy(answer)
    assert says(fb, *words), fb.message


def test_check_melody_works_for_another_tune():
    twinkle = "4/4 c4 c g g | a a g2"
    assert ex.check_melody("4/4 c4 c g g", twinkle, name="Twinkle", min_notes=4).ok
    fb = ex.check_melody("4/4 c4 c a a", twinkle, name="Twinkle", min_notes=4)
    assert says(fb, "note 3 should be G4")
    fb = ex.check_melody("4/4 d4 d a a", twinkle, name="Twinkle", min_notes=4)
    assert says(fb, "starts on D4 instead of C4", "2 semitones too high")


def test_a_chord_is_not_a_melody():
    fb = ex.check_ode_to_joy("X:1\nM:4/4\nL:1/4\nK:C\n[EG] E F G")  # ABC, a chord first
    assert says(fb, "start together")


# ---------------------------------------------------------------------------------------------
# exercise 2: two repeated C's by hand


def test_two_cs_are_right_as_tensor_array_or_batch():
    for answer in (TWO_CS, TWO_CS.numpy(), TWO_CS[None]):
        fb = ex.check_repeated_cs(answer)
        assert fb.ok and "second onset" in fb.message


@pytest.mark.parametrize("answer, words", [
    (-torch.ones(2, 48, 8), ["silent", "LOW_PITCH"]),
    (None, ["make a roll first"]),
    ("two Cs", ["expected a tensor"]),
    (-torch.ones(2, 48, 16), ["16 steps", "8 steps"]),
    (-torch.ones(48, 8), ["shape [2, 48, T]", "[48, 8]"]),
    ((TWO_CS + 1) / 2, ["0 for silence", "-1"]),
    (TWO_CS * 0.5, ["-1 (off) or +1 (on)"]),
    (roll_with((FRAME, ROW_C4, slice(0, 8)), (ONSET, ROW_C4, 0)), ["ONE C4 half note", "own onset"]),
    (roll_with((ONSET, ROW_C4, 0), (ONSET, ROW_C4, 4)), ["onsets but no frames"]),
    (roll_with((ONSET, ROW_C4, slice(0, 8)), (FRAME, ROW_C4, 0), (FRAME, ROW_C4, 4)), ["swapped"]),
    (roll_with((FRAME, 23, slice(0, 8)), (ONSET, 23, 0), (ONSET, 23, 4)), ["row 23", "B3", "row 24"]),
    (roll_with((FRAME, ROW_C4, slice(0, 4)), (ONSET, ROW_C4, 0), (ONSET, ROW_C4, 4)), ["onset at C4, step 4"]),
    (roll_with((FRAME, ROW_C4, slice(0, 4)), (ONSET, ROW_C4, 0), (ONSET, ROW_C4, 2)), ["[0, 2]", "4 steps each"]),
    (roll_with((FRAME, ROW_C4, slice(0, 8)), (ONSET, ROW_C4, slice(0, 8, 2))), ["4 C4 notes", "two onsets"]),
    (roll_with((FRAME, ROW_C4, slice(0, 8)), (ONSET, ROW_C4, 0), (ONSET, ROW_C4, 4), (FRAME, 28, slice(0, 8)),
               (ONSET, 28, 0)), ["other notes", "E4"]),
])
def test_two_cs_wrong_answers_get_a_specific_hint(answer, words):
    fb = ex.check_repeated_cs(answer)
    assert says(fb, *words), fb.message


# ---------------------------------------------------------------------------------------------
# exercise 3: frequency of a pitch


@pytest.mark.parametrize("answer", [220.0, 220, 220.3, "220 Hz", torch.tensor(220.0), np.float64(220.0)])
def test_frequency_of_a3_is_right(answer):
    fb = ex.check_frequency(answer, note="A3")
    assert fb.ok and "220.00 Hz" in fb.message


def test_frequency_of_other_notes():
    assert ex.check_frequency(261.63, note="C4").ok
    assert ex.check_frequency(440, note=69).ok
    assert not ex.check_frequency(261.63, note="C5").ok


@pytest.mark.parametrize("answer, words", [
    (0, ["put it in place of the 0", "p = 57"]),
    (None, ["p = 57"]),
    (440, ["A4", "1 octave too high"]),
    (110, ["A2", "1 octave too low"]),
    (57, ["MIDI number, not its frequency"]),
    (233.08, ["Bb3", "1 semitone away"]),
    (196.0, ["G3", "2 semitones away"]),
    (440 * 2.0 ** (57 - 69), ["division by 12"]),
    (880, ["sign is flipped"]),
    (-220, ["positive"]),
    ("lots", ["number of Hz"]),
    (300, ["not A3", "12 semitones below A4"]),
])
def test_frequency_wrong_answers_get_a_specific_hint(answer, words):
    fb = ex.check_frequency(answer, note="A3")
    assert says(fb, *words), fb.message


def test_frequency_check_refuses_a_bad_question():
    with pytest.raises(ValueError, match="not a note name"):
        ex.check_frequency(220, note="H3")


# ---------------------------------------------------------------------------------------------
# exercise 4: the highest note in a spectrogram

MELODY = [Note(60, 0, 4), Note(62, 4, 4), Note(67, 8, 8), Note(69, 16, 4), Note(67, 20, 4)]


@pytest.mark.parametrize("answer", ["A4", "a4", " A4 ", 69])
def test_highest_note_is_right(answer):
    fb = ex.check_highest_note(answer, MELODY)
    assert fb.ok and "harmonics" in fb.message


@pytest.mark.parametrize("answer, words", [
    ("...", ["in place of"]),
    ("A", ["right letter", "octave"]),
    ("G", ["add the octave"]),
    ("A5", ["2nd harmonic of A4", "lowest line"]),
    ("E6", ["3rd harmonic of A4"]),
    ("A6", ["4th harmonic of A4"]),
    ("D6", ["3rd harmonic of G4"]),
    ("G4", ["in the music", "not the highest"]),
    ("A3", ["wrong octave"]),
    ("B4", ["B4", "not played"]),
    ("H2", ["note name with its octave"]),
])
def test_highest_note_wrong_answers_get_a_specific_hint(answer, words):
    fb = ex.check_highest_note(answer, MELODY)
    assert says(fb, *words), fb.message


def test_parse_pitch_spellings():
    assert [ex.parse_pitch(t) for t in ["C4", "c#4", "Db4", "D♭4", "B-3", "B9"]] == [60, 61, 61, 61, 58, 131]
    assert ex.parse_pitch(True) is None and ex.parse_pitch("C") is None and ex.parse_pitch(4.5) is None


# ---------------------------------------------------------------------------------------------
# the solutions in the lesson plan pass the checks the notebook runs

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "lessons" / "01_roll_score_sound.md"
NOTEBOOK = ROOT / "notebooks" / "01_roll_score_sound.ipynb"


def lesson_solutions():
    text = LESSON.read_text()
    solutions = text.split("## Exercise solutions", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", solutions, flags=re.S)


def test_lesson_solutions_pass_the_notebook_checks():
    import nbformat

    from dittoedu import roll

    blocks = lesson_solutions()
    nb_source = "\n".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells)
    melody = roll.load(re.search(r'melody = roll\.load\("([^"]+)"\)', nb_source).group(1))
    checks = {
        "my_roll": ex.check_repeated_cs,
        "my_text": ex.check_ode_to_joy,
        "my_freq": lambda answer: ex.check_frequency(answer, note="A3"),
        "my_note": lambda answer: ex.check_highest_note(answer, melody),
    }
    seen = set()
    for block in blocks:
        namespace = {"torch": torch, "roll": roll}
        exec(block, namespace)
        for name, check in checks.items():
            if name in namespace:
                assert name in nb_source, f"the notebook has no {name} to answer"
                fb = check(namespace[name])
                assert fb.ok, f"the lesson's solution for {name} fails its check: {fb.message}"
                seen.add(name)
    assert seen == set(checks), f"the lesson plan has no solution for {set(checks) - seen}"
