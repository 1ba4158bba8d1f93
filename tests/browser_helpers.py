"""Helpers for the real-browser tests (``tests/test_browser.py``): servers, Chromium, the mouse on a canvas.

Everything here is bounded in time and cleans up after itself: a server is started in its own
process group and that group is ended when the test is done, whatever happened.
See ``ENVIRONMENT.md`` ("Real browser tests") for why each flag is there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# geometry of the canvases, from dittoedu/widgets/static/piano_roll.js and curve.js
ROLL_LABEL_W, ROLL_HEAD_H, ROLL_CELL_H = 38, 18, 13
CURVE_PAD = {"left": 48, "right": 10, "top": 22, "bottom": 20}
CURVE_PLOT_H = 150


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_env(home: Path, **extra) -> dict:
    """An environment whose Jupyter sees only a ``python3`` kernel on this Python, and no user settings."""
    env = dict(os.environ)
    for name in ("data", "config", "runtime"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update(JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
               JUPYTER_PLATFORM_DIRS="0", PYTHONUNBUFFERED="1")
    env.pop("JUPYTER_PATH", None)
    env.pop("MPLBACKEND", None)  # the kernel's inline backend shows the figures
    spec = home / "data" / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    env.update(extra)
    return env


def lab_settings(settings_dir: Path) -> Path:
    """User settings that keep JupyterLab quiet: no news, no update check."""
    path = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return settings_dir


class Server:
    """A server process (JupyterLab or Voila) in its own process group; :meth:`stop` ends the group."""

    def __init__(self, cmd: list[str], *, url: str, env: dict, cwd: Path, log: Path, timeout: float = 90):
        self.url, self.log_path = url, log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as reply:
                    if reply.status < 500:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the server did not answer {url} within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """End the server and everything it started (its kernels, which run in their own process
        groups), politely then firmly."""
        import psutil  # comes with ipykernel

        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        _, alive = psutil.wait_procs(children, timeout=5)
        for child in alive:  # a kernel the server did not shut down
            try:
                child.kill()
            except psutil.Error:
                pass
        self._log.close()


def start_lab(root: Path, home: Path, log: Path, env: dict) -> tuple[Server, str]:
    """JupyterLab serving ``root`` on 127.0.0.1; returns the server and the token."""
    port, token = free_port(), "dittoedu-test-token"
    settings = lab_settings(home / "lab-settings")
    workspaces = home / "lab-workspaces"
    workspaces.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
           f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={workspaces}",
           f"--LabApp.user_settings_dir={settings}", "--ServerApp.open_browser=False"]
    server = Server(cmd, url=f"http://127.0.0.1:{port}/api/status?token={token}", env=env, cwd=root, log=log)
    server.base = f"http://127.0.0.1:{port}"
    return server, token


def start_voila(root: Path, log: Path, env: dict) -> tuple[Server, str]:
    """Voila serving the notebooks of ``root`` on 127.0.0.1; returns the server and the token."""
    port, token = free_port(), "dittoedu-test-token"
    voila = shutil.which("voila", path=str(Path(sys.executable).parent)) or "voila"
    cmd = [voila, str(root), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1", f"--token={token}"]
    server = Server(cmd, url=f"http://127.0.0.1:{port}/?token={token}", env=env, cwd=root, log=log)
    server.base = f"http://127.0.0.1:{port}"
    return server, token


# ---------------------------------------------------------------------------------------------
# the mouse on the drawing widgets


def roll_point(box: dict, pitch: int, step: float, *, low: int = 60, high: int = 83, n_steps: int = 64):
    """Page coordinates of the middle of cell (``pitch``, ``step``) of a PianoRollDrawer canvas."""
    cell_w = max(7, min(22, 880 // n_steps))
    width = ROLL_LABEL_W + n_steps * cell_w + 1
    height = ROLL_HEAD_H + (high - low + 1) * ROLL_CELL_H + 1
    x = ROLL_LABEL_W + (step + 0.5) * cell_w
    y = ROLL_HEAD_H + (high - pitch + 0.5) * ROLL_CELL_H
    return box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height


def draw_note(page, canvas, pitch: int, onset: int, duration: int, **geometry) -> None:
    """Press on the note's first cell, drag to its last one, release: as a student draws a note."""
    box = canvas.bounding_box()
    page.mouse.move(*roll_point(box, pitch, onset, **geometry))
    page.mouse.down()
    page.mouse.move(*roll_point(box, pitch, onset + duration - 1, **geometry), steps=max(2, duration))
    page.mouse.up()


def curve_point(box: dict, i: float, value: float, *, points: int = 64):
    """Page coordinates of point ``i`` at height ``value`` (0..1) on a CurveDrawer canvas."""
    plot_w = max(360, min(720, points * 10))
    width = CURVE_PAD["left"] + plot_w + CURVE_PAD["right"]
    height = CURVE_PAD["top"] + CURVE_PLOT_H + CURVE_PAD["bottom"]
    x = CURVE_PAD["left"] + (i + 0.5) * plot_w / points
    y = CURVE_PAD["top"] + (1 - value) * CURVE_PLOT_H
    return box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height


def draw_curve(page, canvas, knots: list[tuple[float, float]], *, points: int = 64) -> None:
    """One stroke through ``knots`` ``[(i, value), ...]`` with the mouse held down."""
    box = canvas.bounding_box()
    page.mouse.move(*curve_point(box, *knots[0], points=points))
    page.mouse.down()
    for i, v in knots[1:]:
        page.mouse.move(*curve_point(box, i, v, points=points), steps=12)
    page.mouse.up()


# JavaScript run in JupyterLab's page (window.jupyterapp exists with expose_app_in_browser)
KERNEL_READY_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""

KERNEL_EXEC_JS = """async (code) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = k.requestExecute({code, silent: false, store_history: false});
  let out = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += 'ERROR ' + msg.content.ename + ': ' + msg.content.evalue;
  };
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no reply in 60 s')), 60000));
  await Promise.race([future.done, timeout]);
  return out;
}"""

CELL_ERRORS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  const errors = [], unrun = [];
  nb.widgets.forEach((cell, i) => {
    if (cell.model.type !== 'code') return;
    if (cell.model.executionCount === null) unrun.push(i);
    const outs = cell.model.outputs;
    for (let j = 0; j < outs.length; j++) {
      const o = outs.get(j).toJSON();
      if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
    }
  });
  return {errors, unrun};
}"""
