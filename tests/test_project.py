"""The project's own files: pins agree, the package is importable, the layout the users asked for exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pins(text):
    return dict(re.findall(r"^\s*-?\s*([A-Za-z0-9_.-]+)==([^\s#]+)", text, flags=re.M))


def test_environment_yml_has_the_same_pins_as_requirements():
    req = pins((ROOT / "requirements.txt").read_text()) | pins((ROOT / "requirements-dev.txt").read_text())
    env = pins((ROOT / "environment.yml").read_text())
    assert req == env
    assert req["torch"] == req["torchaudio"] == "2.11.0"


def test_layout():
    for name in ["dittoedu", "notebooks", "lessons", "data", "tests", "environment.yml", "README.md", ".ci/run",
                 "pyproject.toml", "setup.sh"]:
        assert (ROOT / name).exists(), name
    assert "setup.sh --dev" in (ROOT / ".ci/run").read_text()


def test_readme_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    assert ci in readme, "the README's test command and .ci/run must be the same"
