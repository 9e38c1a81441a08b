"""Bearer-token authentication and roles for the admin API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request
from flask_smorest import Blueprint

from hub.core.errors import Forbidden, Unauthorized
from hub.services import tokens
from hub.storage import db
from hub.storage.models import ApiToken

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def protect(blp: Blueprint) -> None:
    """Every view of ``blp`` needs a live token; viewers may only read."""
    blp.before_request(_authenticate)


def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <token>'")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    session = db.session()
    token = tokens.authenticate(session, value.strip())
    if token is None:
        raise Unauthorized("the token is not valid (unknown or revoked)")
    session.commit()  # last_used_at
    g.token = token
    if request.method not in READ_METHODS and token.role != "admin":
        raise Forbidden("this token has the viewer role: it can read but not change anything")


def current_token() -> ApiToken:
    return g.token


def actor() -> str:
    return f"token:{g.token.id}"


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """For reads that reveal a secret (an inbound URL with its key)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.token.role != "admin":
            raise Forbidden("only an admin token can see this")
        return view(*args, **kwargs)

    return wrapper


def workspace_for(requested: str | None) -> str:
    """The token's workspace; a token cannot act in another one."""
    own = g.token.workspace_id
    if requested and requested != own:
        raise Forbidden(f"this token belongs to workspace {own!r}, not {requested!r}")
    return own
