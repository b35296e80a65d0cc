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
# One worker per core (pytest-xdist); a file's tests stay on one worker so its ingested indexes are built once.
.venv/bin/python -m pytest -n auto --dist loadfile
.venv/bin/python -m pytest -m slow
