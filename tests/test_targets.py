"""Control targets from what a student writes: chords, form, intensity curves, melody.

Everything here runs real music21; each error test checks that the message names the
problem, since a message in the user's words is the point of the module.
"""

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings, strategies as st

from dittoedu.roll import MusicInputError, Note, Piece
from dittoedu.targets import (
    ChordTarget,
    chord_target_tensor,
    curve_to_db,
    form_ssm,
    melody_target,
    parse_chords,
    parse_form,
    read_curve,
)

C, Db, D, Eb, E, F, Gb, G, Ab, A, Bb, B = range(12)


def pcs(chords):
    return [set(c.pitch_classes) for c in chords]


def spans(chords):
    return [(c.start, c.end) for c in chords]


# ---------------------------------------------------------------------------------------------
# chords: what they contain


def test_slash_chord_has_its_tones_and_its_bass():
    (g7b,) = parse_chords("G7/B", bars=1)
    assert g7b == ChordTarget("G7/B", frozenset({G, B, D, F}), B, 0, 16)


def test_roman_numerals_in_c_major_are_the_pop_progression():
    chords = parse_chords("I V vi IV", bars=4, key="C")
    assert [c.symbol for c in chords] == ["C", "G", "Am", "F"]
    assert pcs(chords) == [{C, E, G}, {G, B, D}, {A, C, E}, {F, A, C}]
    assert [c.bass for c in chords] == [C, G, A, F]
    assert [c.numeral for c in chords] == ["I", "V", "vi", "IV"]


def test_dominant_seventh_in_a_minor_has_the_raised_leading_tone():
    (v7,) = parse_chords("V7", bars=1, key="a")
    assert set(v7.pitch_classes) == {E, Ab, B, D}  # E G# B D
    assert v7.bass == E and v7.symbol == "E7"


def test_key_written_inline_is_the_same_as_key_argument():
    assert parse_chords("a: i iv V7 i", bars=4) == parse_chords("i iv V7 i", bars=4, key="a")
    assert parse_chords("C: I V", bars=2, key="C") == parse_chords("I V", bars=2, key="C")
    assert [c.symbol for c in parse_chords("Bb: I IV V", bars=3)] == ["Bb", "Eb", "F"]


def test_flats_written_with_b_are_flats():
    # music21 itself reads 'Ab7' as an A7 chord and refuses 'Bb': dittoedu respells flats first
    chords = parse_chords("Bb Ab7 Ebmaj7 G7/Bb", bars=4)
    assert pcs(chords) == [{Bb, D, F}, {Ab, C, Eb, Gb}, {Eb, G, Bb, D}, {G, B, D, F, Bb}]
    assert [c.bass for c in chords] == [Bb, Ab, Eb, Bb]
    assert [c.symbol for c in chords] == ["Bb", "Ab7", "Ebmaj7", "G7/Bb"]
    assert parse_chords("G7/B-", bars=1)[0].bass == Bb  # music21's spelling, after a slash
    with pytest.raises(MusicInputError, match="ambiguous.*'Bm'.*'Bb'"):  # jazz minor, or music21 flat?
        parse_chords("B-", bars=1)


def test_secondary_dominant_and_inversion():
    v7_of_v, i64 = parse_chords("V7/V I64", bars=2, key="C")
    assert set(v7_of_v.pitch_classes) == {D, Gb, A, C} and v7_of_v.bass == D
    assert set(i64.pitch_classes) == {C, E, G} and i64.bass == G


# ---------------------------------------------------------------------------------------------
# chords: when they sound


def test_one_chord_per_bar():
    chords = parse_chords("C G Am F", bars=4)
    assert spans(chords) == [(0, 16), (16, 32), (32, 48), (48, 64)]


def test_short_progression_repeats_to_fill_the_bars():
    chords = parse_chords("C G", bars=6)
    assert [c.symbol for c in chords] == ["C", "G"] * 3
    assert spans(chords)[-1] == (80, 96)


def test_bar_lines_split_a_bar_evenly():
    chords = parse_chords("| C | G7/B | Am F |", bars=3)
    assert [c.symbol for c in chords] == ["C", "G7/B", "Am", "F"]
    assert spans(chords) == [(0, 16), (16, 32), (32, 40), (40, 48)]
    assert spans(parse_chords("| C F G |", bars=1)) == [(0, 5), (5, 10), (10, 16)]


def test_bar_lines_repeat_too():
    chords = parse_chords("| C | G D |", bars=4)
    assert [c.symbol for c in chords] == ["C", "G", "D", "C", "G", "D"]
    assert spans(chords)[3:] == [(32, 48), (48, 56), (56, 64)]


def test_one_chord_per_beat():
    chords = parse_chords("Dm G7 C C", bars=2, per="beat")
    assert len(chords) == 8
    assert spans(chords)[:3] == [(0, 4), (4, 8), (8, 12)]


def test_three_four_time():
    chords = parse_chords("C G", bars=2, steps_per_bar=12)
    assert spans(chords) == [(0, 12), (12, 24)]
    assert spans(parse_chords("C G F", bars=1, steps_per_bar=12, per="beat")) == [(0, 4), (4, 8), (8, 12)]


def test_list_commas_and_percent():
    assert parse_chords(["C", "G7/B", "Am", "F"], bars=4) == parse_chords("C G7/B Am F", bars=4)
    assert parse_chords("C, G, Am, F", bars=4) == parse_chords("C G Am F", bars=4)
    held = parse_chords("C % G %", bars=4)
    assert [c.symbol for c in held] == ["C", "C", "G", "G"]


# ---------------------------------------------------------------------------------------------
# chords: mistakes


@pytest.mark.parametrize("text, kwargs, expected", [
    ("Hmaj7", {}, "try 'Bmaj7'"),
    ("C am F G", {}, "try 'Am'"),
    ("a", {"bars": 1}, "'A' (major) or 'Am' (minor)"),
    ("Cmajor", {"bars": 1}, "try 'C'"),
    ("Cmaj9", {"bars": 1}, "try 'CM9'"),
    ("C(add9)", {"bars": 1}, "try 'Cadd9'"),
    ("Xyz", {"bars": 1}, "not a chord symbol music21 understands"),
    ("C-7", {"bars": 1}, "'Cm7'"),
    ("", {}, "no chords given"),
    ("   ", {}, "no chords given"),
    ("C G Am", {}, "4 bars take 4 chords"),
    ("C G Am F C", {}, "you gave 5"),
    ("I V vi IV", {}, "needs a key"),
    ("IIII", {"key": "C", "bars": 1}, "not a roman numeral"),
    ("I V", {"key": "H", "bars": 2}, "key 'H'"),
    ("C: I V", {"key": "G", "bars": 2}, "two keys"),
    ("C G! Am F", {}, "stray character '!' at position 4"),
    ("C G : Am F", {}, "stray ':'"),
    ("| C | | G | F |", {}, "bar 2"),
    ("| C | G | Am |", {}, "3 bars"),
    ("| " + "C " * 17 + "|", {"bars": 1}, "17 chords but only 16 steps"),
    ("C " * 20, {"bars": 1}, "more than the 16 steps"),
    ("% C", {"bars": 2}, "'%'"),
    ("N.C. C", {"bars": 2}, "no chord"),
    ("C G", {"bars": 0}, "bars"),
    ("C G", {"per": "bars"}, "per"),
])
def test_chord_mistakes_are_explained(text, kwargs, expected):
    kwargs = {"bars": 4, **kwargs}
    with pytest.raises(MusicInputError) as info:
        parse_chords(text, **kwargs)
    assert expected in str(info.value)


CHORD_ALPHABET = "ABCDEFGHabcdefghIViv#b-+/()øo°Δ^.%|:, 0123456789mMajdinsu!"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(alphabet=CHORD_ALPHABET, max_size=20), st.text(max_size=12)),
       bars=st.integers(1, 8), key=st.sampled_from([None, "C", "a", "Bb", "f#", "x"]),
       per=st.sampled_from(["bar", "beat"]))
@example(text=",|", bars=1, key=None, per="bar")  # a bar of only a comma once raised IndexError
def test_any_text_parses_or_is_explained(text, bars, key, per):
    try:
        chords = parse_chords(text, bars=bars, key=key, per=per)
    except MusicInputError as exc:
        assert str(exc).strip()
        return
    assert chords and chords[0].start == 0 and chords[-1].end == bars * 16
    assert all(a.end == b.start for a, b in zip(chords, chords[1:]))
    assert all(0 <= c.bass < 12 and c.bass in c.pitch_classes for c in chords)


VALID = ["C", "G7/B", "Am", "F", "Bb", "Ebmaj7", "F#m7b5", "Dsus4", "E7", "Cdim7", "Ab", "G/B", "Bbm"]
ROMAN = ["I", "ii", "iii", "IV", "V", "V7", "vi", "viio7", "V7/V", "bVII", "ii65"]


@settings(max_examples=40, deadline=None)
@given(progression=st.lists(st.sampled_from(VALID), min_size=1, max_size=4), repeats=st.integers(1, 3))
def test_valid_progressions_keep_their_chords(progression, repeats):
    bars = len(progression) * repeats
    chords = parse_chords(" ".join(progression), bars=bars)
    assert [c.symbol for c in chords] == progression * repeats
    alone = {s: parse_chords(s, bars=1)[0] for s in set(progression)}
    assert pcs(chords) == [set(alone[s].pitch_classes) for s in progression * repeats]


@settings(max_examples=40, deadline=None)
@given(groups=st.lists(st.lists(st.sampled_from(ROMAN), min_size=1, max_size=4), min_size=1, max_size=4),
       key=st.sampled_from(["C", "a", "Eb", "f#"]))
def test_valid_roman_bars_keep_their_chords(groups, key):
    text = f"{key}: | " + " | ".join(" ".join(g) for g in groups) + " |"
    chords = parse_chords(text, bars=len(groups))
    assert [c.numeral for c in chords] == [r for g in groups for r in g]
    assert [c.start for c in chords if c.start % 16 == 0] == [16 * i for i in range(len(groups))]


# ---------------------------------------------------------------------------------------------
# chord masks


def test_chord_target_tensor_marks_tones_and_bass():
    chords = parse_chords("C G7/B", bars=2, steps_per_bar=4)
    mask = chord_target_tensor(chords, 10)
    assert mask.shape == (2, 12, 10)
    assert set(mask[0, :, 0].nonzero().flatten().tolist()) == {C, E, G}
    assert set(mask[0, :, 5].nonzero().flatten().tolist()) == {G, B, D, F}
    assert mask[1, :, 3].nonzero().flatten().tolist() == [C]
    assert mask[1, :, 4].nonzero().flatten().tolist() == [B]
    assert mask[:, :, 8:].sum() == 0  # no chord after step 8
    assert chord_target_tensor(chords, 6).sum() == 4 * 3 + 4 + 2 * 4 + 2  # cut at step 6


# ---------------------------------------------------------------------------------------------
# form


def test_form_spreads_sections_over_bars():
    assert parse_form("AABA", bars=8) == list("AAAABBAA")
    assert parse_form("a b a", bars=3) == ["A", "B", "A"]


def test_form_ssm_is_one_within_a_section():
    ssm = form_ssm("ABA", bars=6)
    expected = torch.tensor([[1 if (i // 2 in (0, 2)) == (j // 2 in (0, 2)) else 0 for j in range(6)]
                             for i in range(6)], dtype=torch.float32)
    assert torch.equal(ssm, expected)
    assert ssm[0, 5] == 1 and ssm[0, 2] == 0


@pytest.mark.parametrize("form, bars, expected", [
    ("AABA", 6, "choose 4, 8, 12 or 16 bars"),
    ("AABA", 30, "choose 28 or 32 bars"),
    ("A-B-A", 3, "'-' (position 2) is a stray character"),
    ("AXA", 3, "'X' (position 2) is not a section letter"),
    ("", 4, "empty"),
    ("   ", 4, "empty"),
    ("ABCDE", 4, "5 sections"),
])
def test_form_mistakes_are_explained(form, bars, expected):
    with pytest.raises(MusicInputError) as info:
        parse_form(form, bars=bars)
    assert expected in str(info.value)


@settings(max_examples=100, deadline=None)
@given(form=st.text(alphabet="ABCDEFGHIXabh -.,1", max_size=10), bars=st.integers(1, 16))
def test_any_form_parses_or_is_explained(form, bars):
    try:
        letters = parse_form(form, bars=bars)
    except MusicInputError as exc:
        assert str(exc).strip()
        return
    assert len(letters) == bars
    ssm = form_ssm(form, bars=bars)
    assert torch.equal(ssm, ssm.T) and torch.all(ssm.diagonal() == 1)


# ---------------------------------------------------------------------------------------------
# intensity curves


def test_curve_from_lists_arrays_tensors_and_text():
    expected = np.array([0.2, 0.5, 0.9, 0.4])
    for source in ([0.2, 0.5, 0.9, 0.4], np.array([0.2, 0.5, 0.9, 0.4]), torch.tensor([0.2, 0.5, 0.9, 0.4]),
                   "0.2,0.5,0.9,0.4", "0.2 0.5; 0.9, 0.4"):
        np.testing.assert_allclose(read_curve(source), expected, rtol=1e-6)


def test_curve_resampling():
    np.testing.assert_allclose(read_curve([0.0, 1.0, 0.0], n=5), [0, 0.5, 1, 0.5, 0])
    np.testing.assert_allclose(read_curve("0.7", n=4), [0.7] * 4)
    np.testing.assert_allclose(read_curve(np.linspace(0, 1, 100), n=3), [0, 0.5, 1])


def test_curve_files(tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("value\n0.1\n0.3\n0.5\n")
    np.testing.assert_allclose(read_curve(one), [0.1, 0.3, 0.5])
    np.testing.assert_allclose(read_curve(str(one), n=5), [0.1, 0.2, 0.3, 0.4, 0.5])

    # time,value with uneven times: resampling follows the times, not the row numbers
    timed = tmp_path / "timed.csv"
    timed.write_text("time,value\n0,0\n1,1\n4,1\n")
    np.testing.assert_allclose(read_curve(timed, n=5), [0, 1, 1, 1, 1])
    np.testing.assert_allclose(read_curve(timed), [0, 1, 1])

    row = tmp_path / "row.txt"
    row.write_text("0.2, 0.4, 0.6\n")
    np.testing.assert_allclose(read_curve(row), [0.2, 0.4, 0.6])

    (tmp_path / "list.json").write_text(json.dumps([0.0, 0.5, 1.0]))
    (tmp_path / "dict.json").write_text(json.dumps({"values": [1.0, 0.5]}))
    np.testing.assert_allclose(read_curve(tmp_path / "list.json"), [0, 0.5, 1])
    np.testing.assert_allclose(read_curve(tmp_path / "dict.json", n=3), [1, 0.75, 0.5])


@pytest.mark.parametrize("source, expected", [
    ("0.2,nan,0.4", "value 2 of 3 in the curve is NaN"),
    ([0.2, 0.3, float("inf")], "value 3 of 3 in the curve is infinite"),
    ("0.1,abc", "'abc', which is not a number"),
    ("", "empty"),
    ([], "empty"),
    ([0.1, True], "True, not a number"),
    (np.zeros((2, 3)), "shape (2, 3)"),
    ("missing_curve.csv", "there is no file 'missing_curve.csv'"),
    ("mycurve", "neither numbers nor a file"),
])
def test_curve_mistakes_are_explained(source, expected):
    with pytest.raises(MusicInputError) as info:
        read_curve(source)
    assert expected in str(info.value)


@pytest.mark.parametrize("content, name, expected", [
    ("0.1\n0.2\nnan\n", "c.csv", "line 3 of c.csv"),
    ("time,value\n0,0.1\n2,0.2\n1,0.3\n", "c.csv", "must increase"),
    ("0.1,0.2,0.3\n0.4,0.5,0.6\n", "c.csv", "3 columns"),
    ("0.1\n0.2,0.3\n", "c.csv", "line 2 of c.csv has 2 columns"),
    ("{not json", "c.json", "not valid JSON"),
    ('{"curve": [1]}', "c.json", '"values"'),
    ("[0.1, NaN]", "c.json", "value 2 of 2 in c.json is NaN"),
])
def test_curve_file_mistakes_are_explained(tmp_path, content, name, expected):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(MusicInputError) as info:
        read_curve(path)
    assert expected in str(info.value)


def test_curve_n_and_folder_mistakes(tmp_path):
    with pytest.raises(MusicInputError, match="folder"):
        read_curve(tmp_path)
    with pytest.raises(MusicInputError, match="number of points"):
        read_curve([0.1, 0.2], n=0)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet="0123456789.,;- eEnaifNA\n", max_size=20), n=st.one_of(st.none(), st.integers(1, 9)))
def test_any_curve_text_reads_or_is_explained(text, n):
    try:
        curve = read_curve(text, n=n)
    except MusicInputError as exc:
        assert str(exc).strip()
        return
    assert np.all(np.isfinite(curve)) and curve.ndim == 1 and len(curve) >= 1
    if n is not None:
        assert len(curve) == n


def test_curve_to_db_is_linear():
    np.testing.assert_allclose(curve_to_db([0.0, 0.25, 1.0], low_db=-40, high_db=0), [-40, -30, 0])
    with pytest.raises(MusicInputError, match="value 2 of the curve is 1.7.*between 0 .* and 1.*dB"):
        curve_to_db([0.5, 1.7], low_db=-40, high_db=0)
    with pytest.raises(MusicInputError, match="value 1"):
        curve_to_db([-0.1], low_db=-40, high_db=0)


# ---------------------------------------------------------------------------------------------
# melody


def test_melody_from_tinynotation_is_the_pitch_per_step():
    target, info = melody_target("4/4 c4 e8 g8 r4 c'4", n_steps=16)
    assert target == [60] * 4 + [64] * 2 + [67] * 2 + [None] * 4 + [72] * 4
    assert info == {"transposed_by": 0, "padded_steps": 0, "onsets": [0, 4, 6, 12], "message": ""}


def test_melody_top_voice_is_the_highest_note():
    target, _ = melody_target([Note(60, 0, 8), Note(67, 2, 2), Note(64, 4, 4)], n_steps=8)
    assert target == [60, 60, 67, 67, 64, 64, 64, 64]


def test_short_melody_is_padded_with_rests_and_says_so():
    target, info = melody_target(Piece([Note(62, 0, 8)]), n_steps=32)
    assert target == [62] * 8 + [None] * 24
    assert info["padded_steps"] == 24
    assert "rests" in info["message"] and "0.5 bars" in info["message"]


def test_high_melody_moves_down_by_octaves_and_says_so():
    target, info = melody_target([Note(96, 0, 4), Note(100, 4, 4)], n_steps=8)
    assert target == [72] * 4 + [76] * 4
    assert info["transposed_by"] == -24
    assert "down 2 octaves" in info["message"]


def test_melody_from_a_file(tmp_path):
    path = tmp_path / "tune.txt"
    path.write_text("3/4 g4 a b")
    target, info = melody_target(path, n_steps=12, steps_per_bar=12)
    assert target == [67] * 4 + [69] * 4 + [71] * 4 and info["message"] == ""


@pytest.mark.parametrize("melody, n_steps, expected", [
    ("4/4 c4 d e f g a b c'", 16, "lasts 2 bars (32 steps)"),
    ("4/4 c4 d e f g a b c' d'", 16, "raise --bars to 3"),
    ([], 16, "no notes"),
    ([(60, 0, 0)], 16, "duration >= 1"),
    ([Note(10, 0, 4), Note(100, 4, 4)], 16, "goes from"),
    ("/nowhere/tune.mid", 16, "there is no file"),
    (42, 16, "cannot read a melody"),
])
def test_melody_mistakes_are_explained(melody, n_steps, expected):
    with pytest.raises(MusicInputError) as info:
        melody_target(melody, n_steps=n_steps)
    assert expected in str(info.value)
