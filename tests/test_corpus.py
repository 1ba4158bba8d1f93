"""Training windows from the chorales: cache, split, meters, transposition."""

import warnings

import numpy as np
import pytest
import torch

from dittoedu import corpus
from dittoedu.roll import LOW_PITCH, N_PITCHES, STEPS_PER_QUARTER, roll_to_notes

NAMES = ["bach/bwv269", "bach/bwv347", "bach/bwv123.6"]


@pytest.fixture(scope="module")
def chorales():
    return corpus.load_chorales(progress=False)


def test_cache_build_and_reload(tmp_path):
    path = tmp_path / "c.npz"
    built = corpus.load_chorales(path, names=NAMES, progress=False)
    assert [c.name for c in built] == NAMES
    assert path.stat().st_size < 50_000  # compact: a few bytes per note
    again = corpus.load_chorales(path, names=["bach/bwv269"], progress=False)  # trusted, not rebuilt
    assert [c.name for c in again] == NAMES
    assert again[0].notes == built[0].notes and again[2].time_signature == "3/2"


def test_corrupt_cache_is_rebuilt(tmp_path):
    path = tmp_path / "c.npz"
    corpus.load_chorales(path, names=NAMES[:1], progress=False)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = corpus.load_chorales(path, names=NAMES[:1], progress=False)
    assert rebuilt[0].name == NAMES[0] and len(rebuilt[0].notes) > 100
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="rebuilding"):
        assert len(corpus.load_chorales(path, names=NAMES[:1], progress=False)) == 1


def test_stale_cache_is_rebuilt(tmp_path):
    path = tmp_path / "c.npz"
    corpus.load_chorales(path, names=NAMES[:1], progress=False)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "checksum"}
    arrays["settings"] = np.array([corpus.CACHE_VERSION - 1, LOW_PITCH, N_PITCHES, STEPS_PER_QUARTER])
    np.savez(path, checksum=np.array(corpus._checksum(arrays)), **arrays)  # well-formed, but old
    with pytest.warns(UserWarning, match="other settings"):
        corpus.load_chorales(path, names=NAMES[:1], progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corpus.load_chorales(path, names=NAMES[:1], progress=False)  # now current: no warning


def test_split_is_by_chorale_and_deterministic(chorales):
    train = corpus.ChoraleWindows("train", chorales=chorales)
    val = corpus.ChoraleWindows("validation", chorales=chorales)
    train_names = {c.name for c in train.chorales}
    val_names = {c.name for c in val.chorales}
    assert not train_names & val_names
    assert 0.05 < len(val_names) / (len(train_names) + len(val_names)) < 0.15
    assert val_names == {c.name for c in chorales if corpus.is_validation(c.name) and c.n_steps >= 64}


def test_every_meter_is_used(chorales):
    windows = corpus.ChoraleWindows("all", chorales=chorales)
    meters = {windows.chorales[i].time_signature for i, _ in windows.index}
    assert {"4/4", "3/4", "3/2", "12/8"} <= meters
    assert all(t % STEPS_PER_QUARTER == 0 for _, t in windows.index)


def test_window_is_the_chorale(chorales):
    windows = corpus.ChoraleWindows("all", chorales=chorales[:5], n_steps=32)
    i, t = windows.index[3]
    notes = roll_to_notes(windows.window(3))
    source = [n for n in windows.chorales[i].notes if t <= n.onset < t + 32 and n.end <= t + 32]
    assert {(n.pitch, n.onset - t, n.duration) for n in source} <= set(notes)


def test_transposed_batches_stay_in_range(chorales):
    windows = corpus.ChoraleWindows("train", chorales=chorales, transpose=6)
    g = torch.Generator().manual_seed(0)
    batch = windows.batch(64, generator=g)
    assert batch.shape == (64, 2, N_PITCHES, 64)
    assert set(batch.unique().tolist()) == {-1.0, 1.0}
    for k in range(0, len(windows), 997):
        shifts = windows.allowed_shifts(k)
        for s in (shifts[0], shifts[-1]):
            up = windows.window(k, s)
            assert (up > 0).sum() == (windows.window(k) > 0).sum()  # nothing wrapped around or lost
    same = windows.batch(8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(same, windows.batch(8, generator=torch.Generator().manual_seed(1)))
    plain = windows.batch(8, generator=torch.Generator().manual_seed(1), augment=False)
    assert not torch.equal(same, plain)
