"""Training data: windows of piano roll cut from music21's Bach chorales.

music21 ships 371 four-part chorales harmonized by J. S. Bach. Parsing them all
takes about a minute, so the notes are parsed once and cached on disk in one
small ``.npz`` file (about 1 MB). From the cache we cut *windows*: ``n_steps``
consecutive 16th-note steps starting on a beat, in every meter the chorales use
(4/4, 3/4, 3/2, ...). Training batches transpose each window by a random number
of semitones (*augmentation*): the model learns harmony, not one key.

The split into training and validation chorales is by chorale, never by window,
and is decided by a hash of the chorale's name, so it never changes between
machines or runs:

>>> is_validation("bach/bwv269"), is_validation("bach/bwv347")
(False, False)
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .roll import FRAME, LOW_PITCH, N_PITCHES, ONSET, STEPS_PER_QUARTER, Note, stream_to_notes

CACHE_VERSION = 1
VALIDATION_PERCENT = 10  # about one chorale in ten is held out


def cache_dir() -> Path:
    """Where dittoedu keeps what it derives: ``$DITTOEDU_CACHE`` or ``~/.cache/dittoedu``."""
    return Path(os.environ.get("DITTOEDU_CACHE", Path.home() / ".cache" / "dittoedu"))


def is_validation(name: str) -> bool:
    """True for the held-out chorales (a fixed hash of the name, about 10 %)."""
    return zlib.crc32(name.encode()) % 100 < VALIDATION_PERCENT


def chorale_names() -> list[str]:
    """The names of music21's bundled Bach chorales, e.g. ``'bach/bwv269'``."""
    from music21 import corpus

    return [str(name) for name in corpus.chorales.Iterator(returnType="filename")]


@dataclass
class Chorale:
    """One chorale from the cache: its notes (inside the roll's range) and meter."""

    name: str
    notes: list[Note]
    time_signature: str

    @property
    def n_steps(self) -> int:
        return max(n.end for n in self.notes)

    def to_roll(self) -> torch.Tensor:
        """The whole chorale as a boolean roll ``[2, P, T]`` (True = on)."""
        roll = torch.zeros(2, N_PITCHES, self.n_steps, dtype=torch.bool)
        for n in self.notes:
            roll[ONSET, n.pitch - LOW_PITCH, n.onset] = True
            roll[FRAME, n.pitch - LOW_PITCH, n.onset : n.end] = True
        return roll


# ---------------------------------------------------------------------------------------------
# the cache


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()


def build_cache(path: Path | None = None, *, names: list[str] | None = None, progress: bool = True) -> Path:
    """Parse the chorales and write their notes to ``path`` (an ``.npz``); returns the path."""
    from music21 import corpus
    from tqdm.auto import tqdm

    path = Path(path or cache_dir() / f"chorales-v{CACHE_VERSION}.npz")
    names = names if names is not None else chorale_names()
    pitch, onset, duration, start, meters, kept = [], [], [], [0], [], []
    for name in tqdm(names, desc="parsing Bach chorales", unit="chorale", disable=not progress):
        score = corpus.parse(name)
        notes = stream_to_notes(score, out_of_range="drop")
        if not notes:
            continue
        sigs = score.flatten().getElementsByClass("TimeSignature")
        meters.append(sigs[0].ratioString if sigs else "4/4")
        kept.append(name)
        pitch += [n.pitch for n in notes]
        onset += [n.onset for n in notes]
        duration += [n.duration for n in notes]
        start.append(len(pitch))
    arrays = {
        "pitch": np.array(pitch, dtype=np.int8),
        "onset": np.array(onset, dtype=np.int32),
        "duration": np.array(duration, dtype=np.int16),
        "start": np.array(start, dtype=np.int64),
        "names": np.array(kept),
        "meters": np.array(meters),
        "settings": np.array([CACHE_VERSION, LOW_PITCH, N_PITCHES, STEPS_PER_QUARTER]),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, checksum=np.array(_checksum(arrays)), **arrays)
    tmp.replace(path)  # atomic: a half-written cache never has the real name
    return path


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    """Read and verify a cache file; raise ValueError if it is stale or corrupt."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:
        raise ValueError(f"unreadable ({exc})") from exc
    checksum = str(arrays.pop("checksum", ""))
    if _checksum(arrays) != checksum:
        raise ValueError("checksum mismatch")
    if arrays["settings"].tolist() != [CACHE_VERSION, LOW_PITCH, N_PITCHES, STEPS_PER_QUARTER]:
        raise ValueError("made with other settings")
    return arrays


def load_chorales(path: Path | None = None, *, names: list[str] | None = None, progress: bool = True) -> list[Chorale]:
    """All cached chorales, building (or rebuilding a stale or corrupt) cache first.

    ``names`` limits a (re)build to those chorales (for tests and quick experiments).
    """
    path = Path(path or cache_dir() / f"chorales-v{CACHE_VERSION}.npz")
    arrays = None
    if path.exists():
        try:
            arrays = _read_cache(path)
        except ValueError as exc:
            warnings.warn(f"the chorale cache {path} is {exc}; rebuilding it", stacklevel=2)
    if arrays is None:
        build_cache(path, names=names, progress=progress)
        arrays = _read_cache(path)
    start = arrays["start"]
    chorales = []
    for i, name in enumerate(arrays["names"]):
        sl = slice(start[i], start[i + 1])
        notes = [Note(int(p), int(o), int(d)) for p, o, d in
                 zip(arrays["pitch"][sl], arrays["onset"][sl], arrays["duration"][sl])]
        chorales.append(Chorale(str(name), notes, str(arrays["meters"][i])))
    return chorales


# ---------------------------------------------------------------------------------------------
# windows and batches


class ChoraleWindows:
    """Windows of ``n_steps`` steps from the chorales of one split, with transposition.

    ``split`` is ``"train"``, ``"validation"`` or ``"all"``. Windows start on a beat
    (every ``STEPS_PER_QUARTER`` steps) and lie wholly inside a chorale. ``batch``
    draws random windows as a float roll ``[B, 2, P, T]`` in {-1, +1}.
    """

    def __init__(self, split: str = "train", *, n_steps: int = 64, transpose: int = 6,
                 chorales: list[Chorale] | None = None, progress: bool = True):
        if split not in ("train", "validation", "all"):
            raise ValueError(f"split must be 'train', 'validation' or 'all', not {split!r}")
        chorales = chorales if chorales is not None else load_chorales(progress=progress)
        keep = {"train": lambda c: not is_validation(c.name), "validation": lambda c: is_validation(c.name),
                "all": lambda c: True}[split]
        self.chorales = [c for c in chorales if keep(c) and c.n_steps >= n_steps]
        self.n_steps, self.transpose = n_steps, transpose
        self.rolls = [c.to_roll() for c in self.chorales]
        # pitch range used by each chorale, to know how far it may be transposed
        self.ranges = [(min(n.pitch for n in c.notes), max(n.pitch for n in c.notes)) for c in self.chorales]
        self.index = [(i, t) for i, r in enumerate(self.rolls)
                      for t in range(0, r.shape[-1] - n_steps + 1, STEPS_PER_QUARTER)]

    def __len__(self) -> int:
        return len(self.index)

    def window(self, k: int, shift: int = 0) -> torch.Tensor:
        """Window ``k`` transposed by ``shift`` semitones, as a float roll ``[2, P, T]``."""
        i, t = self.index[k]
        roll = self.rolls[i][..., t : t + self.n_steps]
        if shift:
            roll = torch.roll(roll, shift, dims=1)
        return roll.float() * 2 - 1

    def allowed_shifts(self, k: int) -> range:
        """The transpositions (within ±``transpose``) that keep window ``k``'s chorale in range."""
        lo, hi = self.ranges[self.index[k][0]]
        low = max(-self.transpose, LOW_PITCH - lo)
        high = min(self.transpose, LOW_PITCH + N_PITCHES - 1 - hi)
        return range(low, high + 1)

    def batch(self, batch_size: int, *, generator: torch.Generator | None = None, augment: bool = True) -> torch.Tensor:
        """Random windows, each randomly transposed when ``augment``: ``[B, 2, P, T]``."""
        ks = torch.randint(len(self), (batch_size,), generator=generator).tolist()
        out = []
        for k in ks:
            shifts = self.allowed_shifts(k) if augment else range(0, 1)
            shift = shifts[int(torch.randint(len(shifts), (1,), generator=generator))]
            out.append(self.window(k, shift))
        return torch.stack(out)
