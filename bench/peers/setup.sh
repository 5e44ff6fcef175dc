#!/usr/bin/env bash
# Create bench/peers/.venv (Chainlit and its driver) from PyPI, apart from the project's venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
# Stamp it so that make reinstalls only when the requirements change.
cp "$here/requirements.txt" "$venv/.installed"
# importlib.metadata, not an import: importing chainlit writes a .chainlit/ config into the current directory.
"$venv/bin/python" -c "from importlib.metadata import version; print('chainlit', version('chainlit'))"
