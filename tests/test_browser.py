"""The Studio in a real browser: JupyterLab and Voila, driven by Chromium with the mouse.

What a student does, end to end: open ``notebooks/00_studio.ipynb``, run all cells, draw a
melody on the piano roll and a curve with the mouse, press *Generate*, and see the score, the
spectrogram and the loss curves; the kernel must have received exactly what was drawn.

Needs Debian's ``/usr/bin/chromium`` and the ``playwright`` package (``./setup.sh --dev``
installs both); the tests are skipped, saying so, when either is missing. Screenshots go to
``test-artifacts/browser/`` (ignored by git). Every wait has a time limit, and the servers and
the browser are always shut down (fixtures).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from browser_helpers import (
    CELL_ERRORS_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    KERNEL_EXEC_JS,
    KERNEL_READY_JS,
    draw_curve,
    draw_note,
    jupyter_env,
    start_lab,
    start_voila,
)

from dittoedu.widgets.studio import METHOD_LABELS

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
NOTEBOOK = "00_studio.ipynb"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: install it with "
                       "'apt-get install -y chromium' (./setup.sh --dev does, as root)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: "
                               "pip install -r requirements-dev.txt (./setup.sh --dev does)")

# a melody drawn with the mouse: [pitch, onset, duration] (C5 E5 G5 E5, then a long C5)
DRAWN = [[72, 0, 4], [76, 4, 4], [79, 8, 8], [76, 16, 8], [72, 24, 8]]
# an intensity curve: loud, a dip in the middle, loud again ((point, value) the mouse passes through)
CURVE = [(0, 0.9), (32, 0.1), (63, 0.9)]

SECONDS = {"kernel": 90, "run_all": 240, "take": 240, "voila_page": 300}

STATUS_JS = """(words) => {
  const s = document.querySelector('.ditto-studio-status [data-state]');
  return !!s && s.textContent.includes(words) && s.dataset.state !== 'busy';
}"""

OUTPUTS_JS = """() => {
  const img = (cls) => {
    const el = document.querySelector(cls);
    const im = el && (el.tagName === 'IMG' ? el : el.querySelector('img'));
    return im ? {width: im.naturalWidth, src: (im.getAttribute('src') || '').slice(0, 5)} : null;
  };
  const svg = document.querySelector('.ditto-studio-score svg');
  return {
    score_notes: svg ? svg.querySelectorAll('g.note').length : -1,
    roll: img('.ditto-studio-roll'),
    losses: img('.ditto-studio-losses'),
    targets: img('.ditto-studio-targets'),
    audio: document.querySelectorAll('.ditto-studio-audio audio').length,
    takes_in_menu: document.querySelectorAll('.ditto-studio select option').length,
    record_takes: document.querySelectorAll('.ditto-studio-record .ditto-studio-take').length,
    status: (document.querySelector('.ditto-studio-status') || {}).textContent || '',
  };
}"""


def model_path_for_tests() -> Path | None:
    """The shipped model, or while it is being trained, the training checkpoint (same format)."""
    from dittoedu.cli import DEFAULT_MODEL

    for path in (DEFAULT_MODEL, ROOT / "runs" / "base-default" / "checkpoint.safetensors"):
        if path.exists():
            return path
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A temporary copy of ``notebooks/`` (Jupyter's autosave writes into it) and a clean Jupyter home."""
    from dittoedu.cli import DEFAULT_MODEL

    model = model_path_for_tests()
    if model is None:
        pytest.fail("no model to generate with: dittoedu/weights/base.safetensors is missing")
    base = tmp_path_factory.mktemp("browser")
    shutil.copytree(ROOT / "notebooks", base / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if (ROOT / "data" / "examples").is_dir():
        shutil.copytree(ROOT / "data" / "examples", base / "data" / "examples")
    if model != DEFAULT_MODEL:  # the shipped model is not there yet: point the copy at the checkpoint
        path = base / "notebooks" / NOTEBOOK
        text = path.read_text()
        assert "Studio(bars=4, restore=True)" in text
        path.write_text(text.replace("Studio(bars=4, restore=True)",
                                     f"Studio(bars=4, restore=True, model_path={str(model)!r})"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = jupyter_env(base / "jupyter", DITTOEDU_FAST="1")
    return base, env


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(60_000)
    messages = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: messages.append(f"requestfailed: {r.url}"))
    yield page
    try:  # whatever happened, keep a picture of the end
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}_end.png"), full_page=True)
    except Exception:  # noqa: BLE001, S110 - a screenshot is a nice-to-have
        pass
    (ARTIFACTS / f"{request.node.name}_console.txt").write_text("\n".join(messages))
    page.close()


@pytest.fixture
def lab(site):
    base, env = site
    server, token = start_lab(base / "notebooks", base / "jupyter", ARTIFACTS / "jupyterlab.log", env)
    try:
        yield server, token
    finally:
        server.stop()


@pytest.fixture
def voila(site):
    base, env = site
    autosave = base / "notebooks" / "studio_autosave.json"
    autosave.unlink(missing_ok=True)  # a fresh student: nothing to restore from the JupyterLab test
    server, token = start_voila(base / "notebooks", ARTIFACTS / "voila.log", env)
    try:
        yield server, token
    finally:
        server.stop()


def shot(page, name: str, selector: str) -> None:
    """A screenshot of the window with ``selector`` scrolled into view, into test-artifacts/browser/."""
    page.locator(selector).first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / name))


def wait_status(page, words: str, seconds: float) -> str:
    """Wait until the Studio's status line holds ``words`` and is not busy; its text."""
    page.wait_for_function(STATUS_JS, arg=words, timeout=seconds * 1000, polling=500)
    return page.locator(".ditto-studio-status").first.inner_text()


def draw_melody(page) -> None:
    roll = page.locator(".ditto-studio .ditto-pianoroll canvas").first
    roll.scroll_into_view_if_needed()
    page.locator(".ditto-studio .ditto-pianoroll button", has_text="Clear").first.click()
    for note in DRAWN:
        draw_note(page, roll, *note)


def draw_intensity(page) -> None:
    curve = page.locator(".ditto-studio .ditto-curve canvas").first
    curve.scroll_into_view_if_needed()
    draw_curve(page, curve, CURVE)


def check_outputs(page, takes: int) -> dict:
    out = page.evaluate(OUTPUTS_JS)
    assert out["score_notes"] > 0, f"no engraved score (SVG notes) in the Studio: {out}"
    for name in ("roll", "losses", "targets"):
        assert out[name] and out[name]["width"] > 100, f"the {name} picture is missing: {out}"
    assert out["audio"] == 1, f"no audio player: {out}"
    assert out["takes_in_menu"] >= takes, f"the take menu should list {takes} takes: {out}"
    return out


def test_studio_in_jupyterlab(lab, page):
    server, token = lab
    t0 = time.monotonic()
    page.goto(f"{server.base}/lab/tree/{NOTEBOOK}?token={token}", wait_until="domcontentloaded")
    page.wait_for_function(KERNEL_READY_JS, timeout=SECONDS["kernel"] * 1000, polling=500)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    # the notebook generates a first take from "Ode to Joy" (DITTOEDU_FAST=1: 3 iterations)
    page.wait_for_function("() => document.querySelectorAll('.ditto-studio-record .ditto-studio-take').length >= 1",
                           timeout=SECONDS["run_all"] * 1000, polling=500)
    page.wait_for_function(KERNEL_READY_JS, timeout=60_000, polling=500)
    cells = page.evaluate(CELL_ERRORS_JS)
    assert not cells["errors"] and not cells["unrun"], cells
    wait_status(page, "Take 1 ready", 30)
    shot(page, "lab_1_after_run_all.png", ".ditto-studio-score")

    # the student draws with the mouse
    draw_melody(page)
    draw_intensity(page)
    code = ("import json; print(json.dumps({'notes': studio.melody.notes, 'curve': studio.intensity.values, "
            "'use': {k: b.value for k, b in studio.use.items()}}))")
    deadline = time.monotonic() + 20
    while True:  # the drawing reaches the kernel on pointer-up, a moment later
        got = json.loads(page.evaluate(KERNEL_EXEC_JS, code))
        if got["notes"] == DRAWN or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert got["notes"] == DRAWN, f"the kernel got {got['notes']}, the mouse drew {DRAWN}"
    curve = got["curve"]
    assert len(curve) == 64 and curve[0] > 0.7 and curve[-1] > 0.7 and min(curve[24:40]) < 0.3, curve
    assert got["use"]["melody"] and got["use"]["intensity"], "drawing should tick the widgets' use boxes"
    shot(page, "lab_2_drawn.png", ".ditto-studio .ditto-curve")

    page.locator(".ditto-studio-generate").first.click()
    status = wait_status(page, "Take 2 ready", SECONDS["take"])
    assert "melody of 5 notes (C5 E5 G5 E5 C5)" in status and "intensity curve" in status, status
    out = check_outputs(page, takes=2)
    # the static copy under the Studio (kept when the notebook is saved) holds both takes
    page.wait_for_function("() => document.querySelectorAll('.ditto-studio-record .ditto-studio-take').length >= 2",
                           timeout=30_000, polling=500)
    taken = json.loads(page.evaluate(KERNEL_EXEC_JS, (
        "import json; t = studio.takes[-1]; print(json.dumps({'n': len(studio.takes), 'asked': t.asked, "
        "'losses': sorted(t.loss_history), 'metrics': sorted(t.metrics)}))")))
    assert taken["n"] == 2 and taken["asked"]["melody"] == DRAWN
    assert taken["losses"] == ["chords", "intensity", "melody", "total"]  # chords: from the example cell
    assert taken["metrics"] == ["chords", "intensity", "melody"]
    shot(page, "lab_3_take2.png", ".ditto-studio-losses")
    shot(page, "lab_4_static_record.png", ".ditto-studio-record .ditto-studio-take")
    print(f"JupyterLab test: {time.monotonic() - t0:.0f} s; {out['status'][:200]}")


def test_studio_in_voila(voila, page):
    server, token = voila
    t0 = time.monotonic()
    page.goto(f"{server.base}/voila/render/{NOTEBOOK}?token={token}", wait_until="domcontentloaded",
              timeout=SECONDS["voila_page"] * 1000)
    # Voila runs every cell first, the notebook's own take included, then shows the widgets
    page.wait_for_selector(".ditto-studio-generate", timeout=SECONDS["voila_page"] * 1000)
    wait_status(page, "Take 1 ready", 60)
    shot(page, "voila_1_loaded.png", ".ditto-studio .ditto-pianoroll")

    draw_melody(page)
    page.wait_for_timeout(1000)  # the drawing reaches the kernel on pointer-up
    page.locator(".ditto-studio-generate").first.click()
    status = wait_status(page, "Take 2 ready", SECONDS["take"])
    # what the kernel received, as it reports it
    assert "melody of 5 notes (C5 E5 G5 E5 C5)" in status, status
    check_outputs(page, takes=2)
    shot(page, "voila_2_take2.png", ".ditto-studio-score")

    # Stop: a long run, stopped once the first iterations are done; the best result so far is kept.
    # Long: DITTO (eight network calls per iteration) with melody, chords and an intensity curve
    # (DITTO-2 met melody and chords in 11 iterations, a tenth of a second, before Stop was clicked)
    draw_intensity(page)
    page.locator(".ditto-studio-method select").first.select_option(label=METHOD_LABELS["ditto"])
    iterations = page.locator(".ditto-studio-iterations input").first
    iterations.fill("200")
    iterations.press("Enter")
    page.wait_for_timeout(500)
    page.locator(".ditto-studio-generate").first.click()
    page.wait_for_function("() => { const p = document.querySelector('.ditto-studio-status [data-state]');"
                           " return p && /iteration \\d+ of 200/.test(p.textContent); }",
                           timeout=SECONDS["take"] * 1000, polling=100)  # iterations can be 0.1 s apart
    page.locator(".ditto-studio-stop").first.click()
    status = wait_status(page, "Take 3 ready", 120)
    assert "stopped by the user after" in status, status
    check_outputs(page, takes=3)
    shot(page, "voila_3_stopped.png", ".ditto-studio-status")
    print(f"Voila test: {time.monotonic() - t0:.0f} s")
