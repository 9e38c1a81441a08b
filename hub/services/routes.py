"""Routes: validated at save time (rules, targets, templates), previewed without sending."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.errors import HookhubError, invalid
from hub.core.field_map import DEFAULT_FIELD_MAP
from hub.core.matching import check_event_types, check_rule, rules_match, type_matches
from hub.core.templating import TemplateError, compile_template, template_context
from hub.plugin import OutboundMessage
from hub.runtime import lifecycle
from hub.runtime.plugin_host import PluginHost
from hub.services.connection_secrets import SECRET_PLACEHOLDER, mask_url
from hub.services.connections import ConnectionService
from hub.storage import audit
from hub.storage.lookup import in_workspace
from hub.storage.models import Connection, Event, Route


class RouteService:
    def __init__(self, session: Session, host: PluginHost, connections: ConnectionService, actor: str) -> None:
        self.session = session
        self.host = host
        self.connections = connections
        self.actor = actor

    def get(self, workspace: str, route_id: str) -> Route:
        return in_workspace(self.session, Route, workspace, route_id, "route")

    def list(self, workspace: str, source: str | None = None) -> list[Route]:
        query = sa.select(Route).where(Route.workspace_id == workspace)
        if source:
            query = query.where(Route.source_id == source)
        return list(self.session.scalars(query.order_by(Route.id.desc())))

    def source_name(self, route: Route) -> str:
        """What the API calls the route's source: a connection id, or ``lifecycle``."""
        source = self.session.get(Connection, route.source_id)
        return lifecycle.PROVIDER if source is not None and source.system else route.source_id

    def create(self, workspace: str, data: Mapping[str, Any]) -> Route:
        route = Route(workspace_id=workspace)
        self._apply(route, data, creating=True)
        self.session.add(route)
        self.session.flush()
        self._audit(route, "route.created")
        return route

    def update(self, route: Route, data: Mapping[str, Any]) -> Route:
        self._apply(route, data, creating=False)
        self.session.flush()
        self._audit(route, "route.updated", {"fields": sorted(data)})
        return route

    def delete(self, route: Route) -> None:
        self._audit(route, "route.deleted", {"name": route.name})
        self.session.delete(route)
        self.session.flush()
        lifecycle.forget_subscriptions(self.session)     # it may have been one of them

    def _apply(self, route: Route, data: Mapping[str, Any], *, creating: bool) -> None:
        errors: dict[str, Any] = {}
        workspace = route.workspace_id
        if "name" in data or creating:
            name = data.get("name")
            if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
                errors["name"] = ["give a name of 1 to 100 characters"]
        if "source" in data or creating:
            if data.get("source") == lifecycle.PROVIDER:       # the hub's own events
                source = lifecycle.source(self.session, workspace, create=True)
                data = {**data, "source": source.id}
            else:
                source = self.session.get(Connection, data.get("source") or "")
            if source is None or source.workspace_id != workspace:
                errors["source"] = [f"no connection {data.get('source')!r} in workspace {workspace!r}"]
            elif not source.provider:
                errors["source"] = ["the source connection has no inbound provider, so it has no events"]
        hub_events = lifecycle.source(self.session, workspace)
        to_lifecycle = hub_events is not None and data.get("source", route.source_id) == hub_events.id
        if to_lifecycle or (hub_events is not None and route.source_id == hub_events.id):
            lifecycle.forget_subscriptions(self.session)        # a lifecycle route comes, goes or changes
        if "event_types" in data and (problems := check_event_types(data["event_types"])):
            errors["event_types"] = problems
        elif to_lifecycle and (unknown := [p for p in data.get("event_types") or []
                                           if not any(type_matches([p], t) for t in lifecycle.CATALOGUE)]):
            errors["event_types"] = [f"{', '.join(unknown)}: no lifecycle event has such a type "
                                     "(GET /api/v1/event-types lists them)"]
        if "match" in data or creating:
            rules = data.get("match") or []
            problems = {str(i): p for i, rule in enumerate(rules) if (p := check_rule(rule))}
            if problems:
                errors["match"] = problems
        if "targets" in data or creating:
            target_errors = self._check_targets(workspace, data.get("targets"))
            if target_errors:
                errors["targets"] = target_errors
        if errors:
            raise invalid(errors)
        for key, attr in (("name", "name"), ("source", "source_id"), ("match", "match"),
                          ("targets", "targets"), ("active", "active")):
            if key in data:
                setattr(route, attr, data[key] if key != "match" else list(data[key] or []))
        if "event_types" in data:
            route.event_types = [p.strip() for p in data["event_types"] or []]

    def _check_targets(self, workspace: str, targets: Any) -> dict[str, Any] | list[str]:
        if not isinstance(targets, list) or not targets:
            return ["give at least one target: {\"connection\": \"con_…\", \"template\": …}"]
        problems: dict[str, Any] = {}
        for i, target in enumerate(targets):
            if not isinstance(target, Mapping) or set(target) - {"connection", "template"}:
                problems[str(i)] = ["a target is {\"connection\": id, \"template\": JSON (optional)}"]
                continue
            conn = self.session.get(Connection, target.get("connection") or "")
            if conn is None or conn.workspace_id != workspace or conn.system:
                problems[str(i)] = {"connection": [f"no connection {target.get('connection')!r}"]}
                continue
            if not conn.channel:
                problems[str(i)] = {"connection": [f"{conn.name!r} has no outbound channel"]}
                continue
            if target.get("template") is not None:
                try:
                    compile_template(target["template"])
                except TemplateError as exc:
                    problems[str(i)] = {"template": [str(exc)]}
        return problems

    def preview(self, route: Route, *, event_id: str | None = None, sample: Any = None) -> dict[str, Any]:
        """Render each target's message and request against a stored event or a sample body; nothing
        is sent. A preview never carries a secret: URLs are masked, only the values of the
        :data:`SHOWN_HEADERS` and of headers set literally in the channel's settings are shown (an
        ``auth_header``, a signature or a header set from a param may carry a secret), and the
        target's secret values are blanked out of the body."""
        if event_id:
            event = in_workspace(self.session, Event, route.workspace_id, event_id, "event")
            envelope = dict(event.envelope)
        else:
            source = self.session.get(Connection, route.source_id)
            envelope = {"id": "evt_preview", "workspace": route.workspace_id, "connection": source.name,
                        "provider": source.provider, "event_id": "preview", "channel": source.default_channel,
                        "text": sample.get("text") if isinstance(sample, dict) else None,
                        "type": _sample_type(sample), "payload": sample, "headers": {}, "query": {}}
        out = {"matched": type_matches(route.event_types, envelope.get("type")) and rules_match(route.match, envelope),
               "targets": []}
        for target in route.targets or []:
            out["targets"].append(self._preview_target(target, envelope))
        return out

    def _preview_target(self, target: Mapping[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
        conn = self.session.get(Connection, target["connection"])
        item: dict[str, Any] = {"connection": target["connection"]}
        if conn is None or conn.channel not in self.host.channels:
            item["error"] = "the target connection is gone or its channel is not installed"
            return item
        channel = self.host.channels.get(conn.channel)
        view = self.connections.view(conn)
        item["channel"] = conn.channel
        try:
            if target.get("template") is None:
                body = channel.default_body(envelope, view)
            else:
                body = compile_template(target["template"]).render(template_context(envelope))
            item["body"] = body
            request = channel.build(OutboundMessage(body=body, delivery_id="dlv_preview", webhook_id="msg_preview",
                                                    envelope=envelope), view)
            body_text = request.body.decode("utf-8", "replace")
            secrets = [v for name in view.secrets for v in view.secret_values(name) if len(v) >= 4]
            plain = set(_plain_strings(conn.channel_config))
            for value in sorted(secrets, key=len, reverse=True):
                body_text = body_text.replace(value, SECRET_PLACEHOLDER)
            item["request"] = {"method": request.method, "url": mask_url(request.url),
                               "headers": {k: (v if k.lower() in SHOWN_HEADERS or v in plain else SECRET_PLACEHOLDER)
                                           for k, v in request.headers.items()},
                               "body": body_text}
        except TemplateError as exc:
            item["error"] = f"template: {exc}"
        except HookhubError as exc:
            item["error"] = exc.message
        return item

    def _audit(self, route: Route, action: str, details: dict[str, Any] | None = None) -> None:
        audit.record(self.session, actor=self.actor, action=action, workspace=route.workspace_id,
                     object_type="route", object_id=route.id, details=details or {})


def _plain_strings(value: Any) -> Iterator[str]:
    """The strings written literally in a setting (no ``${...}`` reference), at any depth."""
    if isinstance(value, str):
        if "${" not in value:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _plain_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _plain_strings(item)


#: Request headers whose values a preview always shows.
SHOWN_HEADERS = frozenset({"content-type", "content-length", "accept", "user-agent", "webhook-id",
                           "webhook-timestamp"})


def _sample_type(sample: Any) -> str | None:
    """A sample payload's type, read as an inbound event's would be by default (core.field_map)."""
    if isinstance(sample, dict):
        for key in DEFAULT_FIELD_MAP["event_type"]:
            if isinstance(sample.get(key), str) and sample[key]:
                return sample[key]
    return None
