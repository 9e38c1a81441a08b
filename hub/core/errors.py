"""Errors as values with a code: each failure class has a stable machine-readable ``code`` and the
HTTP status it maps to (``hub.web.errors`` turns them into ``{"error": {"code", "message"}}``).

The public plugin API re-exports the ones a plugin raises (``hub.plugin``); the core imports them
from here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class HookhubError(Exception):
    """An error with a stable machine-readable ``code`` and the HTTP status it maps to."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class PluginError(HookhubError):
    """A plugin is missing, misspelt, or registered something invalid."""

    code = "plugin_error"
    status = 500


class ConfigInvalid(HookhubError):
    """A plugin refuses a connection's configuration (``fields`` names each bad field)."""

    code = "validation_error"
    status = 422

    def __init__(self, message: str, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["fields"] = self.fields
        return body


class SignatureInvalid(HookhubError):
    """The request's signature is missing, malformed or does not match."""

    code = "signature_invalid"
    status = 401


class TimestampOutOfWindow(HookhubError):
    """The signed timestamp is missing, unreadable, too old or too far in the future."""

    code = "timestamp_out_of_window"
    status = 401


class InvalidPayload(HookhubError):
    """The body cannot be parsed as its declared content type."""

    code = "invalid_payload"
    status = 400


class PayloadTooLarge(HookhubError):
    """The body is over the connection's size limit."""

    code = "payload_too_large"
    status = 413


class RateLimited(HookhubError):
    """Too many requests; ``retry_after`` says in how many seconds to try again."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(HookhubError):
    """An outbound send that must not be retried (the channel says why)."""

    code = "permanent_failure"
    status = 400


class NotFound(HookhubError):
    """No such object in the caller's workspace (another workspace's objects are not found either)."""

    code = "not_found"
    status = 404


class Forbidden(HookhubError):
    """The caller is known but may not do this."""

    code = "forbidden"
    status = 403


class Unauthorized(HookhubError):
    """No credentials, or credentials that are not valid."""

    code = "unauthorized"
    status = 401


class Conflict(HookhubError):
    """The object is not in a state that allows this (already decided, already running…)."""

    code = "conflict"
    status = 409


class Unavailable(HookhubError):
    """Storage or Redis is away: the caller should retry later."""

    code = "unavailable"
    status = 503


def invalid(fields: dict[str, Any], message: str | None = None) -> ConfigInvalid:
    """A ``validation_error`` naming each bad field."""
    names = ", ".join(sorted(fields))
    return ConfigInvalid(message or f"invalid value for: {names}", fields)
