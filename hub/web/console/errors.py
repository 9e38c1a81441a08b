"""The console's error pages (rendered in its layout, never a traceback) and the headers every
console response carries. The API keeps its JSON errors: these handlers belong to the blueprint."""

from __future__ import annotations

import logging

from flask import render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from hub.core.errors import HookhubError
from hub.web.console.blueprint import bp

log = logging.getLogger(__name__)

TITLES = {400: "The request could not be accepted", 401: "Sign-in needed", 403: "Not allowed",
          404: "Page not found", 405: "Not possible here", 409: "Not possible now",
          413: "Too large", 422: "Check the values", 429: "Too many attempts",
          500: "Something went wrong", 503: "Unavailable for a moment"}
# Pages hold inbound URLs right after a reveal, so nothing is cached; scripts and styles are ours only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def error_page(status: int, message: str, headers: dict[str, str] | None = None) -> tuple[str, int, dict[str, str]]:
    title = TITLES.get(status, "Error")
    return render_template("console/error.html", title=title, status=status, message=message), status, headers or {}


@bp.errorhandler(CSRFError)
def csrf_refused(_exc: CSRFError):
    return error_page(400, "This form's security token is missing or has expired, so it was not accepted. "
                           "Go back, reload the page and try again.")


@bp.errorhandler(HookhubError)
def hookhub_error(exc: HookhubError):
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))} if retry_after is not None else None
    return error_page(exc.status, exc.message, headers)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    status = exc.code or 500
    if status >= 500:
        return error_page(status, "The hub could not complete this request. Try again; if it keeps failing, "
                                  "the server's log says why.")
    return error_page(status, exc.description or exc.name)


@bp.errorhandler(Exception)
def unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return http_error(exc)
    log.exception("console: unhandled error")
    return error_page(500, "The hub could not complete this request. Try again; if it keeps failing, "
                           "the server's log says why.")


@bp.after_request
def security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response
