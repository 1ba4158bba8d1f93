"""The Studio's Python side, without a browser, with the real model.

Widget values are set the way the browser sets them (a traitlet assignment, as
``model.set(...); model.save_changes()`` does), and ``generate(block=True)`` is what the
*Generate* button runs. Iterations are kept to two or three: these tests check the flow, not the music.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dittoedu.roll import MusicInputError
from dittoedu.widgets import Studio, Take
from dittoedu.widgets.studio import describe_asked, metric_words

ROOT = Path(__file__).resolve().parent.parent
MELODY = [[72, 0, 4], [76, 4, 4], [79, 8, 8], [76, 16, 8], [72, 24, 8]]  # as the browser sends it
PNG = b"\x89PNG\r\n\x1a\n"


def model_path_for_tests() -> Path:
    """The shipped model, or while it is being trained, the training checkpoint (same format)."""
    from dittoedu.cli import DEFAULT_MODEL

    for path in (DEFAULT_MODEL, ROOT / "runs" / "base-default" / "checkpoint.safetensors"):
        if path.exists():
            return path
    pytest.fail("no model to generate with: dittoedu/weights/base.safetensors is missing")


@pytest.fixture(scope="module")
def model():
    from dittoedu.cli import load_default_model

    return load_default_model(model_path_for_tests())[0]


@pytest.fixture
def studio(model, tmp_path):
    s = Studio(bars=4, model=model, method="ditto", iterations=2, autosave=tmp_path / "studio_autosave.json")
    yield s
    s.close()


def draw(studio):
    """What a student does in the browser: a melody, chords, an intensity curve."""
    studio.melody.notes = MELODY
    studio.chords.chords = ["C", "G", "C", "C"]
    studio.intensity.values = list(np.concatenate([np.linspace(0.9, 0.1, 32), np.linspace(0.1, 0.9, 32)]))


def test_drawing_ticks_the_use_boxes(studio):
    assert [studio.use[n].value for n in ("melody", "chords", "intensity", "form")] == [True, True, False, False]
    studio.use["melody"].value = False
    draw(studio)
    studio.form.letters = ["A", "A", "B", "A"]
    assert all(studio.use[n].value for n in ("melody", "chords", "intensity", "form"))
    assert not studio.use["text"].value  # nothing typed
    asked, notes = studio.asked()
    assert asked["melody"][0].pitch == 72 and asked["chords"] == "C G C C" and asked["form"] == "AABA"
    assert asked["intensity"].shape == (64,) and not notes


def test_generate_stores_a_take_with_its_pictures_and_sound(studio):
    draw(studio)
    take = studio.generate(block=True)
    assert isinstance(take, Take), studio.status_text
    assert studio.takes == [take] and take.number == 1 and take.method == "ditto"
    # what was asked is what the browser sent
    assert take.asked["melody"] == MELODY and take.asked["chords"] == "C G C C"
    assert len(take.asked["intensity"]) == 64
    # the loss of every control at every iteration, and the metrics on the final notes
    history = take.loss_history
    assert set(history) == {"melody", "chords", "intensity", "total"}
    assert all(len(v) == take.result.iterations > 0 for v in history.values())
    assert set(take.metrics) == {"melody", "chords", "intensity"}
    assert 0 <= take.metrics["melody"]["accuracy"] <= 1
    # pictures, score, sound
    for png in (take.roll_png, take.losses_png, take.targets_png):
        assert png.startswith(PNG) and len(png) > 5000
    assert take.svg.lstrip().startswith("<svg") and 'class="note' in take.svg
    assert take.wave.ndim == 1 and take.wave.size > 16000 and np.abs(take.wave).max() > 0
    assert "<audio" in take.audio_html
    # ... shown in the Studio
    assert "<svg" in studio.score.value and studio.roll_image.value == take.roll_png
    assert studio.losses_image.value == take.losses_png and studio.targets_image.value == take.targets_png
    assert "<audio" in studio.player.value and "chord tones" in studio.metrics.value
    assert studio.progress.value == studio.progress.max and studio.progress.bar_style == "success"
    assert studio.status_text.startswith("Take 1 ready") and "melody of 5 notes (C5 E5 G5 E5 C5)" in studio.status_text
    assert "reached 2 iterations" in studio.status_text and "try 270 iterations" in studio.status_text  # melody 150, chords and intensity 60
    assert not studio.generate_button.disabled and studio.stop_button.disabled and not studio.running
    # ... and in the static output kept in the notebook
    bundle = studio._record_bundle()
    record = bundle["text/html"]
    assert record.count("class='ditto-studio-take'") == 1 and "<audio" in record and bundle["image/png"]
    assert record.count("<img") == 3 and "data:image/svg+xml;base64," in record  # score, roll + spectrogram, losses

    # a second take (no control ticked: plain sampling) is kept next to the first
    for box in studio.use.values():
        box.value = False
    second = studio.generate(block=True)
    assert second.method == "none" and "nothing to optimize" in studio.status_text
    assert [t.number for t in studio.takes] == [1, 2] and len(studio.take_menu.options) == 2
    assert studio.roll_image.value == second.roll_png
    studio.show_take(1)
    assert studio.roll_image.value == take.roll_png
    assert studio.comparison.value.count("<tr>") == 3  # header + two takes
    assert studio._record_bundle()["text/html"].count("class='ditto-studio-take'") == 2


def test_stop_button_ends_the_run_early_and_keeps_the_best(studio):
    studio.melody.notes = MELODY
    studio.iterations.value = 200
    thread = studio.generate(block=False)  # what the button does
    assert thread is not None and studio.running and not studio.stop_button.disabled
    deadline = time.monotonic() + 120
    while studio.progress.value < 1 and time.monotonic() < deadline:  # the first iteration is done
        time.sleep(0.05)
    assert studio.generate(block=False) is None and "Already generating" in studio.status_text
    studio.stop_button.click()
    take = studio.wait(timeout=120)
    assert take is not None, studio.status_text
    assert "stopped by the user" in take.stop_reason and take.result.iterations < 200
    assert len(take.loss_history["melody"]) == take.result.iterations
    assert not studio.running and not studio.generate_button.disabled


@pytest.mark.parametrize("chords, words", [
    (["C", "Hmaj7", "C", "C"], "Hmaj7"),  # a chord music21 cannot read
    (["C", "", "G", "C"], "bar 2 has no chord yet"),  # a bar left empty
])
def test_bad_input_keeps_the_drawings_and_says_why(studio, chords, words):
    studio.melody.notes = MELODY
    studio.chords.chords = chords  # as the browser sends it: the widget keeps it and shows its problem
    studio.intensity.values = [0.2] * 64
    before = studio.state()
    assert studio.generate(block=True) is None
    assert words in studio.status_text and studio.status_text.startswith("chords:")
    assert "data-state='error'" in studio.status.value
    assert studio.takes == [] and not studio.running and not studio.generate_button.disabled
    after = studio.state()
    assert {k: v for k, v in after.items() if k != "saved_at"} == {k: v for k, v in before.items() if k != "saved_at"}
    assert studio.melody.notes == MELODY and studio.chords.chords == chords
    # fixing the chord is all it takes
    studio.chords.set_chords("C G C C")
    studio.use["intensity"].value = False  # (quicker)
    studio.iterations.value = 1
    assert studio.generate(block=True) is not None


def test_save_and_load_round_trip(studio, model, tmp_path):
    draw(studio)
    studio.form.letters = ["A", "B", "A", "B"]
    studio.chords.key = "G"
    studio.method.value = "best_of_n"
    studio.iterations.value = 7
    studio.seed.value = 42
    path = studio.save(tmp_path / "mine.json")
    data = json.loads(path.read_text())
    assert data["widget"] == "Studio" and data["melody"]["notes"] == MELODY and data["form"]["letters"] == list("ABAB")

    again = Studio.load(path, model=model, autosave=False)
    def strip(state):
        return {k: v for k, v in state.items() if k != "saved_at"}

    assert strip(again.state()) == strip(studio.state())
    assert again.method.value == "best_of_n" and again.seed.value == 42 and again.use["form"].value
    # restore() refills a Studio already on screen
    fresh = Studio(model=model, autosave=False)
    fresh.restore(path)
    assert strip(fresh.state()) == strip(studio.state())
    for s in (again, fresh):
        s.close()
    with pytest.raises(MusicInputError, match="not a saved Studio"):
        Studio.load(studio.melody.save(tmp_path / "melody.json"), autosave=False)
    with pytest.raises(MusicInputError, match="there is no file"):
        Studio.load(tmp_path / "nope.json", autosave=False)


def test_autosave_survives_a_failed_generation_and_a_kernel_restart(studio, tmp_path):
    autosave = tmp_path / "studio_autosave.json"
    assert not autosave.exists()  # nothing is written until the student changes something
    studio.melody.notes = MELODY  # each change is saved at once
    studio.chords.chords = ["C", "Hmaj7", "", ""]
    assert json.loads(autosave.read_text())["melody"]["notes"] == MELODY
    assert studio.generate(block=True) is None  # a failed generation loses nothing

    # a kernel restart: a new Python process opens the notebook again
    code = (f"import json; from dittoedu.widgets import Studio; s = Studio(restore=True, autosave={str(autosave)!r}); "
            "print(json.dumps({'notes': s.melody.notes, 'chords': s.chords.chords, 'error': s.chords.error, "
            "'status': s.status_text}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         check=False)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["notes"] == MELODY and got["chords"] == ["C", "Hmaj7", "", ""]
    assert "Hmaj7" in got["error"] and got["status"].startswith("Restored your work from studio_autosave.json")


def test_restore_with_nothing_saved_starts_fresh(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default autosave lives next to the notebook: the current folder
    s = Studio(restore=True)
    assert s.autosave_path == tmp_path / "studio_autosave.json" and s.melody.notes == []
    assert "Nothing autosaved yet" in s.status_text
    (tmp_path / "studio_autosave.json").write_text("{not json")
    broken = Studio(restore=True)
    assert broken.status_text.startswith("Could not restore") and broken.melody.notes == []
    for w in (s, broken):
        w.close()


def test_without_a_surrogate_ditto2_falls_back_to_ditto(tmp_path):
    s = Studio(surrogate=tmp_path / "missing.safetensors", method="ditto2", autosave=False)
    assert s.method.value == "ditto" and "ditto2" not in dict(s.method.options).values()
    assert "DITTO-2 needs the distilled model" in s.status_text
    s.close()
    with pytest.raises(MusicInputError, match="not one the Studio knows"):
        Studio(method="magic", autosave=False)


def test_a_missing_model_is_reported_in_the_status_line(tmp_path):
    s = Studio(model_path=tmp_path / "no_model.safetensors", iterations=1, autosave=False)
    s.melody.notes = MELODY
    assert s.generate(block=True) is None
    assert "no model at" in s.status_text and s.melody.notes == MELODY and not s.running
    s.close()


def test_ditto2_with_the_shipped_surrogate(model, tmp_path):
    from dittoedu.cli import DEFAULT_SURROGATE

    if not DEFAULT_SURROGATE.exists():
        pytest.skip(f"no distilled model at {DEFAULT_SURROGATE} yet")
    s = Studio(model=model, iterations=2, autosave=False)
    assert s.method.value == "ditto2"
    s.melody.notes = MELODY
    take = s.generate(block=True)
    assert take is not None and take.method == "ditto2", s.status_text
    s.close()


def test_words():
    assert metric_words("chords", {"chord_tone_ratio": 0.5, "bass_ratio": 1.0}) == "chords 50% chord tones, bass 100%"
    assert metric_words("structure", {"ssm_mse": 0.0123}) == "form off by 0.012 (self-similarity MSE)"
    assert describe_asked({"melody": [[60 + i, i, 1] for i in range(10)]}).endswith("F#4 G4 ...)")


def test_text_prompt_is_followed_saved_and_kept_on_errors(studio, tmp_path):
    studio.text.value = "a sad chorale in a low register"  # typing and pressing Enter
    assert studio.use["text"].value
    studio.use["melody"].value = studio.use["chords"].value = False
    take = studio.generate()
    assert take is not None, studio.last_error
    m = take.metrics["text"]
    assert set(m["attributes"]) == {"mode", "register"} and -1 <= m["similarity"] <= 1
    assert "text" in metric_words("text", m) and "attributes" in metric_words("text", m)
    assert take.asked["text"] == "a sad chorale in a low register"
    # a prompt the model cannot read is reported, and the prompt stays as typed
    studio.text.value = "happy and sad"
    assert studio.generate() is None and "both 'major' and 'minor'" in studio.last_error
    assert studio.text.value == "happy and sad"
    again = Studio.load(studio.save(tmp_path / "s.json"), model=studio._model, autosave=False)
    assert again.text.value == "happy and sad" and again.use["text"].value
    again.close()
