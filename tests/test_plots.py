"""Plots: each function draws on the axes it is given and returns the right artist."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from dittoedu import plots, score  # noqa: E402
from dittoedu.roll import LOW_PITCH, N_PITCHES, Note, notes_to_roll  # noqa: E402

# two repeated C4 quarters, a held E4 half note, a G4 that runs into the second bar
NOTES = [Note(60, 0, 4), Note(60, 4, 4), Note(64, 0, 8), Note(67, 12, 8)]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def note_cells(notes, n_steps):
    """(row, step) of every sounding cell, and of every onset cell."""
    sounding = {(n.pitch - LOW_PITCH, t) for n in notes for t in range(n.onset, min(n.end, n_steps))}
    onsets = {(n.pitch - LOW_PITCH, n.onset) for n in notes}
    return sounding, onsets


def cells(mask):
    return {tuple(rc) for rc in np.argwhere(mask).tolist()}


# ---------------------------------------------------------------------------------------------
# piano roll


def test_plot_roll_marks_exactly_the_note_cells_and_their_onsets():
    fig, ax = plt.subplots()
    image = plots.plot_roll(NOTES, ax=ax)
    assert isinstance(image, AxesImage) and image.axes is ax
    array = np.asarray(image.get_array())
    assert array.shape == (N_PITCHES, 32)  # filled up to whole bars
    sounding, onsets = note_cells(NOTES, 32)
    assert cells(array > 0) == sounding
    assert cells(array == plots.STRUCK) == onsets
    # the two repeated C's are not one long note: the second one starts dark again
    assert array[60 - LOW_PITCH, :8].tolist() == [1.0, 0.5, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5]
    assert array[64 - LOW_PITCH, :8].tolist() == [1.0] + [0.5] * 7


def test_plot_roll_of_a_roll_matches_the_notes_and_labels_the_cs():
    roll = notes_to_roll(NOTES, n_steps=32)
    from_notes = np.asarray(plots.plot_roll(NOTES).get_array())
    image = plots.plot_roll(roll)
    assert np.array_equal(np.asarray(image.get_array()), from_notes)
    assert np.array_equal(np.asarray(plots.plot_roll(roll[None]).get_array()), from_notes)  # batch of one
    labels = [t.get_text() for t in image.axes.get_yticklabels()]
    assert labels == ["C2", "C3", "C4", "C5"]
    assert [t.get_text() for t in image.axes.get_xticklabels()] == ["1", "2"]  # bar numbers


def test_plot_roll_soft_shows_shades_and_threshold_rounds_them():
    torch.manual_seed(0)
    soft = notes_to_roll(NOTES, n_steps=16) * 0.5 + 0.2 * torch.randn(2, N_PITCHES, 16)
    shaded = np.asarray(plots.plot_roll(soft, threshold=None).get_array())
    assert len(np.unique(shaded)) > 10  # continuous shading
    assert shaded.min() >= 0 and shaded.max() <= 1
    rounded = np.asarray(plots.plot_roll(soft, threshold=0.0).get_array())
    assert set(np.unique(rounded).tolist()) <= {0.0, plots.HELD, plots.STRUCK}
    # a hard roll looks the same either way
    hard = notes_to_roll(NOTES, n_steps=16)
    assert np.array_equal(plots.roll_image(hard, threshold=None), plots.roll_image(hard))


def test_plot_roll_refuses_a_roll_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\[2, P, T\]"):
        plots.plot_roll(torch.zeros(48, 16))
    with pytest.raises(ValueError, match="outside the piano roll"):
        plots.plot_roll([Note(20, 0, 4)])
    with pytest.raises(TypeError, match="Note"):
        plots.plot_roll([(60, 0, 4)])


def test_plot_roll_of_silence_is_one_empty_bar():
    array = np.asarray(plots.plot_roll([]).get_array())
    assert array.shape == (N_PITCHES, 16) and not array.any()


# ---------------------------------------------------------------------------------------------
# spectrogram


def test_plot_spectrogram_from_spec_db_puts_seconds_on_x():
    spec = np.linspace(-80, 0, 80 * 125, dtype=np.float32).reshape(80, 125)
    fig, ax = plt.subplots()
    image = plots.plot_spectrogram(spec_db=spec, sr=16000, hop_length=256, ax=ax)
    assert isinstance(image, AxesImage) and image.axes is ax
    assert np.array_equal(np.asarray(image.get_array()), spec)
    left, right, _, _ = image.get_extent()
    assert (left, right) == (0.0, pytest.approx(125 * 256 / 16000))
    assert "1k" in [t.get_text() for t in ax.get_yticklabels()]


def test_plot_spectrogram_from_a_wave_uses_the_audio_module():
    audio = pytest.importorskip("dittoedu.audio")
    wave = audio.synthesize(notes_to_roll(NOTES, n_steps=32))
    image = plots.plot_spectrogram(wave, sr=16000)
    expected = audio.amplitude_to_db(audio.mel_spectrogram(wave, sr=16000)).numpy()
    assert np.asarray(image.get_array()).shape == (80, wave.shape[-1] // 256 + 1)
    np.testing.assert_allclose(np.asarray(image.get_array()), expected, atol=1e-4)
    # the same from a numpy array
    again = plots.plot_spectrogram(wave.numpy(), sr=16000)
    np.testing.assert_allclose(np.asarray(again.get_array()), expected, atol=1e-4)


def test_plot_spectrogram_needs_exactly_one_input():
    with pytest.raises(ValueError, match="either"):
        plots.plot_spectrogram()
    with pytest.raises(ValueError, match="either"):
        plots.plot_spectrogram(np.zeros(100), spec_db=np.zeros((80, 3)))
    with pytest.raises(ValueError, match="n_mels, frames"):
        plots.plot_spectrogram(spec_db=np.zeros(10))


# ---------------------------------------------------------------------------------------------
# score


def test_plot_score_shows_the_rasterized_svg_with_axes_off():
    svg = score.render_svg(NOTES)
    fig, ax = plt.subplots()
    image = plots.plot_score(svg, ax=ax, zoom=1)
    assert isinstance(image, AxesImage) and image.axes is ax
    w, h = score.svg_size(svg)
    assert np.asarray(image.get_array()).shape[:2] == (round(h), round(w))
    assert not ax.axison
    png = score.svg_to_png(svg, zoom=1)
    assert np.asarray(plots.plot_score(png).get_array()).shape[:2] == (round(h), round(w))
    with pytest.raises(ValueError, match="not a PNG"):
        plots.plot_score(b"GIF89a....")


# ---------------------------------------------------------------------------------------------
# losses


def test_plot_losses_draws_one_line_per_control_on_a_log_scale():
    history = {"melody": [1.0, 0.5, 0.25], "intensity": [4.0, 3.0, 2.5]}
    fig, ax = plt.subplots()
    lines = plots.plot_losses(history, ax=ax)
    assert len(lines) == 2 and all(isinstance(line, Line2D) and line.axes is ax for line in lines)
    assert [line.get_label() for line in lines] == ["melody", "intensity"]
    assert lines[1].get_ydata().tolist() == [4.0, 3.0, 2.5]
    assert ax.get_yscale() == "log"
    assert plots.plot_losses({"chords": [0.3, 0.0, -0.1]})[0].axes.get_yscale() == "linear"


def test_plot_losses_of_no_optimization_says_so():
    fig, ax = plt.subplots()
    assert plots.plot_losses({}, ax=ax) == []
    assert any("no optimization" in t.get_text() for t in ax.texts)
    with pytest.raises(TypeError, match="dict"):
        plots.plot_losses([0.1, 0.2])


# ---------------------------------------------------------------------------------------------
# the whole figure


SPEC = np.full((80, 168), -40.0, dtype=np.float32)


def test_result_figure_has_four_panels_with_losses_and_saves_as_png():
    fig = plots.result_figure(notes=NOTES, spec_db=SPEC, loss_history={"melody": [1.0, 0.4]}, title="test")
    assert len(fig.axes) == 4
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert any("score" in t for t in titles) and any("loss" in t for t in titles)
    assert fig._suptitle.get_text() == "test"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=50)
    assert buffer.getvalue()[:8] == score.PNG_MAGIC
    assert len(buffer.getvalue()) > 10_000


def test_result_figure_without_losses_has_three_panels():
    fig = plots.result_figure(notes=NOTES, spec_db=SPEC)
    assert len(fig.axes) == 3
    assert not any("loss" in ax.get_title(loc="left") for ax in fig.axes)


def test_result_figure_from_a_soft_roll_synthesizes_the_audio():
    pytest.importorskip("dittoedu.audio")
    torch.manual_seed(0)
    soft = notes_to_roll(NOTES, n_steps=32) * 0.8 + 0.1 * torch.randn(2, N_PITCHES, 32)
    fig = plots.result_figure(roll=soft, loss_history={})
    assert len(fig.axes) == 4
    roll_ax = next(ax for ax in fig.axes if "piano roll" in ax.get_title(loc="left"))
    assert "before rounding" in roll_ax.get_title(loc="left")
    assert len(np.unique(np.asarray(roll_ax.images[0].get_array()))) > 10  # soft shading
    spec_ax = next(ax for ax in fig.axes if "spectrogram" in ax.get_title(loc="left"))
    assert spec_ax.get_xlim()[1] == pytest.approx(32 * 60 / 90 / 4, rel=0.05)  # two bars at 90 bpm


def test_result_figure_needs_music():
    with pytest.raises(ValueError, match="notes=... or roll="):
        plots.result_figure(spec_db=SPEC)


# ---------------------------------------------------------------------------------------------
# comparing runs and methods (lessons 08, 09 and 11)


class _Run:
    """What plot_loss_comparison reads from an ito.Result."""

    def __init__(self, losses, seconds):
        self.loss_history = {"total": losses, "melody": losses}
        self.timings = {"optimize_s": seconds}


def test_plot_loss_comparison_against_iterations_and_seconds():
    runs = {"DITTO": _Run([4.0, 2.0, 1.0, 0.5], 2.0), "DITTO-2": _Run([4.0, 1.0, 0.2, 0.1], 0.2)}
    fig, (a, b) = plt.subplots(1, 2)
    lines = plots.plot_loss_comparison(runs, ax=a)
    assert [line.get_label() for line in lines] == ["DITTO", "DITTO-2"] and lines[0].axes is a
    assert lines[0].get_xdata().tolist() == [0, 1, 2, 3] and a.get_yscale() == "log"
    timed = plots.plot_loss_comparison(runs, against="seconds", ax=b)
    assert timed[0].get_xdata().tolist() == pytest.approx([0.5, 1.0, 1.5, 2.0])  # 2 s spread over 4 iterations
    assert timed[1].get_xdata()[-1] == pytest.approx(0.2)  # the fast run ends early on the clock
    assert "seconds" in b.get_xlabel()


def test_plot_loss_comparison_skips_runs_without_that_loss_and_refuses_bad_input():
    runs = {"plain": _Run([], 0.0), "DITTO": _Run([1.0, 0.5], 1.0)}
    assert [line.get_label() for line in plots.plot_loss_comparison(runs)] == ["DITTO"]
    fig, ax = plt.subplots()
    assert plots.plot_loss_comparison({"plain": _Run([], 0.0)}, ax=ax) == []
    assert any("no 'total' loss" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match="'iteration' or 'seconds'"):
        plots.plot_loss_comparison(runs, against="time")
    with pytest.raises(TypeError, match="dict"):
        plots.plot_loss_comparison([runs["DITTO"]])


def test_plot_tradeoff_draws_one_line_per_method_with_labels():
    points = {"DITTO": [(1.0, 0.9, "10 it"), (2.0, 1.0, "20 it")], "best of N": [(0.5, 0.1, "N = 4")]}
    fig, ax = plt.subplots()
    lines = plots.plot_tradeoff(points, ax=ax, ylabel="accuracy")
    assert [line.get_label() for line in lines] == ["DITTO", "best of N"]
    assert lines[0].get_xdata().tolist() == [1.0, 2.0] and lines[0].get_ydata().tolist() == [0.9, 1.0]
    assert [t.get_text() for t in ax.texts] == ["10 it", "20 it", "N = 4"]
    assert ax.get_xscale() == "log" and "↑ better" in ax.get_ylabel()
    lines = plots.plot_tradeoff({"a": [(1, 5.0)]}, lower_is_better=True, logx=False)
    assert lines[0].axes.get_xscale() == "linear" and "↓ better" in lines[0].axes.get_ylabel()
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_tradeoff({})
    with pytest.raises(ValueError, match="'a' has no points"):
        plots.plot_tradeoff({"a": []})


def test_plot_metric_bars_outlines_the_best_bar():
    fig, ax = plt.subplots()
    bars = plots.plot_metric_bars({"CTM ×1": 0.3, "CTM ×2": 1.5, "CM ×2": 5.0}, ax=ax, ylabel="MSE",
                                  lower_is_better=True)
    assert len(bars) == 3 and bars.best == 0 and bars[0].get_linewidth() == 2.0
    assert [b.get_height() for b in bars] == [0.3, 1.5, 5.0]
    assert [t.get_text() for t in ax.texts] == ["0.30", "1.50", "5.00"]
    assert plots.plot_metric_bars({"a": 0.5, "b": 0.9}).best == 1  # higher is better by default
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_metric_bars({})


def test_plot_quality_profile_shows_relative_differences_per_measure():
    from dittoedu.metrics import MEASURES

    reference = {"mean": {m: 1.0 for m in MEASURES}}
    like_bach = {m: 1.0 for m in MEASURES}
    off = {**like_bach, "polyphony": 1.5}
    fig, ax = plt.subplots()
    containers = plots.plot_quality_profile({"DITTO": like_bach, "x0": [off, off]}, reference, ax=ax)
    assert len(containers) == 2 and all(len(c) == len(MEASURES) for c in containers)
    assert [b.get_height() for b in containers[0]] == [0.0] * len(MEASURES)
    assert containers[1][MEASURES.index("polyphony")].get_height() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_quality_profile({}, reference)


def test_plot_consistency_scalings_meets_the_boundary_condition():
    lines = plots.plot_consistency_scalings(n=50)
    assert len(lines) == 4 and all(isinstance(line, Line2D) for line in lines)
    t, cm_skip = lines[0].get_data()
    _, cm_out = lines[1].get_data()
    _, edm_out = lines[3].get_data()
    assert t[0] == pytest.approx(0.002) and cm_skip[0] == 1.0 and cm_out[0] == 0.0  # exactly, at t = ε
    assert edm_out[0] > 0  # EDM's denoiser only nearly keeps a clean input
    assert cm_out[-1] == pytest.approx(edm_out[-1], rel=1e-3)  # the same for large t
    assert lines[0].axes.get_xscale() == "log"


# ---------------------------------------------------------------------------------------------
# lesson 10: text control


def test_plot_similarity_matrix_shows_the_values_and_outlines_the_marked_cells():
    sims = torch.tensor([[0.9, -0.2, 0.1], [-0.5, 0.7, 0.3]])
    marks = torch.tensor([[True, False, False], [False, True, True]])
    fig, ax = plt.subplots()
    image = plots.plot_similarity_matrix(sims, rows=["piece 1", "piece 2"], columns=["major", "minor", "low"],
                                         marks=marks, ax=ax)
    assert isinstance(image, AxesImage) and image.axes is ax
    assert np.allclose(np.asarray(image.get_array()), sims.numpy())
    assert image.get_clim() == (-1.0, 1.0)  # cosines: the same colours for every matrix
    outlined = sorted((round(p.get_x() + 0.5), round(p.get_y() + 0.5)) for p in ax.patches)
    assert outlined == [(0, 0), (1, 1), (2, 1)]  # (column, row) of each True
    assert [t.get_text() for t in ax.texts] == ["0.90", "-0.20", "0.10", "-0.50", "0.70", "0.30"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["major", "minor", "low"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["piece 1", "piece 2"]
    big = plots.plot_similarity_matrix(np.zeros((20, 11)))
    assert len(big.axes.texts) == 0 and len(big.axes.patches) == 0  # too many cells to write; nothing marked


def test_plot_similarity_matrix_refuses_mismatched_labels_and_marks():
    with pytest.raises(ValueError, match="matrix"):
        plots.plot_similarity_matrix(np.zeros(3))
    with pytest.raises(ValueError, match="1 columns labels for a matrix with 2 columns"):
        plots.plot_similarity_matrix(np.zeros((2, 2)), columns=["a"])
    with pytest.raises(ValueError, match="marks has shape"):
        plots.plot_similarity_matrix(np.zeros((2, 2)), marks=np.ones((2, 3), dtype=bool))


def test_plot_attribute_scale_names_the_zones_and_marks_each_piece():
    from dittoedu.metrics import REGISTER_EDGES

    fig, ax = plt.subplots()
    markers = plots.plot_attribute_scale("register", {"before": 58.0, "after": 66.0}, ax=ax)
    assert len(markers) == 2 and all(isinstance(m, Line2D) for m in markers)
    assert [m.get_xdata()[0] for m in markers] == [58.0, 66.0]
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["low", "middle", "high"] and "after: 66.00" in texts
    assert sorted(line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--") == list(REGISTER_EDGES)
    far = plots.plot_attribute_scale("contour", 30.0)  # a value off the usual range widens the axis
    assert far[0].axes.get_xlim()[1] > 30.0 and far[0].axes.texts[:3][0].get_text() == "falling"


def test_plot_attribute_scale_explains_the_mode():
    with pytest.raises(ValueError, match="key analysis"):
        plots.plot_attribute_scale("mode", 1.0)
