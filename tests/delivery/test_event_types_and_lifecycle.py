"""Event types (envelope, route filters, the events list) and the hub's own lifecycle events,
delivered through the ordinary routing and delivery engine on a real RQ worker."""

from __future__ import annotations

import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from hub.runtime import lifecycle
from hub.runtime.plugin_host import get_host
from hub.services.connections import for_app
from hub.services.routes import RouteService
from hub.storage.db import get_database
from hub.storage.models import Event, Route
from hub.testing import Reply, settle
from tests.delivery.conftest import all_settled, deliveries, make_route, make_source, make_target

SIGNING = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_routes_filter_on_event_types_with_wildcards(app, api, client, receiver):
    source, inbound = make_source(api)
    invoices = make_target(api, receiver.url + "/invoices", "invoices")
    everything = make_target(api, receiver.url + "/all", "everything")
    made = api.post("/routes", json={"name": "invoices", "source": source, "event_types": ["invoice.*", "refund"],
                                     "targets": [{"connection": invoices}]})
    assert made.status_code == 201 and made.json["event_types"] == ["invoice.*", "refund"]
    make_route(api, source, [everything], name="all")
    for n, kind in enumerate(["invoice.paid", "invoice.voided", "customer.created", "refund", None]):
        client.post(inbound, json={"event_id": f"e{n}", **({"type": kind} if kind else {})})
    settle(app, all_settled(api, 8))
    assert sorted(r.json()["type"] or "-" for r in receiver if r.path == "/invoices") == [
        "invoice.paid", "invoice.voided", "refund"]
    assert len([r for r in receiver if r.path == "/all"]) == 5                # no filter: every type
    bad = api.patch(f"/routes/{made.json['id']}", json={"event_types": [""]})
    assert bad.status_code == 422 and "event_types" in bad.json["error"]["fields"]


def test_the_type_is_taken_by_the_field_map_and_a_provider_wins(app, api, client):
    source, inbound = make_source(api, field_map={"event_type": "payload_kind"})
    r = client.post(inbound, json={"payload_kind": "deal.won", "type": "ignored"})
    event = api.get(f"/events/{r.json['id']}").json
    assert event["type"] == event["event_type"] == "deal.won"
    default_source, default_inbound = make_source(api, "other source")
    typed = client.post(default_inbound, json={"action": "opened"}).json
    assert api.get(f"/events/{typed['id']}").json["type"] == "opened"      # type, event_type, event, action
    untyped = client.post(default_inbound, json={"n": 1}).json
    assert api.get(f"/events/{untyped['id']}").json["type"] is None


def lifecycle_subscriber(api, receiver, types: list[str]) -> str:
    target = make_target(api, receiver.url + "/lifecycle", "lifecycle subscriber",
                         secrets={"signing_secret": SIGNING})
    r = api.post("/routes", json={"name": "hub events", "source": "lifecycle", "event_types": types,
                                  "targets": [{"connection": target}]})
    assert r.status_code == 201, r.json
    assert r.json["source"] == "lifecycle"
    return target


def test_a_dead_delivery_is_reported_to_a_lifecycle_subscriber(app, api, client, receiver):
    subscriber = lifecycle_subscriber(api, receiver, ["delivery.dead"])
    source, inbound = make_source(api)
    failing = make_target(api, receiver.url + "/down", "down", retry_schedule=[0.1])
    make_route(api, source, [failing])
    receiver.reply(Reply(503), Reply(503))
    client.post(inbound, json={"event_id": "x"})
    [dead] = settle(app, lambda: [d for d in deliveries(api, connection=failing) if d["status"] == "dead"])
    reports = settle(app, lambda: [r for r in receiver if r.path == "/lifecycle"])
    assert len(reports) == 1
    body = Webhook(SIGNING).verify(reports[0].body, dict(reports[0].headers.items()))   # signed like any delivery
    assert body["type"] == "delivery.dead" and body["provider"] == "lifecycle" and body["connection"] is None
    assert body["payload"]["type"] == "delivery.dead" and body["payload"]["data"]["id"] == dead["id"]
    assert body["payload"]["data"]["status"] == "dead" and body["payload"]["data"]["attempts"][-1]["outcome"] == "dead"
    # no loop: the report's own delivery reports nothing, and nothing else was subscribed
    settle(app, all_settled(api, 1, connection=subscriber))
    with get_database(app).session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.provider == "lifecycle")) == 1


def test_connection_changes_are_reported_and_unsubscribed_types_cost_nothing(app, api, receiver):
    lifecycle_subscriber(api, receiver, ["connection.*", "key.reset"])
    made = api.post("/connections", json={"name": "crm", "provider": "generic"}).json
    api.post(f"/connections/{made['id']}/reset-key")
    api.post(f"/connections/{made['id']}/deactivate")
    settle(app, lambda: len([r for r in receiver if r.path == "/lifecycle"]) >= 3)
    types = sorted(r.json()["type"] for r in receiver if r.path == "/lifecycle")
    assert types == ["connection.created", "connection.updated", "key.reset"]
    data = next(r.json()["payload"]["data"] for r in receiver if r.json()["type"] == "key.reset")
    assert data["id"] == made["id"] and "secrets" not in data and "inbound_url" not in data
    with get_database(app).session() as s:    # delivery.* was not subscribed: not even recorded
        kinds = list(s.scalars(sa.select(Event.envelope).where(Event.provider == "lifecycle")))
    assert all(k["type"].startswith(("connection.", "key.")) for k in kinds)


def test_a_lifecycle_route_moved_or_deleted_stops_counting_within_the_same_session(app, api, receiver):
    """What a workspace subscribes to is read once per session (a request, a job): a change to a
    lifecycle route in that session holds for the emissions after it."""
    lifecycle_subscriber(api, receiver, ["connection.*"])
    [route_id] = [r["id"] for r in api.get("/routes").json["items"] if r["source"] == "lifecycle"]
    other_source, _ = make_source(api)
    with app.app_context(), get_database(app).session() as session:
        routes = RouteService(session, get_host(app), for_app(session, "test", app), "test")
        route = session.get(Route, route_id)
        workspace = route.workspace_id
        assert lifecycle.subscribed(session, workspace, "connection.created")
        routes.update(route, {"source": other_source})
        assert not lifecycle.subscribed(session, workspace, "connection.created")
        routes.update(route, {"source": "lifecycle"})
        assert lifecycle.subscribed(session, workspace, "connection.created")
        routes.delete(route)
        assert not lifecycle.subscribed(session, workspace, "connection.created")


def test_the_catalogue_and_the_lifecycle_source_stay_out_of_the_way(api):
    catalogue = api.get("/event-types").json["items"]
    assert {"delivery.dead", "approval.decided", "connection.disabled", "key.reset"} <= {t["type"] for t in catalogue}
    assert all(t["description"] for t in catalogue)
    r = api.post("/routes", json={"name": "typo", "source": "lifecycle", "event_types": ["delivery.daed"],
                                  "targets": [{"connection": "con_x"}]})
    assert r.status_code == 422 and "delivery.daed" in r.json["error"]["fields"]["event_types"][0]
    assert all(c["name"] != "(lifecycle)" for c in api.get("/connections").json["items"])
