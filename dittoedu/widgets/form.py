"""Pick the form of the piece, section by section: :class:`FormPicker` (DITTO's structure control).

For the teacher
---------------
::

    from dittoedu.widgets import FormPicker
    form = FormPicker(bars=8, form="AABA")    # 4 sections of 2 bars
    form

* **Sections**: the buttons on top split the bars into 1, 2, 4... equal sections.
* **Click a section** to change its letter: A, B, ... up to one letter past the highest used
  elsewhere (so a click on the last of "AAA A" gives B, a new section; another click gives A
  back). Right-click goes back one letter. Sections with the same letter should sound alike.

Each form is checked by :func:`dittoedu.targets.parse_form`, the parser the command line uses.
In Python::

    form.value                   # "AABA": what controls.build(form=...) takes
    form.set_form("ABAB"); form.cycle(2)      # sections counted from 1
    form.save("form.json"); FormPicker.load("form.json")

>>> picker = FormPicker(bars=8, form="AABA")
>>> picker.sections, picker.value
(4, 'AABA')
>>> picker.cycle(4)
>>> picker.value
'AABB'
"""

from __future__ import annotations

import traitlets

from ..roll import MusicInputError
from ..targets import parse_form
from ._base import STATIC, DittoWidget, validate_saved, whole_number

LETTERS = "ABCDEFGH"  # the section letters parse_form accepts
MAX_BARS = 64


def next_letter(letters: list[str], i: int, step: int = 1) -> str:
    """The letter section ``i`` (from 0) gets when clicked: the next one, up to one past the highest
    letter of the *other* sections, then back to A (``step=-1`` goes the other way).
    The browser does the same (``nextLetter`` in ``static/form.js``).

    >>> next_letter(["A", "A", "A"], 2), next_letter(["A", "A", "B"], 2), next_letter(["A", "B", "A"], 2)
    ('B', 'A', 'B')
    >>> next_letter(["A", "B", "B"], 2), next_letter(["A", "A", "A"], 2, step=-1)
    ('C', 'B')
    """
    others = [LETTERS.index(c) for j, c in enumerate(letters) if j != i and c in LETTERS]
    top = min(len(LETTERS) - 1, max(others, default=-1) + 1)
    current = LETTERS.index(letters[i]) if letters[i] in LETTERS else -1
    return LETTERS[(current + step) % (top + 1)]


def resize_sections(letters: list[str], n: int) -> list[str]:
    """The letters of ``n`` sections covering the same bars: section ``i`` takes the letter that
    was under its start. The browser does the same (``resizeSections`` in ``static/form.js``).

    >>> resize_sections(list("AB"), 4), resize_sections(list("AABA"), 2)
    (['A', 'A', 'B', 'B'], ['A', 'B'])
    """
    if not letters:
        return ["A"] * n
    return [letters[i * len(letters) // n] for i in range(n)]


def default_sections(bars: int) -> int:
    """The number of sections a new picker shows: 4 when the bars split into 4, else the largest
    number up to 4 that divides them (``bars`` itself for a short piece that 4 does not divide)."""
    best = max(d for d in range(1, min(bars, 4) + 1) if bars % d == 0)
    return bars if best == 1 and bars <= 8 else best


class FormPicker(DittoWidget):
    """The section letter of each of ``sections`` equal parts of ``bars`` bars.

    Parameters
    ----------
    bars : int
        Length of the piece in bars.
    form : str, optional
        The form to start with ("AABA"); sets the number of sections.
    sections : int, optional
        The number of sections (must divide ``bars``) when no ``form`` is given; all start as A.

    Traitlets synced with the browser: ``bars``, ``sections``, ``letters`` (one letter per section),
    ``error``.
    """

    _esm = STATIC / "form.js"

    bars = traitlets.Int(4).tag(sync=True)
    sections = traitlets.Int(4).tag(sync=True)
    letters = traitlets.List(traitlets.Unicode()).tag(sync=True)

    _saved = ("bars", "sections", "letters")
    _validate = validate_saved(*_saved)

    def __init__(self, bars: int = 4, form: str | None = None, *, sections: int | None = None, **kwargs):
        bars = whole_number(bars, "bars", low=1, high=MAX_BARS)
        if form is not None:
            letters = _form_letters(form, bars)
            if sections is not None and sections != len(letters):
                raise MusicInputError(f"form {form!r} has {len(letters)} sections, but sections={sections} was given; "
                                      "give one of them")
        else:
            sections = default_sections(bars) if sections is None else sections
            letters = ["A"] * whole_number(sections, "sections", low=1, high=bars)
        super().__init__(dict(bars=bars, sections=len(letters), letters=letters), **kwargs)

    @classmethod
    def _coerce(cls, state):
        state = dict(state)
        state["bars"] = whole_number(state["bars"], "bars", low=1, high=MAX_BARS)
        state["sections"] = whole_number(state["sections"], "sections", low=1, high=MAX_BARS)
        letters = state.get("letters") or []
        if isinstance(letters, str) or not all(isinstance(c, str) for c in letters):
            raise MusicInputError("letters should be a list of section letters, like ['A', 'A', 'B', 'A']")
        letters = [c.strip().upper() for c in letters]
        if len(letters) != state["sections"]:
            letters = resize_sections(letters, state["sections"])
        state["letters"] = letters
        return state

    @classmethod
    def _check(cls, state):
        for i, c in enumerate(state["letters"]):
            if len(c) != 1:
                raise MusicInputError(f"section {i + 1} has {c!r}; each section gets one letter, A to H")
        parse_form("".join(state["letters"]), bars=state["bars"])

    @traitlets.observe("sections")
    def _sections_changed(self, change):
        if len(self.letters) != self.sections:
            self.letters = resize_sections(list(self.letters), self.sections)

    @property
    def value(self) -> str:
        """The form, one letter per section ("AABA"), for ``controls.build(form=...)``."""
        self._ok()
        return "".join(self.letters)

    def cycle(self, section: int, step: int = 1) -> None:
        """Change the letter of ``section`` (counted from 1) as a click does (``step=-1``: a right-click)."""
        with self._showing_errors():
            i = whole_number(section, "the section (counted from 1)", low=1, high=self.sections) - 1
        letters = list(self.letters)
        letters[i] = next_letter(letters, i, step)
        self._update(letters=letters)

    def set_form(self, form: str) -> None:
        """Replace the form ("ABA", "A A B A"); the number of sections follows it."""
        with self._showing_errors():
            letters = _form_letters(form, self.bars)
        self._update(sections=len(letters), letters=letters)


def _form_letters(form: str, bars: int) -> list[str]:
    """The letters of ``form``, one per section, after parse_form has checked it against ``bars``."""
    parse_form(form, bars=bars)
    return [c.upper() for c in form if not c.isspace()]
