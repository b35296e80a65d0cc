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
        if record.exc_info or record.exc_text:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


MIN_SECRET_CHARS = 8  # shorter values are words ("x" would star every x in every line and so reveal itself)


class Redactor:
    """Replaces each configured secret with *** in any text: log lines, tracebacks, and what the bot says."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """`text` with every secret starred out."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


class Redact(logging.Filter):
    """Stars secrets out of a record's message and traceback: at DEBUG, PTB logs the Bot API URL, token included,
    and an LLM server's 401 may quote the key it refused."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record; rewrites its message and exception text when a secret is in them."""
        message = record.getMessage()
        if (clean := self.redact(message)) != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            # Formatters print exc_text when it is set: format the traceback once here, redacted.
            record.exc_text = self.redact(record.exc_text or logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def secret_settings(settings: Settings) -> dict[str, str]:
    """Name -> value of every secret setting that is set (any SecretStr field, present or future)."""
    return {
        name: value.get_secret_value()
        for name, value in vars(settings).items()
        if isinstance(value, SecretStr) and value.get_secret_value()
    }


def setup_logging(settings: Settings) -> None:
    """Log at LOG_LEVEL in LOG_FORMAT, secrets redacted; httpx quiet because Telegram URLs carry the bot token."""
    handler = logging.StreamHandler()
    handler.setLevel(
        settings.log_level
    )  # a library that sets its own logger to DEBUG when imported (bm25s) stays quiet
    handler.addFilter(Redact(list(secret_settings(settings).values())))
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    # The handler filters too: a library that sets its own logger to DEBUG when imported (bm25s, after this runs)
    # would otherwise print a line per index build into the console chat.
    handler.setLevel(settings.log_level)
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name, value in secret_settings(settings).items():
        if len(value) < MIN_SECRET_CHARS:
            logging.getLogger(__name__).warning(
                "%s is only %d characters long: too short to be a real secret, so it is not redacted from logs",
                name.upper(),
                len(value),
            )
