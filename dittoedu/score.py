"""Score pictures: notes, rolls and music21 scores engraved as SVG by verovio, offline.

A piece becomes a picture in three steps, each a function you can call on its own:

1. :func:`musicxml_text` writes the music as MusicXML (music21 does this; lyrics are left
   out, they only crowd a small picture);
2. :func:`render_svg` engraves that MusicXML with verovio into one SVG page holding every
   system, with no title or footer. The SVG shows in any browser and in Jupyter
   (:func:`svg_image`); no MuseScore, no CDN, no trusted notebook;
3. :func:`svg_to_png` rasterizes the SVG with resvg when you need pixels: a PNG file, or
   a matplotlib panel (``plots.plot_score``).

>>> from dittoedu.roll import Note
>>> melody = [Note(60, 0, 4), Note(62, 4, 4), Note(64, 8, 4), Note(65, 12, 4)]
>>> svg = render_svg(melody)
>>> svg.startswith("<svg"), count_notes(svg)
(True, 4)
>>> png = svg_to_png(svg)
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True

``render_svg`` takes whatever you have: a list of notes, a roll ``[2, P, T]`` (thresholded
at 0, as everywhere in dittoedu), a music21 score, or MusicXML text. Keyword arguments such
as ``time_signature="3/4"`` or ``title=...`` go to :func:`dittoedu.roll.notes_to_stream`
when the music is notes or a roll.

In a notebook, ``svg_image(render_svg(notes))`` as the last line of a cell shows the score.
:func:`render_svg_to_fit` picks how to wrap the systems so the music fills a given box
(``plots.result_figure`` uses it); :func:`svg_size` and :func:`count_notes` read an SVG back.

An empty list of notes (a model can generate silence) engraves as one bar of rest rather
than failing; text that is not MusicXML raises :class:`~dittoedu.roll.MusicInputError`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from .roll import MusicInputError, notes_to_stream, roll_to_notes, steps_per_bar

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# verovio measures pages in its own units: at scale 100, one unit is one SVG pixel; at
# scale s, the music is drawn s/100 as large, so a page of W units comes out W * s / 100 px wide.
_MAX_PAGE_HEIGHT = 60000  # verovio's largest page; adjustPageHeight then trims it to the music
_MARGIN = 40  # page margins in verovio units (verovio's default of 50 leaves a wide white frame)

_toolkit = None  # one verovio toolkit, made on first use; options are set on every call


def _verovio_toolkit():
    global _toolkit
    if _toolkit is None:
        import verovio

        # LOG_ERROR: keep real errors, hide the warnings verovio prints for ordinary input
        verovio.enableLog(verovio.LOG_ERROR)
        _toolkit = verovio.toolkit()
    return _toolkit


# ---------------------------------------------------------------------------------------------
# music -> MusicXML


def _is_roll(music) -> bool:
    """True for a torch tensor or a numpy array (anything with a ``shape``)."""
    return hasattr(music, "shape") and not isinstance(music, (list, tuple))


def _roll_notes(roll):
    """Notes and length in steps of a roll ``[2, P, T]`` (or a batch of one), thresholded at 0."""
    import torch

    roll = torch.as_tensor(roll)
    if roll.dim() == 4 and roll.shape[0] == 1:
        roll = roll[0]
    if roll.dim() != 3 or roll.shape[0] != 2:
        raise MusicInputError(
            f"a piano roll must have shape [2, P, T] (onset and frame channels), got {tuple(roll.shape)}; "
            "for a batch, pass one item, e.g. roll[0]"
        )
    return roll_to_notes(roll), roll.shape[-1]


def _tidy_naturals(score) -> None:
    """Let music21 decide afresh which accidentals to print (in place, on a score we built).

    A workaround for :func:`dittoedu.roll.notes_to_stream`; it does nothing once notes are
    made there without an explicit natural.

    ``music21.note.Note(67)`` spells G4 with an explicit natural sign, and ``makeNotation``
    then prints many of those naturals. Removing the ``alter == 0`` accidentals and asking
    for accidentals again keeps only the ones a reader needs (F# then F in one bar).
    """
    for n in score.recurse().notes:
        for p in n.pitches:
            if p.accidental is not None and p.accidental.alter == 0:
                p.accidental = None
    for part in score.parts:
        part.makeAccidentals(inPlace=True, overrideStatus=True)


def _to_score(music, **stream_kwargs):
    """A music21 score from notes, a roll or a score (left as it is)."""
    from music21 import stream

    if isinstance(music, stream.Stream):
        if stream_kwargs:
            raise TypeError(
                f"{', '.join(sorted(stream_kwargs))} only apply when the music is a list of notes or a roll; "
                "a music21 score already carries its own time signature and title"
            )
        return music
    if hasattr(music, "notes") and hasattr(music, "time_signature"):  # a roll.Piece
        stream_kwargs.setdefault("time_signature", music.time_signature)
        if music.title:
            stream_kwargs.setdefault("title", music.title)
        music = music.notes
    if _is_roll(music):
        notes, n_steps = _roll_notes(music)
        stream_kwargs.setdefault("n_steps", n_steps)
    else:
        try:
            notes = list(music)
        except TypeError:
            raise MusicInputError(
                f"cannot make a score from a {type(music).__name__}; give a list of Note(pitch, onset, duration), "
                "a piano roll [2, P, T], a music21 score or MusicXML text"
            ) from None
        bad = [n for n in notes if not (hasattr(n, "pitch") and hasattr(n, "onset") and hasattr(n, "duration"))]
        if bad:
            raise MusicInputError(
                f"expected notes like Note(pitch=60, onset=0, duration=4), got {bad[0]!r}"
            )
    if not notes and not stream_kwargs.get("n_steps"):
        # silence: one bar of rest, so that the picture says "nothing was played"
        stream_kwargs["n_steps"] = steps_per_bar(stream_kwargs.get("time_signature", "4/4"))
    stream_kwargs.setdefault("staves", "grand")  # a picture: a grand staff, not a staff per voice
    score = notes_to_stream(notes, **stream_kwargs)
    _tidy_naturals(score)
    if len(score.parts) == 1:  # a lone "Voice 1" label only takes room
        score.parts[0].partName = None
    return score


_LYRIC = re.compile(r"\s*<lyric\b[^>]*?(?:/>|>.*?</lyric>)", re.DOTALL)


def musicxml_text(score_or_notes, **stream_kwargs) -> str:
    """MusicXML text of a music21 score, or of notes (through :func:`dittoedu.roll.notes_to_stream`).

    Parameters
    ----------
    score_or_notes : music21 Score, list of Note, or roll [2, P, T]
        The music. Notes and rolls become a grand staff (one staff for a single line), or with
        ``staves="voices"`` one part per voice (see :func:`dittoedu.roll.notes_to_stream`).
    **stream_kwargs
        ``time_signature``, ``title``, ``tempo``, ``n_steps``, ``staves`` for
        :func:`~dittoedu.roll.notes_to_stream` (notes and rolls only).

    Returns
    -------
    str
        A ``<score-partwise>`` document without lyrics.

    >>> from dittoedu.roll import Note
    >>> text = musicxml_text([Note(67, 0, 16)], time_signature="4/4")
    >>> "<score-partwise" in text, text.count("<note>")
    (True, 1)
    """
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    # music21 writes notation warnings (odd beams in a messy generated rhythm) straight to
    # stderr; they say nothing a student can act on, so they are kept out of the notebook.
    with contextlib.redirect_stderr(io.StringIO()):
        score = _to_score(score_or_notes, **stream_kwargs)
        text = GeneralObjectExporter(score).parse().decode("utf-8")
    return _LYRIC.sub("", text)


def check_musicxml(text: str, *, what: str = "the MusicXML text") -> None:
    """Raise :class:`~dittoedu.roll.MusicInputError` unless ``text`` is a MusicXML score with a part."""
    body = text.lstrip("\ufeff \t\r\n")
    if not body.startswith("<"):
        raise MusicInputError(
            f"{what} is not MusicXML (it does not start with '<'); for tinyNotation or ABC text, "
            "read it first with dittoedu.roll.load(text) and render its notes"
        )
    try:
        root = ElementTree.fromstring(body.encode("utf-8"))
    except ElementTree.ParseError as exc:
        raise MusicInputError(f"{what} is not well-formed XML ({exc}); was the file cut short?") from None
    tag = root.tag.rsplit("}", 1)[-1]
    if tag not in ("score-partwise", "score-timewise"):
        raise MusicInputError(f"{what} is XML but not a MusicXML score: its top element is <{tag}>, "
                              "not <score-partwise>")
    if root.find("part") is None:
        raise MusicInputError(f"{what} is a MusicXML score with no <part> in it, so there is nothing to draw")


# ---------------------------------------------------------------------------------------------
# MusicXML -> SVG -> PNG


def render_svg(music, *, width_px: int = 900, scale: int = 40, **stream_kwargs) -> str:
    """Engrave music as one SVG page (all systems, no header or footer) with verovio.

    Parameters
    ----------
    music : list of Note, roll [2, P, T], music21 Score, or str
        The music; a string must be MusicXML text (it is drawn as given, lyrics included).
    width_px : int
        Largest width of the picture in pixels; longer music wraps onto more systems.
        The page shrinks to the music, so a short melody gives a narrower picture.
    scale : int
        Size of the music in percent of verovio's default (40 fits 4 bars of a four-voice
        chorale in about 650 x 330 px).
    **stream_kwargs
        ``time_signature``, ``title``, ``tempo``, ``n_steps`` when ``music`` is notes or a roll.

    Returns
    -------
    str
        SVG text; each note head is a ``<g class="note">`` (see :func:`count_notes`).
    """
    if isinstance(music, str):
        if stream_kwargs:
            raise TypeError(f"{', '.join(sorted(stream_kwargs))} only apply when the music is notes or a roll")
        check_musicxml(music)
        xml = music
    else:
        xml = musicxml_text(music, **stream_kwargs)
    if not 1 <= scale <= 1000:
        raise ValueError(f"scale is a percentage between 1 and 1000, got {scale}")
    if width_px < 50:
        raise ValueError(f"width_px={width_px} is too narrow to draw a bar of music; try 600 or more")

    tk = _verovio_toolkit()
    tk.resetOptions()
    tk.setOptions({
        "scale": scale,
        "pageWidth": max(100, min(100000, round(width_px * 100 / scale))),
        "pageHeight": _MAX_PAGE_HEIGHT,
        "adjustPageHeight": True,  # trim the page to the systems on it ...
        "adjustPageWidth": True,  # ... and to the widest system
        "breaks": "auto",
        "header": "none",
        "footer": "none",
        "pageMarginLeft": _MARGIN, "pageMarginRight": _MARGIN,
        "pageMarginTop": _MARGIN, "pageMarginBottom": _MARGIN,
    })
    if not tk.loadData(xml):
        raise MusicInputError("verovio could not read this MusicXML; open it in a score editor to check it")
    if tk.getPageCount() > 1:  # more systems than the tallest page holds: draw them smaller
        raise MusicInputError(
            f"the music needs {tk.getPageCount()} pages at scale={scale}; give a larger width_px or a smaller scale"
        )
    return tk.renderToSVG(1)


def svg_size(svg: str) -> tuple[float, float]:
    """Width and height in pixels of SVG text, from its ``width``/``height`` attributes.

    >>> svg_size('<svg width="631px" height="311px" version="1.1">')
    (631.0, 311.0)
    """
    head = re.search(r"<svg\b[^>]*>", svg)
    width = re.search(r'\swidth="([\d.]+)(?:px)?"', head.group(0)) if head else None
    height = re.search(r'\sheight="([\d.]+)(?:px)?"', head.group(0)) if head else None
    if not (width and height):
        raise ValueError("this SVG has no width and height in pixels")
    return float(width.group(1)), float(height.group(1))


def render_svg_to_fit(music, *, width_in: float, height_in: float, scale: int = 40,
                      widths_px=(1400, 1100, 900, 700, 550, 420), **stream_kwargs) -> str:
    """The :func:`render_svg` picture that shows the music largest in a ``width_in`` x ``height_in`` box.

    Long lines fit a wide box; a tall box is better filled by wrapping the music onto more,
    shorter systems. Each candidate page width in ``widths_px`` is engraved and the one whose
    picture can be drawn at the largest size (keeping its shape) wins; ties go to fewer systems.
    """
    xml = music if isinstance(music, str) else musicxml_text(music, **stream_kwargs)
    best, best_size = None, -1.0
    for width_px in sorted(widths_px, reverse=True):
        svg = render_svg(xml, width_px=width_px, scale=scale)
        w, h = svg_size(svg)
        size = min(width_in / w, height_in / h)  # inches per SVG pixel when drawn in the box
        if size > best_size * 1.2:  # wrapping onto more systems must show the music clearly larger
            best, best_size = svg, size
    return best


def count_notes(svg: str) -> int:
    """Number of note heads in an SVG made by :func:`render_svg` (tied notes count twice)."""
    return len(re.findall(r'class="note(?:\s[^"]*)?"', svg))


# SMuFL note glyphs that verovio writes as text (the "♩ = 90" of a tempo mark) in its
# embedded music font, which resvg cannot load; DejaVu has look-alikes for the common ones.
_SMUFL_TEXT_GLYPHS = {
    "\ueca5": "\u2669", "\ue1d5": "\u2669",  # quarter note
    "\ueca7": "\u266a", "\ue1d7": "\u266a",  # eighth note
    "\uecb7": ".", "\ue1e7": ".",  # augmentation dot
}
_SMUFL_TSPAN = re.compile(
    r'<tspan font-family="(?:Leipzig|Bravura|Leland|Gootville|Petaluma)"(?: font-size="([\d.]+)px")?>([^<]*)</tspan>'
)


def _plain_text_glyphs(svg: str) -> str:
    def swap(match):
        size, glyphs = match.group(1), match.group(2)
        text = "".join(_SMUFL_TEXT_GLYPHS.get(c, "") for c in glyphs)
        # a SMuFL glyph is drawn at staff size (about 1.8 x the text size); a text font at text size
        size_attr = f' font-size="{float(size) * 0.6:.0f}px"' if size else ""
        return f'<tspan font-family="DejaVu Sans"{size_attr}>{text}</tspan>'

    return _SMUFL_TSPAN.sub(swap, svg)


@functools.lru_cache(maxsize=1)
def _font_files() -> tuple[str, ...]:
    """DejaVu fonts shipped with matplotlib: the same letters on every machine, no system fonts needed."""
    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        return tuple(str(p) for p in sorted(folder.glob("DejaVu*.ttf")))
    except Exception:  # pragma: no cover - matplotlib is a dependency; fall back to system fonts
        return ()


def svg_to_png(svg: str, *, zoom: float = 2.0, background: str = "white") -> bytes:
    """Rasterize SVG text to PNG bytes with resvg, on an opaque background.

    Parameters
    ----------
    svg : str
        SVG text, e.g. from :func:`render_svg`.
    zoom : float
        Pixels per SVG pixel; 2 gives a sharp picture in a figure or on a high-DPI screen.
    background : str
        A CSS colour; a score on a transparent background is unreadable in dark themes.

    Returns
    -------
    bytes
        A PNG file's contents.
    """
    import resvg_py

    if not isinstance(svg, str) or "<svg" not in svg[:2000]:
        raise ValueError("svg_to_png expects SVG text (starting with '<svg'), e.g. from render_svg(...)")
    if not zoom > 0:
        raise ValueError(f"zoom must be a positive number, got {zoom}")
    fonts = _font_files()
    font_options = dict(skip_system_fonts=True, font_files=list(fonts), font_family="DejaVu Serif",
                        serif_family="DejaVu Serif", sans_serif_family="DejaVu Sans") if fonts else {}
    try:
        png = resvg_py.svg_to_bytes(svg_string=_plain_text_glyphs(svg), zoom=zoom, background=background,
                                    **font_options)
    except ValueError as exc:
        raise ValueError(f"could not draw this SVG: {exc}") from None
    return bytes(png)


def svg_image(svg: str):
    """The SVG as an ``IPython.display.SVG``, to show a score in a notebook (the last line of a cell)."""
    try:
        from IPython.display import SVG
    except ImportError as exc:
        raise ImportError(
            "svg_image needs IPython, which comes with Jupyter (pip install jupyterlab); "
            "in a script, write the SVG text to a .svg file or use svg_to_png"
        ) from exc
    return SVG(data=svg)
