"""Log lines as text or as one JSON object per line (``HOOKHUB_LOG_FORMAT``), each stamped with the
request and the job it belongs to (``-`` / null outside one)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime

#: The id of the web request being handled (set by the web layer, returned as ``X-Request-Id``).
REQUEST_ID: ContextVar[str | None] = ContextVar("hookhub_request_id", default=None)
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s [req %(request_id)s job %(job_id)s] %(name)s: %(message)s"


class ContextFilter(logging.Filter):
    """Stamps ``request_id`` and ``job_id`` on every record (``-`` when there is none); ``job_id``
    asks the given function, since only the worker knows its current job."""

    def __init__(self, job_id: Callable[[], str | None] | None = None) -> None:
        super().__init__()
        self.job_id = job_id

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        if not hasattr(record, "job_id"):
            record.job_id = (self.job_id() if self.job_id else None) or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, job_id,
    process, and the traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _or_none(getattr(record, "request_id", None)),
            "job_id": _or_none(getattr(record, "job_id", None)),
            "process": record.process,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


#: Libraries' loggers that say routine things at INFO: only their warnings reach the hub's lines
#: (Alembic announces each of its plugins every time a process imports it).
QUIET = {"alembic.runtime.plugins": logging.WARNING}


def formatter(fmt: str, text_format: str = TEXT_FORMAT) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}")
    return JsonFormatter() if fmt == "json" else logging.Formatter(text_format)


def configure(level: str | int, fmt: str, *, job_id: Callable[[], str | None] | None = None,
              filters: Iterable[logging.Filter] = (), text_format: str = TEXT_FORMAT) -> logging.Handler:
    """Send every log record of this process to stderr, in ``fmt``, from ``level`` up."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter(job_id))
    for extra in filters:
        handler.addFilter(extra)
    handler.setFormatter(formatter(fmt, text_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, quiet_level in QUIET.items():
        logging.getLogger(name).setLevel(quiet_level)
    return handler


def restyle(logger: logging.Logger, fmt: str, text_format: str | None = None) -> None:
    """Give the handlers a library set up on ``logger`` (gunicorn's) the hub's format and stamps."""
    for handler in logger.handlers:
        handler.addFilter(ContextFilter())
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
        elif text_format:
            handler.setFormatter(logging.Formatter(text_format))


def _or_none(value: object) -> object:
    return None if value in (None, "-") else value
