#!/usr/bin/env bash
# Set up dittoedu in .venv/ (Python 3.11): pinned packages, the package itself, the chorale cache.
#   ./setup.sh          everything needed to use dittoedu
#   ./setup.sh --dev    ... plus what the tests need
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 11), "dittoedu needs Python 3.11 or newer"'

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

echo "==> installing pinned packages (the first time downloads torch, about 2.6 GB)"
"${PIP[@]}" -r requirements.txt
if [ "${1:-}" = "--dev" ]; then
    "${PIP[@]}" -r requirements-dev.txt
fi
"${PIP[@]}" --no-deps -e .

echo "==> building the chorale cache (once, about a minute)"
.venv/bin/dittoedu corpus
echo "==> dittoedu is ready: .venv/bin/dittoedu --help"
