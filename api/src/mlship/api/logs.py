"""JSON logs, one object per line, carrying the request ID of the request being served."""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mlship_request_id", default=None
)

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def log_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service and uvicorn (also used by workers)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "mlship.api.logs.JsonFormatter"}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": "WARNING"},
        "loggers": {
            "mlship": {"level": level.upper(), "handlers": ["default"], "propagate": False},
            "uvicorn": {"level": level.upper(), "handlers": ["default"], "propagate": False},
            # The service writes its own access log (JSON, with the route and request ID).
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }
