"""Routes: match rules on an event's envelope → one Delivery per target of every matching route."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import regex
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.ids import new_id
from hub.models import Connection, Delivery, Event, Route
from hub.paths import MISSING, PathError, compile_path

log = logging.getLogger(__name__)
OPS = ("equals", "not_equals", "in", "exists", "matches")
REGEX_TIMEOUT = 0.05   # seconds: a pathological pattern cannot stall a worker
MAX_PATTERN = 500


def check_rule(rule: Any) -> dict[str, list[str]]:
    """Problems with one match rule, by field (empty when it is valid)."""
    if not isinstance(rule, Mapping):
        return {"_schema": ["a rule is an object with path, op and value"]}
    problems: dict[str, list[str]] = {}
    try:
        compile_path(rule.get("path", ""))
    except PathError as exc:
        problems["path"] = [str(exc)]
    op = rule.get("op")
    if op not in OPS:
        problems["op"] = [f"must be one of {', '.join(OPS)}"]
    elif op == "in" and not isinstance(rule.get("value"), list):
        problems["value"] = ["'in' takes a list of values"]
    elif op == "matches":
        pattern = rule.get("value")
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN:
            problems["value"] = [f"'matches' takes a regular expression of at most {MAX_PATTERN} characters"]
        else:
            try:
                regex.compile(pattern)
            except regex.error as exc:
                problems["value"] = [f"not a valid regular expression: {exc}"]
    elif op == "exists" and rule.get("value") is not None and not isinstance(rule.get("value"), bool):
        problems["value"] = ["'exists' takes true or false (default true)"]
    return problems


def rule_holds(rule: Mapping[str, Any], envelope: Mapping[str, Any]) -> bool:
    value = compile_path(rule["path"])(envelope)
    op = rule["op"]
    expected = rule.get("value")
    if op == "exists":
        present = value is not MISSING and value is not None
        return present if expected is None or expected is True else not present
    if value is MISSING:
        return op == "not_equals"
    if op == "equals":
        return _same(value, expected)
    if op == "not_equals":
        return not _same(value, expected)
    if op == "in":
        return any(_same(value, candidate) for candidate in expected or [])
    if op == "matches":
        text = value if isinstance(value, str) else str(value)
        try:
            return regex.search(expected, text, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            log.warning("regex %r timed out on a %d-character value: treated as no match", expected, len(text))
            return False
    return False


def _same(actual: Any, expected: Any) -> bool:
    """Equality that lets "42" in a form body match 42 in a rule, but not True match 1."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected or actual == expected and type(actual) is type(expected)
    if actual == expected:
        return True
    if isinstance(actual, (int, float, str)) and isinstance(expected, (int, float, str)):
        return str(actual) == str(expected)
    return False


def route_matches(route: Route, envelope: Mapping[str, Any]) -> bool:
    return all(rule_holds(rule, envelope) for rule in route.match or [])


class RouteTable:
    """The active routes of each source and their target connections, read once per routing job
    (a job routes a batch of events, mostly from the same few sources)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._routes: dict[str, list[Route]] = {}
        self._targets: dict[str, Connection | None] = {}

    def routes(self, source_id: str) -> list[Route]:
        if source_id not in self._routes:
            self._routes[source_id] = list(self.session.scalars(sa.select(Route).where(
                Route.source_id == source_id, Route.active.is_(True)).order_by(Route.id)))
        return self._routes[source_id]

    def target(self, connection_id: Any) -> Connection | None:
        if connection_id not in self._targets:
            self._targets[connection_id] = self.session.get(Connection, connection_id) if connection_id else None
        return self._targets[connection_id]


def create_deliveries(session: Session, event: Event, table: RouteTable | None = None) -> list[Delivery]:
    """One Delivery per target of every active matching route (added to ``session``)."""
    table = table or RouteTable(session)
    created: list[Delivery] = []
    with session.no_autoflush:   # the new deliveries are written once, at the commit
        for route in table.routes(event.connection_id):
            if not route_matches(route, event.envelope):
                continue
            for target in route.targets or []:
                target_conn = table.target(target.get("connection"))
                if target_conn is None or not target_conn.channel:
                    log.warning("route %s targets %s, which is gone or has no channel", route.id,
                                target.get("connection"))
                    continue
                status = "pending_approval" if target_conn.approval in ("manual", "policy") else "queued"
                delivery = Delivery(id=new_id("dlv"), workspace_id=event.workspace_id, event_id=event.id,
                                    route_id=route.id, connection_id=target_conn.id, webhook_id=new_id("msg"),
                                    status=status, template=target.get("template"))
                session.add(delivery)
                created.append(delivery)
    return created
