"""Draw a curve between 0 and 1 with the mouse: :class:`CurveDrawer` (DITTO's intensity curve).

For the teacher
---------------
::

    from dittoedu.widgets import CurveDrawer
    loudness = CurveDrawer(points=64, label="intensity", bars=4)   # bar lines help to aim
    loudness

* **Draw** by pressing and moving the mouse over the plot: high is loud, low is quiet. Fast
  strokes are joined by straight lines, so no point is skipped; you can redraw any part.
* **Smooth** (on by default) evens out the jitter of a hand-drawn stroke with a small
  moving average (``smooth_window`` points) when the mouse is released.
* **Reset** makes the curve flat again (at ``default``).

The curve is sent to Python once per mouse release. In Python::

    loudness.value                       # numpy array [points], every value in 0..1
    controls.build(bars=4, intensity=loudness.value)   # resampled to the music's length there
    loudness.set_curve("0.2, 0.5, 0.9, 0.4")           # any curve read_curve reads, resampled
    loudness.save("loudness.json"); CurveDrawer.load("loudness.json")

Values from the browser are clamped into 0..1 and resampled to ``points``; values given
in Python outside 0..1 raise :class:`~dittoedu.roll.MusicInputError`.

>>> curve = CurveDrawer(points=5)
>>> curve.set_curve([0.0, 1.0])
>>> curve.value
array([0.  , 0.25, 0.5 , 0.75, 1.  ])
"""

from __future__ import annotations

import numpy as np
import traitlets

from ..roll import MusicInputError
from ..targets import read_curve
from ._base import STATIC, DittoWidget, validate_saved, whole_number

MAX_POINTS = 1024


def resample(values, n: int) -> list[float]:
    """``values`` linearly resampled to ``n`` points and clamped into [0, 1] (NaN becomes 0).

    >>> resample([0.0, 2.0], 3)
    [0.0, 1.0, 1.0]
    """
    try:
        v = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise MusicInputError("a curve is a list of numbers between 0 and 1, like [0.2, 0.5, 0.9]") from None
    if v.size == 0:
        raise MusicInputError("the curve is empty; draw it, or give numbers like '0.2,0.5,0.9,0.4'")
    v = np.nan_to_num(v, nan=0.0)
    if v.size != n:
        v = np.full(n, v[0]) if v.size == 1 else np.interp(np.linspace(0, v.size - 1, n), np.arange(v.size), v)
    return np.clip(v, 0.0, 1.0).tolist()


class CurveDrawer(DittoWidget):
    """A curve of ``points`` values in [0, 1], drawn with the mouse.

    Parameters
    ----------
    points : int
        How many values the curve has (evenly spaced in time).
    label : str
        What the curve is, shown above it ("intensity").
    values : list of float, optional
        The curve to start with (resampled to ``points``); default flat at ``default``.
    bars : int
        Draw this many bar lines under the curve (0: none); only a guide for the eye.
    smooth : bool
        Smooth each stroke with a moving average of ``smooth_window`` points.
    low_label, high_label : str
        Words at the bottom and the top of the plot ("quiet", "loud").
    default : float
        The flat value of a new or reset curve.

    Traitlets synced with the browser: all of the above, and ``error``.
    """

    _esm = STATIC / "curve.js"

    points = traitlets.Int(64).tag(sync=True)
    label = traitlets.Unicode("intensity").tag(sync=True)
    values = traitlets.List(traitlets.Float()).tag(sync=True)
    bars = traitlets.Int(0).tag(sync=True)
    smooth = traitlets.Bool(True).tag(sync=True)
    smooth_window = traitlets.Int(3).tag(sync=True)
    low_label = traitlets.Unicode("quiet").tag(sync=True)
    high_label = traitlets.Unicode("loud").tag(sync=True)
    default = traitlets.Float(0.5).tag(sync=True)

    _saved = ("points", "label", "bars", "smooth", "smooth_window", "low_label", "high_label", "default", "values")
    _validate = validate_saved(*_saved)  # whatever arrives for values is resampled to points, clamped into 0..1

    def __init__(self, points: int = 64, label: str = "intensity", *, values=None, bars: int = 0,
                 smooth: bool = True, smooth_window: int = 3, low_label: str = "quiet", high_label: str = "loud",
                 default: float = 0.5, **kwargs):
        if values is not None:
            values = _checked_curve(values)
        state = dict(points=points, label=label, bars=bars, smooth=smooth, smooth_window=smooth_window,
                     low_label=low_label, high_label=high_label, default=default, values=values)
        super().__init__(state, **kwargs)

    @classmethod
    def _coerce(cls, state):
        state = dict(state)
        state["points"] = whole_number(state["points"], "points", low=2, high=MAX_POINTS)
        state["bars"] = whole_number(state["bars"], "bars", low=0, high=MAX_POINTS)
        state["smooth_window"] = whole_number(state["smooth_window"], "smooth_window", low=1, high=state["points"])
        state["smooth"] = bool(state["smooth"])
        for name in ("label", "low_label", "high_label"):
            state[name] = str(state[name])
        d = state["default"]
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d <= 1:
            raise MusicInputError(f"default must be a number from 0 to 1, not {d!r}")
        state["default"] = float(d)
        values = state.get("values")
        state["values"] = resample([d] if values is None or len(values) == 0 else values, state["points"])
        return state

    @traitlets.observe("points")
    def _resample(self, change):
        self.values = resample(self.values, change["new"])

    @property
    def value(self) -> np.ndarray:
        """The curve: ``np.ndarray [points]`` of float64 in [0, 1]."""
        self._ok()
        return np.asarray(self.values, dtype=np.float64)

    def set_curve(self, curve) -> None:
        """Replace the curve by ``curve``: numbers, an array, text like ``"0.2,0.5,0.9"`` or a CSV/JSON file
        (anything :func:`dittoedu.targets.read_curve` reads), resampled to ``points``; values must lie in 0..1."""
        with self._showing_errors():
            values = _checked_curve(curve)
        self._update(values=values)

    def reset(self) -> None:
        """Make the curve flat at ``default`` (the *Reset* button)."""
        self._update(values=[self.default])


def _checked_curve(curve) -> list[float]:
    values = read_curve(curve)
    bad = np.flatnonzero((values < -1e-9) | (values > 1 + 1e-9))
    if bad.size:
        i = int(bad[0])
        raise MusicInputError(
            f"value {i + 1} of the curve is {values[i]:g}, outside 0..1; give a curve between 0 (bottom) and 1 (top)"
        )
    return values.tolist()
