#!/usr/bin/env bash
# Resolve pyproject.toml's dependencies (with the dev extra) into requirements.lock, for every platform.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o requirements.lock --custom-compile-command scripts/lock.sh "$@"
