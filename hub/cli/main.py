"""The ``hookhub`` command line (a Flask click group). Commands import what they use when they run,
so that `hookhub --help` and `hookhub plugins list` start without loading the whole hub."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from hub import __version__


def _create_app(*_args: Any) -> Any:
    from hub.web.app import create_app

    return create_app()


def build_cli() -> click.Group:
    group = FlaskGroup(name="hookhub", create_app=_create_app, add_default_commands=False,
                       add_version_option=False, load_dotenv=False,
                       help="Hookhub: a self-hosted, plugin-based webhook integration hub.")
    group.params = [p for p in group.params if p.name not in ("env_file", "app")]
    click.version_option(__version__, prog_name="hookhub")(group)
    from hub.cli.access import tokens_group, workspaces_group
    from hub.cli.activity import deliveries_group, events_group
    from hub.cli.secrets import secrets_group

    for command in (serve, worker, db_group, workspaces_group, tokens_group, secrets_group, connections_group,
                    events_group, deliveries_group, plugins_group):
        group.add_command(command)
    _add_plugin_commands(group)
    return group


def _add_plugin_commands(group: click.Group) -> None:
    from hub.core.errors import PluginError
    from hub.runtime.plugin_host import build_host
    from hub.storage.config import Config

    try:
        host = build_host(Config.load())
    except PluginError as exc:
        # `plugins list` reports the problem; every other command fails when it builds the app.
        group.plugin_error = exc  # type: ignore[attr-defined]
        return
    host.hook.hub_register_commands(cli=group)


def main(argv: list[str] | None = None) -> None:
    build_cli().main(args=argv, prog_name="hookhub")


# ---------------------------------------------------------------------------- serve / worker

@click.command()
@click.option("--host", default=None, help="Interface to listen on (default: HOOKHUB_BIND's, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default: HOOKHUB_BIND's, 8000).")
@click.option("--web-workers", default=None, type=int, help="Web processes (default HOOKHUB_WEB_WORKERS, 2).")
@click.option("--no-worker", is_flag=True, help="Run the web server only.")
def serve(host: str | None, port: int | None, web_workers: int | None, no_worker: bool) -> None:
    """Run the whole hub: web server, worker with its scheduler, embedded Redis and SQLite."""
    from hub.cli.serve import serve as run_serve

    sys.exit(run_serve(host=host, port=port, web_workers=web_workers, with_worker=not no_worker))


@click.command()
@click.option("--queues", "-q", default=None, help="Comma-separated queues (default: all).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--no-scheduler", is_flag=True, help="Do not run RQ's scheduler in this worker.")
@with_appcontext
def worker(queues: str | None, burst: bool, no_scheduler: bool) -> None:
    """Run an RQ worker for the hub's queues (builds the app once)."""
    from hub.runtime import metrics
    from hub.worker.runner import run_worker

    # Counters go to files /metrics reads (prometheus-client's multiprocess mode), before the first one.
    metrics.prepare(current_app.config["HOOKHUB_INSTANCE_PATH"], "worker")

    names = [q.strip() for q in queues.split(",")] if queues else None
    run_worker(current_app._get_current_object(), names, burst=burst, with_scheduler=not no_scheduler)


# ---------------------------------------------------------------------------- db

@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply pending migrations (also done by `hookhub serve`), saying which ran."""
    from hub.storage.db import get_database
    from hub.storage.schema import upgrade
    from hub.web.app import bootstrap

    with _progress_to_stderr("alembic.runtime.migration", "hub.storage.schema"):   # each migration; a wait
        applied = upgrade(get_database(), revision)
    bootstrap(current_app._get_current_object())
    done = f"applied {len(applied)}: {', '.join(applied)}" if applied else "nothing to apply"
    click.echo(f"database at {revision} ({done})")


@contextmanager
def _progress_to_stderr(*names: str) -> Iterator[None]:
    """The INFO lines of ``names`` on stderr while the block runs (the CLI configures no logging)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    # Alembic also says which dialect it talks to, each time it looks at the schema: keep its "Running …" lines.
    handler.addFilter(lambda r: r.name != "alembic.runtime.migration" or r.getMessage().startswith("Running "))
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


# ---------------------------------------------------------------------------- connections

@click.group("connections")
def connections_group() -> None:
    """Connections to external systems."""


def _service(session: Any) -> Any:
    from hub.services.connections import for_app

    return for_app(session, actor="cli")


def _run(fn: Any) -> Any:
    """Run ``fn(service)`` in a committed session; service errors become clean CLI errors."""
    from hub.core.errors import HookhubError
    from hub.storage.db import get_database

    try:
        with get_database().session() as session:
            return fn(_service(session))
    except HookhubError as exc:
        detail = getattr(exc, "fields", None)
        message = exc.message + (f"\n{json.dumps(detail, indent=2)}" if detail else "")
        raise click.ClickException(message) from None


@connections_group.command("list")
@click.option("--workspace", default="default", show_default=True)
@with_appcontext
def connections_list(workspace: str) -> None:
    """List connections."""
    def show(svc: Any) -> None:
        rows = svc.list(workspace)
        if not rows:
            click.echo("no connections")
        for c in rows:
            state = "active" if c.active else f"inactive ({c.disabled_reason or 'deactivated'})"
            click.echo(f"{c.id}  {c.name:<30} provider={c.provider or '-':<8} channel={c.channel or '-':<8} {state}")
    _run(show)


@connections_group.command("create")
@click.argument("name")
@click.option("--workspace", default="default", show_default=True)
@click.option("--provider", default=None, help="Inbound provider: generic, slack, meta, hmac, …")
@click.option("--channel", default=None, help="Outbound channel: webhook, slack, teams, discord, …")
@click.option("--provider-config", default=None, help="JSON object.")
@click.option("--channel-config", default=None, help="JSON object.")
@click.option("--secret", "secrets", multiple=True, metavar="NAME=VALUE", help="A secret (repeatable).")
@click.option("--default-channel", default=None)
@with_appcontext
def connections_create(name: str, workspace: str, provider: str | None, channel: str | None,
                       provider_config: str | None, channel_config: str | None, secrets: tuple[str, ...],
                       default_channel: str | None) -> None:
    """Create a connection and print it, with its inbound URL."""
    data: dict[str, Any] = {"name": name, "provider": provider, "channel": channel,
                            "provider_config": _json_option("--provider-config", provider_config),
                            "channel_config": _json_option("--channel-config", channel_config),
                            "secrets": dict(_pair(s) for s in secrets), "default_channel": default_channel}

    def create(svc: Any) -> None:
        conn, key = svc.create(workspace, data)
        click.echo(f"created {conn.id} ({conn.name})")
        if key:
            click.echo(f"inbound URL: {svc.inbound_url(conn, key)}")
    _run(create)


@connections_group.command("url")
@click.argument("connection_id")
@click.option("--workspace", default="default", show_default=True)
@with_appcontext
def connections_url(connection_id: str, workspace: str) -> None:
    """Print the inbound URL with its key."""
    _run(lambda svc: click.echo(svc.inbound_url(c := svc.get(workspace, connection_id), svc.reveal_key(c))))


@connections_group.command("reset-key")
@click.argument("connection_id")
@click.option("--workspace", default="default", show_default=True)
@with_appcontext
def connections_reset_key(connection_id: str, workspace: str) -> None:
    """Issue a new inbound key (the old one stops working) and print the new URL."""
    _run(lambda svc: click.echo(svc.inbound_url(c := svc.get(workspace, connection_id), svc.reset_key(c))))


@connections_group.command("activate")
@click.argument("connection_id")
@click.option("--workspace", default="default", show_default=True)
@with_appcontext
def connections_activate(connection_id: str, workspace: str) -> None:
    """Activate a connection."""
    resumed = _run(lambda svc: svc.activate(svc.get(workspace, connection_id)))
    click.echo(f"{connection_id} active" + (f"; {resumed} held deliveries resumed" if resumed else ""))


@connections_group.command("deactivate")
@click.argument("connection_id")
@click.option("--workspace", default="default", show_default=True)
@with_appcontext
def connections_deactivate(connection_id: str, workspace: str) -> None:
    """Deactivate a connection (its inbound URL answers 404, nothing is sent to it)."""
    _run(lambda svc: svc.set_active(svc.get(workspace, connection_id), False, reason="deactivated from the CLI"))
    click.echo(f"{connection_id} inactive")


@connections_group.command("test")
@click.argument("connection_id")
@click.option("--workspace", default="default", show_default=True)
@with_appcontext
def connections_test(connection_id: str, workspace: str) -> None:
    """Send a labelled test message to a connection's channel and print what happened."""
    from hub.services.connection_check import run_connection_test

    def test(svc: Any) -> dict[str, Any]:
        return run_connection_test(current_app._get_current_object(), svc.session, svc,
                                   svc.get(workspace, connection_id), "cli")

    outcome = _run(test)
    click.echo(f"{'ok' if outcome['ok'] else 'FAILED'} (HTTP {outcome['status'] or '-'}): {outcome['detail']}")
    if not outcome["ok"]:
        raise SystemExit(1)


def _json_option(name: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=name) from None


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"expected NAME=VALUE, got {text!r}", param_hint="--secret")
    return name, value


# ---------------------------------------------------------------------------- plugins

@click.group("plugins")
def plugins_group() -> None:
    """Installed plugins."""


@plugins_group.command("new")
@click.argument("name")
@click.option("--kind", type=click.Choice(["provider", "channel"]), required=True,
              help="A provider receives webhooks; a channel sends messages.")
@click.option("--directory", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where to create the hookhub-<name> folder.")
def plugins_new(name: str, kind: str, directory: str) -> None:
    """Create a plugin package: entry point, a working example, tests against a whole hub."""
    from pathlib import Path

    from hub.cli.scaffold import ScaffoldError, create

    try:
        root = create(name, kind, Path(directory))
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {root}\nnext: pip install -e '{root}[dev]' && pytest {root}/tests")


@plugins_group.command("list")
def plugins_list() -> None:
    """Print each plugin with its version, kind and hooks."""
    from hub.core.errors import PluginError
    from hub.runtime.plugin_host import build_host
    from hub.storage.config import Config

    try:
        host = build_host(Config.load())
    except PluginError as exc:
        raise click.ClickException(exc.message) from None
    for info in sorted(host.info.values(), key=lambda i: (not i.builtin, i.name)):
        origin = "built-in" if info.builtin else info.distribution
        registered = ", ".join(info.providers + info.channels)
        click.echo(f"{info.name:<20} {info.version:<10} {info.kind:<17} {origin}")
        click.echo(f"    hooks: {', '.join(info.hooks) or '-'}")
        if registered:
            click.echo(f"    registers: {registered}")


if __name__ == "__main__":  # pragma: no cover
    main()
