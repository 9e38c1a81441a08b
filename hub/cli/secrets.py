"""``hookhub secrets rotate-key``: after a new key is put first in ``HOOKHUB_SECRET_KEYS``,
re-encrypt every stored secret, inbound key and param under it, so the old keys can be dropped."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("secrets")
def secrets_group() -> None:
    """Secrets at rest."""


@secrets_group.command("rotate-key")
@click.option("--batch", type=click.IntRange(1, 10_000), default=200, show_default=True,
              help="Rows re-encrypted per transaction.")
@with_appcontext
def rotate_key(batch: int) -> None:
    """Re-encrypt everything stored under the newest (first) of HOOKHUB_SECRET_KEYS and check that
    it alone decrypts each value; then the older keys can be removed from the setting."""
    from hub.services.key_rotation import rotate_at_rest_key
    from hub.storage.db import get_database
    from hub.storage.vault import get_vault

    vault = get_vault()
    keys = current_app.config["HOOKHUB_SECRET_KEYS"]
    report = rotate_at_rest_key(get_database(), vault, vault.newest(), batch=batch)
    for line in report.lines():
        click.echo(line)
    if report.failed:
        raise click.ClickException(f"{len(report.failed)} value(s) could not be decrypted: keep every key until "
                                   "they are fixed (re-enter those secrets), then run this again")
    if len(keys) > 1:
        click.echo("every value decrypts with the first key alone: the others can now be removed from "
                   "HOOKHUB_SECRET_KEYS (restart every process after changing it)")
    else:
        click.echo("(only one key is configured: to rotate, put a new key first in HOOKHUB_SECRET_KEYS, "
                   "keep the old one after it, and run this again)")
