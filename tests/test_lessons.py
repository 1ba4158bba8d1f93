"""The lesson pictures (dittoedu.lessons): each draws on the axes it is given and returns the right artist,
and what it draws can be checked."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from dittoedu import controls, lessons, plots, targets  # noqa: E402
from dittoedu.roll import FRAME, LOW_PITCH, N_PITCHES, Note, notes_to_roll  # noqa: E402

NOTES = [Note(60, 0, 4), Note(64, 4, 8), Note(67, 16, 16)]
ROLL = notes_to_roll(NOTES, 32)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# film strip


def test_film_strip_puts_the_frames_side_by_side_with_gaps():
    fig, ax = plt.subplots()
    image = lessons.plot_film_strip([ROLL, -torch.ones_like(ROLL)], ax=ax, gap=3, threshold=0.0)
    assert isinstance(image, AxesImage) and image.axes is ax
    strip = np.asarray(image.get_array().filled(np.nan) if np.ma.isMaskedArray(image.get_array())
                       else image.get_array())
    assert strip.shape == (N_PITCHES, 32 + 3 + 32)
    assert np.isnan(strip[:, 32:35]).all()  # the gap
    assert np.array_equal(strip[:, :32], plots.roll_image(ROLL))  # the first frame is the roll itself
    assert np.nansum(strip[:, 35:]) == 0  # the second is silence
    assert [t.get_text() for t in ax.texts] == ["1", "2"]


def test_film_strip_reads_snapshots_and_a_callback_batch():
    frames = [(0, ROLL), (5, ROLL[None] * 0.5)]  # Result.snapshots pairs; a batch of one is fine
    image = lessons.plot_film_strip(frames)
    assert [t.get_text() for t in image.axes.texts] == ["iteration 0", "iteration 5"]
    soft = np.asarray(image.get_array())[:, 32 + 3 :]
    assert 0 < np.nanmax(soft) < 1  # soft values as shades (threshold=None by default)


def test_film_strip_titles_and_errors():
    image = lessons.plot_film_strip([ROLL], titles=["σ = 80"])
    assert image.axes.texts[0].get_text() == "σ = 80"
    with pytest.raises(ValueError, match="at least one"):
        lessons.plot_film_strip([])
    with pytest.raises(ValueError, match="2 titles for 1 frames"):
        lessons.plot_film_strip([ROLL], titles=["a", "b"])
    with pytest.raises(ValueError, match="same shape"):
        lessons.plot_film_strip([ROLL, notes_to_roll(NOTES, 48)])


# ---------------------------------------------------------------------------------------------
# scalings


def test_plot_scalings_draws_edm_table_1():
    lines = lessons.plot_scalings(n=50)
    assert len(lines) == 3 and all(isinstance(line, Line2D) for line in lines)
    sigma, c_skip = lines[0].get_data()
    assert sigma[0] == pytest.approx(0.002) and sigma[-1] == pytest.approx(80.0)
    assert c_skip[0] == pytest.approx(1.0, abs=1e-3) and c_skip[-1] == pytest.approx(0.0, abs=1e-3)
    assert lines[0].axes.get_xscale() == "log"


# ---------------------------------------------------------------------------------------------
# target vs achieved


def test_target_vs_achieved_marks_the_missed_steps_of_a_melody():
    target = [60, 60, 62, 62, None, None, 64, 64]
    achieved = [60, 72, 62, None, 65, None, 64, 64]
    fig, ax = plt.subplots()
    t_line, a_line, misses = lessons.plot_target_vs_achieved(target, achieved, pitches=True, ax=ax)
    assert t_line.axes is ax
    assert misses.get_xdata().tolist() == [1, 3]  # an octave off, and silence; rests in the target are free
    assert "2 of 6" in misses.get_label()
    assert "C4" in [t.get_text() for t in ax.get_yticklabels()]


def test_target_vs_achieved_curves_use_a_tolerance():
    target = torch.zeros(10)
    achieved = torch.tensor([0.0, 0.5, 2.0, -3.0, 0, 0, 0, 0, 0, 0])
    _, _, misses = lessons.plot_target_vs_achieved(target, achieved, tolerance=1.0)
    assert misses.get_xdata().tolist() == [2, 3]
    with pytest.raises(ValueError, match="10 steps but achieved has 3"):
        lessons.plot_target_vs_achieved(target, [1, 2, 3])


# ---------------------------------------------------------------------------------------------
# SSM


def test_plot_ssm_shows_the_matrix_with_labels():
    ssm = targets.form_ssm("AABA", bars=4)
    fig, ax = plt.subplots()
    image = lessons.plot_ssm(ssm, ax=ax, labels="AABA", title="target")
    assert isinstance(image, AxesImage) and image.axes is ax
    assert np.array_equal(np.asarray(image.get_array()), ssm.numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == list("AABA")
    assert len(ax.texts) == 16 and ax.get_title() == "target"


def test_plot_ssm_refuses_what_is_not_square():
    with pytest.raises(ValueError, match="square"):
        lessons.plot_ssm(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="3 labels for 4 bars"):
        lessons.plot_ssm(torch.eye(4), labels="ABA")


# ---------------------------------------------------------------------------------------------
# chord tones


def test_chord_tones_colours_notes_in_and_out_of_the_chord():
    chords = controls.Chords.from_text("C G", n_steps=32)
    notes = [Note(60, 0, 4), Note(62, 4, 4), Note(67, 16, 4)]  # C over C: in; D over C: out; G over G: in
    image = lessons.plot_chord_tones(notes_to_roll(notes, 32), chords.target, symbols=chords.symbols)
    rgb = np.asarray(image.get_array())
    assert rgb.shape == (N_PITCHES, 32, 3)
    assert np.allclose(rgb[60 - LOW_PITCH, 0], lessons.IN_CHORD)
    assert np.allclose(rgb[62 - LOW_PITCH, 4], lessons.OUT_OF_CHORD)
    assert np.allclose(rgb[67 - LOW_PITCH, 16], lessons.IN_CHORD)
    assert np.allclose(rgb[64 - LOW_PITCH, 8], lessons.CHORD_TONE_BG)  # E: a silent chord tone of C
    bass_c = (0 - controls.BASS_LOW) % 12 + controls.BASS_LOW - LOW_PITCH  # C3, the octave the loss uses
    assert np.allclose(rgb[bass_c, 0], lessons.BASS_BG)
    assert not np.allclose(rgb[bass_c - 12, 0], lessons.BASS_BG)  # only that octave
    assert [t.get_text() for t in image.axes.texts] == ["C", "G"]


def test_chord_tones_shows_exempt_melody_notes_in_grey():
    chords = controls.Chords.from_text("C", n_steps=16)
    x = notes_to_roll([Note(62, 0, 4)], 16)
    exempt = x[FRAME] > 0
    rgb = np.asarray(lessons.plot_chord_tones(x, chords.target, exempt=exempt).get_array())
    assert np.allclose(rgb[62 - LOW_PITCH, 0], lessons.EXEMPT)
    with pytest.raises(ValueError, match="32 steps but the chords cover 16"):
        lessons.plot_chord_tones(notes_to_roll(NOTES, 32), chords.target)


# ---------------------------------------------------------------------------------------------
# shading


def test_shade_steps_covers_each_run_once():
    fig, ax = plt.subplots()
    keep = controls.parse_keep("0:16,48:64", n_steps=64)
    patches = lessons.shade_steps(ax, ~keep, label="generated")
    assert len(patches) == 1
    left, width = patches[0].get_x(), patches[0].get_width()
    assert (left, left + width) == (pytest.approx(15.5), pytest.approx(47.5))
    assert len(lessons.shade_steps(ax, keep)) == 2
    assert lessons._step_runs(np.zeros(5, dtype=bool)) == []


# ---------------------------------------------------------------------------------------------
# the loss that can be cheated


def test_soft_melody_prefers_silence_to_the_right_notes_but_the_metric_does_not():
    melody = controls.Melody.from_melody("4/4 c'1", n_steps=16)  # C5 for a whole bar
    soft = lessons.SoftMelody.like(melody)
    row = 72 - LOW_PITCH
    # silence, with the cells around C5 a little less silent: no note sounds
    silent = -torch.ones(1, 2, N_PITCHES, 16)
    silent[0, FRAME, row - 6 : row + 7] = -0.1
    # the right music: C5 on top of a C major chord
    right = notes_to_roll([Note(p, 0, 16) for p in (48, 55, 64, 72)], 16)[None]
    assert soft.feature(silent).shape == (1, 16)
    assert soft.loss(soft.feature(silent)).item() < soft.loss(soft.feature(right)).item()  # fooled
    assert melody.measure(silent[0])["accuracy"] == 0.0  # measured on notes: nothing sounds
    assert melody.measure(right[0])["accuracy"] == 1.0
    assert melody.loss(silent).item() > melody.loss(right).item() == 0.0  # the hinge loss is not fooled
    assert not soft.done(torch.zeros(1))
