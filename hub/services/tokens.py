"""Admin API tokens: created once and shown once (only their SHA-256 is stored), listed without
their values, revoked; an expired or revoked token authenticates nothing.

Roles: ``owner`` (every workspace; manages workspaces and tokens anywhere), ``admin`` (its
workspace), ``viewer`` (reads its workspace)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.errors import NotFound, invalid
from hub.core.times import utcnow
from hub.services.workspaces import DEFAULT_WORKSPACE, ensure_workspace
from hub.storage import audit
from hub.storage.lookup import in_workspace
from hub.storage.models import ApiToken, Workspace

ROLES = ("owner", "admin", "viewer")
TOKEN_PREFIX = "hkh_"  # noqa: S105 - a prefix, not a secret
MAX_EXPIRES_IN = 10 * 365 * 86400


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def can_manage(actor: ApiToken | None, workspace: str, role: str) -> bool:
    """Whether ``actor`` (``None``: the CLI on the hub's machine) may create or revoke a ``role``
    token of ``workspace``: an owner anywhere, an admin in its own workspace and below owner."""
    if actor is None or actor.role == "owner":
        return True
    return actor.role == "admin" and actor.workspace_id == workspace and role != "owner"


def create_token(session: Session, *, workspace: str = DEFAULT_WORKSPACE, role: str = "admin",
                 name: str = "token", actor: str = "cli", value: str | None = None,
                 expires_in: int | None = None) -> tuple[ApiToken, str]:
    """A new token; returns the row and the only copy of its plaintext. The workspace must exist
    (the default one is made on demand)."""
    errors: dict[str, list[str]] = {}
    if role not in ROLES:
        errors["role"] = [f"must be one of {', '.join(ROLES)}"]
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        errors["name"] = ["give a name of 1 to 100 characters"]
    if expires_in is not None and not 60 <= expires_in <= MAX_EXPIRES_IN:
        errors["expires_in"] = [f"seconds from now, between 60 and {MAX_EXPIRES_IN} (ten years)"]
    if errors:
        raise invalid(errors)
    if workspace == DEFAULT_WORKSPACE:
        ensure_workspace(session, workspace)
    elif session.get(Workspace, workspace) is None:
        raise NotFound(f"no workspace {workspace!r}")
    value = value or TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=expires_in) if expires_in is not None else None
    token = ApiToken(workspace_id=workspace, role=role, name=name.strip(), token_hash=hash_token(value),
                     created_by=actor, expires_at=expires_at)
    session.add(token)
    session.flush()
    audit.record(session, actor=actor, action="token.created", workspace=workspace, object_type="token",
                 object_id=token.id, details={"role": role, "name": token.name,
                                              "expires_at": expires_at.isoformat() if expires_at else None})
    return token, value


def tokens(session: Session, workspace: str | None) -> list[ApiToken]:
    """The tokens of ``workspace`` (``None``: of every workspace), newest first, revoked ones too."""
    query = sa.select(ApiToken)
    if workspace is not None:
        query = query.where(ApiToken.workspace_id == workspace)
    return list(session.scalars(query.order_by(ApiToken.id.desc())))


def get_token(session: Session, token_id: str, workspace: str | None) -> ApiToken:
    """A token of ``workspace`` (``None``: of any workspace, for an owner)."""
    if workspace is None:
        token = session.get(ApiToken, token_id) if token_id else None
        if token is None:
            raise NotFound(f"no token {token_id!r}")
        return token
    return in_workspace(session, ApiToken, workspace, token_id, "token")


def revoke(session: Session, token: ApiToken, actor: str) -> ApiToken:
    """From now on the token gets 401. Revoking a revoked token changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, actor=actor, action="token.revoked", workspace=token.workspace_id,
                     object_type="token", object_id=token.id, details={"name": token.name, "role": token.role})
    return token


def state(token: ApiToken) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= utcnow():
        return "expired"
    return "active"


def authenticate(session: Session, value: str) -> ApiToken | None:
    """The live token with this value, or None (unknown, revoked or expired). Lookup is by hash,
    so there is no timing oracle on the value."""
    if not value:
        return None
    return _in_use(session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(value))))


def active_token(session: Session, token_id: str) -> ApiToken | None:
    """The live token with this id, or None (unknown, revoked or expired): a console session keeps
    the token's id, never its value, and asks again on every request."""
    return _in_use(session.get(ApiToken, token_id) if token_id else None)


def _in_use(token: ApiToken | None) -> ApiToken | None:
    if token is None or state(token) != "active":
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now  # coarse, so reads do not write on every request
    return token


def ensure_bootstrap_token(session: Session, value: str | None) -> None:
    """``HOOKHUB_BOOTSTRAP_TOKEN``: make sure an owner token with this value exists in `default`."""
    ensure_workspace(session)
    if not value:
        return
    existing = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(value)))
    if existing is not None:
        if existing.role != "owner" and existing.revoked_at is None:
            existing.role = "owner"      # made by an older version, when the bootstrap token was an admin
        return
    try:
        with session.begin_nested():
            create_token(session, workspace=DEFAULT_WORKSPACE, role="owner", name="bootstrap",
                         actor="system", value=value)
    except IntegrityError:
        pass  # another process created it at the same moment
