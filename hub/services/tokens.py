"""Admin API tokens: created once and shown once; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.errors import invalid
from hub.core.times import utcnow
from hub.storage import audit
from hub.storage.models import ApiToken, Workspace

ROLES = ("admin", "viewer")
TOKEN_PREFIX = "hkh_"  # noqa: S105 - a prefix, not a secret
DEFAULT_WORKSPACE = "default"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ensure_workspace(session: Session, workspace_id: str = DEFAULT_WORKSPACE) -> Workspace:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        ws = Workspace(id=workspace_id, name=workspace_id)
        session.add(ws)
        session.flush()
    return ws


def create_token(session: Session, *, workspace: str = DEFAULT_WORKSPACE, role: str = "admin",
                 name: str = "token", actor: str = "cli", value: str | None = None) -> tuple[ApiToken, str]:
    """A new token; returns the row and the only copy of its plaintext."""
    if role not in ROLES:
        raise invalid({"role": [f"must be one of {', '.join(ROLES)}"]})
    ensure_workspace(session, workspace)
    value = value or TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(workspace_id=workspace, role=role, name=name, token_hash=hash_token(value))
    session.add(token)
    audit.record(session, actor=actor, action="token.created", workspace=workspace, object_type="token",
                 object_id=token.id, details={"role": role, "name": name})
    session.flush()
    return token, value


def authenticate(session: Session, value: str) -> ApiToken | None:
    """The live token with this value, or None. Lookup is by hash, so no timing oracle."""
    if not value:
        return None
    token = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(value)))
    if token is None or token.revoked_at is not None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now  # coarse, so reads do not write on every request
    return token


def ensure_bootstrap_token(session: Session, value: str | None) -> None:
    """``HOOKHUB_BOOTSTRAP_TOKEN``: make sure an admin token with this value exists in `default`."""
    ensure_workspace(session)
    if not value:
        return
    exists = session.scalar(sa.select(ApiToken.id).where(ApiToken.token_hash == hash_token(value)))
    if exists:
        return
    try:
        with session.begin_nested():
            create_token(session, workspace=DEFAULT_WORKSPACE, role="admin", name="bootstrap",
                         actor="system", value=value)
    except IntegrityError:
        pass  # another process created it at the same moment
