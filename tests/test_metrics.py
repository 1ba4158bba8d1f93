"""Quality measures on notes, and the distance to the chorales."""

import numpy as np
import pytest

from dittoedu import metrics
from dittoedu.roll import Note, load


def test_key_fit_prefers_tonal_music():
    scale = load("4/4 c4 e g c' b d' c'2").notes
    chromatic = [Note(60 + i, i * 2, 2) for i in range(12)]
    fit, name = metrics.key_fit(scale)
    assert name == "C major" and fit > 0.55
    assert metrics.key_fit(chromatic)[0] < fit - 0.3


def test_measures_on_a_known_piece():
    notes = [Note(60, 0, 4), Note(64, 0, 4), Note(67, 0, 4), Note(72, 4, 1), Note(72, 5, 1)]
    q = metrics.quality(notes, n_steps=8)
    assert q["polyphony"] == pytest.approx((3 * 4 + 2) / 6)
    assert q["short_note_rate"] == pytest.approx(2 / 5)
    assert q["empty_step_rate"] == pytest.approx(2 / 8)
    assert q["mean_note_length"] == pytest.approx(14 / 5)
    w = np.array([4 + 2, 0, 0, 0, 4, 0, 0, 4, 0, 0, 0, 0]) / 14  # C (incl. the two short C5s), E, G
    assert q["pc_entropy"] == pytest.approx(-(w[w > 0] * np.log2(w[w > 0])).sum())
    assert metrics.quality([], n_steps=8)["empty_step_rate"] == 1.0


def test_frechet_distance_grows_with_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    near, far = metrics.frechet_distance(a, a + 0.1), metrics.frechet_distance(a, a + 1.0)
    assert near < 0.1 < 3.5 < far


def test_reference_and_relative_differences():
    ref = metrics.reference(64)
    assert len(ref["matrix"]) == 256
    assert 0.8 < ref["mean"]["key_fit"] < 1 and 3 < ref["mean"]["polyphony"] < 4.5
    chorale_like = [dict(ref["mean"])]
    assert max(metrics.relative_differences(chorale_like, ref).values()) < 1e-9
    busy = [dict(ref["mean"], short_note_rate=ref["mean"]["short_note_rate"] + 0.05)]
    assert metrics.relative_differences(busy, ref)["short_note_rate"] == pytest.approx(0.5)
