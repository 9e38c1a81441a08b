"""Every error the hub answers, in one place: ``{"error": {"code", "message"}}`` with its status.

No traceback ever reaches a client: unexpected exceptions become 500 ``internal_error`` and are
logged with their traceback on the server. The hook endpoint, which answers outside Flask's request
machinery (``hub.web.hook_endpoint``), builds its answers here too, handing the app's JSON provider
in place of ``current_app``'s."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app
from flask.json.provider import JSONProvider
from werkzeug.exceptions import HTTPException

from hub.core.errors import HookhubError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "validation_error", 429: "rate_limited", 503: "unavailable",
}


def _json(provider: JSONProvider | None) -> JSONProvider:
    return provider if provider is not None else current_app.json


def error_response(status: int, code: str, message: str, *, provider: JSONProvider | None = None,
                   **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    response = _json(provider).response({"error": body})     # what jsonify() makes
    response.status_code = status
    return response


def handle_hookhub_error(exc: HookhubError, provider: JSONProvider | None = None) -> Response:
    body = exc.to_dict()["error"]
    response = _json(provider).response({"error": body})
    response.status_code = exc.status
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return response


def handle_http_exception(exc: HTTPException, provider: JSONProvider | None = None) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    if status == 422 and "messages" in data:
        fields = _flatten_locations(data["messages"])
        names = ", ".join(sorted(fields)) or "the body"
        return error_response(422, "validation_error", f"invalid value for: {names}", provider=provider, fields=fields)
    if status >= 500:
        return error_response(status, "internal_error" if status == 500 else _HTTP_CODES.get(status, "error"),
                              "the server could not complete the request" if status == 500 else exc.description,
                              provider=provider)
    code = _HTTP_CODES.get(status, "error")
    message = data.get("message") or exc.description or exc.name
    response = error_response(status, code, message, provider=provider)
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def handle_unexpected(exc: BaseException, provider: JSONProvider | None = None) -> Response:
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc, provider)
    log.error("unhandled error", exc_info=exc)     # exc_info: also outside the except block that caught it
    return error_response(500, "internal_error", "the server could not complete the request", provider=provider)


def _flatten_locations(messages: Any) -> dict[str, Any]:
    """webargs nests messages per location (``json``, ``query``…); clients want field names."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    out: dict[str, Any] = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            out.update(errors)
        else:
            out[location] = errors
    return out


def init_app(app: Flask) -> None:
    app.register_error_handler(HookhubError, handle_hookhub_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
