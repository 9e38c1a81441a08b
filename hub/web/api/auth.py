"""Bearer-token authentication, roles and the workspace a request acts in.

A token acts in its own workspace. An owner token may act in any workspace by naming it in the
``X-Hookhub-Workspace`` header; any other token naming another workspace gets 404, as if the
workspace did not exist (tenants never learn of each other)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request
from flask_smorest import Blueprint

from hub.core.addresses import client_address
from hub.core.errors import Forbidden, NotFound, RateLimited, Unauthorized
from hub.services import tokens
from hub.storage import db
from hub.storage.models import ApiToken, Workspace
from hub.storage.ratelimit import get_rate_limiter

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WORKSPACE_HEADER = "X-Hookhub-Workspace"


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
    failures = SignInFailures.of_request()
    failures.refuse_if_too_many()
    session = db.session()
    token = tokens.authenticate(session, value.strip())
    if token is None:
        failures.count()
        raise Unauthorized("the token is not valid (unknown, revoked or expired)")
    session.commit()  # last_used_at
    g.token = token
    g.workspace = acting_workspace(token, request.headers.get(WORKSPACE_HEADER))
    if request.method not in READ_METHODS and token.role == "viewer":
        raise Forbidden("this token has the viewer role: it can read but not change anything")


class SignInFailures:
    """Failed sign-ins (an unknown, revoked or expired token) of one client address, limited by
    HOOKHUB_AUTH_FAILURE_LIMIT in Redis for every process; the API and the console share it."""

    def __init__(self, client: str) -> None:
        self.key = f"signin-fail:{client}"
        self.client = client
        self.limit = current_app.config.get("HOOKHUB_AUTH_FAILURE_LIMIT")

    @classmethod
    def of_request(cls) -> SignInFailures:
        return cls(client_address(request.remote_addr or "", request.headers.getlist("X-Forwarded-For"),
                                  current_app.config["HOOKHUB_TRUSTED_PROXIES"]))

    def refuse_if_too_many(self) -> None:
        if self.limit:
            wait = get_rate_limiter(current_app).exhausted(self.key, self.limit)
            if wait:
                raise RateLimited(f"too many failed sign-ins from {self.client} (at most {self.limit}); "
                                  f"retry in {wait:.0f} s", retry_after=wait)

    def count(self) -> None:
        if self.limit:
            get_rate_limiter(current_app).count(self.key, self.limit)


def acting_workspace(token: ApiToken, requested: str | None) -> str:
    """The workspace a request of ``token`` acts in: its own, or for an owner the one it names."""
    if not requested or requested == token.workspace_id:
        return token.workspace_id
    if token.role == "owner" and db.session().get(Workspace, requested) is not None:
        return requested
    raise NotFound(f"no workspace {requested!r}")


def current_token() -> ApiToken:
    return g.token


def current_workspace() -> str:
    """The workspace this request acts in (see :func:`acting_workspace`)."""
    return g.workspace


def actor() -> str:
    return f"token:{g.token.id}"


def is_owner() -> bool:
    return g.token.role == "owner"


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """For reads that reveal a secret (an inbound URL with its key) or manage access (tokens)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.token.role not in ("owner", "admin"):
            raise Forbidden("only an admin or owner token can do this")
        return view(*args, **kwargs)

    return wrapper


def owner_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """For what spans workspaces (creating one)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.token.role != "owner":
            raise Forbidden("only an owner token can do this")
        return view(*args, **kwargs)

    return wrapper


def workspace_for(requested: str | None) -> str:
    """The workspace a body names (``"workspace": …``), checked like the header: a token cannot
    act in a workspace it cannot see."""
    return current_workspace() if not requested else acting_workspace(g.token, requested)
