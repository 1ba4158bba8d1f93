"""The piano-roll representation and its round trips: notes <-> roll <-> music21 <-> MIDI / MusicXML."""

import pytest
import torch
from hypothesis import given, settings, strategies as st

from dittoedu import roll as R
from dittoedu.roll import LOW_PITCH, N_PITCHES, Note


def overlapping(notes):
    """Notes that share a pitch with another note sounding at the same time (unisons between voices).

    A piano roll has one row per pitch, so two voices singing the same pitch at once
    become one note: these are the only notes a round trip may change.
    """
    by_pitch = {}
    for n in notes:
        by_pitch.setdefault(n.pitch, []).append(n)
    out = set()
    for group in by_pitch.values():
        group.sort()
        for a, b in zip(group, group[1:]):
            if b.onset < a.end:
                out.update({a, b})
        # a long note can overlap a note further on too
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if b.onset >= a.end:
                    break
                out.update({a, b})
    return out


def check_round_trip(original, back):
    """Unambiguous notes come back exactly; every other returned note is covered by original notes."""
    original, back = set(original), set(back)
    ambiguous = overlapping(original)
    assert original - ambiguous <= back, sorted(original - ambiguous - back)[:5]
    onsets = {(n.pitch, n.onset) for n in original}
    for n in back - original:
        assert (n.pitch, n.onset) in onsets, n
        covered = set()
        for m in original:
            if m.pitch == n.pitch:
                covered.update(range(m.onset, m.end))
        assert set(range(n.onset, n.end)) <= covered, n
    return len(ambiguous)


# ------------------------------------------------------------------------------------------------

def test_repeated_notes_stay_separate():
    held = R.notes_to_roll([Note(60, 0, 8)], 8)
    repeated = R.notes_to_roll([Note(60, 0, 4), Note(60, 4, 4)], 8)
    assert torch.equal(held[R.FRAME], repeated[R.FRAME])
    assert not torch.equal(held[R.ONSET], repeated[R.ONSET])
    assert R.roll_to_notes(repeated) == [Note(60, 0, 4), Note(60, 4, 4)]
    assert R.roll_to_notes(held) == [Note(60, 0, 8)]


def test_roll_values_and_threshold():
    roll = R.notes_to_roll([Note(LOW_PITCH, 0, 2), Note(LOW_PITCH + N_PITCHES - 1, 3, 1)], 6)
    assert set(roll.unique().tolist()) == {-1.0, 1.0}
    soft = roll * 0.3  # the sign decides: a soft roll gives the same notes
    assert R.roll_to_notes(soft) == R.roll_to_notes(roll)
    assert R.roll_to_notes(soft, threshold=0.5) == []


def test_onset_without_frame_is_ignored():
    roll = -torch.ones(2, N_PITCHES, 4)
    roll[R.ONSET, 10, 1] = 1
    assert R.roll_to_notes(roll) == []


def test_lone_cells_are_not_notes():
    """A frame cell alone between silent steps with no onset is a smudge, not a note; struck or held ones stay."""
    roll = -torch.ones(2, N_PITCHES, 6)
    roll[R.FRAME, 10, 2] = 0.2  # lone: no onset, silent on both sides
    roll[R.FRAME, 11, 2] = roll[R.ONSET, 11, 2] = 1  # a struck 16th note
    roll[R.FRAME, 12, 0] = 1  # held into the clip from before it
    roll[R.FRAME, 13, 3:5] = 1  # two steps without an onset: a note (a missed strike, not a smudge)
    roll[R.FRAME, 14, 1:4] = roll[R.ONSET, 14, 2] = 1  # a smudge just before a struck note of the same pitch
    assert R.lone_cells(roll).nonzero().tolist() == [[10, 2], [14, 1]]
    expected = [Note(LOW_PITCH + 11, 2, 1), Note(LOW_PITCH + 12, 0, 1), Note(LOW_PITCH + 13, 3, 2),
                Note(LOW_PITCH + 14, 2, 2)]
    assert R.roll_to_notes(roll) == sorted(expected)
    tidied = R.tidy(roll[None])[0]  # batches too
    assert tidied[R.FRAME, 10, 2] == tidied[R.FRAME, 14, 1] == -1 and torch.equal(tidied[:, 11:14], roll[:, 11:14])
    assert R.roll_to_notes(tidied) == R.roll_to_notes(roll)
    assert R.tidy(tidied) is tidied  # nothing left to tidy: the same tensor


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(Note, st.integers(LOW_PITCH, LOW_PITCH + N_PITCHES - 1), st.integers(0, 30),
                          st.integers(1, 8)), max_size=20), st.booleans())
def test_music_has_no_lone_cells_property(notes, held_in):
    """Rolls written from notes never hold a lone cell, even when the notes at the first step were struck
    before the clip (no onset there): tidying them changes nothing."""
    roll = R.notes_to_roll(notes, 32)
    if held_in:
        roll[R.ONSET, :, 0] = -1
    assert not R.lone_cells(roll).any() and R.tidy(roll) is roll


note_strategy = st.builds(Note, st.integers(LOW_PITCH, LOW_PITCH + N_PITCHES - 1), st.integers(0, 60),
                          st.integers(1, 16))


@settings(max_examples=200, deadline=None)
@given(st.lists(note_strategy, max_size=30))
def test_notes_roll_round_trip_property(notes):
    roll = R.notes_to_roll(notes, 80)
    check_round_trip(notes, R.roll_to_notes(roll))


@settings(max_examples=25, deadline=None)
@given(st.lists(note_strategy, min_size=1, max_size=12))
def test_midi_and_musicxml_round_trip_property(tmp_path_factory, notes):
    notes = R.roll_to_notes(R.notes_to_roll(notes))  # canonical: what a roll can hold
    folder = tmp_path_factory.mktemp("rt")
    for name in ("x.mid", "x.musicxml"):
        path = folder / name
        (R.write_midi if name.endswith("mid") else R.write_musicxml)(notes, path)
        assert R.load(path).notes == notes, name


def corpus_round_trip(name, tmp_path):
    from music21 import corpus

    original = R.stream_to_notes(corpus.parse(name), out_of_range="drop")
    back = R.roll_to_notes(R.notes_to_roll(original))
    n_ambiguous = check_round_trip(original, back)
    sigs = corpus.parse(name).flatten().getElementsByClass("TimeSignature")
    ts = sigs[0].ratioString if sigs else "4/4"
    for path, write in ((tmp_path / "c.mid", R.write_midi), (tmp_path / "c.musicxml", R.write_musicxml)):
        write(back, path, time_signature=ts)
        assert R.load(path).notes == back, f"{name} through {path.suffix}"
    return len(original), n_ambiguous


@pytest.mark.parametrize("name", ["bach/bwv269", "bach/bwv347", "bach/bwv123.6"])  # 3/4, 4/4, 3/2
def test_chorale_round_trip_sample(name, tmp_path):
    n, n_ambiguous = corpus_round_trip(name, tmp_path)
    assert n > 100 and n_ambiguous < n / 10


@pytest.mark.slow
def test_chorale_round_trip_whole_corpus(tmp_path):
    from dittoedu.corpus import chorale_names

    names = chorale_names()
    assert len(names) == 371
    total = ambiguous = 0
    for name in names:
        n, a = corpus_round_trip(name, tmp_path)
        total, ambiguous = total + n, ambiguous + a
    print(f"\n{len(names)} chorales, {total} notes, {ambiguous} in unisons between voices")
    assert ambiguous < total / 5  # some chorales double the choir with instruments: many unisons


# ------------------------------------------------------------------------------------------------

def test_tinynotation_and_abc():
    tiny = R.load("4/4 c4 d e f g1")
    assert [n.pitch for n in tiny.notes] == [60, 62, 64, 65, 67]
    assert tiny.notes[-1] == Note(67, 16, 16)
    assert R.load("tinyNotation: 3/4 c2.").time_signature == "3/4"
    abc = R.load("X:1\nT:Tune\nM:3/4\nL:1/8\nK:G\nGA B2 d2|e4 d2|]\n")
    assert abc.time_signature == "3/4" and abc.title == "Tune"
    assert [tuple(n) for n in abc.notes[:3]] == [(67, 0, 2), (69, 2, 2), (71, 4, 4)]


def test_load_file_kinds(tmp_path):
    notes = [Note(60, 0, 4), Note(64, 4, 2), Note(67, 6, 10)]
    (tmp_path / "tune.abc").write_text("X:1\nM:4/4\nL:1/4\nK:C\nCDEF|]\n")
    (tmp_path / "tune.txt").write_text("4/4 c4 d e f")
    assert [n.pitch for n in R.load(tmp_path / "tune.abc").notes] == [60, 62, 64, 65]
    assert [n.pitch for n in R.load(str(tmp_path / "tune.txt")).notes] == [60, 62, 64, 65]
    R.write_musicxml(notes, tmp_path / "x.xml")
    assert R.load(tmp_path / "x.xml").notes == notes


def test_render_text():
    text = R.render_text([Note(72, 0, 2), Note(72, 2, 2), Note(60, 0, 8)], steps_per_bar=4)
    assert text.splitlines() == ["C5 |o-o-|....|", "C4 |o---|----|"]
    assert R.render_text([]) == "(silence)"


def test_split_voices_keeps_satb_order():
    chord1 = [Note(72, 0, 4), Note(67, 0, 4), Note(64, 0, 4), Note(48, 0, 4)]
    chord2 = [Note(71, 4, 4), Note(67, 4, 4), Note(62, 4, 4), Note(55, 4, 4)]
    voices = R.split_voices(chord1 + chord2)
    assert [[n.pitch for n in v] for v in voices] == [[72, 71], [67, 67], [64, 62], [48, 55]]


def test_a_picture_has_a_grand_staff_and_files_a_part_per_voice():
    """Five voices, as generated music can have: two staves for the eye, five parts in the files."""
    notes = [Note(p, 0, 8) for p in (72, 67, 64, 55, 48)] + [Note(74, 8, 4), Note(65, 8, 8), Note(43, 8, 8),
                                                               Note(62, 10, 6), Note(76, 12, 4)]
    grand = R.notes_to_stream(notes, staves="grand")
    treble, bass = grand.parts
    assert {n.pitch for n in R.stream_to_notes(treble)} == {n.pitch for n in notes if n.pitch >= 60}
    assert {n.pitch for n in R.stream_to_notes(bass)} == {n.pitch for n in notes if n.pitch < 60}
    assert any(len(c.pitches) == 3 for c in treble.recurse().getElementsByClass("Chord"))  # struck together
    assert sorted(R.stream_to_notes(grand)) == sorted(notes)
    rests = [r.style.hideObjectOnPrint for r in grand.recurse().getElementsByClass("Rest")]
    assert any(rests) and not all(rests)  # only the first layer of a staff draws its rests
    assert len(R.notes_to_stream(notes).parts) == len(R.split_voices(notes)) == 5
    with pytest.raises(ValueError, match="staves"):
        R.notes_to_stream(notes, staves="piano")


def test_fit_range():
    piece = R.Piece([Note(90, 0, 4), Note(95, 4, 4)])
    fitted = R.fit_range(piece)
    assert fitted.transposed_by == -12 and [n.pitch for n in fitted.notes] == [78, 83]
