"""Service-level errors: values with a code, mapped to HTTP by ``hub.errors``."""

from __future__ import annotations

from typing import Any

from hub.plugin import ConfigInvalid, HookhubError


class NotFound(HookhubError):
    code = "not_found"
    status = 404


class Forbidden(HookhubError):
    code = "forbidden"
    status = 403


class Unauthorized(HookhubError):
    code = "unauthorized"
    status = 401


class Conflict(HookhubError):
    code = "conflict"
    status = 409


class Unavailable(HookhubError):
    code = "unavailable"
    status = 503


def invalid(fields: dict[str, Any], message: str | None = None) -> ConfigInvalid:
    """A ``validation_error`` naming each bad field."""
    names = ", ".join(sorted(fields))
    return ConfigInvalid(message or f"invalid value for: {names}", fields)
