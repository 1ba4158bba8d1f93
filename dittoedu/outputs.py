"""A piece's files on disk: what ``dittoedu demo`` and ``dittoedu generate`` write into ``--out``.

``save_piece`` writes, in this order and only after everything is computed:

* ``score.musicxml`` and ``score.mid`` (through music21),
* ``score.svg`` (through verovio),
* ``audio.wav`` (the additive synthesizer),
* ``figure.png`` (score, piano roll, spectrogram and loss curves side by side),
* ``result.json`` (see DESIGN.md for its keys), when a result is given.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from . import audio, roll as rolls, score


def _finite(obj):
    """JSON has no NaN or infinity: replace them by None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def save_piece(out_dir, notes: list[rolls.Note], *, n_steps: int, time_signature: str = "4/4", title: str = "",
               wave: torch.Tensor | None = None, loss_history: dict | None = None,
               result: dict | None = None) -> dict[str, Path]:
    """Write the score, MIDI, SVG, audio, figure (and ``result.json``) of ``notes`` into ``out_dir``.

    ``wave`` defaults to the synthesized roll. Returns the paths written, by kind.
    """
    from .plots import result_figure

    # compute everything first, so that an error leaves no half-written folder
    stream_kwargs = dict(time_signature=time_signature, title=title, n_steps=n_steps)
    xml = score.musicxml_text(notes, staves="voices", **stream_kwargs)  # a part per voice: reads back exactly
    midi_score = rolls.notes_to_stream(notes, **stream_kwargs)
    svg = score.render_svg(notes, **stream_kwargs)  # a grand staff
    roll = rolls.notes_to_roll(notes, n_steps)
    if wave is None:
        with torch.no_grad():
            wave = audio.synthesize(roll)
    fig = result_figure(notes=notes, roll=roll, wave=wave, loss_history=loss_history, title=title,
                        time_signature=time_signature)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"musicxml": out / "score.musicxml", "midi": out / "score.mid", "svg": out / "score.svg",
             "audio": out / "audio.wav", "figure": out / "figure.png"}
    paths["musicxml"].write_text(xml, encoding="utf-8")
    midi_score.write("midi", fp=str(paths["midi"]))
    paths["svg"].write_text(svg, encoding="utf-8")
    audio.write_wav(paths["audio"], wave.detach().cpu().reshape(-1))
    fig.savefig(paths["figure"], dpi=110, bbox_inches="tight")
    if result is not None:
        paths["result"] = out / "result.json"
        paths["result"].write_text(json.dumps(_finite(result), indent=2))
    return paths
