"""Who is signed in to the console, in which workspace they act, and what they may do.

The session cookie holds the token's id, the acting workspace and the time the sign-in ends. Each
request asks :func:`hub.services.tokens.active_token` again, so revoking (or the expiry of) a token
signs its console sessions out at their next request. Failed sign-ins count against the client
address with the API's own limiter (:class:`~hub.web.api.auth.SignInFailures`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, g, has_request_context, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from hub.core.addresses import within
from hub.core.errors import Forbidden, NotFound
from hub.services import tokens
from hub.storage import db
from hub.storage.models import ApiToken
from hub.web.api.auth import SignInFailures, acting_workspace

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_ENDPOINTS = frozenset({"console.login", "console.static"})
#: State-changing for the session only, so a viewer may post them too.
ANY_ROLE_ENDPOINTS = frozenset({"console.sign_out", "console.switch_workspace"})
ENDED = "Your session has ended (signed out, expired, or its token was revoked): sign in again."


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return served_over_https() if has_request_context() else bool(app.config["SESSION_COOKIE_SECURE"])


def served_over_https() -> bool:
    """HTTPS to this process, or to a trusted proxy that says so in ``X-Forwarded-Proto`` (gunicorn
    already applies the header for proxies on the same host)."""
    if request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE"):
        return True
    trusted = current_app.config["HOOKHUB_TRUSTED_PROXIES"]
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return proto == "https" and bool(trusted) and within(request.remote_addr or "", trusted)


@dataclass(frozen=True)
class SignedIn:
    """The signed-in token and the workspace it acts in."""

    token: ApiToken
    workspace: str

    @property
    def can_change(self) -> bool:
        """Owners and admins change things; a viewer only reads."""
        return self.token.role in ("owner", "admin")

    @property
    def is_owner(self) -> bool:
        return self.token.role == "owner"

    @property
    def actor(self) -> str:
        """The audit trail's name for whoever acts: the same as the API's."""
        return f"token:{self.token.id}"


def signed_in() -> SignedIn:
    return g.console


def writers_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a page that exists to change something (a form, a confirm step): a viewer is refused
    it (403) even to read, so it never sees the control."""
    view.console_writers_only = True   # type: ignore[attr-defined]
    return view


def sign_in(value: str) -> SignedIn | None:
    """Start a session for the token with this value, or count a failure and return None. Raises
    RateLimited once this client address has failed too often."""
    failures = SignInFailures.of_request()
    failures.refuse_if_too_many()
    db_session = db.session()
    token = tokens.authenticate(db_session, value.strip())
    if token is None:
        failures.count()
        return None
    db_session.commit()   # last_used_at
    session.clear()       # nothing of a previous session (its CSRF secret included) carries over
    session.permanent = True
    session.update(token=token.id, workspace=token.workspace_id,
                   until=int(time.time()) + int(current_app.config["HOOKHUB_CONSOLE_SESSION_SECONDS"]))
    return SignedIn(token, token.workspace_id)


def sign_out() -> None:
    session.clear()


def switch_workspace(requested: str) -> str:
    """An owner acts in ``requested`` from now on (NotFound when there is no such workspace)."""
    current = signed_in()
    if not current.is_owner:
        raise Forbidden("only an owner token can act in another workspace")
    workspace = acting_workspace(current.token, requested)
    session["workspace"] = workspace
    return workspace


def guard() -> Response | None:
    """Before every console request: the CSRF check for forms, the signed-in token (or the sign-in
    page), and no change by a viewer (403)."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        _check_csrf()
        return None
    restored = _restore()
    if restored is None:
        if session.get("token"):
            sign_out()
            flash(ENDED, "error")
        return redirect(url_for("console.login", next=request.full_path.rstrip("?")), 303)
    g.console = restored
    changes = request.method not in READ_METHODS and request.endpoint not in ANY_ROLE_ENDPOINTS
    if not restored.can_change and (changes or getattr(current_app.view_functions.get(request.endpoint or ""),
                                                       "console_writers_only", False)):
        raise Forbidden("this token has the viewer role: it can read but not change anything")
    _check_csrf()
    return None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path of this site only, never elsewhere."""
    parts = urlsplit(target or "")
    if not parts.scheme and not parts.netloc and parts.path.startswith("/console/") and "\\" not in target:
        return target or ""
    return url_for("console.dashboard")


def _restore() -> SignedIn | None:
    token_id, until = session.get("token"), session.get("until")
    if not token_id or not isinstance(until, int) or until <= time.time():
        return None
    db_session = db.session()
    token = tokens.active_token(db_session, token_id)
    if token is None:
        return None
    try:
        workspace = acting_workspace(token, session.get("workspace"))
    except NotFound:                  # the workspace was deleted meanwhile
        workspace = session["workspace"] = token.workspace_id
    db_session.commit()               # last_used_at, at most once a minute
    return SignedIn(token, workspace)


def _check_csrf() -> None:
    if request.method not in READ_METHODS:
        current_app.extensions["hookhub.csrf"].protect()
