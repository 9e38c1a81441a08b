"""Every web request gets an id: the caller's ``X-Request-Id`` when it is a sane token (a proxy in
front may set one), else a new one. It stamps every log line the request causes and is answered
as ``X-Request-Id``, so a sender's or admin's report can be found in the logs.

A WSGI middleware around the whole app, so the hook endpoint (which bypasses Flask) has it too."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from hub.core.logs import REQUEST_ID

HEADER = "X-Request-Id"
SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id(offered: str | None) -> str:
    """The caller's id when it is a sane token, else a new random one."""
    if offered and SANE.fullmatch(offered):
        return offered
    return "req_" + secrets.token_hex(8)


def wrap(wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def with_request_id(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        token = REQUEST_ID.set(rid)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((HEADER, rid))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            return wsgi_app(environ, start)
        finally:
            REQUEST_ID.reset(token)

    return with_request_id


def init_app(app: Flask) -> None:
    """Call last: it wraps whatever ``app.wsgi_app`` is by then."""
    app.wsgi_app = wrap(app.wsgi_app)  # type: ignore[method-assign]
