"""A connection as plugins see it at run time: its settings and its secrets, decrypted, with the
rotated-out values still inside their grace period and every ``${param.…}`` / ``${env.…}``
reference replaced by its current value. The inbound gateway, the delivery engine and the admin
services all build it here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

from hub.core.times import utcnow
from hub.plugin import ConnectionView
from hub.runtime.params import ParamValues, substitute
from hub.storage.models import Connection
from hub.storage.vault import Vault, get_vault


@dataclass
class SecretStore:
    """The decrypted secrets of one connection: current values, and rotated-out ones until they expire."""

    current: dict[str, str]
    previous: dict[str, list[dict[str, str]]]   # name → [{"value", "expires_at" (ISO)}]

    @classmethod
    def of(cls, vault: Vault, conn: Connection) -> SecretStore:
        data = vault.decrypt_json(conn.secrets_encrypted, default={}) or {}
        return cls(dict(data.get("current", {})), dict(data.get("previous", {})))

    def encrypted(self, vault: Vault) -> str:
        return vault.encrypt_json({"current": self.current, "previous": self.previous})

    def live_previous(self, now: datetime) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for name, entries in self.previous.items():
            values = tuple(e["value"] for e in entries if datetime.fromisoformat(e["expires_at"]) > now)
            if values:
                out[name] = values
        return out

    def prune(self, now: datetime) -> None:
        for name in list(self.previous):
            self.previous[name] = [e for e in self.previous[name]
                                   if datetime.fromisoformat(e["expires_at"]) > now]
            if not self.previous[name]:
                del self.previous[name]

    def next_expiry(self, now: datetime) -> float:
        """Monotonic time at which a rotated-out secret expires (0.0 when none is pending): a
        cached view must be rebuilt then."""
        future = [(expires - now).total_seconds() for entries in self.previous.values() for e in entries
                  if (expires := datetime.fromisoformat(e["expires_at"])) > now]
        return time.monotonic() + min(future) if future else 0.0


def connection_view(conn: Connection, vault: Vault, values: Callable[[str, str], str | None],
                    store: SecretStore | None = None, now: datetime | None = None) -> ConnectionView:
    """What plugins see: config and decrypted secrets, rotation values still in their grace,
    references resolved by ``values(kind, name)`` (a :class:`~hub.runtime.params.ParamValues`)."""
    store = store or SecretStore.of(vault, conn)
    previous = {name: tuple(substitute(list(vals), values))
                for name, vals in store.live_previous(now or utcnow()).items()}
    return ConnectionView(
        id=conn.id, name=conn.name, workspace=conn.workspace_id, provider=conn.provider,
        channel=conn.channel, provider_config=substitute(dict(conn.provider_config or {}), values),
        channel_config=substitute(dict(conn.channel_config or {}), values),
        secrets=substitute(store.current, values), previous_secrets=previous, default_channel=conn.default_channel)


class ViewCache:
    """Views built at most once per connection (and params read once per workspace) for the length
    of one job or request."""

    def __init__(self, vault: Vault, session: Session, env_patterns: tuple[str, ...] | list[str] = ()) -> None:
        self.vault, self.session, self.env_patterns = vault, session, tuple(env_patterns)
        self._views: dict[str, ConnectionView] = {}
        self._values: dict[str, ParamValues] = {}

    def values(self, workspace: str) -> ParamValues:
        if workspace not in self._values:
            self._values[workspace] = ParamValues(self.session, self.vault, workspace, self.env_patterns)
        return self._values[workspace]

    def __call__(self, conn: Connection) -> ConnectionView:
        if conn.id not in self._views:
            self._views[conn.id] = connection_view(conn, self.vault, self.values(conn.workspace_id))
        return self._views[conn.id]


def view_cache(app: Flask, session: Session) -> ViewCache:
    """A :class:`ViewCache` with the app's vault and allowed environment references."""
    return ViewCache(get_vault(app), session, app.config.get("HOOKHUB_ENV_REFERENCES", ()))
