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
def _notebook_source(lesson: str) -> str:
    import nbformat

    return "\n".join(c.source for c in nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4).cells)


def _assert_solutions_pass(lesson: str, checks: dict, make_namespace) -> None:
    """Each solution in lessons/LESSON.md passes its check and answers a name notebook LESSON asks for."""
    nb_source = _notebook_source(lesson)
    seen = set()
    for block in _solutions(f"{lesson}.md"):
        namespace = make_namespace()
        exec(block, namespace)
        for name, check in checks.items():
            if name in namespace:
                assert name in nb_source, f"{lesson}.ipynb has no {name} to answer"
                fb = check(namespace[name])
                assert fb.ok, f"the lesson's solution for {name} fails its check: {fb.message}"
                seen.add(name)
    assert seen == set(checks), f"lessons/{lesson}.md has no solution for {set(checks) - seen}"


def test_lesson_solutions_pass_the_notebook_checks():
    from dittoedu import roll

    nb_source = _notebook_source("01_roll_score_sound")
    melody = roll.load(re.search(r'melody = roll\.load\("([^"]+)"\)', nb_source).group(1))
    checks = {
        "my_roll": ex.check_repeated_cs,
        "my_text": ex.check_ode_to_joy,
        "my_freq": lambda answer: ex.check_frequency(answer, note="A3"),
        "my_note": lambda answer: ex.check_highest_note(answer, melody),
    }
    _assert_solutions_pass("01_roll_score_sound", checks, lambda: {"torch": torch, "roll": roll})


# =============================================================================================
# lessons 02-07: each check praises a right answer and names the typical mistake


# lesson 02: the noise schedule, the preconditioning, an Euler step


def test_karras_sigmas_right_with_or_without_the_final_zero():
    from dittoedu.diffusion import get_sigmas_karras

    sigmas = get_sigmas_karras(8)
    for answer in (sigmas, sigmas[:-1], sigmas.tolist(), sigmas.numpy()):
        fb = ex.check_karras_sigmas(answer, n=8)
        assert fb.ok and "ρ = 7" in fb.message


@pytest.mark.parametrize("make, words", [
    (lambda s: ..., ["in place of"]),
    (lambda s: "lots", ["numbers"]),
    (lambda s: s[:5], ["5 levels", "n = 8"]),
    (lambda s: s.flip(0), ["go UP"]),
    (lambda s: s[:-1].flip(0), ["go UP"]),
    (lambda s: torch.linspace(80, 0.002, 8), ["evenly spaced", "power ρ"]),
    (lambda s: 80 ** (1 / 7) + torch.linspace(0, 1, 8) * (0.002 ** (1 / 7) - 80 ** (1 / 7)), ["power 1/ρ", "ρ = 7"]),
    (lambda s: s[:-1] * 2, ["σ_max = 80"]),
    (lambda s: torch.cat([s[:3], s[3:4] * 1.5, s[4:-1]]), ["level 3 should be"]),
])
def test_karras_sigmas_wrong_answers(make, words):
    from dittoedu.diffusion import get_sigmas_karras

    assert says(ex.check_karras_sigmas(make(get_sigmas_karras(8)), n=8), *words)


def test_scalings_right():
    from dittoedu.diffusion import SIGMA_DATA as d

    fb = ex.check_scalings(lambda s: (d**2 / (s**2 + d**2), s * d / torch.sqrt(s**2 + d**2)))
    assert fb.ok and "c_skip ≈ 1" in fb.message


@pytest.mark.parametrize("fn, words", [
    (lambda s: (..., ...), ["c_skip"]),  # still the placeholders
    (lambda s: None, ["return c_skip, c_out"]),
    (lambda s: 0.5, ["two things"]),
    ("not a function", ["should be a function"]),
    (lambda s: 1 / 0, ["ZeroDivisionError"]),
    (lambda s: (s * 0.5 / torch.sqrt(s**2 + 0.25), 0.25 / (s**2 + 0.25)), ["swapped"]),
    (lambda s: (0.5 / (s + 0.5), s * 0.5 / torch.sqrt(s**2 + 0.25)), ["square both"]),
    (lambda s: (s**2 / (s**2 + 0.25), s * 0.5 / torch.sqrt(s**2 + 0.25)), ["upside down"]),
    (lambda s: (0.25 / (s**2 + 0.25), s * 0.5 / (s**2 + 0.25)), ["c_skip is right", "square root"]),
    (lambda s: (0.25 / (s**2 + 0.25), s * 0.25), ["c_skip is right", "close to σ_d"]),
])
def test_scalings_wrong_answers(fn, words):
    assert says(ex.check_scalings(fn), *words)


def test_euler_step_right():
    fb = ex.check_euler_step(lambda x, d, s, n: x + (n - s) * (x - d) / s)
    assert fb.ok and "DDIM" in fb.message


@pytest.mark.parametrize("fn, words", [
    (lambda x, d, s, n: x, ["did not move"]),
    (lambda x, d, s, n: d, ["denoiser's guess", "σ_next"]),
    (lambda x, d, s, n: x + (s - n) * (x - d) / s, ["wrong way"]),
    (lambda x, d, s, n: x + (n - s) * (d - x) / s, ["wrong way"]),
    (lambda x, d, s, n: x + (n - s) * (x - d), ["divide by σ"]),
    (lambda x, d, s, n: x + n * (x - d) / s, ["DIFFERENCE"]),
    (lambda x, d, s, n: None, ["return x_next"]),
    (lambda x, d, s, n: x @ x, ["RuntimeError"]),
    (lambda x, d, s, n: 2 * x, ["two parts"]),
])
def test_euler_step_wrong_answers(fn, words):
    assert says(ex.check_euler_step(fn), *words)


# lesson 03: decibels, a swell, the MSE, the sphere


@pytest.mark.parametrize("answer", [-23.01, "-23 dB", torch.tensor(-23.0103), 20 * np.log10(0.1 / np.sqrt(2))])
def test_sine_db_right(answer):
    fb = ex.check_sine_db(answer, amplitude=0.1)
    assert fb.ok and "√2" in fb.message


@pytest.mark.parametrize("answer, words", [
    (..., ["in place of"]),
    ("loud", ["should be a number"]),
    (-20.0, ["PEAK", "√2"]),
    (10 * np.log10(0.1 / np.sqrt(2)), ["10 log10 is for a power"]),
    (20 * np.log10(0.05), ["divided the peak by 2"]),
    (0.0707, ["not yet in dB"]),
    (23.01, ["sign is flipped"]),
    (-40, ["two steps"]),
])
def test_sine_db_wrong_answers(answer, words):
    assert says(ex.check_sine_db(answer, amplitude=0.1), *words)


def test_swell_curve_right():
    fb = ex.check_swell_curve([0.1, 0.4, 0.9, 0.5, 0.2])
    assert fb.ok and "loudest" in fb.message
    assert ex.check_swell_curve(np.array([0.0, 1.0, 0.0])).ok


@pytest.mark.parametrize("curve, words", [
    (..., ["in place of"]),
    ([0.5, 0.6], ["at least 3 points"]),
    ([0.1, 1.4, 0.1], ["between 0 (quiet) and 1 (loud)"]),
    ([0.5, 0.6, 0.55], ["almost flat"]),
    ([0.1, 0.3, 0.6, 0.9], ["at the END", "crescendo"]),
    ([0.9, 0.6, 0.3, 0.1], ["at the START", "fade-out"]),
    ([0.8, 0.9, 0.1], ["start is nearly as loud"]),
    ([0.1, 0.9, 0.8, 0.75], ["end is nearly as loud"]),
])
def test_swell_curve_wrong_answers(curve, words):
    assert says(ex.check_swell_curve(curve), *words)


TARGET_DB, ACHIEVED_DB = torch.tensor([-20.0, -20, -18, -18]), torch.tensor([-21.0, -19, -18, -15])


def test_mse_db2_right():
    want = ((ACHIEVED_DB - TARGET_DB) ** 2).mean()
    fb = ex.check_mse_db2(want, TARGET_DB, ACHIEVED_DB)
    assert fb.ok and "2.750 dB²" in fb.message


@pytest.mark.parametrize("answer, words", [
    ((ACHIEVED_DB - TARGET_DB).mean(), ["mean error", "cancel"]),
    ((ACHIEVED_DB - TARGET_DB).abs().mean(), ["ABSOLUTE"]),
    (((ACHIEVED_DB - TARGET_DB) ** 2).mean().sqrt(), ["root"]),
    (((ACHIEVED_DB - TARGET_DB) ** 2).sum(), ["SUM", "4"]),
    (ACHIEVED_DB - TARGET_DB, ["one number", "4 of them"]),
    (7, ["not 7"]),
])
def test_mse_db2_wrong_answers(answer, words):
    assert says(ex.check_mse_db2(answer, TARGET_DB, ACHIEVED_DB), *words)


def test_shell_projection_right():
    from dittoedu.ito import project_to_shell

    fb = ex.check_shell_projection(project_to_shell)
    assert fb.ok and "√D" in fb.message


@pytest.mark.parametrize("fn, words", [
    (lambda e: e, ["norms are"]),
    (lambda e: None, ["returns nothing"]),
    (lambda e: e / e.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1), ["norm 1", "√D"]),
    (lambda e: e * e[0].numel() / e.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1), ["norm D"]),
    (lambda e: e * e[0].numel() ** 0.5 / e.norm(), ["whole batch at once"]),
    (lambda e: e.abs(), ["direction of the noise changed"]),
    (lambda e: e.flatten(), ["shape"]),
])
def test_shell_projection_wrong_answers(fn, words):
    assert says(ex.check_shell_projection(fn), *words)


# lesson 04: Frère Jacques, accuracy, the hinge


def test_frere_jacques_matches_the_example_file():
    from dittoedu import roll

    file_notes = sorted(roll.load(ROOT / "data" / "examples" / "frere_jacques.mid").notes, key=lambda n: n.onset)
    text_notes = sorted(roll.load(ex.FRERE_JACQUES).notes, key=lambda n: n.onset)
    assert file_notes == text_notes
    assert ex.check_frere_jacques("4/4 c4 d e c").ok
    assert says(ex.check_frere_jacques("4/4 c4 d e d"), "note 4 should be C4")


def right_accuracy(target, achieved, pitch_class=False):
    pairs = [(t, a) for t, a in zip(target, achieved) if t is not None]
    same = (lambda t, a: t % 12 == a % 12) if pitch_class else (lambda t, a: t == a)
    return sum(a is not None and same(t, a) for t, a in pairs) / len(pairs)


def test_accuracy_fn_right():
    fb = ex.check_accuracy_fn(right_accuracy)
    assert fb.ok and "3/6" in fb.message and "5/6" in fb.message


def _all_steps(target, achieved, pitch_class=False):
    same = (lambda t, a: t % 12 == a % 12) if pitch_class else (lambda t, a: t == a)
    return sum(a is not None and t is not None and same(t, a) for t, a in zip(target, achieved)) / len(target)


def _ignores_flag(target, achieved, pitch_class=False):
    return right_accuracy(target, achieved)


def _silence_ok_in_pc(target, achieved, pitch_class=False):
    if not pitch_class:
        return right_accuracy(target, achieved)
    pairs = [(t, a) for t, a in zip(target, achieved) if t is not None]
    return sum(a is None or a % 12 == t % 12 for t, a in pairs) / len(pairs)


@pytest.mark.parametrize("fn, words", [
    (lambda target, achieved, pitch_class=False: ..., ["returns nothing"]),
    (lambda target, achieved: 0.5, ["keyword argument", "pitch_class=False"]),
    (lambda target, achieved, pitch_class=False: sum(t % 12 == a % 12 for t, a in zip(target, achieved)),
     ["None", "is not None"]),
    (_all_steps, ["all 8 steps", "rests"]),
    (_ignores_flag, ["both modes", "% 12"]),
    (_silence_ok_in_pc, ["should not forgive silence"]),
    (lambda target, achieved, pitch_class=False: 100 * right_accuracy(target, achieved, pitch_class), ["percentage"]),
    (lambda target, achieved, pitch_class=False: "high", ["one number"]),
    (42, ["should be a function"]),
])
def test_accuracy_fn_wrong_answers(fn, words):
    assert says(ex.check_accuracy_fn(fn), *words)


def test_hinge_on_right():
    from dittoedu.controls import hinge_on

    for fn in (hinge_on, lambda x: torch.relu(0.5 - x) ** 2):
        fb = ex.check_hinge_on(fn)
        assert fb.ok and "cannot park" in fb.message


@pytest.mark.parametrize("fn, words", [
    (lambda x: x * 0, ["at x = −1"]),
    (lambda x: torch.relu(-x) ** 2, ["no margin", "threshold"]),
    (lambda x: torch.relu(x - 0.5) ** 2, ["LOUDER"]),
    (lambda x: torch.relu(0.5 - x), ["square it"]),
    (lambda x: (0.5 - x) ** 2, ["without the relu"]),
    (lambda x: None, ["returns nothing"]),
])
def test_hinge_on_wrong_answers(fn, words):
    assert says(ex.check_hinge_on(fn), *words)


# lesson 05: chords


@pytest.mark.parametrize("answer", ["G B D F", "g b d f", ["G", "B", "D", "F"], [7, 11, 2, 5], "G3, B3, D4, F4"])
def test_chord_tones_right(answer):
    fb = ex.check_chord_tones(answer, "G7")
    assert fb.ok and "G B D F" in fb.message


@pytest.mark.parametrize("answer, words", [
    ("...", ["in place of"]),
    ("G B D", ["major triad", "minor seventh", "F"]),
    ("G B D F#", ["maj7", "MINOR seventh"]),
    ("G Bb D F", ["missing B", "Bb is not in it"]),
    ("H B D F", ["note names"]),
])
def test_chord_tones_wrong_answers(answer, words):
    assert says(ex.check_chord_tones(answer, "G7"), *words)


def test_roman_progression_right():
    fb = ex.check_roman_progression("G Em C D", "I vi IV V", key="G")
    assert fb.ok and "uppercase" in fb.message
    assert ex.check_roman_progression("G, Em, C, D", "I vi IV V", key="G").ok


@pytest.mark.parametrize("answer, words", [
    ("...", ["in place of"]),
    ("C Am F G", ["in C major", "scale starts on G"]),
    ("G E C D", ["chord 2 (vi)", "minor", "Em"]),
    ("G Em C", ["4 chords", "3"]),
    ("I vi IV V", ["SYMBOLS"]),
    ("G Em C Hm", ["could not read"]),
    ("G Em D D", ["chord 3 (IV) should be C"]),
    (["G", "Em"], ["as text"]),
])
def test_roman_progression_wrong_answers(answer, words):
    assert says(ex.check_roman_progression(answer, "I vi IV V", key="G"), *words)


SOUNDING = ["C3", "G3", "E4", "C5", "D5"]


def test_chord_tone_ratio_right():
    fb = ex.check_chord_tone_ratio(4 / 5, SOUNDING, "C")
    assert fb.ok and "4/5" in fb.message
    assert ex.check_chord_tone_ratio("0.8", SOUNDING, "C").ok


@pytest.mark.parametrize("answer, words", [
    (..., ["in place of"]),
    (80, ["percentage", "0.8"]),
    (0.2, ["OUTSIDE"]),
    (0.75, ["pitch classes once", "C3 and C5"]),
    (4 / 3, ["divided by the number of chord tones"]),
    (0.5, ["not 0.5"]),
])
def test_chord_tone_ratio_wrong_answers(answer, words):
    assert says(ex.check_chord_tone_ratio(answer, SOUNDING, "C"), *words)


# lesson 06: form


ABAB = [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]]


def test_form_ssm_right():
    for answer in (ABAB, torch.tensor(ABAB), np.array(ABAB, dtype=float)):
        fb = ex.check_form_ssm(answer, form="ABAB")
        assert fb.ok and "symmetric" in fb.message


@pytest.mark.parametrize("answer, words", [
    (..., ["in place of"]),
    ([[1, 0], [0, 1]], ["4 × 4", "[2, 2]"]),
    ([[0.5] * 4] * 4, ["only holds 0"]),
    ([[0, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], ["diagonal"]),
    ([[1, 1, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], ["symmetric"]),
    ([[1, 1, 0, 1], [1, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 1]], ["matrix of AABA"]),
    ([[1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], ["matrix of ABAC"]),
    ([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1]], ["entry [2, 3]", "should be 0"]),
])
def test_form_ssm_wrong_answers(answer, words):
    assert says(ex.check_form_ssm(answer, form="ABAB"), *words)


def test_cosine_right():
    fb = ex.check_cosine(lambda a, b: (a * b).sum() / (a.norm() * b.norm()))
    assert fb.ok and "0.577" in fb.message


@pytest.mark.parametrize("fn, words", [
    (lambda a, b: ..., ["returns nothing"]),
    (lambda a, b: (a * b).sum(), ["dot product"]),
    (lambda a, b: (a * b).sum() / a.norm(), ["BOTH"]),
    (lambda a, b: 1 - (a * b).sum() / (a.norm() * b.norm()), ["DISTANCE"]),
    (lambda a, b: (a * b).sum() / (a.sum() * b.sum()), ["square roots"]),
    (lambda a, b: a * b, ["ONE number"]),
    (lambda a, b: a @ b, ["RuntimeError"]),
])
def test_cosine_wrong_answers(fn, words):
    assert says(ex.check_cosine(fn), *words)


@pytest.mark.parametrize("answer", ["AABB", "aabb", "A A B B", "BBAA", "xxyy"])
def test_form_reading_right(answer):
    assert ex.check_form_reading(answer, form="AABB").ok


@pytest.mark.parametrize("answer, words", [
    ("...", ["in place of"]),
    ("AAB", ["4 letters"]),
    ("ABAB", ["bars 1 and 2 are alike"]),
    ("AAAA", ["bars 1 and 3 are not alike"]),
    (4, ["as text"]),
])
def test_form_reading_wrong_answers(answer, words):
    assert says(ex.check_form_reading(answer, form="AABB"), *words)


def test_frere_jacques_is_aabb_by_its_ssm():
    """The form the notebook asks students to read is the one the SSM shows."""
    from dittoedu import controls, roll

    x = roll.load(ROOT / "data" / "examples" / "frere_jacques.mid").to_roll(64)
    ssm = controls.bar_ssm((x[roll.FRAME] > 0).float()[None])[0]
    letters = ex._canonical_form("".join("ABCD"[int((ssm[i, :i + 1] > 0.99).nonzero()[0])] for i in range(4)))
    assert letters == "AABB"


# lesson 07: keep masks, F1, loops


def test_keep_mask_right():
    keep = torch.zeros(64, dtype=torch.bool)
    keep[0:16] = True
    keep[48:64] = True
    for answer in (keep, keep.int(), keep.tolist(), "0:16,48:64"):
        fb = ex.check_keep_mask(answer, bars=(1, 4), n_steps=64)
        assert fb.ok and "0:16, 48:64" in fb.message


def _mask(*ranges, n=64):
    m = torch.zeros(n, dtype=torch.bool)
    for a, b in ranges:
        m[a:b] = True
    return m


@pytest.mark.parametrize("answer, words", [
    (None, ["in place of"]),
    (torch.zeros(64, dtype=torch.bool), ["keep exactly bar 1 and bar 4", "nothing"]),
    (_mask((16, 48)), ["keeps the gap"]),
    (_mask((16, 32)), ["keep exactly"]),
    (_mask((0, 15), (48, 63)), ["end b is NOT", "0:16"]),
    (_mask((0, 16), (48, 64), n=48), ["64", "48"]),
    ("0:16,48:80", ["inside 0:64"]),
])
def test_keep_mask_wrong_answers(answer, words):
    assert says(ex.check_keep_mask(answer, bars=(1, 4), n_steps=64), *words)


def test_keep_mask_one_bar_off():
    # bars 2 and 3 asked; bars 1 and 2 given (counted from 0)
    assert says(ex.check_keep_mask(_mask((0, 32)), bars=(2, 3), n_steps=64), "one bar off", "16:32, 32:48")


def test_f1_right():
    fb = ex.check_f1(2 * 6 / (2 * 6 + 2 + 4), tp=6, fp=2, fn=4)
    assert fb.ok and "harmonic mean" in fb.message


@pytest.mark.parametrize("answer, words", [
    (..., ["in place of"]),
    (6 / 8, ["precision"]),
    (6 / 10, ["recall"]),
    ((6 / 8 + 6 / 10) / 2, ["ordinary mean", "HARMONIC"]),
    (6 / 12, ["Jaccard"]),
    (66.7, ["percentage"]),
    (0.3, ["not 0.3"]),
])
def test_f1_wrong_answers(answer, words):
    assert says(ex.check_f1(answer, tp=6, fp=2, fn=4), *words)


def test_loop_partner():
    fb = ex.check_loop_partner(2, step=50, n=16, n_steps=64)
    assert fb.ok and "step 48" in fb.message
    assert says(ex.check_loop_partner(3, step=50, n=16, n_steps=64), "off by one")
    assert says(ex.check_loop_partner(34, step=50, n=16, n_steps=64), "LAST 16")
    assert says(ex.check_loop_partner(14, step=50, n=16, n_steps=64), "counts back from the end")
    assert says(ex.check_loop_partner(..., step=50, n=16, n_steps=64), "in place of")
    assert says(ex.check_loop_partner(9, step=50, n=16, n_steps=64), "steps 48..63")


# ---------------------------------------------------------------------------------------------
# the solutions in the lesson plans 02-07 pass the checks their notebooks run


def _solutions(lesson: str) -> list[str]:
    text = (ROOT / "lessons" / lesson).read_text()
    solutions = text.split("## Exercise solutions", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", solutions, flags=re.S)


def _namespace():
    import math

    from dittoedu import controls, diffusion, roll

    return {"torch": torch, "np": np, "math": math, "diffusion": diffusion, "controls": controls, "roll": roll}


LESSON_CHECKS = {
    "02_diffusion_from_scratch": {
        "my_sigmas": lambda a: ex.check_karras_sigmas(a, n=8),
        "my_scalings": ex.check_scalings,
        "my_euler_step": ex.check_euler_step,
    },
    "03_ito_intensity": {
        "my_db": lambda a: ex.check_sine_db(a, amplitude=0.1),
        "my_curve": ex.check_swell_curve,
        "my_mse": lambda a: ex.check_mse_db2(a, TARGET_DB, ACHIEVED_DB),
        "my_projection": ex.check_shell_projection,
    },
    "04_melody": {
        "my_text": ex.check_frere_jacques,
        "my_accuracy": ex.check_accuracy_fn,
        "my_hinge_on": ex.check_hinge_on,
    },
    "05_chords": {
        "my_g7": lambda a: ex.check_chord_tones(a, "G7"),
        "my_progression": lambda a: ex.check_roman_progression(a, "I vi IV V", key="G"),
        "my_ratio": lambda a: ex.check_chord_tone_ratio(a, SOUNDING, "C"),
    },
    "06_form_structure": {
        "my_cosine": ex.check_cosine,
        "my_form": lambda a: ex.check_form_reading(a, form="AABB"),
        "my_ssm": lambda a: ex.check_form_ssm(a, form="ABAB"),
    },
    "07_inpaint_outpaint_loop": {
        "my_keep": lambda a: ex.check_keep_mask(a, bars=(1, 4), n_steps=64),
        "my_f1": lambda a: ex.check_f1(a, tp=6, fp=2, fn=4),
        "my_step": lambda a: ex.check_loop_partner(a, step=50, n=16, n_steps=64),
    },
}


@pytest.mark.parametrize("lesson", sorted(LESSON_CHECKS))
def test_lesson_solutions_02_to_07_pass_their_checks(lesson):
    def namespace():  # what the notebooks define before their exercises
        return _namespace() | {"target_db": TARGET_DB, "achieved": ACHIEVED_DB, "sounding": SOUNDING}

    _assert_solutions_pass(lesson, LESSON_CHECKS[lesson], namespace)


# =============================================================================================
# lessons 08, 09 and 11: each check praises a right answer and names the typical mistake


# lesson 09: DITTO vs DITTO-2


@pytest.fixture(scope="module")
def ctm_model():
    from dittoedu.cli import DEFAULT_SURROGATE
    from dittoedu.train import load_model

    torch.set_num_threads(1)
    return load_model(DEFAULT_SURROGATE)[0]


def test_surrogate_right(ctm_model):
    from dittoedu.diffusion import SIGMA_MAX

    fb = ex.check_surrogate(lambda eps: ctm_model.denoise(eps * SIGMA_MAX, SIGMA_MAX), ctm_model)
    assert fb.ok and "ONE network call" in fb.message
    assert ex.check_surrogate(lambda eps: ctm_model(eps * SIGMA_MAX, SIGMA_MAX, 0.0), ctm_model).ok


def test_surrogate_wrong_answers(ctm_model):
    from dittoedu.diffusion import SIGMA_MAX, get_sigmas_ctm, sample_ctm

    def no_grad(eps):
        with torch.no_grad():
            return ctm_model.denoise(eps * SIGMA_MAX, SIGMA_MAX)

    cases = [
        (lambda eps: eps, ["ε unchanged"]),
        (lambda eps: ctm_model.denoise(eps, SIGMA_MAX), ["multiply by", "SIGMA_MAX"]),
        (lambda eps: ctm_model(eps * SIGMA_MAX, SIGMA_MAX, SIGMA_MAX), ["returns the noise itself", "s = 0"]),
        (lambda eps: sample_ctm(ctm_model, eps * SIGMA_MAX, get_sigmas_ctm(2)), ["2-jump", "ONE jump"]),
        (no_grad, ["no gradient", "torch.no_grad"]),
        (lambda eps: eps[0], ["shaped like eps"]),
        (lambda eps: None, ["returns nothing"]),
        (lambda eps: 1 / 0, ["ZeroDivisionError"]),
        (lambda eps: ctm_model.denoise(eps * SIGMA_MAX, 1.0), ["not the one-step jump"]),
    ]
    for fn, words in cases:
        assert says(ex.check_surrogate(fn, ctm_model), *words), words


def test_real_time_factor():
    fb = ex.check_real_time_factor(64 * 60 / 90 / 4 / 0.5, seconds=0.5)
    assert fb.ok and "10.67 s" in fb.message and "faster" in fb.message
    assert says(ex.check_real_time_factor(0.5 / 10.6667, seconds=0.5), "upside down")
    assert says(ex.check_real_time_factor(64 * 60 / 90 / 0.5, seconds=0.5), "quarter note")
    assert says(ex.check_real_time_factor(64 / 0.5, seconds=0.5), "steps per second")
    assert says(ex.check_real_time_factor(2133.3, seconds=0.5), "percentage")
    assert says(ex.check_real_time_factor(..., seconds=0.5), "in place of")
    assert says(ex.check_real_time_factor(3.0, seconds=0.5), "not 3")


@pytest.mark.parametrize("answer, words", [
    ((80, 12), ["decoded once more", "8 calls"]),
    ((88, 10), ["add the final CTM decode"]),
    ((12, 88), ["swapped"]),
    ((88, 22), ["ONE jump per iteration"]),
    ((176, 12), ["forward passes only"]),
    ((168, 12), ["forward passes only"]),
    ((18, 12), ["WHOLE sampler"]),
    ((88, 82), ["one call per iteration"]),
    ((..., ...), ["in place of"]),
    ((88,), ["two numbers"]),
])
def test_network_calls_wrong_answers(answer, words):
    assert says(ex.check_network_calls(answer, n_iters=10, sampler_steps=8, decode_steps=2), *words)


def test_network_calls_right():
    fb = ex.check_network_calls((88, 12), n_iters=10, sampler_steps=8, decode_steps=2)
    assert fb.ok and "10 × 8 + 8 = 88" in fb.message and "7× fewer" in fb.message


DECODE_SCORES = {"CTM ×1": 1.0, "CTM ×2": 0.97, "CTM ×4": 0.95, "CM ×2": 0.52, "base ×8": 0.93}


def test_best_decode():
    fb = ex.check_best_decode("CTM ×1", DECODE_SCORES, lower_is_better=False, metric="accuracy")
    assert fb.ok and "exactly the function the optimizer saw" in fb.message
    assert ex.check_best_decode("ctm x1", DECODE_SCORES, lower_is_better=False).ok  # typed without the ×
    assert says(ex.check_best_decode("CM ×2", DECODE_SCORES, lower_is_better=False), "FRESH noise", "CTM ×1")
    assert says(ex.check_best_decode("base ×8", DECODE_SCORES, lower_is_better=False), "teacher's ODE")
    assert says(ex.check_best_decode("CTM ×4", DECODE_SCORES, lower_is_better=False), "smaller pieces")
    assert says(ex.check_best_decode("DDIM", DECODE_SCORES), "not one of the decodes")
    assert says(ex.check_best_decode("...", DECODE_SCORES), "in place of")
    mse = {"CTM ×1": 0.3, "CTM ×2": 1.5}  # lower is better: the check follows the measured numbers
    assert ex.check_best_decode("CTM ×1", mse).ok and says(ex.check_best_decode("CTM ×2", mse), "lower is better")
    tie = {"CTM ×1": 1.0, "CTM ×2": 1.0, "CM ×2": 0.5}
    assert ex.check_best_decode("CTM ×2", tie, lower_is_better=False).ok  # a tie at the top is right too


# lesson 11: why optimize the noise


def test_best_of_n_count():
    fb = ex.check_best_of_n_count(299, p=0.01, confidence=0.95)
    assert fb.ok and "298.1" in fb.message and "1/p" in fb.message
    assert ex.check_best_of_n_count(298.07).ok and ex.check_best_of_n_count(300).ok  # ln(1 - p) ≈ -p is fine
    assert says(ex.check_best_of_n_count(100), "ON AVERAGE", "63%")
    assert says(ex.check_best_of_n_count(95), "do not add up")
    assert says(ex.check_best_of_n_count(5.1), "all N MISS")
    assert says(ex.check_best_of_n_count(-299), "negative")
    assert says(ex.check_best_of_n_count(...), "in place of")
    assert says(ex.check_best_of_n_count(1000), "not 1000")


def _unit(grad):
    return grad / grad.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)


def test_guidance_nudge_right():
    fb = ex.check_guidance_nudge(lambda x, g, step: x - step * _unit(g))
    assert fb.ok and "one norm per item" in fb.message and "GUIDANCE" not in fb.message


@pytest.mark.parametrize("fn, words", [
    (lambda x, g, step: x + step * _unit(g), ["UP the gradient"]),
    (lambda x, g, step: x - step * g, ["without normalizing", "norm, one per item"]),
    (lambda x, g, step: x - step * g / g.norm(), ["whole batch", "its own"]),
    (lambda x, g, step: x - step * g / g.flatten(1).norm(dim=1).square().reshape(-1, 1, 1, 1), ["norm squared"]),
    (lambda x, g, step: x, ["did not move"]),
    (lambda x, g, step: None, ["returns nothing"]),
    (lambda x, g, step: x @ x, ["RuntimeError"]),
    (lambda x, g, step: x - 2 * step * _unit(g), ["not yet"]),
])
def test_guidance_nudge_wrong_answers(fn, words):
    assert says(ex.check_guidance_nudge(fn), *words)


def test_equal_budget():
    fb = ex.check_equal_budget((31, 72), budget_s=0.86, sample_s=0.028, guided_s=0.096)
    assert fb.ok and "equal time" in fb.message.lower()
    assert ex.check_equal_budget((30, 71), budget_s=0.86, sample_s=0.028, guided_s=0.096).ok  # rounded down
    assert says(ex.check_equal_budget((0.0326, 72), budget_s=0.86, sample_s=0.028, guided_s=0.096), "upside down")
    assert says(ex.check_equal_budget((31, 9), budget_s=0.86, sample_s=0.028, guided_s=0.096), "guided SAMPLES")
    assert says(ex.check_equal_budget((246, 72), budget_s=0.86, sample_s=0.028, guided_s=0.096), "do not multiply")
    assert says(ex.check_equal_budget((31, 0.9), budget_s=0.86, sample_s=0.028, guided_s=0.096), "steps is upside down")
    assert says(ex.check_equal_budget((..., ...), budget_s=0.86, sample_s=0.028, guided_s=0.096), "in place of")
    assert says(ex.check_equal_budget((5, 50), budget_s=0.86, sample_s=0.028, guided_s=0.096), "how many plain",
                "how many fit")


# lesson 08: distillation


def _cm_scalings(t, shift_root=False):
    from dittoedu.diffusion import SIGMA_DATA as d, SIGMA_MIN as e

    root = (t - e) if shift_root else t
    return d**2 / ((t - e) ** 2 + d**2), d * (t - e) / (d**2 + root**2) ** 0.5


def test_cm_scalings_right_and_a_variant():
    fb = ex.check_cm_scalings(_cm_scalings)
    assert fb.ok and "EXACTLY" in fb.message and "by construction" in fb.message
    variant = ex.check_cm_scalings(lambda t: _cm_scalings(t, shift_root=True))
    assert variant.ok and "a variant" in variant.message


@pytest.mark.parametrize("fn, words", [
    (lambda t: (0.25 / (t**2 + 0.25), 0.5 * t / (t**2 + 0.25) ** 0.5), ["EDM's scalings", "(t − ε)"]),
    (lambda t: _cm_scalings(t)[::-1], ["swapped"]),
    (lambda t: (1 - _cm_scalings(t)[0], _cm_scalings(t)[1]), ["upside down"]),
    (lambda t: (0.25 / ((t - 0.002) ** 2 + 0.25), 0.5 * t / (t**2 + 0.25) ** 0.5), ["c_skip is right", "exactly 0"]),
    (lambda t: (0.25 / ((t - 0.002) ** 2 + 0.25), 0.5 * (t - 0.002)), ["c_skip is right", "close to σ_d"]),
    (lambda t: (0.5 / ((t - 0.002) + 0.5), _cm_scalings(t)[1]), ["square (t − ε)"]),
    (lambda t: (0.25 / (t**2 + 0.25), _cm_scalings(t)[1]), ["exactly 1"]),
    (lambda t: (..., ...), ["in place of"]),
    (lambda t: None, ["return c_skip, c_out"]),
    (lambda t: 0.5, ["two things"]),
    ("not a function", ["should be a function"]),
])
def test_cm_scalings_wrong_answers(fn, words):
    assert says(ex.check_cm_scalings(fn), *words)


def test_ctm_jump():
    fb = ex.check_ctm_jump(lambda x, g, t, s: (s / t) * x + (1 - s / t) * g)
    assert fb.ok and "boundary" in fb.message
    assert says(ex.check_ctm_jump(lambda x, g, t, s: (s / t) * g + (1 - s / t) * x), "swapped")
    assert says(ex.check_ctm_jump(lambda x, g, t, s: g), "always returns g")
    assert says(ex.check_ctm_jump(lambda x, g, t, s: (1 - s / t) * g), "G(x, t, t) must be x")
    assert says(ex.check_ctm_jump(lambda x, g, t, s: x + 0 * (s / t)), "with s = 0")
    assert says(ex.check_ctm_jump(lambda x, g, t, s: (s / t) ** 2 * x + (1 - (s / t) ** 2) * g), "linear in s")
    assert says(ex.check_ctm_jump(lambda x, g, t, s: None), "returns nothing")
    assert says(ex.check_ctm_jump(lambda x, g, t, s: 1 / (t - s) * x), "ZeroDivisionError")


def test_consistency_step():
    from dittoedu.diffusion import SIGMA_MIN

    fb = ex.check_consistency_step(lambda d, s, z: d + s * z)
    assert fb.ok and "FRESH noise" in fb.message
    assert ex.check_consistency_step(lambda d, s, z: d + (s**2 - SIGMA_MIN**2) ** 0.5 * z).ok  # Song et al. exactly
    assert says(ex.check_consistency_step(lambda d, s, z: d), "clean guess", "σ_next")
    assert says(ex.check_consistency_step(lambda d, s, z: d + s**2 * z), "VARIANCE")
    assert says(ex.check_consistency_step(lambda d, s, z: d + z), "unit noise")
    assert says(ex.check_consistency_step(lambda d, s, z: s * z), "only the noise")
    assert says(ex.check_consistency_step(lambda d, s, z: d - s * z), "Algorithm 1")
    assert says(ex.check_consistency_step(lambda d, s, z: 2 * d), "not yet")
    assert says(ex.check_consistency_step(lambda d, s, z: ...), "returns nothing")


# ---------------------------------------------------------------------------------------------
# the solutions in the lesson plans 08, 09 and 11 pass the checks their notebooks run


def _later_lesson_namespace(ctm):
    namespace = _namespace()
    namespace.update(ctm=ctm, seconds=0.5, budget_s=0.86, sample_s=0.028, guided_s=0.096)  # as the notebooks define
    return namespace


def later_lesson_checks(ctm):
    return {
        "08_distillation": {
            "my_cm_scalings": ex.check_cm_scalings,
            "my_jump": ex.check_ctm_jump,
            "my_renoise": ex.check_consistency_step,
        },
        "09_ditto_vs_ditto2": {
            "my_surrogate": lambda a: ex.check_surrogate(a, ctm),
            "my_rtf": lambda a: ex.check_real_time_factor(a, seconds=0.5, n_steps=64, tempo=90),
            "my_calls": lambda a: ex.check_network_calls(a, n_iters=10, sampler_steps=8, decode_steps=2),
            "my_decode": lambda a: ex.check_best_decode(a, DECODE_SCORES, lower_is_better=False),
        },
        "11_why_optimize_the_noise": {
            "my_n": lambda a: ex.check_best_of_n_count(a, p=0.01, confidence=0.95),
            "my_nudge": ex.check_guidance_nudge,
            "my_budget": lambda a: ex.check_equal_budget(a, budget_s=0.86, sample_s=0.028, guided_s=0.096),
        },
    }


@pytest.mark.parametrize("lesson", ["08_distillation", "09_ditto_vs_ditto2", "11_why_optimize_the_noise"])
def test_lesson_solutions_08_09_11_pass_their_checks(lesson, ctm_model):
    _assert_solutions_pass(lesson, later_lesson_checks(ctm_model)[lesson], lambda: _later_lesson_namespace(ctm_model))


# =============================================================================================
# lesson 10: text control


def test_similarity_matrix_right():
    import torch.nn.functional as F

    fb = ex.check_similarity_matrix(lambda m, t: F.normalize(m, dim=-1) @ F.normalize(t, dim=-1).T)
    assert fb.ok and "music @ text.T" in fb.message
    fb = ex.check_similarity_matrix(lambda m, t: (m @ t.T) / (m.norm(dim=1)[:, None] * t.norm(dim=1)[None]))
    assert fb.ok


@pytest.mark.parametrize("fn, words", [
    (lambda m, t: m @ t.T, ["plain dot products", "normalize"]),
    (lambda m, t: torch.nn.functional.normalize(t, dim=-1) @ torch.nn.functional.normalize(m, dim=-1).T,
     ["[K, B]", "music @ text.T"]),
    (lambda m, t: torch.nn.functional.normalize(m, dim=0) @ torch.nn.functional.normalize(t, dim=0).T,
     ["dim=0", "row"]),
    (lambda m, t: torch.nn.functional.normalize(m, dim=-1) @ t.T, ["BOTH"]),
    (lambda m, t: 1 - torch.nn.functional.normalize(m, dim=-1) @ torch.nn.functional.normalize(t, dim=-1).T,
     ["DISTANCE"]),
    (lambda m, t: torch.nn.functional.normalize(m, dim=-1) @ torch.nn.functional.normalize(t, dim=-1).T / 0.07,
     ["logits", "temperature"]),
    (lambda m, t: torch.nn.functional.cosine_similarity(m, t), ["raised", "RuntimeError"]),
    (lambda m, t: (m * m).sum(), ["one number per (piece, prompt) pair"]),
    (lambda m, t: ..., ["returns nothing"]),
    ("m @ t.T", ["should be a function"]),
])
def test_similarity_matrix_wrong_answers(fn, words):
    assert says(ex.check_similarity_matrix(fn), *words)


@pytest.mark.parametrize("prompt", ["a gloomy chorale in a deep register", "minor, low", "low and sad, please"])
def test_prompt_right(prompt):
    fb = ex.check_prompt(prompt)
    assert fb.ok and "minor mode and low register" in fb.message and "word order" in fb.message
    assert ("please" in fb.message) == ("please" in prompt)  # unknown words are pointed out


@pytest.mark.parametrize("prompt, words", [
    ("...", ["in place of the '...'"]),
    (42, ["text in quotes", "an int"]),
    ("a chorale that is not happy, low", ["does not ask for a mode", "negation is not understood"]),
    ("sad", ["does not ask for a register", "'deep'"]),
    ("a sad, slow, low hymn", ["also for calm density", "the word 'slow'"]),
    ("happy sad", ["refuses", "keep one"]),
    ("something beautiful", ["refuses", "names nothing"]),
    ("minor high", ["'high' asks for high register, not low"]),
])
def test_prompt_wrong_answers(prompt, words):
    assert says(ex.check_prompt(prompt), *words)


def test_prompt_checks_other_requests():
    assert ex.check_prompt("bright and busy", want={"mode": "major", "density": "busy"}).ok
    assert says(ex.check_prompt("bright", want={"mode": "major", "density": "busy"}), "density")


LESSON_10_EXCERPT = ("4/4 a'4 g' f' e' | d' c' b g#", "4/4 A2 D | EE E")  # as notebook 10 writes it


def _excerpt():
    from dittoedu.roll import load

    return load(LESSON_10_EXCERPT[0]).notes + load(LESSON_10_EXCERPT[1]).notes


def test_attribute_prediction_right():
    truth = {"mode": "minor", "register": "middle", "density": "calm", "contour": "falling"}
    fb = ex.check_attribute_prediction(truth, _excerpt(), n_steps=32)
    assert fb.ok and "62.25" in fb.message and "no learnt model" in fb.message
    assert ex.check_attribute_prediction("minor, middle, calm, falling", _excerpt(), n_steps=32).ok


@pytest.mark.parametrize("answer, words", [
    ({"mode": ..., "register": ..., "density": ..., "contour": ...}, ["mode, register, density, contour are missing"]),
    ({"mode": "minor", "register": "high", "density": "calm", "contour": "falling"},
     ["3 of 4 right", "register is middle, not high", "62.25", "the bass counts"]),
    ({"mode": "major", "register": "middle", "density": "busy", "contour": "falling"},
     ["2 of 4 right", "A minor", "0.75 notes per quarter"]),
    ({"mode": "minor", "register": "middle", "density": "calm", "contour": "level"}, ["-10.50 semitones"]),
    ({"mode": "sad", "register": "middle", "density": "calm", "contour": "falling"}, ["'sad' is not a value of mode"]),
    ({"tempo": "slow"}, ["'tempo' is not one"]),
    ([1, 2], ["give a dict"]),
    (None, ["in place of the '...'"]),
])
def test_attribute_prediction_wrong_answers(answer, words):
    assert says(ex.check_attribute_prediction(answer, _excerpt(), n_steps=32), *words)


def test_cheat_reason():
    fb = ex.check_cheat_reason("c")
    assert fb.ok and "early stop" in fb.message
    assert ex.check_cheat_reason("(C)").ok and ex.check_cheat_reason(ex.CHEAT_OPTIONS["c"]).ok
    assert says(ex.check_cheat_reason("a"), "not differentiable")
    assert says(ex.check_cheat_reason("b"), "adversarial", "model card")
    assert says(ex.check_cheat_reason("option d"), "surrogate", "judged in exactly the same way")
    assert says(ex.check_cheat_reason("e"), "one letter")
    assert says(ex.check_cheat_reason("..."), "in place of")


# ---------------------------------------------------------------------------------------------
# the solutions in lesson plan 10 pass the checks its notebook runs


def test_lesson_solutions_10_pass_their_checks():
    lesson = "10_text_control"
    nb_source = _notebook_source(lesson)
    assert all(text in nb_source for text in LESSON_10_EXCERPT), "notebook 10's excerpt changed: update this test"
    checks = {"my_similarity": ex.check_similarity_matrix, "my_prompt": ex.check_prompt,
              "my_attributes": lambda a: ex.check_attribute_prediction(a, _excerpt(), n_steps=32),
              "my_reason": ex.check_cheat_reason}
    _assert_solutions_pass(lesson, checks, _namespace)


# lesson 00: the Studio (takes as the Studio makes them: number, method, metrics, loss history)


def _take(number, method, accuracy=None, losses=(0.9, 0.4, 0.1)):
    from types import SimpleNamespace

    metrics = {} if accuracy is None else {"melody": {"accuracy": accuracy}}
    return SimpleNamespace(number=number, method=method, metrics=metrics, loss_history={"total": list(losses)})


def test_check_loss_direction():
    assert ex.check_loss_direction("down", _take(1, "ditto2")).ok
    fb = ex.check_loss_direction("up", _take(1, "ditto2"))
    assert not fb.ok and "started at 0.9" in fb.message
    assert ex.check_loss_direction("up", _take(2, "ditto", losses=(0.2, 0.5))).ok
    assert "no search to watch" in ex.check_loss_direction("down", _take(3, "none", losses=(0.3,))).message
    assert "no take yet" in ex.check_loss_direction("down", None).message
    assert '"down" or "up"' in ex.check_loss_direction("sideways", _take(1, "ditto")).message


def test_check_studio_methods():
    from types import SimpleNamespace

    studio = SimpleNamespace(takes=[_take(1, "ditto2", 1.0)])
    assert "plain sampling" in ex.check_studio_methods(studio).message
    studio.takes.append(_take(2, "none", 0.25))
    fb = ex.check_studio_methods(studio)
    assert fb.ok and "100%" in fb.message and "25%" in fb.message
    studio.takes = [_take(1, "none", 0.5)]
    assert "first make a take with DITTO" in ex.check_studio_methods(studio).message
    studio.takes.append(_take(2, "ditto", 0.5))
    assert not ex.check_studio_methods(studio).ok


def test_check_best_take():
    from types import SimpleNamespace

    studio = SimpleNamespace(takes=[_take(1, "ditto2", 0.75), _take(2, "ditto", 1.0), _take(3, "none", 0.2)])
    assert ex.check_best_take(2, studio).ok and ex.check_best_take("2", studio).ok
    fb = ex.check_best_take(1, studio)
    assert not fb.ok and "take 2 reaches 100%" in fb.message
    assert "no take 7" in ex.check_best_take(7, studio).message
    assert "no take with a melody" in ex.check_best_take(1, SimpleNamespace(takes=[])).message
