"""Time as the hub stores and shows it: timezone-aware UTC, ISO 8601 with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """``2026-03-23T15:30:00Z``, with milliseconds when there are any."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds" if dt.microsecond else "seconds")[:-6] + "Z"
