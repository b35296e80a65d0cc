#!/usr/bin/env bash
# The main job: install, ingest the knowledge base (the shipped sample unless KNOWLEDGE_SOURCES is set),
# then chat: Telegram when TELEGRAM_BOT_TOKEN is set, a console in this terminal otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/python ingest.py
exec .venv/bin/python -m bot
