"""The student notebooks: each runs top to bottom, headless, and is committed without outputs.

A notebook runs in a temporary copy of the ``notebooks/`` folder (so nothing is written back
into the repository) next to a copy of ``data/examples/`` (the notebooks read ``../data/examples``),
with ``DITTOEDU_FAST=1`` set so that a notebook may shrink its work. The kernel is this Python
(``sys.executable``), whatever other ``python3`` kernels the machine has registered.
"""

import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402  (after the skips)
from jupyter_client.manager import KernelManager  # noqa: E402

from dittoedu.targets import read_curve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SECONDS_PER_NOTEBOOK = 120


def kernel_manager() -> KernelManager:
    """A manager for a ``python3`` kernel on ``sys.executable``.

    With no kernel folders to search, jupyter_client falls back to ipykernel's built-in spec,
    whose command is ``[sys.executable, "-m", "ipykernel_launcher", ...]``; a ``python3`` spec
    in ``~/.local/share/jupyter`` that points at another Python is never used.
    """
    return KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))


def run_notebook(nb, cwd: Path, *, seconds: float = SECONDS_PER_NOTEBOOK):
    """Execute ``nb`` in place in folder ``cwd``, all cells within ``seconds`` in total."""
    deadline = time.monotonic() + seconds
    client = nbclient.NotebookClient(
        nb,
        km=kernel_manager(),
        timeout=seconds,
        # the whole notebook shares one budget: each cell gets what the cells before it left
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        startup_timeout=60,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return nb


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temporary ``notebooks/`` folder with ``data/examples/`` beside it; the environment of a fast run."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if (ROOT / "data" / "examples").is_dir():
        shutil.copytree(ROOT / "data" / "examples", tmp_path / "data" / "examples")
    monkeypatch.setenv("DITTOEDU_FAST", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel picks its inline backend: figures show
    return tmp_path / "notebooks"


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no .ipynb files"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, workdir):
    nb = nbformat.read(workdir / path.name, as_version=4)
    try:
        run_notebook(nb, workdir)
    except nbclient.exceptions.CellExecutionError as exc:  # the message holds the cell and its traceback
        pytest.fail(f"{path.name}: a cell failed\n{exc}", pytrace=False)
    except nbclient.exceptions.CellTimeoutError:
        pytest.fail(f"{path.name} did not finish within {SECONDS_PER_NOTEBOOK} s", pytrace=False)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    # figures and scores really appear (an Agg backend would silently drop the figures)
    assert any("image/png" in out.get("data", {}) for out in outputs), f"{path.name} shows no figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}, cell {i}: clear the outputs before committing"
            assert cell.execution_count is None, f"{path.name}, cell {i}: clear the execution count"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state (clear it before committing)"


def test_kernel_is_this_python(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    run_notebook(nb, tmp_path, seconds=60)
    printed = nb.cells[0].outputs[0]["text"].strip()
    assert printed == sys.executable  # the venv, not only the same interpreter binary


# ---------------------------------------------------------------------------------------------
# the example inputs the notebooks (and data/README.md) use

EXAMPLES = ROOT / "data" / "examples"


@pytest.mark.parametrize("name", ["ode_to_joy.abc", "twinkle.txt", "frere_jacques.mid"])
def test_example_music_loads_into_four_bars_of_the_roll(name):
    from dittoedu import roll

    piece = roll.load(EXAMPLES / name)  # raises if a note is outside the roll
    assert piece.time_signature == "4/4" and piece.n_steps == 4 * 16
    assert all(60 <= n.pitch <= 84 for n in piece.notes), "examples stay within C4-C6"
    assert len({n.onset for n in piece.notes}) == len(piece.notes), "a melody: one note at a time"


@pytest.mark.parametrize("name", ["swell.csv", "fade.json", "terrace.csv"])
def test_example_curves_are_numbers_between_0_and_1(name):
    curve = read_curve(EXAMPLES / name).tolist()
    assert len(curve) >= 4 and all(0 <= v <= 1 for v in curve)


def test_the_terrace_is_two_levels_half_and_half():
    assert read_curve(EXAMPLES / "terrace.csv", n=64).tolist() == [0.2] * 32 + [0.8] * 32


def test_data_readme_describes_every_example():
    readme = (ROOT / "data" / "README.md").read_text()
    for path in EXAMPLES.iterdir():
        assert f"`{path.name}`" in readme, f"data/README.md does not describe {path.name}"
