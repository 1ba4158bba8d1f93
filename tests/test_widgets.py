"""The drawing widgets without a browser: their Python state, set as the browser would set it.

The browser sets traitlets (``widget.notes = [...]``) once per mouse release; these tests do
the same and check what the engine gets (``.value``), saving and loading, and the messages a
student sees. The small pure JavaScript helpers are run with node (when it is installed) and
compared with their Python twins; drawing in a real browser is left to the end-to-end tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dittoedu import controls
from dittoedu.roll import MusicInputError, Note, load
from dittoedu.targets import parse_chords, parse_form, read_curve
from dittoedu.widgets import ChordPicker, CurveDrawer, FormPicker, PianoRollDrawer
from dittoedu.widgets._base import STATIC
from dittoedu.widgets.form import next_letter, resize_sections
from dittoedu.widgets.piano_roll import add_note

WIDGETS = [PianoRollDrawer, CurveDrawer, ChordPicker, FormPicker]


# ---------------------------------------------------------------------------------------------
# the JavaScript shipped with the package


ESM_FILES = {PianoRollDrawer: "piano_roll.js", CurveDrawer: "curve.js", ChordPicker: "chords.js", FormPicker: "form.js"}


@pytest.mark.parametrize("cls", WIDGETS, ids=lambda c: c.__name__)
def test_esm_is_a_local_anywidget_module(cls):
    path = STATIC / ESM_FILES[cls]
    assert path.is_file(), f"{path} is missing"
    text = path.read_text(encoding="utf-8")
    assert text.strip(), f"{path.name} is empty"
    assert str(cls._esm) == text  # the widget ships that very file
    # anywidget's module API: a default export holding render (not the deprecated named `render` export)
    assert re.search(r"export\s+default\s*\{[^}]*\brender\b", text), "no `export default { render }`"
    assert not re.search(r"export\s+(async\s+)?function\s+render\b", text)
    assert not re.search(r"https?://", text), "the widget must not load anything from the internet"
    assert not re.search(r"^\s*import\s", text, re.M), "the widget must not import other modules"
    css = str(cls._css)
    assert css == (STATIC / "widgets.css").read_text(encoding="utf-8")
    assert ".ditto-widget" in css and not re.search(r"https?://|@import", css)


node = shutil.which("node")
needs_node = pytest.mark.skipif(node is None, reason="node is not installed")


def run_node(tmp_path, script: str):
    """Run an ES-module ``script`` with node, the widgets' .js files next to it as .mjs; its JSON output."""
    for js in STATIC.glob("*.js"):
        shutil.copy(js, tmp_path / f"{js.stem}.mjs")
    (tmp_path / "main.mjs").write_text(script, encoding="utf-8")
    out = subprocess.run([node, str(tmp_path / "main.mjs")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@needs_node
def test_js_syntax(tmp_path):
    for js in STATIC.glob("*.js"):
        copy = tmp_path / f"{js.stem}.mjs"
        shutil.copy(js, copy)
        out = subprocess.run([node, "--check", str(copy)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"{js.name}: {out.stderr}"


@needs_node
def test_js_note_rules_match_python(tmp_path):
    cases = [
        ([[60, 0, 4], [64, 0, 8]], [62, 2, 2]),
        ([[60, 0, 4], [64, 4, 4]], [67, 4, 2]),
        ([[60, 0, 4], [60, 8, 4]], [60, 3, 6]),
        ([[72, 0, 16]], [48, 15, 1]),
        ([], [60, 0, 1]),
    ]
    script = f"""
    import {{ addNote, dragSpan, noteAt, pitchName }} from "./piano_roll.mjs";
    const cases = {json.dumps(cases)};
    console.log(JSON.stringify({{
      mono: cases.map(([notes, n]) => addNote(notes, n, true)),
      poly: cases.map(([notes, n]) => addNote(notes, n, false)),
      spans: [dragSpan(5, 5, 1, 64), dragSpan(5, 9, 2, 64), dragSpan(5, 2, 4, 64), dragSpan(62, 80, 4, 64)],
      hit: [noteAt([[60, 4, 4]], 60, 7), noteAt([[60, 4, 4]], 60, 8), noteAt([[60, 4, 4]], 61, 5)],
      names: [pitchName(60), pitchName(70), pitchName(36), pitchName(83)],
    }}));
    """
    got = run_node(tmp_path, script)
    assert got["mono"] == [add_note(n, x, monophonic=True) for n, x in cases]
    assert got["poly"] == [add_note(n, x, monophonic=False) for n, x in cases]
    # a press at step 5 makes a note of one grid unit; dragging right lengthens it to the grid
    assert got["spans"] == [[5, 1], [4, 6], [4, 4], [60, 4]]
    assert got["hit"] == [0, -1, -1]
    assert got["names"] == ["C4", "Bb4", "C2", "B5"]


@needs_node
def test_js_form_rules_match_python(tmp_path):
    forms = ["A", "AA", "AB", "AAA", "ABA", "AABA", "ABCD", "AAAAAAAH", "ABCDEFGH", "AAD"]
    script = f"""
    import {{ nextLetter, resizeSections, divisors }} from "./form.mjs";
    const forms = {json.dumps(forms)}.map((f) => f.split(""));
    console.log(JSON.stringify({{
      next: forms.map((f) => f.map((_, i) => nextLetter(f, i))),
      back: forms.map((f) => f.map((_, i) => nextLetter(f, i, -1))),
      resized: forms.map((f) => [1, 2, 4, 8].map((n) => resizeSections(f, n))),
      divisors: divisors(12),
    }}));
    """
    got = run_node(tmp_path, script)
    letters = [list(f) for f in forms]
    assert got["next"] == [[next_letter(f, i) for i in range(len(f))] for f in letters]
    assert got["back"] == [[next_letter(f, i, -1) for i in range(len(f))] for f in letters]
    assert got["resized"] == [[resize_sections(f, n) for n in (1, 2, 4, 8)] for f in letters]
    assert got["divisors"] == [1, 2, 3, 4, 6, 12]


@needs_node
def test_js_curve_stroke_and_smoothing(tmp_path):
    script = """
    import { strokeTo, smoothRange, clamp01 } from "./curve.mjs";
    const flat = new Array(8).fill(0.5);
    console.log(JSON.stringify({
      right: strokeTo(flat, 1, 0.0, 5, 1.0),
      left: strokeTo(flat, 6, 1.0, 4, 0.0),
      clamped: strokeTo(flat, 0, -0.5, 1, 1.5),
      smooth: smoothRange([0, 0, 0, 3, 0, 0, 0, 0], 2, 4, 3),
      off: smoothRange([0, 3, 0], 0, 2, 1),
      edges: smoothRange([3, 0, 0], 0, 2, 3),
      bad: [clamp01(NaN), clamp01(-1), clamp01(2), clamp01(0.25)],
    }));
    """
    got = run_node(tmp_path, script)
    # a fast stroke from point 1 to point 5 fills every point between, on a straight line
    assert got["right"] == pytest.approx([0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.5])
    assert got["left"] == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.0, 0.5, 1.0, 0.5])
    assert got["clamped"][:2] == [0, 1]
    # a 3-point moving average, only over the points touched; shorter windows at the ends
    assert got["smooth"] == pytest.approx([0, 0, 1, 1, 1, 0, 0, 0])
    assert got["off"] == [0, 3, 0]
    assert got["edges"] == pytest.approx([1.5, 1.0, 0.0])
    assert got["bad"] == [0, 0, 1, 0.25]


# ---------------------------------------------------------------------------------------------
# PianoRollDrawer


def test_piano_roll_value_from_the_browser():
    drawer = PianoRollDrawer(bars=2)
    assert drawer.value == [] and drawer.error == ""
    assert (drawer.low, drawer.high, drawer.n_steps) == (60, 83, 32)
    drawer.notes = [[64, 4, 4], [60, 0, 4], [67, 8, 8]]  # as the browser sends them
    assert drawer.error == ""
    assert drawer.value == [Note(60, 0, 4), Note(64, 4, 4), Note(67, 8, 8)]
    assert all(isinstance(n, Note) for n in drawer.value)
    built, _ = controls.build(bars=2, melody=drawer.value)
    assert built[0].pitches[:12] == [60] * 4 + [64] * 4 + [67] * 4


def test_piano_roll_monophonic_rule():
    drawer = PianoRollDrawer(bars=1)
    drawer.add_note(72, 0, 8)
    drawer.add_note(76, 8, 4)
    drawer.add_note(74, 6, 4)  # overlaps both: both go
    assert drawer.value == [Note(74, 6, 4)]
    drawer.monophonic = False
    drawer.add_note(79, 6, 2)  # a chord is fine now
    drawer.add_note(74, 7, 2)  # but a note still replaces the one on its own pitch
    assert drawer.value == [Note(74, 7, 2), Note(79, 6, 2)]
    drawer.monophonic = True  # the chord is kept, and named
    assert drawer.error.startswith("G5 (step 6) and D5 (step 7) sound at the same time")
    assert "one note at a time" in drawer.error
    with pytest.raises(MusicInputError, match="same time"):
        drawer.value


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(60, 83), st.integers(0, 15), st.integers(1, 16)), max_size=12))
def test_piano_roll_drawing_keeps_a_melody_monophonic(strokes):
    drawer = PianoRollDrawer(bars=2)
    for pitch, onset, duration in strokes:
        drawer.add_note(pitch, onset, duration)
    notes = sorted(drawer.value, key=lambda n: n.onset)
    assert all(a.end <= b.onset for a, b in zip(notes, notes[1:]))
    if strokes:  # the last note drawn always survives
        assert Note(*strokes[-1]) in notes


def test_piano_roll_erase_and_clear():
    drawer = PianoRollDrawer(notes=[[60, 0, 4], [62, 4, 4]])
    assert drawer.erase_at(60, 3) and not drawer.erase_at(60, 4)
    assert drawer.value == [Note(62, 4, 4)]
    drawer.clear()
    assert drawer.notes == [] and drawer.value == []


def test_piano_roll_problems_in_plain_words():
    drawer = PianoRollDrawer(bars=1)
    drawer.notes = [[60, 12, 8]]  # e.g. bars lowered after drawing
    assert drawer.error == ("the note (C4 at step 12) ends at step 20, past the end of 1 bar (16 steps); "
                            "shorten it or set bars=2")
    with pytest.raises(MusicInputError, match="past the end"):
        drawer.value
    drawer.bars = 2
    assert drawer.error == "" and drawer.value == [Note(60, 12, 8)]
    drawer.notes = [[60, 0, 4], [60, 2, 4]]
    assert "two notes on C4 overlap" in drawer.error
    drawer.notes = [[50, 0, 4]]
    assert "below the lowest row" in drawer.error and "low=50" in drawer.error
    with pytest.raises(MusicInputError, match=r"note 1 is \('x', 0, 4\); a note is \[pitch, onset, duration\]"):
        drawer.add_note("x", 0, 4)
    assert "a note is [pitch, onset, duration]" in drawer.error  # shown in the widget too
    with pytest.raises(MusicInputError, match=r"the note \(C4 at step 30\) ends at step 34, past the end of 2 bars"):
        drawer.add_note(60, 30, 4)


@pytest.mark.parametrize("kwargs, words", [
    (dict(bars=0), "bars must be a whole number from 1 to 64"),
    (dict(bars=2.5), "bars must be a whole number"),
    (dict(low=70, high=65), "is above the highest"),
    (dict(low=20), "the lowest row"),
    (dict(high=96), "the highest row"),
    (dict(snap=3), "snap must be 1 (16th notes), 2 (8th notes) or 4 (quarter notes)"),
    (dict(notes=[[100, 0, 4]]), "outside dittoedu's piano roll"),
    (dict(notes=[[60, 0, 4], [64, 2, 4]]), "a melody plays one note at a time"),
])
def test_piano_roll_refuses_bad_settings(kwargs, words):
    with pytest.raises(MusicInputError, match=re.escape(words)):
        PianoRollDrawer(**kwargs)


def test_settings_assigned_directly_are_checked():
    drawer = PianoRollDrawer()
    with pytest.raises(MusicInputError, match="bars must be a whole number from 1 to 64"):
        drawer.bars = 0
    assert drawer.bars == 4 and "bars must be" in drawer.error
    with pytest.raises(MusicInputError, match="is above the highest"):
        drawer.high = 50
    drawer.low, drawer.high = 48, 72
    assert (drawer.low, drawer.high) == (48, 72)
    picker = ChordPicker()
    picker.key = "A minor"  # as a teacher may write it
    assert picker.key == "a" and picker.palette[0] == {"numeral": "i", "symbol": "Am"}
    assert picker.key_menu[0] == {"key": "C", "title": "C major"} and len(picker.key_menu) == 21
    with pytest.raises(MusicInputError, match="is not a key dittoedu understands"):
        picker.key = "H"
    picker.chords = ["C"]  # one chord per bar: the other bars are empty
    assert picker.chords == ["C", "", "", ""]
    curve = CurveDrawer()
    with pytest.raises(MusicInputError, match="points must be a whole number from 2"):
        curve.points = 1
    form = FormPicker(bars=8)
    with pytest.raises(MusicInputError, match="sections must be a whole number"):
        form.sections = 0
    form.letters = ["b", "a"]  # too few letters are spread over the sections, in capitals
    assert form.letters == ["B", "B", "A", "A"]


def test_piano_roll_json_round_trip(tmp_path):
    drawer = PianoRollDrawer(bars=2, low=55, monophonic=False, snap=2, tempo=100,
                             notes=[[60, 0, 4], [64, 0, 4], [67, 8, 8]])
    again = PianoRollDrawer.from_json(drawer.to_json())
    for name in ("bars", "low", "high", "monophonic", "snap", "tempo", "notes"):
        assert getattr(again, name) == getattr(drawer, name), name
    path = drawer.save(tmp_path / "melody.json")
    assert json.loads(path.read_text())["widget"] == "PianoRollDrawer"
    assert PianoRollDrawer.load(path).value == drawer.value
    # refill a widget already on screen
    shown = PianoRollDrawer()
    shown.restore(path.read_text())
    assert shown.value == drawer.value and shown.bars == 2


def test_saved_work_with_a_problem_comes_back_with_its_message():
    text = json.dumps({"widget": "PianoRollDrawer", "format": 1, "bars": 1, "notes": [[60, 0, 4], [62, 2, 4]]})
    drawer = PianoRollDrawer.from_json(text)  # the work is not lost...
    assert drawer.notes == [[60, 0, 4], [62, 2, 4]]
    assert "one note at a time" in drawer.error  # ...and the widget says what to fix


@pytest.mark.parametrize("text, words", [
    ("not json", "is not JSON text"),
    ("[1, 2]", 'has no "widget" entry'),
    ('{"widget": "ChordPicker", "chords": []}', "holds a ChordPicker, not a PianoRollDrawer"),
    ('{"widget": "PianoRollDrawer", "format": 99}', "newer dittoedu"),
    ('{"widget": "PianoRollDrawer", "notes": [[60, "a", 4]]}', "a note is [pitch, onset, duration]"),
    ('{"widget": "PianoRollDrawer", "bars": -1}', "bars must be a whole number"),
])
def test_loading_something_else_says_so(text, words):
    with pytest.raises(MusicInputError, match=re.escape(words)):
        PianoRollDrawer.from_json(text)


def test_load_missing_file(tmp_path):
    with pytest.raises(MusicInputError, match="there is no file"):
        CurveDrawer.load(tmp_path / "nope.json")


def test_piano_roll_midi_round_trip(tmp_path):
    notes = [[60, 0, 4], [62, 4, 2], [64, 6, 2], [65, 8, 8], [67, 20, 4], [72, 24, 8]]
    drawer = PianoRollDrawer(bars=2, notes=notes)
    path = drawer.to_midi(tmp_path / "melody.mid")
    assert path.read_bytes().startswith(b"MThd")
    assert load(path).notes == drawer.value
    # and back into a drawer
    again = PianoRollDrawer.from_notes(path)
    assert again.value == drawer.value and again.bars == 2
    with pytest.raises(MusicInputError, match="nothing to write yet"):
        PianoRollDrawer().to_midi(tmp_path / "empty.mid")


def test_piano_roll_from_notes_widens_the_rows():
    drawer = PianoRollDrawer.from_notes("4/4 C4 D E F G1")  # tinyNotation: C3 (48) upwards
    assert drawer.bars == 2 and drawer.low == 48 and drawer.high == 83
    assert [n.pitch for n in drawer.value] == [48, 50, 52, 53, 55]
    assert PianoRollDrawer.from_notes([Note(60, 0, 4)], bars=4).bars == 4
    with pytest.raises(MusicInputError, match="outside dittoedu's piano roll"):
        PianoRollDrawer.from_notes([Note(96, 0, 4)])


# ---------------------------------------------------------------------------------------------
# CurveDrawer


def test_curve_value_and_clamping():
    curve = CurveDrawer(points=8)
    assert curve.value.dtype == np.float64 and curve.value.shape == (8,)
    assert np.all(curve.value == 0.5)
    curve.values = [0.0, 0.2, 1.3, -0.1, 0.5, 0.5, 0.9, 1.0]  # as the browser sends them
    assert curve.values == [0.0, 0.2, 1.0, 0.0, 0.5, 0.5, 0.9, 1.0]
    assert curve.error == ""
    assert np.array_equal(read_curve(curve.value, n=8), curve.value)  # what controls.build will read


def test_curve_resampling():
    curve = CurveDrawer(points=5)
    curve.values = [0.0, 1.0]  # a wrong length (it cannot come from the browser, but it is fixed)
    assert curve.values == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    curve.points = 3
    assert curve.values == pytest.approx([0.0, 0.5, 1.0])
    curve.set_curve("0.2, 0.8")
    assert curve.value == pytest.approx([0.2, 0.5, 0.8])
    curve.set_curve([0.7])
    assert curve.value == pytest.approx([0.7, 0.7, 0.7])
    curve.reset()
    assert curve.value == pytest.approx([0.5, 0.5, 0.5])
    assert CurveDrawer(points=4, values=[0.0, 1.0]).value == pytest.approx([0, 1 / 3, 2 / 3, 1])


def test_curve_refuses_bad_curves_in_plain_words():
    curve = CurveDrawer(points=4)
    with pytest.raises(MusicInputError, match=r"value 2 of the curve is 3, outside 0\.\.1"):
        curve.set_curve([0.5, 3.0])
    assert "outside 0..1" in curve.error
    with pytest.raises(MusicInputError, match="not a number"):
        curve.set_curve("0.2, loud, 0.4")
    assert curve.value == pytest.approx([0.5] * 4)  # nothing was changed
    with pytest.raises(MusicInputError, match="points must be a whole number from 2"):
        CurveDrawer(points=1)
    with pytest.raises(MusicInputError, match="default must be a number from 0 to 1"):
        CurveDrawer(default=2)


def test_curve_json_round_trip(tmp_path):
    curve = CurveDrawer(points=16, label="tension", bars=4, smooth=False, low_label="calm", high_label="tense")
    curve.values = list(np.linspace(0, 1, 16))
    again = CurveDrawer.load(curve.save(tmp_path / "curve.json"))
    assert again.value == pytest.approx(curve.value)
    assert (again.label, again.bars, again.smooth, again.low_label, again.high_label) == (
        "tension", 4, False, "calm", "tense")
    assert CurveDrawer.from_json(curve.to_json()).points == 16
    with pytest.raises(MusicInputError, match="a curve is a list of numbers"):
        CurveDrawer.from_json('{"widget": "CurveDrawer", "values": ["loud", "soft"]}')


# ---------------------------------------------------------------------------------------------
# ChordPicker


def test_chord_palette_c_major_and_a_minor():
    c = ChordPicker(key="C")
    assert [(p["numeral"], p["symbol"]) for p in c.palette] == [
        ("I", "C"), ("ii", "Dm"), ("iii", "Em"), ("IV", "F"), ("V", "G"), ("vi", "Am"), ("vii°", "Bdim")]
    a = ChordPicker(key="a")
    assert [(p["numeral"], p["symbol"]) for p in a.palette] == [
        ("i", "Am"), ("ii°", "Bdim"), ("III", "C"), ("iv", "Dm"), ("v", "Em"), ("VI", "F"), ("VII", "G"), ("V", "E")]
    # every palette chord is one parse_chords reads as the same chord
    for p in a.palette:
        assert parse_chords(p["symbol"], bars=1)[0].symbol == p["symbol"]
    a.key = "Bb"  # as the key menu sends it
    assert [p["symbol"] for p in a.palette][:3] == ["Bb", "Cm", "Dm"]
    assert {"key": "a", "title": "A minor"} in a.key_menu


def test_chord_keys_are_normalised_and_checked():
    assert ChordPicker(key="A minor").key == "a"
    assert ChordPicker(key="F# minor").key == "f#"
    assert ChordPicker(key="Eb").key == "Eb"
    with pytest.raises(MusicInputError, match="is not a key dittoedu understands"):
        ChordPicker(key="H")


def test_chord_value_from_the_browser():
    picker = ChordPicker(bars=4, key="C")
    assert picker.chords == ["", "", "", ""] and picker.value == ""
    picker.chords = ["C", "G", "", ""]  # two palette clicks
    with pytest.raises(MusicInputError, match="bars 3 and 4 have no chord yet"):
        picker.value
    assert "no chord yet" in picker.error
    picker.chords = ["C", "G", "Am", "F"]
    assert picker.error == "" and picker.value == "C G Am F"
    picker.chords = ["C", "V7", "vi", "F"]  # roman numerals typed in the box: resolved in the key
    assert picker.value == "C G7 Am F"
    built, _ = controls.build(bars=4, chords=picker.value)
    assert built[0].symbols == ["C", "G7", "Am", "F"]


def test_chord_mistakes_are_shown_per_bar():
    picker = ChordPicker(bars=4)
    picker.chords = ["C", "Hmaj7", "Am F", "am"]
    assert picker.bad_bars == [1, 2, 3]
    assert "bar 2: chord 'Hmaj7' is not a chord symbol music21 understands; try 'Bmaj7'" in picker.error
    assert "bar 3 holds 'Am F': one chord per bar" in picker.error
    assert "bar 4: chord 'am' should start with a capital letter" in picker.error
    with pytest.raises(MusicInputError, match="Hmaj7"):
        picker.value
    with pytest.raises(MusicInputError, match="Xyz"):
        ChordPicker(chords=["Xyz", "C", "C", "C"])
    picker.set_chord(2, "Bmaj7")
    picker.set_chord(3, "Am")
    picker.set_chord(4, "F")
    assert picker.bad_bars == [] and picker.error == "" and picker.value == "C Bmaj7 Am F"
    with pytest.raises(MusicInputError, match="counted from 1"):
        picker.set_chord(0, "C")


def test_chord_set_chords_and_bars():
    picker = ChordPicker(bars=4, chords="C G")  # a shorter progression repeats
    assert picker.chords == ["C", "G", "C", "G"]
    picker.key = "a"
    picker.set_chords("i iv V i")  # numerals are read in the picker's key, and kept as chord symbols
    assert picker.chords == ["Am", "Dm", "E", "Am"]
    with pytest.raises(MusicInputError, match="two keys given"):
        picker.set_chords("C: I V vi IV")
    with pytest.raises(MusicInputError, match="one chord per bar"):
        picker.set_chords("| C | G | Am F | F |")
    with pytest.raises(MusicInputError, match="4 bars take 4 chords"):
        picker.set_chords("C G Am")
    picker.bars = 2
    assert picker.chords == ["Am", "Dm"] and picker.value == "Am Dm"
    picker.bars = 3
    assert picker.chords == ["Am", "Dm", ""]
    picker.clear()
    assert picker.value == ""


def test_chord_json_round_trip(tmp_path):
    picker = ChordPicker(bars=4, key="a", chords=["Am", "Dm", "E7", ""])
    again = ChordPicker.load(picker.save(tmp_path / "chords.json"))
    assert (again.key, again.chords, again.bars) == ("a", ["Am", "Dm", "E7", ""], 4)
    assert [p["symbol"] for p in again.palette] == [p["symbol"] for p in picker.palette]
    shown = ChordPicker(bars=8)
    shown.restore(picker.to_json())
    assert shown.bars == 4 and shown.chords == picker.chords


# ---------------------------------------------------------------------------------------------
# FormPicker


def test_form_value_and_clicks():
    form = FormPicker(bars=8)
    assert (form.sections, form.letters, form.value) == (4, ["A"] * 4, "AAAA")
    form.cycle(3)  # a click: a new section B
    assert form.value == "AABA"
    form.cycle(3)  # another: back to A (no C while there is no B elsewhere)
    assert form.value == "AAAA"
    form.letters = ["A", "B", "B", "A"]  # as the browser sends them
    form.cycle(4)
    assert form.value == "ABBB"
    form.cycle(4)
    assert form.value == "ABBC"
    form.cycle(4, step=-1)
    assert form.value == "ABBB"
    assert parse_form(form.value, bars=8) == list("AABBBBBB")
    built, _ = controls.build(bars=8, form=form.value)
    assert built[0].form == "ABBB"


def test_form_sections():
    form = FormPicker(bars=8, form="ab")
    assert (form.sections, form.value) == (2, "AB")
    form.sections = 4  # each section keeps the letter of the bars under it
    assert form.value == "AABB"
    with pytest.raises(MusicInputError, match="choose 3, 6, 9 or 12 bars"):
        form.set_form("A B A")  # 8 bars do not split into 3 sections
    assert "does not split evenly" in form.error and form.value == "AABB"  # shown; nothing changed
    form.bars = 6
    form.set_form("A B A")
    assert (form.sections, form.value, form.error) == (3, "ABA", "")
    form.bars = 8  # the form stays, with what to do about it
    assert "does not split evenly" in form.error
    with pytest.raises(MusicInputError, match="choose 3, 6, 9 or 12 bars"):
        form.value
    assert FormPicker(bars=3).sections == 3 and FormPicker(bars=6).sections == 3
    assert FormPicker(bars=16).sections == 4 and FormPicker(bars=5).sections == 5


def test_form_mistakes_in_plain_words():
    form = FormPicker(bars=4)
    form.letters = ["A", "X", "A", "A"]
    assert "'X' (position 2) is not a section letter" in form.error
    with pytest.raises(MusicInputError, match="not a section letter"):
        form.value
    with pytest.raises(MusicInputError, match="does not split evenly"):
        FormPicker(bars=4, form="ABA")
    with pytest.raises(MusicInputError, match="has 3 sections, but sections=2"):
        FormPicker(bars=6, form="ABA", sections=2)
    with pytest.raises(MusicInputError, match="stray character"):
        form.set_form("AA-BA")


def test_form_json_round_trip(tmp_path):
    form = FormPicker(bars=8, form="AABA")
    again = FormPicker.load(form.save(tmp_path / "form.json"))
    assert (again.bars, again.sections, again.value) == (8, 4, "AABA")
    assert FormPicker.from_json(form.to_json()).value == "AABA"


def test_every_widget_survives_a_round_trip_unchanged():
    for cls in WIDGETS:
        widget = cls()
        assert cls.from_json(widget.to_json()).to_json() == widget.to_json()


# ---------------------------------------------------------------------------------------------
# the views, driven in node with a stand-in for the DOM (a real browser comes in the end-to-end tests)

FAKE_DOM = """
const frames = [];
globalThis.requestAnimationFrame = (f) => { frames.push(f); return frames.length; };
globalThis.cancelAnimationFrame = () => {};
globalThis.window = { devicePixelRatio: 1 };
const anything = new Proxy({}, { get: (t, k) => (k in t ? t[k] : () => {}), set: (t, k, v) => { t[k] = v; return true; } });
class Elem {
  constructor(tag) {
    Object.assign(this, { tagName: tag, children: [], listeners: {}, attrs: {}, style: {}, dataset: {},
                          className: "", textContent: "", value: "", checked: false, disabled: false });
    const self = this;
    this.classList = {
      toggle(c, on) {
        const s = new Set(self.className.split(" ").filter(Boolean));
        if (on === undefined ? !s.has(c) : on) s.add(c); else s.delete(c);
        self.className = [...s].join(" ");
      },
      add(c) { this.toggle(c, true); },
      remove(c) { this.toggle(c, false); },
      contains(c) { return self.className.split(" ").includes(c); },
    };
  }
  append(...xs) { this.children.push(...xs); }
  replaceChildren(...xs) { this.children = xs; }
  setAttribute(k, v) { this.attrs[k] = v; }
  addEventListener(t, f) { (this.listeners[t] ||= []).push(f); }
  fire(t, ev = {}) {
    for (const f of this.listeners[t] || []) f({ preventDefault() {}, stopPropagation() {}, pointerId: 1, button: 0, ...ev });
    flush();
  }
  setPointerCapture() {}
  getBoundingClientRect() {
    return { left: 0, top: 0, width: parseFloat(this.style.width) || 100, height: parseFloat(this.style.height) || 100 };
  }
  getContext() { return anything; }
  find(cls) { return this.all(cls)[0]; }
  all(cls) {
    const out = [];
    const walk = (e) => { if (e.className && e.className.split(" ").includes(cls)) out.push(e); (e.children || []).forEach(walk); };
    walk(this);
    return out;
  }
  get text() { return this.textContent + (this.children || []).map((c) => c.text ?? "").join(""); }
}
globalThis.document = { createElement: (t) => new Elem(t), createTextNode: (t) => ({ text: t }) };
function flush() { while (frames.length) frames.shift()(0); }
function makeModel(state) {
  const handlers = [];
  const model = {
    saves: 0,
    get: (k) => state[k],
    set(k, v) { state[k] = v; for (const [names, f] of handlers) if (names.split(/\\s+/).includes("change:" + k)) f(); },
    save_changes() { model.saves++; },
    on(names, f) { handlers.push([names, f]); },
    off(names, f) { const i = handlers.findIndex((h) => h[0] === names && h[1] === f); if (i >= 0) handlers.splice(i, 1); },
    handlers,
  };
  return model;
}
async function mount(file, state) {
  const mod = await import(file);
  const model = makeModel(state);
  const host = new Elem("div");
  const cleanup = mod.default.render({ model, el: host });
  flush();
  return { model, host, cleanup, state };
}
"""


def browser_state(widget) -> dict:
    """The synced state of a widget, as the browser receives it."""
    return {k: v for k, v in widget.get_state().items() if not k.startswith("_")}


def run_view(tmp_path, body: str):
    return run_node(tmp_path, FAKE_DOM + "\n" + body)


@needs_node
def test_piano_roll_view_draws_and_erases(tmp_path):
    drawer = PianoRollDrawer(bars=1, low=60, high=71)
    state = browser_state(drawer)
    got = run_view(tmp_path, f"""
    const {{ model, host, cleanup, state }} = await mount("./piano_roll.mjs", {json.dumps(state)});
    const canvas = host.find("ditto-canvas");
    // 16 steps: 22 px cells after a 38 px label column; rows of 13 px under an 18 px header, B4 on top
    const at = (pitch, step) => ({{ clientX: 38 + step * 22 + 5, clientY: 18 + (71 - pitch) * 13 + 5 }});
    const log = [];
    canvas.fire("pointerdown", at(64, 2));
    canvas.fire("pointermove", {{ ...at(64, 5), buttons: 1 }});
    log.push([model.saves, JSON.parse(JSON.stringify(state.notes))]);   // nothing sent while dragging
    canvas.fire("pointerup", at(64, 5));
    log.push([model.saves, state.notes]);
    canvas.fire("pointerdown", at(67, 4));                               // overlaps E4: one note at a time
    canvas.fire("pointerup", at(67, 4));
    log.push(state.notes);
    canvas.fire("pointerdown", at(67, 4));                               // a click on a note erases it
    canvas.fire("pointerup", at(67, 4));
    log.push(state.notes);
    host.find("ditto-pianoroll").all("ditto-btn").find((b) => b.textContent.includes("Undo")).fire("click");
    log.push(state.notes);
    model.set("snap", 4);
    canvas.fire("pointerdown", at(62, 9));                               // snapped to the beat: steps 8..16
    canvas.fire("pointermove", at(62, 13));
    canvas.fire("pointerup", at(62, 13));
    log.push(state.notes);
    model.set("error", "a message from Python");
    log.push([host.find("ditto-error").textContent, host.find("ditto-error").className]);
    host.all("ditto-btn").find((b) => b.textContent.includes("Play")).fire("click");  // no Web Audio here
    log.push(host.find("ditto-hint").textContent);
    host.all("ditto-btn").find((b) => b.textContent === "Clear").fire("click");
    log.push(state.notes);
    cleanup();
    log.push(model.handlers.length);
    console.log(JSON.stringify(log));
    """)
    assert got[0] == [0, []]
    assert got[1] == [1, [[64, 2, 4]]]
    assert got[2] == [[67, 4, 1]]
    assert got[3] == []
    assert got[4] == [[67, 4, 1]]
    assert got[5] == [[67, 4, 1], [62, 8, 8]]
    assert got[6] == ["a message from Python", "ditto-error ditto-show"]
    assert got[7] == "This browser cannot play sound (no Web Audio)"
    assert got[8] == [] and got[9] == 0
    # what the view sent is what Python accepts
    drawer.notes = got[5]
    assert drawer.error == "" or "same time" in drawer.error


@needs_node
def test_curve_view_draws_a_stroke(tmp_path):
    curve = CurveDrawer(points=8, bars=2, smooth=False)
    state = browser_state(curve)
    got = run_view(tmp_path, f"""
    const {{ model, host, state }} = await mount("./curve.mjs", {json.dumps(state)});
    const canvas = host.find("ditto-canvas");
    // 8 points over a 360 px plot after a 48 px margin; values 1..0 over 150 px under a 22 px margin
    const at = (i, v) => ({{ clientX: 48 + (i + 0.5) * 45, clientY: 22 + (1 - v) * 150 }});
    canvas.fire("pointerdown", at(0, 1));
    canvas.fire("pointermove", at(7, 0));   // one fast move: the points between are filled in
    const during = model.saves;
    canvas.fire("pointerup", at(7, 0));
    const drawn = state.values;
    model.set("smooth", true);
    canvas.fire("pointerdown", at(3, 1));
    canvas.fire("pointerup", at(3, 1));
    const smoothed = state.values;
    host.find("ditto-btn").fire("click");   // Reset
    console.log(JSON.stringify({{ during, saves: model.saves, drawn, smoothed, reset: state.values,
                                  title: host.find("ditto-title").textContent }}));
    """)
    assert got["during"] == 0
    assert got["drawn"] == pytest.approx([1 - i / 7 for i in range(8)])
    # the click at point 4 is smoothed with its neighbours (3-point moving average)
    assert got["smoothed"][3] == pytest.approx((got["drawn"][2] + 1 + got["drawn"][4]) / 3)
    assert got["reset"] == [0.5] * 8 and got["saves"] == 3 and got["title"] == "intensity"
    curve.values = got["drawn"]
    assert curve.value == pytest.approx(got["drawn"])


@needs_node
def test_chord_view_picks_and_types(tmp_path):
    picker = ChordPicker(bars=4, key="C")
    state = browser_state(picker)
    got = run_view(tmp_path, f"""
    const {{ model, host, state }} = await mount("./chords.mjs", {json.dumps(state)});
    const palette = host.find("ditto-palette").children;
    const names = palette.map((b) => b.text);
    palette[4].fire("click");                          // V: G in bar 1, bar 2 selected next
    const input = host.find("ditto-input");
    input.value = " Fmaj7 ";
    input.fire("keydown", {{ key: "Enter" }});           // typed into bar 2
    host.all("ditto-slot")[3].fire("click");           // select bar 4
    palette[5].fire("click");
    const slots = host.all("ditto-slot").map((s) => s.text);
    model.set("bad_bars", [1]);
    const bad = host.all("ditto-slot")[1].className;
    console.log(JSON.stringify({{ names, chords: state.chords, selected: state.selected, slots, bad,
                                  keys: host.find("ditto-select").children.length }}));
    """)
    assert got["names"][:3] == ["IC", "iiDm", "iiiEm"]
    assert got["chords"] == ["G", "Fmaj7", "", "Am"]
    assert got["selected"] == 3
    assert got["slots"] == ["bar 1G", "bar 2Fmaj7", "bar 3—", "bar 4Am"]
    assert "ditto-bad" in got["bad"]
    assert got["keys"] == len(picker.key_menu)
    picker.chords = got["chords"]
    assert picker.error == "" and picker.bad_bars == []


@needs_node
def test_form_view_cycles_letters(tmp_path):
    form = FormPicker(bars=8)
    state = browser_state(form)
    got = run_view(tmp_path, f"""
    const {{ host, state }} = await mount("./form.mjs", {json.dumps(state)});
    const log = [];
    host.all("ditto-section")[2].fire("click");
    log.push(state.letters.join(""));
    host.all("ditto-section")[3].fire("click");
    host.all("ditto-section")[3].fire("click");
    log.push(state.letters.join(""));
    host.all("ditto-section")[3].fire("contextmenu");
    log.push(state.letters.join(""));
    const counts = host.find("ditto-segmented").children;
    log.push(counts.map((b) => b.textContent).join(","));
    counts[1].fire("click");                                 // 2 sections
    log.push([state.sections, state.letters.join(""), host.all("ditto-section").map((b) => b.text)]);
    log.push(host.find("ditto-form-text").textContent);
    console.log(JSON.stringify(log));
    """)
    assert got[0] == "AABA"
    assert got[1] == "AABC"
    assert got[2] == "AABB"
    assert got[3] == "1,2,4,8"
    assert got[4] == [2, "AB", ["Abars 1–4", "Bbars 5–8"]]
    assert got[5] == "AB"
    form.sections, form.letters = got[4][0], list(got[4][1])
    assert form.value == "AB"
