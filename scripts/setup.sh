#!/usr/bin/env bash
# Create .venv and install exactly the locked dependency set (requirements.lock) and the project; safe to run again.
# Regenerate the lock after editing pyproject.toml's dependencies with scripts/lock.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip uv
# --compile-bytecode: write .pyc files now, so no command recompiles its imports on every start
# (with PYTHONDONTWRITEBYTECODE set, Python would otherwise compile chromadb & co. from source each time).
.venv/bin/uv pip sync --quiet --python .venv/bin/python --compile-bytecode requirements.lock
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps --compile-bytecode -e .
