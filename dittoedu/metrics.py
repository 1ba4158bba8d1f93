"""Musical quality measures, always computed on the final notes (after thresholding).

Each measure is one number per piece:

* ``key_fit``: how well the notes fit their most likely key: the correlation that
  music21's key analysis (Krumhansl-Schmuckler) reports for its best key, in [-1, 1];
* ``pc_entropy``: entropy in bits of the duration-weighted pitch-class histogram
  (0 = one pitch class, log2(12) = 3.58 = all twelve equally);
* ``polyphony``: mean number of notes sounding on the steps where anything sounds;
* ``short_note_rate``: fraction of notes that last a single 16th step;
* ``empty_step_rate``: fraction of steps where nothing sounds;
* ``mean_note_length``: mean note duration, in steps.

A set of pieces is compared with the held-out chorales by a Fréchet distance
between Gaussians fitted to these measures (after scaling each by the chorales'
spread), the same idea as FID and FAD (Heusel et al. 2017; Kilgour et al. 2019).

>>> from dittoedu.roll import Note
>>> q = quality([Note(60, 0, 4), Note(64, 0, 4), Note(67, 4, 1)], n_steps=8)
>>> q["polyphony"], q["short_note_rate"], q["empty_step_rate"], q["mean_note_length"]
(1.8, 0.333..., 0.375, 3.0)
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from .roll import Note, roll_to_notes

MEASURES = ["key_fit", "pc_entropy", "polyphony", "short_note_rate", "empty_step_rate", "mean_note_length"]
REFERENCE_VERSION = 1


def key_fit(notes: list[Note]) -> tuple[float, str]:
    """Correlation of the best key profile (music21's Krumhansl-Schmuckler analysis) and that key's name."""
    from music21 import note as m21note, stream

    if not notes:
        return 0.0, ""
    s = stream.Stream()
    for n in notes:
        m = m21note.Note(n.pitch)
        m.quarterLength = n.duration / 4
        s.insert(n.onset / 4, m)
    k = s.analyze("key")
    return float(k.correlationCoefficient), f"{k.tonic.name} {k.mode}"


def quality(notes: list[Note], *, n_steps: int) -> dict[str, float]:
    """The quality measures of one piece of ``n_steps`` steps (see the module docstring)."""
    notes = [n for n in notes if n.onset < n_steps]
    sounding = np.zeros(n_steps)
    pcs = np.zeros(12)
    for n in notes:
        end = min(n.end, n_steps)
        sounding[n.onset : end] += 1
        pcs[n.pitch % 12] += end - n.onset
    busy = sounding[sounding > 0]
    p = pcs / pcs.sum() if pcs.sum() else pcs
    entropy = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
    return {
        "key_fit": key_fit(notes)[0],
        "pc_entropy": entropy,
        "polyphony": float(busy.mean()) if busy.size else 0.0,
        "short_note_rate": float(np.mean([n.duration <= 1 for n in notes])) if notes else 0.0,
        "empty_step_rate": float((sounding == 0).mean()) if n_steps else 1.0,
        "mean_note_length": float(np.mean([min(n.end, n_steps) - n.onset for n in notes])) if notes else 0.0,
    }


def quality_of_rolls(rolls: torch.Tensor) -> list[dict[str, float]]:
    """Quality measures of each roll in a batch ``[B, 2, P, T]`` (thresholded at 0)."""
    return [quality(roll_to_notes(r), n_steps=r.shape[-1]) for r in rolls]


def as_matrix(qualities: list[dict[str, float]]) -> np.ndarray:
    """Measures as a matrix ``[N, len(MEASURES)]``."""
    return np.array([[q[m] for m in MEASURES] for q in qualities], dtype=np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to rows of ``a`` and ``b`` (Heusel et al. 2017, eq. (6)).

    ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``.

    >>> x = np.random.default_rng(0).normal(size=(500, 3))
    >>> abs(frechet_distance(x, x)) < 1e-6, frechet_distance(x, x + 1) > 2.9
    (True, True)
    """
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(s_a @ s_b)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * covmean))


# ---------------------------------------------------------------------------------------------
# the held-out chorales as the reference


def reference(n_steps: int = 64, *, n_windows: int = 256) -> dict:
    """Measures of held-out chorale windows: ``{'mean': {...}, 'std': {...}, 'matrix': [[...]]}``.

    Cached as JSON beside the corpus cache; the windows are a fixed, evenly spaced
    subset of the validation split, untransposed.
    """
    from .corpus import ChoraleWindows, cache_dir

    path = cache_dir() / f"reference-quality-v{REFERENCE_VERSION}-{n_steps}-{n_windows}.json"
    if path.exists():
        try:
            ref = json.loads(path.read_text())
            if len(ref["matrix"]) == n_windows:
                return ref
        except (ValueError, KeyError):
            pass
    val = ChoraleWindows("validation", n_steps=n_steps, transpose=0, progress=False)
    picks = np.linspace(0, len(val) - 1, n_windows).round().astype(int)
    qs = [quality(roll_to_notes(val.window(int(k))), n_steps=n_steps) for k in picks]
    m = as_matrix(qs)
    ref = {"mean": dict(zip(MEASURES, m.mean(0).tolist())), "std": dict(zip(MEASURES, m.std(0).tolist())),
           "matrix": m.tolist()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref))
    return ref


def distance_to_reference(qualities: list[dict[str, float]], ref: dict) -> float:
    """Fréchet distance of a set of pieces to the reference, each measure scaled by the reference's spread."""
    scale = np.array([ref["std"][m] or 1.0 for m in MEASURES])
    return frechet_distance(as_matrix(qualities) / scale, np.array(ref["matrix"]) / scale)


RATE_FLOOR = 0.1  # rates near 0 are compared on an absolute scale: a difference of 0.015 counts as 15 %


def relative_differences(qualities: list[dict[str, float]], ref: dict) -> dict[str, float]:
    """Per measure, ``|mean - reference mean| / |reference mean|`` (0.15 = within 15 %).

    The chorales almost never leave a step empty (rate ~0), so for the two rates the
    denominator is at least ``RATE_FLOOR``.
    """
    return relative_to(means(qualities), ref["mean"])


def means(qualities: list[dict[str, float]]) -> dict[str, float]:
    """Each measure's mean over a set of pieces."""
    return dict(zip(MEASURES, as_matrix(qualities).mean(0).tolist()))


def relative_to(mean: dict[str, float], ref_mean: dict[str, float]) -> dict[str, float]:
    """:func:`relative_differences` of measures already averaged (``mean``) to the reference's means."""
    floor = {"short_note_rate": RATE_FLOOR, "empty_step_rate": RATE_FLOOR}
    return {k: abs(mean[k] - ref_mean[k]) / max(abs(ref_mean[k]), floor.get(k, 1e-9)) for k in MEASURES}


def summary(qualities: list[dict[str, float]], ref: dict) -> dict:
    """Mean measures, their relative differences to the reference, and the Fréchet distance (for reports)."""
    out = {"mean": means(qualities),
           "relative_difference": relative_differences(qualities, ref)}
    if len(qualities) > len(MEASURES):
        out["frechet_distance"] = distance_to_reference(qualities, ref)
    return {k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# musical attributes: the facts that text prompts talk about, measured without any learnt model

ATTRIBUTES = {  # attribute -> its values, in order along the measured number
    "mode": ("major", "minor"),
    "register": ("low", "middle", "high"),
    "density": ("calm", "moderate", "busy"),
    "contour": ("falling", "level", "rising"),
}
# Edges between the values, set near the terciles of the training chorales (4-bar windows,
# transposed by up to +-6 semitones), so that each value is about as common as the others.
REGISTER_EDGES = (60.5, 64.0)  # mean MIDI pitch of the sounding steps: below is low, above is high
DENSITY_EDGES = (1.0, 1.2)  # note onsets per quarter note per voice (a chorale voice moves about once a beat)
CONTOUR_EDGE = 2.0  # semitones the top voice's last bar lies above (rising) or below (falling) its first


def attribute_values(rolls: torch.Tensor) -> dict[str, torch.Tensor]:
    """The numbers behind :func:`attributes`, for thresholded rolls ``[B, 2, P, T]`` (on = above 0).

    ``register``: mean pitch of the sounding cells (a duration-weighted mean pitch, NaN if silent);
    ``density``: onsets per quarter note per voice (the number of voices is the mean number of notes
    sounding where anything sounds, as in :func:`quality`'s polyphony), so that a busy rhythm is busy
    in two voices or in six, and adding voices does not make music busier; ``contour``: the top
    voice's mean pitch over the last quarter of the piece minus over the first quarter (0 where
    either is silent). Each ``[B]``.

    >>> from dittoedu.roll import Note, notes_to_roll
    >>> r = notes_to_roll([Note(60, 0, 8), Note(67, 8, 8), Note(48, 0, 16)], 16)
    >>> {k: round(float(v), 3) for k, v in attribute_values(r[None]).items()}
    {'register': 55.75, 'density': 0.375, 'contour': 7.0}
    """
    from .roll import FRAME, LOW_PITCH, ONSET, note_starts

    on, frame = rolls[:, ONSET] > 0, rolls[:, FRAME] > 0  # [B, P, T]
    n_steps = rolls.shape[-1]
    pitch = torch.arange(frame.shape[1], device=rolls.device, dtype=torch.float32)[None, :, None] + LOW_PITCH
    register = (pitch * frame).sum((1, 2)) / frame.sum((1, 2))
    starts = note_starts(on, frame)  # as roll_to_notes reads them
    voices = frame.sum(1)  # [B, T] notes sounding at each step
    voices = voices.sum(-1) / (voices > 0).sum(-1).clamp(min=1)
    density = starts.sum((1, 2)) / (n_steps / 4) / voices.clamp(min=1)
    top = torch.where(frame, pitch, torch.tensor(-1.0, device=rolls.device)).amax(1)  # [B, T], -1 = silence
    edge = max(1, n_steps // 4)

    def mean_top(part):
        sounding = part >= 0
        return (part * sounding).sum(-1) / sounding.sum(-1), sounding.any(-1)

    (first, has_first), (last, has_last) = mean_top(top[:, :edge]), mean_top(top[:, -edge:])
    contour = torch.where(has_first & has_last, last - first, torch.zeros_like(first))
    return {"register": register, "density": density.float(), "contour": contour}


def _bin(x: float, edges: tuple[float, float], values: tuple[str, str, str]) -> str:
    return values[0] if x < edges[0] else values[2] if x > edges[1] else values[1]


def attributes(notes: list[Note], *, n_steps: int) -> dict[str, str]:
    """The musical facts a caption can state, each measured on the notes by a plain analyzer.

    ``mode`` from music21's key analysis; ``register``, ``density`` and ``contour`` from
    :func:`attribute_values`. Silence has no attributes (``{}``).

    >>> from dittoedu.roll import Note
    >>> a_minor = [Note(p, 4 * i, 4) for i, p in enumerate([69, 72, 76, 72, 69, 64, 69, 57])]
    >>> attributes(a_minor, n_steps=32)
    {'mode': 'minor', 'register': 'high', 'density': 'moderate', 'contour': 'falling'}
    """
    from .roll import notes_to_roll

    notes = [n for n in notes if n.onset < n_steps]
    if not notes:
        return {}
    v = {k: float(x[0]) for k, x in attribute_values(notes_to_roll(notes, n_steps)[None]).items()}
    return {"mode": key_fit(notes)[1].split()[-1],
            "register": _bin(v["register"], REGISTER_EDGES, ATTRIBUTES["register"]),
            "density": _bin(v["density"], DENSITY_EDGES, ATTRIBUTES["density"]),
            "contour": _bin(v["contour"], (-CONTOUR_EDGE, CONTOUR_EDGE), ATTRIBUTES["contour"])}
