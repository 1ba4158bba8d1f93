"""Score pictures: MusicXML text, verovio SVG, resvg PNG."""

import re
import struct

import pytest
import torch

from dittoedu import score
from dittoedu.roll import MusicInputError, Note, notes_to_roll

# one bar of 4/4 in quarter notes, and a second voice below it: no note crosses a bar line,
# so verovio draws exactly one note head per note
MELODY = [Note(60, 0, 4), Note(62, 4, 4), Note(64, 8, 4), Note(65, 12, 4)]
TWO_VOICES = MELODY + [Note(48, 0, 8), Note(43, 8, 8)]


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return struct.unpack(">II", png[16:24])


def test_render_svg_draws_one_note_head_per_note():
    svg = score.render_svg(MELODY)
    assert svg.startswith("<svg")
    assert score.count_notes(svg) == len(MELODY)
    assert score.count_notes(score.render_svg(TWO_VOICES)) == len(TWO_VOICES)


def test_render_svg_takes_a_roll_a_score_and_musicxml_alike():
    by_notes = score.count_notes(score.render_svg(TWO_VOICES))
    roll = notes_to_roll(TWO_VOICES, n_steps=16)
    assert score.count_notes(score.render_svg(roll)) == by_notes
    assert score.count_notes(score.render_svg(roll[None])) == by_notes  # a batch of one
    xml = score.musicxml_text(TWO_VOICES)
    assert score.count_notes(score.render_svg(xml)) == by_notes
    from music21 import converter

    assert score.count_notes(score.render_svg(converter.parse("tinyNotation: 4/4 c4 d e f g1"))) == 5


def test_tied_notes_are_drawn_as_two_heads():
    # a half note starting on beat 4 crosses the bar line: two heads joined by a tie
    svg = score.render_svg([Note(60, 12, 8)])
    assert score.count_notes(svg) == 2
    assert 'class="tie"' in svg


def test_musicxml_text_follows_stream_kwargs_and_drops_lyrics():
    text = score.musicxml_text(MELODY[:3], time_signature="3/4", title="Waltz")
    assert "<beats>3</beats>" in text and "<beat-type>4</beat-type>" in text
    assert "Waltz" in text
    from music21 import converter

    song = converter.parse("tinyNotation: 4/4 c4 d e f")
    for n, word in zip(song.recurse().notes, ["la", "la", "la", "la"]):
        n.addLyric(word)
    assert "<lyric" in song.write("musicxml").read_text()  # music21 itself keeps them ...
    assert "<lyric" not in score.musicxml_text(song)  # ... the picture does not


def test_only_needed_accidentals_are_printed():
    # music21 spells Note(67) as G-natural and prints the natural on a repeated G
    assert score.render_svg([Note(60, 0, 4), Note(60, 4, 4), Note(60, 8, 8)]).count('class="accid"') == 0
    # G G F# E in one bar: only the sharp is needed
    svg = score.render_svg([Note(67, 0, 4), Note(67, 4, 4), Note(66, 8, 4), Note(64, 12, 4)])
    assert svg.count('class="accid"') == 1
    # F# then F in one bar: the natural is needed
    svg = score.render_svg([Note(66, 0, 8), Note(65, 8, 8)])
    assert svg.count('class="accid"') == 2


def test_empty_notes_give_one_bar_of_rest():
    svg = score.render_svg([])
    assert score.count_notes(svg) == 0
    assert svg.count('class="measure"') == 1
    assert 'class="mRest"' in svg or 'class="rest"' in svg
    svg = score.render_svg([], time_signature="3/4", n_steps=24)
    assert svg.count('class="measure"') == 2


@pytest.mark.parametrize(
    "text, words",
    [
        ("<score-partwise><part-list>", "not well-formed"),
        ("4/4 c4 d e f", "roll.load"),
        ("<html><body>hi</body></html>", "not a MusicXML score"),
        ('<score-partwise version="4.0"><part-list/></score-partwise>', "no <part>"),
    ],
)
def test_bad_musicxml_text_says_what_is_wrong(text, words):
    with pytest.raises(MusicInputError, match=words):
        score.render_svg(text)


def test_bad_inputs_are_refused_early():
    with pytest.raises(MusicInputError, match=r"\[2, P, T\]"):
        score.render_svg(torch.zeros(3, 48, 16))
    with pytest.raises(MusicInputError, match="Note"):
        score.render_svg([(60, 0, 4), "C4"])
    with pytest.raises(TypeError, match="time_signature"):
        score.render_svg(score.musicxml_text(MELODY), time_signature="3/4")
    with pytest.raises(ValueError, match="width_px"):
        score.render_svg(MELODY, width_px=10)


def test_long_music_wraps_onto_more_systems_of_one_page():
    notes = [Note(60 + (i % 8), 4 * i, 4) for i in range(64)]  # 16 bars
    wide = score.render_svg(notes, width_px=2000)
    narrow = score.render_svg(notes, width_px=600)
    assert wide.count('class="system"') < narrow.count('class="system"')
    assert score.count_notes(narrow) == 64  # every system is on the one page
    w, _ = score.svg_size(narrow)
    assert w <= 600


def test_render_svg_to_fit_wraps_more_for_a_tall_box():
    notes = [Note(60 + (i % 8), 4 * i, 4) for i in range(32)]  # 8 bars
    wide_box = score.render_svg_to_fit(notes, width_in=12, height_in=1.5)
    tall_box = score.render_svg_to_fit(notes, width_in=4, height_in=6)
    assert wide_box.count('class="system"') < tall_box.count('class="system"')


def test_svg_to_png_is_a_white_png_of_the_right_size():
    svg = score.render_svg(MELODY)
    w, h = score.svg_size(svg)
    png = score.svg_to_png(svg, zoom=1)
    assert png[:8] == score.PNG_MAGIC
    assert png_size(png) == (round(w), round(h))
    assert png_size(score.svg_to_png(svg, zoom=2)) == (round(2 * w), round(2 * h))
    import io

    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels[0, 0, :3].tolist() == [1.0, 1.0, 1.0]  # opaque white corner
    assert pixels[..., :3].min() < 0.2  # and black ink somewhere


def test_svg_to_png_draws_the_tempo_glyph_in_a_text_font():
    svg = score.render_svg(MELODY, tempo=90)
    assert re.search(r'font-family="Leipzig"[^>]*>\ueca5<', svg) or "\ue1d5" in svg  # verovio's SMuFL note
    plain = score._plain_text_glyphs(svg)
    assert "\u2669" in plain and "\ueca5" not in plain and "\ue1d5" not in plain


def test_svg_to_png_refuses_what_is_not_svg():
    with pytest.raises(ValueError, match="SVG text"):
        score.svg_to_png("<score-partwise/>")


def test_svg_image_wraps_the_svg_for_notebooks():
    pytest.importorskip("IPython")
    svg = score.render_svg(MELODY)
    assert score.svg_image(svg).data.count('class="note"') == len(MELODY)
