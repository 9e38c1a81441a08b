"""The route form: name, source (a connection with an inbound provider, or ``lifecycle``), event
types as one comma-separated line, match rows (path, op, value), and target rows (a connection
with an outbound channel and its template, JSON in a text area).

:meth:`RouteForm.read` turns the posted form into the body the route API takes (the same
``RouteService.create`` / ``update`` data); :meth:`RouteForm.refused` puts the service's
``ConfigInvalid.fields`` next to the rows they name; :meth:`RouteForm.draft` reads the form
leniently for the live preview, which shows what it can of a route still being typed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.core.matching import OPS
from hub.runtime import lifecycle
from hub.storage.models import Connection, Route
from hub.web.console.schema_form import messages

LIFECYCLE_CHOICE = (lifecycle.PROVIDER, "lifecycle: the hub's own events")
ROW = re.compile(r"^(match|target)-(\d+)-(\w+)$")
MAX_ROWS = 50
#: The form's parts a service message may name, with their labels.
LABELS = {"name": "Name", "source": "Source", "event_types": "Event types", "match": "Match rules",
          "targets": "Targets", "_schema": "Route"}


@dataclass
class RuleRow:
    path: str = ""
    op: str = "equals"
    value: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class TargetRow:
    connection: str = ""
    template: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class RouteForm:
    """The form for a new route (``route`` None) or for editing one."""

    sources: list[tuple[str, str]]
    channels: list[tuple[str, str]]
    route: Route | None = None
    name: str = ""
    source: str = ""
    event_types: str = ""
    active: bool = True
    rules: list[RuleRow] = field(default_factory=list)
    targets: list[TargetRow] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)     # (label, message, control id)

    @classmethod
    def build(cls, connections: Iterable[Connection], route: Route | None = None,
              source_name: str | None = None) -> RouteForm:
        connections = list(connections)
        form = cls([(c.id, f"{c.name} ({c.provider})") for c in connections if c.provider] + [LIFECYCLE_CHOICE],
                   [(c.id, f"{c.name} ({c.channel})") for c in connections if c.channel], route)
        if route is not None:
            form.name, form.source, form.active = route.name, source_name or route.source_id, route.active
            form.event_types = ", ".join(route.event_types or [])
            form.rules = [RuleRow(r.get("path", ""), r.get("op", "equals"), value_text(r.get("value")))
                          for r in route.match or []]
            form.targets = [TargetRow(t.get("connection", ""), "" if t.get("template") is None
                                      else json.dumps(t["template"], indent=2, ensure_ascii=False))
                            for t in route.targets or []]
        elif form.sources:
            form.source = form.sources[0][0]
        return form

    @property
    def creating(self) -> bool:
        return self.route is None

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS

    def shown_rules(self) -> list[RuleRow]:
        """The rules, and one empty row to add another (the page's script adds more)."""
        return [*self.rules, RuleRow()]

    def shown_targets(self) -> list[TargetRow]:
        return [*self.targets, TargetRow()] if self.targets else [TargetRow()]

    def read(self, form: Mapping[str, str]) -> dict[str, Any] | None:
        """The body for the service, or None when the form itself has problems (shown on the form)."""
        data = self.draft(form)
        return None if self.problems else data

    def refused(self, fields: Mapping[str, Any]) -> None:
        """Show the service's validation messages next to the controls they name."""
        for key, problem in fields.items():
            rows: list[Any] = self.rules if key == "match" else self.targets if key == "targets" else []
            if rows and isinstance(problem, Mapping):
                for index, detail in problem.items():
                    row = rows[int(index)] if str(index).isdigit() and int(index) < len(rows) else None
                    kind = "match" if key == "match" else "target"
                    self._mark_row(row, kind, int(index) if row is not None else 0, messages(detail))
            else:
                self._mark(key if key in LABELS else "_schema", messages(problem))

    def draft(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The body the form says, as far as it can be read: a row it cannot read is left out (and
        marked). The live preview shows what it can of a route still being typed."""
        self.name = form.get("name", "").strip()
        self.source = form.get("source", "").strip()
        self.event_types = form.get("event_types", "").strip()
        self.active = form.get("active") is not None
        self.rules, self.targets = [], []
        rows: dict[tuple[str, int], dict[str, str]] = {}
        for key, value in form.items():
            if (found := ROW.match(key)) and int(found.group(2)) < MAX_ROWS:
                rows.setdefault((found.group(1), int(found.group(2))), {})[found.group(3)] = value
        match, targets = [], []
        for (kind, _n), row in sorted(rows.items()):
            if kind == "match" and (row.get("path", "").strip() or row.get("value", "").strip()):
                rule = RuleRow(row.get("path", "").strip(), row.get("op", "equals"), row.get("value", "").strip())
                self.rules.append(rule)
                try:
                    match.append({"path": rule.path, "op": rule.op, "value": parse_value(rule.op, rule.value)})
                except ValueError as exc:
                    self._mark_row(rule, "match", len(self.rules) - 1, [f"Value: {exc}"])
            elif kind == "target" and (row.get("connection", "").strip() or row.get("template", "").strip()):
                target = TargetRow(row.get("connection", "").strip(), row.get("template", "").strip())
                self.targets.append(target)
                try:
                    template = json.loads(target.template) if target.template else None
                except ValueError as exc:
                    self._mark_row(target, "target", len(self.targets) - 1, [f"Template: must be JSON: {exc}"])
                    continue
                if target.connection:
                    targets.append({"connection": target.connection, "template": template})
                else:
                    self._mark_row(target, "target", len(self.targets) - 1, ["Connection: choose where it goes"])
        return {"name": self.name, "source": self.source, "active": self.active,
                "event_types": [t.strip() for t in self.event_types.split(",") if t.strip()],
                "match": match, "targets": targets}

    def _mark(self, key: str, lines: list[str]) -> None:
        self.errors.setdefault(key, []).extend(lines)
        self.problems.extend((LABELS[key], line, f"route-{key.strip('_').replace('_', '-')}") for line in lines)

    def _mark_row(self, row: RuleRow | TargetRow | None, kind: str, index: int, lines: list[str]) -> None:
        if row is None:
            self._mark("match" if kind == "match" else "targets", lines)
            return
        row.errors.extend(lines)
        label = f"{'Rule' if kind == 'match' else 'Target'} {index + 1}"
        self.problems.extend((label, line, f"{kind}-{index}-{'path' if kind == 'match' else 'connection'}")
                             for line in lines)


def parse_value(op: str, text: str) -> Any:
    """A rule's value from its text: JSON when it reads as JSON (``42``, ``true``, ``["a", "b"]``),
    else the text itself; ``in`` also takes a comma-separated list, ``exists`` nothing or true/false."""
    if op == "exists":
        if not text:
            return None
        if text in ("true", "false"):
            return text == "true"
        raise ValueError("'exists' takes true, false or nothing")
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if op == "in" and not isinstance(value, list):
        value = [item.strip() for item in text.split(",") if item.strip()]
    return value


def value_text(value: Any) -> str:
    """How a rule's value is written in its field, so that reading it back gives the same value:
    a string that would read as JSON (``"42"``) keeps its quotes."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False)
