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
    # the real-browser tests drive Debian's Chromium (playwright's own browser download is not used)
    if [ ! -x /usr/bin/chromium ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "==> installing chromium for the browser tests (apt-get)"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
        else
            echo "==> note: /usr/bin/chromium is missing and this is not root with apt-get;" \
                 "the browser tests will be skipped (install it with: sudo apt-get install -y chromium)"
        fi
    fi
fi
"${PIP[@]}" --no-deps -e .

echo "==> building the chorale cache (once, about a minute)"
.venv/bin/dittoedu corpus
echo "==> dittoedu is ready: .venv/bin/dittoedu --help"
