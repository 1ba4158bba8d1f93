"""What every dittoedu widget shares: an ``error`` message, saving and loading, checks in plain words.

A widget's state lives in *traitlets* that are synced with the browser. Each widget
names the traitlets that make up a student's work in ``_saved``; :meth:`DittoWidget.to_json`
writes them, :meth:`DittoWidget.from_json` / :meth:`DittoWidget.load` read them back, so a
drawing survives a kernel restart::

    drawer.save("my_melody.json")                      # before the restart
    drawer = PianoRollDrawer.load("my_melody.json")    # after it

Two kinds of checks, both raising :class:`~dittoedu.roll.MusicInputError`:

* ``_coerce(state)`` checks the *shape* of a state (whole numbers where whole numbers belong,
  a key that is a key) and returns it tidied up; a state that fails it is never stored.
* ``_check(state)`` checks the *music* (a note past the last bar, a chord music21 does not
  know). A drawing in progress may fail it: the widget keeps the drawing and shows the
  message in its ``error`` traitlet (the browser displays it), and ``.value`` raises it.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import anywidget
import traitlets

from ..roll import MusicInputError

STATIC = Path(__file__).parent / "static"
FORMAT_VERSION = 1


def whole_number(value, name: str, *, low: int, high: int) -> int:
    """``value`` as an int in ``low..high``, or a :class:`MusicInputError` that says what ``name`` should be."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise MusicInputError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    if not low <= value <= high:
        raise MusicInputError(f"{name} must be a whole number from {low} to {high}, not {value}")
    return value


def validate_saved(*names: str):
    """A traitlets validator for ``names``: a value set directly (``drawer.bars = 8``) or by the browser
    goes through the widget's ``_coerce``, so a bad one raises :class:`MusicInputError` at once."""

    def _coerced(self, proposal):
        name = proposal["trait"].name
        with self._showing_errors():
            return self._coerce({**self._state(), name: proposal["value"]})[name]

    return traitlets.validate(*names)(_coerced)


class DittoWidget(anywidget.AnyWidget):
    """Base class: ``error`` shown in the browser, JSON save/load, and the two kinds of checks."""

    _css = STATIC / "widgets.css"

    error = traitlets.Unicode("").tag(sync=True)
    """The message the widget shows under the drawing; empty when all is well."""

    _saved: tuple[str, ...] = ()  # the traitlets that hold the student's work, in the order they are restored

    def __init__(self, state: dict, **kwargs):
        """``state``: the saved traitlets; ``kwargs`` go to ``anywidget.AnyWidget`` (e.g. ``layout``)."""
        state = self._coerce(state)
        self._check(state)  # a widget is never built from bad music: the caller hears at once
        super().__init__(**state, **kwargs)
        self.observe(self._recheck, names=list(self._saved))

    # -- checks (subclasses override) ---------------------------------------------------------

    @classmethod
    def _coerce(cls, state: dict) -> dict:
        """The state tidied up; raises :class:`MusicInputError` if its shape is wrong."""
        return state

    @classmethod
    def _check(cls, state: dict) -> None:
        """Raises :class:`MusicInputError` if the music in ``state`` cannot be used."""

    def _state(self) -> dict:
        return {name: getattr(self, name) for name in self._saved}

    def _recheck(self, change=None) -> None:
        """Re-check after any change (from Python or from the browser) and show the verdict."""
        try:
            self._check(self._state())
        except MusicInputError as exc:
            self.error = str(exc)
        else:
            self.error = ""

    def _fail(self, message: str):
        """Show ``message`` in the widget and raise it."""
        self.error = message
        raise MusicInputError(message)

    @contextlib.contextmanager
    def _showing_errors(self):
        """Inside this block, a :class:`MusicInputError` is also shown in the widget before it is raised."""
        try:
            yield
        except MusicInputError as exc:
            self.error = str(exc)
            raise

    def _update(self, *, strict: bool = True, **changes) -> None:
        """Set several traitlets at once, after checking them; ``strict=False`` keeps music that fails ``_check``."""
        try:
            state = self._coerce({**self._state(), **changes})
            if strict:
                self._check(state)
        except MusicInputError as exc:
            self._fail(str(exc))
        with self.hold_trait_notifications():  # validators see the new state whole, not half set
            for name in self._saved:
                if getattr(self, name) != state[name]:
                    setattr(self, name, state[name])
        self._recheck()

    def _ok(self) -> None:
        """Raise the widget's current problem, if it has one (what ``.value`` calls first)."""
        self._recheck()
        if self.error:
            raise MusicInputError(self.error)

    # -- saving and loading ---------------------------------------------------------------------

    def to_json(self) -> str:
        """The student's work as JSON text (what :meth:`save` writes)."""
        return json.dumps({"widget": type(self).__name__, "format": FORMAT_VERSION, **self._state()}, indent=1)

    def restore(self, text: str) -> None:
        """Put back the work saved by :meth:`to_json` into this widget (shown wherever it is displayed).

        The work comes back even if it has a problem (it is shown in the widget); text that is
        not a saved widget of this kind raises :class:`MusicInputError`.
        """
        self._update(strict=False, **self._parse_saved(text))

    @classmethod
    def from_json(cls, text: str):
        """A new widget holding the work saved by :meth:`to_json`."""
        state = cls._parse_saved(text)
        widget = cls()
        widget._update(strict=False, **state)
        return widget

    def save(self, path) -> Path:
        """Write the student's work to a JSON file; returns its path."""
        path = Path(path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path):
        """A new widget holding the work saved in ``path`` by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise MusicInputError(f"there is no file {str(path)!r}; check the name and the folder")
        return cls.from_json(path.read_text(encoding="utf-8"))

    @classmethod
    def _parse_saved(cls, text) -> dict:
        name = cls.__name__
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            raise MusicInputError(f"this is not a saved {name}: it is not JSON text written by {name}.save()") from None
        if not isinstance(data, dict) or "widget" not in data:
            raise MusicInputError(f"this is not a saved {name}: it has no \"widget\" entry")
        if data["widget"] != name:
            kind = data["widget"]
            raise MusicInputError(f"this file holds a {kind}, not a {name}; load it with {kind}.load()")
        version = data.get("format", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise MusicInputError(f"this {name} was saved by a newer dittoedu; update dittoedu to load it")
        return {k: v for k, v in data.items() if k in cls._saved}
