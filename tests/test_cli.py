"""The dittoedu command: demo, generate, and its errors."""

import json

import pytest
import torch

from dittoedu import cli, roll as R
from dittoedu.nets import UNet1d
from dittoedu.train import PRESETS, save_weights

FILES = {"score.svg", "score.musicxml", "score.mid", "audio.wav", "figure.png"}


def test_demo_writes_everything(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["demo", "--out", str(out), "--bars", "2"]) == 0
    assert {p.name for p in out.iterdir()} == FILES
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "score.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    piece = R.load(out / "score.mid")
    assert piece.time_signature == "3/4"  # bwv269 is in 3/4: 2 bars = 24 steps
    assert 0 < len(piece.notes) and max(n.end for n in piece.notes) <= 24
    assert R.load(out / "score.musicxml").notes == piece.notes
    assert "figure.png" in capsys.readouterr().out


def test_demo_bad_chorale_says_so(tmp_path, capsys):
    assert cli.main(["demo", "--chorale", "bach/nope", "--out", str(tmp_path / "o")]) == 2
    assert "no piece called 'bach/nope'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory):
    """A tiny, untrained model: enough to check the command's contract, not its music."""
    torch.manual_seed(0)
    config = PRESETS["tiny"]
    return save_weights(UNet1d(config.net), config, tmp_path_factory.mktemp("m") / "tiny.safetensors")


def test_generate_contract(tmp_path, untrained_model):
    out = tmp_path / "gen"
    args = ["generate", "--method", "none", "--bars", "2", "--seed", "3", "--steps", "4",
            "--model", str(untrained_model), "--out", str(out)]
    assert cli.main(args) == 0
    assert FILES | {"result.json"} == {p.name for p in out.iterdir()}
    result = json.loads((out / "result.json").read_text())
    for key in ["method", "seed", "bars", "timings", "controls", "quality", "loss_history"]:
        assert key in result
    assert result["seed"] == 3 and result["bars"] == 2 and result["method"] == "none"
    assert result["sampler"] == "stochastic" and result["sampler_steps"] == 4  # plain sampling: EDM's, fresh noise
    assert set(result["timings"]) >= {"optimize_s", "decode_s", "total_s"}
    assert "key_fit" in result["quality"] and "relative_difference_to_corpus" in result["quality"]
    # the same seed gives the same music
    out2 = tmp_path / "gen2"
    assert cli.main(args[:-1] + [str(out2)]) == 0
    assert (out / "score.mid").read_bytes() == (out2 / "score.mid").read_bytes()  # (an untrained model may write no notes)
    assert json.loads((out2 / "result.json").read_text())["quality"] == result["quality"]


@pytest.mark.parametrize("flags, message", [
    (["--bars", "0"], "--bars must be between 1 and 16"),
    (["--bars", "40"], "--bars must be between 1 and 16"),
    (["--steps", "0"], "--steps must be between 1 and 200"),
    (["--model", "/nonexistent/model.safetensors"], "no model at"),
])
def test_generate_bad_flags(tmp_path, capsys, untrained_model, flags, message):
    args = ["generate", "--out", str(tmp_path / "o")]
    if "--model" not in flags:
        args += ["--model", str(untrained_model)]
    assert cli.main(args + flags) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_generate_with_controls(tmp_path, untrained_model):
    out = tmp_path / "ctl"
    args = ["generate", "--melody", "4/4 g'4 e' c'2", "--chords", "C", "--bars", "1", "--iters", "3", "--method", "ditto",
            "--steps", "2", "--model", str(untrained_model), "--out", str(out)]
    assert cli.main(args) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["method"] == "ditto" and set(result["controls"]) == {"melody", "chords"}
    mel = result["controls"]["melody"]
    assert mel["target"][:4] == [79, 79, 79, 79] and 0 <= mel["accuracy"] <= 1 and "pc_accuracy" in mel
    assert len(result["loss_history"]["melody"]) == result["iterations"] <= 3


@pytest.mark.parametrize("flags, budget", [(["--chords", "C"], 60), (["--chords", "C", "--form", "A"], 210)])
def test_generate_gives_each_control_its_iterations(tmp_path, untrained_model, flags, budget):
    """Controls share each step, so the default budget is summed over them: 60 for chords, 150 for a form
    (as DITTO's paper); best-of-N uses it all."""
    out = tmp_path / "n"
    args = ["generate", *flags, "--bars", "1", "--method", "best_of_n", "--steps", "1", "--model", str(untrained_model),
            "--out", str(out)]
    assert cli.main(args) == 0
    assert json.loads((out / "result.json").read_text())["iterations"] == budget


def test_generate_with_text_reports_similarity_and_attributes(tmp_path, untrained_model):
    out = tmp_path / "txt"
    args = ["generate", "--text", "a gloomy chorale, low, lyrical", "--chords", "Am", "--bars", "1", "--iters", "2",
            "--method", "ditto", "--steps", "2", "--model", str(untrained_model), "--out", str(out)]
    assert cli.main(args) == 0
    result = json.loads((out / "result.json").read_text())
    text = result["controls"]["text"]
    assert text["target"] == {"prompt": "a gloomy chorale, low, lyrical", "attributes": {"mode": "minor", "register": "low"}}
    assert -1 <= text["similarity"] <= 1 and set(text["attributes"]) == {"mode", "register"}
    assert text["attributes_met"] in (0, 0.5, 1) and text["unknown_words"] == ["lyrical"]
    assert any("'lyrical'" in n for n in result["notes"])


@pytest.mark.parametrize("flags, message", [
    (["--text", "some smooth jazz"], "names nothing the text model knows"),
    (["--text", "happy and sad"], "both 'major' and 'minor'"),
    (["--chords", "C Hmaj7 Am F"], "try 'Bmaj7'"),
    (["--form", "AXBA"], "is not a section letter"),
    (["--intensity", "0.2,nan"], "NaN"),
    (["--melody", "4/4 c1 d e f g"], "raise --bars"),
    (["--inpaint", "4/4 c4 d e f", "--keep", "0:64"], "nothing left to generate"),
])
def test_generate_bad_controls(tmp_path, capsys, untrained_model, flags, message):
    args = ["generate", "--out", str(tmp_path / "o"), "--model", str(untrained_model)] + flags
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_jump_phase_needs_a_distillation_to_start_from(tmp_path, capsys):
    args = ["distill", "--kind", "ctm", "--preset", "jump", "--run-dir", str(tmp_path / "run")]
    assert cli.main(args) == 2
    assert "--preset jump refines a finished distillation: pass --init" in capsys.readouterr().err
    assert cli.main(args + ["--init", str(tmp_path / "missing.safetensors")]) == 2
    assert "no distilled checkpoint at" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_student_needs_a_block_per_level(tmp_path, capsys):
    args = ["distill", "--kind", "ctm", "--preset", "tiny", "--blocks", "0", "--run-dir", str(tmp_path / "run")]
    assert cli.main(args) == 2
    assert "--blocks 0: a student needs at least one residual block per level" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
