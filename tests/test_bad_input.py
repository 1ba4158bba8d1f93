"""Bad input gets a clear error in the user's words, raised before anything is written."""

import pytest
from hypothesis import given, settings, strategies as st

from dittoedu import roll as R
from dittoedu.outputs import save_piece
from dittoedu.roll import MusicInputError, Note


def error_of(source):
    with pytest.raises(MusicInputError) as info:
        R.load(source)
    return str(info.value)


def test_missing_file(tmp_path):
    assert "there is no file" in error_of(tmp_path / "melody.mid")
    assert "is a folder" in error_of(tmp_path)


def test_malformed_midi(tmp_path):
    (tmp_path / "a.mid").write_bytes(b"hello, not a midi file")
    assert "is not a MIDI file" in error_of(tmp_path / "a.mid")
    (tmp_path / "b.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x00\x40\x00\x90")
    assert "could not read b.mid" in error_of(tmp_path / "b.mid")
    (tmp_path / "c.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x07\x00\x00\x01\xe0")
    assert "damaged MIDI" in error_of(tmp_path / "c.mid")


def test_malformed_musicxml(tmp_path):
    (tmp_path / "a.musicxml").write_text("<score-partwise><part id='P1'><measure><note><pitch>")
    assert "could not read a.musicxml" in error_of(tmp_path / "a.musicxml")
    (tmp_path / "b.xml").write_text("just some words")
    assert "is not a MusicXML file" in error_of(tmp_path / "b.xml")
    (tmp_path / "c.mxl").write_bytes(b"PK but not really a zip")
    assert "not a compressed MusicXML" in error_of(tmp_path / "c.mxl")


def test_malformed_abc(tmp_path):
    (tmp_path / "a.abc").write_text("X:1\nK:C\n%%% ))) (((\n")
    assert "has no notes" in error_of(tmp_path / "a.abc")
    assert "ABC needs a K: line" in error_of("X:1\nK:C\nz4|]")


def test_empty_piece(tmp_path):
    (tmp_path / "empty.abc").write_text("")
    assert "is empty" in error_of(tmp_path / "empty.abc")
    assert "is empty" in error_of("   ")
    assert "has no notes" in error_of("4/4 r1 r1")


def test_pitch_range_messages():
    low = "X:1\nL:1/4\nK:C\nC,,, D,,, E,,, F,,,|]"
    message = error_of(low)
    assert "C1" in message and "only covers C2 to B5" in message and "transposing by +12" in message
    assert "transposing" not in error_of("4/4 c4 c'''''4")  # too wide to fit at all
    assert "C9" in error_of("4/4 c4 c'''''4")


def test_nothing_is_written_on_bad_input(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(MusicInputError):
        save_piece(out, [Note(20, 0, 4)], n_steps=16)
    assert not out.exists()
    with pytest.raises(MusicInputError):
        R.write_midi([Note(100, 0, 4)], tmp_path / "x.mid")
    assert not (tmp_path / "x.mid").exists()
    with pytest.raises(MusicInputError, match="time signature"):
        R.write_musicxml([Note(60, 0, 4)], tmp_path / "x.musicxml", time_signature="4/5")
    assert not (tmp_path / "x.musicxml").exists()


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_any_text_either_loads_or_says_why(text):
    try:
        piece = R.load(text)
    except MusicInputError as exc:
        assert str(exc)
    else:
        assert piece.notes
