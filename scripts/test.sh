#!/usr/bin/env bash
# Install, lint and run the whole test suite: the quick tests first, then the slow ones (pyproject.toml's markers).
# With arguments (files, -k ...), one run of the selected tests, slow or not.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest -m "slow or not slow" "$@"
fi
.venv/bin/python -m pytest
.venv/bin/python -m pytest -m slow
