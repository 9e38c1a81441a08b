"""``hookhub tokens create|list|revoke`` and ``hookhub workspaces create|list``: access to the admin
API and the console, managed from a shell on the hub's machine (which acts as an owner)."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from hub.core.times import iso


def _session() -> Any:
    from hub.storage.db import get_database

    return get_database().session()


def _fail(exc: Exception) -> click.ClickException:
    message = getattr(exc, "message", str(exc))
    fields = getattr(exc, "fields", None)
    if fields:
        message += "".join(f"\n  {name}: {'; '.join(map(str, problems)) if isinstance(problems, list) else problems}"
                           for name, problems in fields.items())
    return click.ClickException(message)


# ---------------------------------------------------------------------------- tokens

@click.group("tokens")
def tokens_group() -> None:
    """Tokens for the admin API and the console."""


@tokens_group.command("create")
@click.option("--workspace", default="default", show_default=True)
@click.option("--role", type=click.Choice(["owner", "admin", "viewer"]), default="admin", show_default=True,
              help="owner: every workspace; admin: its workspace; viewer: reads its workspace.")
@click.option("--name", default="cli", show_default=True, help="What the token is for (shown in lists).")
@click.option("--expires-in", type=click.IntRange(60), default=None, metavar="SECONDS",
              help="Stop working after this many seconds (default: never).")
@with_appcontext
def tokens_create(workspace: str, role: str, name: str, expires_in: int | None) -> None:
    """Create a token and print it (shown only this once)."""
    from hub.core.errors import HookhubError
    from hub.services.tokens import create_token

    try:
        with _session() as session:
            _token, value = create_token(session, workspace=workspace, role=role, name=name, actor="cli",
                                         expires_in=expires_in)
    except HookhubError as exc:
        raise _fail(exc) from None
    click.echo(value)


@tokens_group.command("list")
@click.option("--workspace", default=None, help="Only this workspace's tokens (default: every workspace).")
@with_appcontext
def tokens_list(workspace: str | None) -> None:
    """List tokens (never their values): id, workspace, role, state, name, last use."""
    from hub.services.tokens import state, tokens

    with _session() as session:
        rows = tokens(session, workspace)
        if not rows:
            click.echo("no tokens")
        for t in rows:
            used = iso(t.last_used_at) if t.last_used_at else "never used"
            expires = f" expires {iso(t.expires_at)}" if t.expires_at and state(t) == "active" else ""
            click.echo(f"{t.id}  {t.workspace_id:<16} {t.role:<7} {state(t):<8} {t.name:<24} {used}{expires}")


@tokens_group.command("revoke")
@click.argument("token_id")
@with_appcontext
def tokens_revoke(token_id: str) -> None:
    """Revoke a token: from now on it gets 401."""
    from hub.core.errors import HookhubError
    from hub.services.tokens import get_token, revoke

    try:
        with _session() as session:
            token = revoke(session, get_token(session, token_id, None), actor="cli")
            name = token.name
    except HookhubError as exc:
        raise _fail(exc) from None
    click.echo(f"{token_id} ({name}) revoked")


# ---------------------------------------------------------------------------- workspaces

@click.group("workspaces")
def workspaces_group() -> None:
    """Workspaces: the tenants of this hub."""


@workspaces_group.command("create")
@click.argument("name")
@click.option("--inbound-rate-limit", default=None, help="For all its connections together, e.g. '100/second'.")
@click.option("--retention-days", type=click.IntRange(1), default=30, show_default=True,
              help="Days events, deliveries and failures are kept.")
@with_appcontext
def workspaces_create(name: str, inbound_rate_limit: str | None, retention_days: int) -> None:
    """Create a workspace (its name is its id)."""
    from hub.core.errors import HookhubError
    from hub.services.workspaces import create_workspace

    try:
        with _session() as session:
            create_workspace(session, {"name": name, "inbound_rate_limit": inbound_rate_limit,
                                       "retention_days": retention_days}, actor="cli")
    except HookhubError as exc:
        raise _fail(exc) from None
    click.echo(f"created workspace {name}; give it a token: hookhub tokens create --workspace {name}")


@workspaces_group.command("list")
@with_appcontext
def workspaces_list() -> None:
    """List workspaces with their settings."""
    from hub.services.workspaces import workspaces

    with _session() as session:
        for ws in workspaces(session):
            limit = ws.inbound_rate_limit or "no inbound limit"
            click.echo(f"{ws.id:<24} {limit:<20} keeps {ws.retention_days} days")
