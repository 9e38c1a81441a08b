"""What the console's lists share: their filters read from the query string (a GET form, so a
filtered list is a link), the time windows, the link to the next (older) page with the same
filters, and the names of the workspace's connections to show instead of their ids."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import g, request, url_for
from sqlalchemy.orm import Session

from hub.core.times import utcnow
from hub.runtime import lifecycle
from hub.services.connections import ConnectionService
from hub.services.tokens import tokens
from hub.storage.models import Connection

#: Rows per page: every list reads this many (and one more to know whether there is a next page).
PAGE_SIZE = 25
#: The time windows of the lists' "Time" filter: key → (label, length; None for all time).
WINDOWS: dict[str, tuple[str, timedelta | None]] = {
    "": ("Any time", None), "1h": ("Last hour", timedelta(hours=1)), "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)), "30d": ("Last 30 days", timedelta(days=30)),
}
MAX_FILTER = 200


@dataclass(frozen=True)
class ListArgs:
    """A list's filters as typed (for the form and the next page's link) and its cursor."""

    values: dict[str, str]
    cursor: str | None

    @classmethod
    def read(cls, names: Iterable[str], defaults: Mapping[str, str] | None = None) -> ListArgs:
        values = {name: request.args.get(name, (defaults or {}).get(name, "")).strip()[:MAX_FILTER] for name in names}
        if "time" in values and values["time"] not in WINDOWS:
            values["time"] = ""
        return cls(values, request.args.get("cursor") or None)

    def get(self, name: str) -> str | None:
        """The filter's value, or None when it is empty (no filter)."""
        return self.values.get(name) or None

    @property
    def since(self) -> datetime | None:
        length = WINDOWS[self.values.get("time", "")][1]
        return utcnow() - length if length is not None else None

    @property
    def filtered(self) -> bool:
        return any(self.values.values())

    def older(self, cursor: str | None) -> str | None:
        """The link to the next page of this list (older rows), with the same filters."""
        if cursor is None:
            return None
        return url_for(request.endpoint or "", **request.view_args or {},
                       **{k: v for k, v in self.values.items() if v}, cursor=cursor)

    def newest(self) -> str:
        """The link to this list's first page, with the same filters."""
        return url_for(request.endpoint or "", **request.view_args or {}, **{k: v for k, v in self.values.items() if v})


def connection_names(session: Session, service: ConnectionService, workspace: str) -> dict[str, str]:
    """Every connection of the workspace by id → its name; the hub's own lifecycle source is "lifecycle"."""
    names = {conn.id: conn.name for conn in service.list(workspace)}
    source = lifecycle.source(session, workspace)
    if source is not None:
        names[source.id] = lifecycle.PROVIDER
    return names


def connections_with(connections: Iterable[Connection], side: str) -> list[Connection]:
    """The connections with an inbound provider (``side`` "provider") or an outbound channel ("channel")."""
    return [conn for conn in connections if getattr(conn, side)]


def actor_names(session: Session, workspace: str) -> dict[str, str]:
    """``token:<id>`` → the token's name, for the workspace's tokens (revoked ones too) and the signed-in one."""
    names = {f"token:{token.id}": token.name for token in tokens(session, workspace)}
    current = g.get("console")
    if current is not None:
        names[current.actor] = current.token.name
    return names
