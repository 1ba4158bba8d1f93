"""Drawing widgets for the dittoedu Studio: the student draws, the model follows.

Four widgets, one per kind of control (DITTO, Novack et al. 2024), each shown by putting it
on the last line of a notebook cell (JupyterLab, Jupyter Notebook, Voila):

========================  ===========================================  ===========================
widget                    the student...                               ``.value`` (for ``controls.build``)
========================  ===========================================  ===========================
:class:`PianoRollDrawer`  draws a melody on a piano roll, plays it     ``list[Note]`` -> ``melody=``
:class:`ChordPicker`      picks a chord per bar from the key's triads  ``"C G Am F"`` -> ``chords=``
:class:`CurveDrawer`      draws an intensity curve                     ``np.ndarray`` -> ``intensity=``
:class:`FormPicker`       picks a letter per section                   ``"AABA"`` -> ``form=``
========================  ===========================================  ===========================

For example::

    from dittoedu import controls
    from dittoedu.widgets import ChordPicker, CurveDrawer, FormPicker, PianoRollDrawer

    melody, chords = PianoRollDrawer(bars=4), ChordPicker(bars=4, key="C")
    display(melody, chords)
    # ... the student draws and picks ...
    built, notes = controls.build(bars=4, melody=melody.value or None, chords=chords.value or None)

Common to all of them:

* The drawing happens in the browser (a ``<canvas>`` or buttons, plain JavaScript shipped in
  ``dittoedu/widgets/static``, nothing from the internet) and reaches Python once per mouse
  release, so drawing stays smooth even while the kernel is busy.
* ``.value`` raises :class:`~dittoedu.roll.MusicInputError` with a message in plain words when
  the input cannot be used; the same message is shown inside the widget (``error``).
The :class:`Studio` puts the four together with a *Generate* button, the score, the sound
and the loss curves: the whole of DITTO in one dashboard (``notebooks/00_studio.ipynb``).

* ``save(path)`` / ``Class.load(path)`` (and ``to_json()`` / ``Class.from_json(text)``, or
  ``widget.restore(text)`` to refill a widget already on screen) keep a student's work across
  kernel restarts.
"""

from ._base import DittoWidget
from .chords import ChordPicker
from .curve import CurveDrawer
from .form import FormPicker
from .piano_roll import PianoRollDrawer
from .studio import Studio, Take

__all__ = ["ChordPicker", "CurveDrawer", "DittoWidget", "FormPicker", "PianoRollDrawer", "Studio", "Take"]
