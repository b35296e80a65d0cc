"""Logging set-up: one line per event, readable text or JSON (`LOG_FORMAT=json`) for a log collector."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from pydantic import SecretStr

from knowledge.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: ts, level, logger, msg, the `extra` fields, and exc for a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry |= {key: value for key, value in vars(record).items() if key not in _STANDARD}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class Redact(logging.Filter):
    """Replaces each secret in a record's message with ***: at DEBUG, PTB logs the Bot API URL, token included."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record; rewrites its message when a secret is in it."""
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def secret_values(settings: Settings) -> list[str]:
    """The values of every secret setting that is set (any SecretStr field, present or future)."""
    return [value.get_secret_value() for value in vars(settings).values() if isinstance(value, SecretStr)]


def setup_logging(settings: Settings) -> None:
    """Log at LOG_LEVEL in LOG_FORMAT, secrets redacted; httpx quiet because Telegram URLs carry the bot token."""
    handler = logging.StreamHandler()
    handler.addFilter(Redact(secret_values(settings)))
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # sets itself to DEBUG: a line per index build
