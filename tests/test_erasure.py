"""``POST /api/v1/connections/{id}/erase``: every payload, raw body and header value of a connection's
events and deliveries is removed — ids, statuses, times and digests stay —, what has not gone out yet
never does, an erased event cannot be replayed, and the erasure is audited; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import ipaddress
import json

import pytest
import sqlalchemy as sa

from hub.core.times import utcnow
from hub.storage.db import get_database
from hub.storage.models import Approval, Delivery, DeliveryAttempt, Event
from hub.testing import AdminClient, Reply, make_token, run_jobs, settle

NAME = "Ada Lovelace"          # the personal data that must be gone


@pytest.fixture
def settings(settings):
    return {**settings, "HOOKHUB_ALLOW_PRIVATE_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),)}


@pytest.fixture
def app(app_on_each_database):
    return app_on_each_database


@pytest.fixture
def api(app) -> AdminClient:
    return AdminClient(app)


def stored_rows(app) -> str:
    """Every stored row of events, deliveries, attempts and approvals, as text."""
    rows = []
    with get_database(app).session() as s:
        for model in (Event, Delivery, DeliveryAttempt, Approval):
            for row in s.scalars(sa.select(model)):
                rows.append({c.key: repr(getattr(row, c.key)) for c in sa.inspect(model).column_attrs})
    return json.dumps(rows, ensure_ascii=False)


@pytest.fixture
def world(app, api, receiver):
    """A source routed to a target (delivered, with a template) and to a manual one (held), and a
    second event of the source not routed yet."""
    source = api.create_connection(name="crm", provider="generic")
    target = api.create_connection(name="target", channel="webhook", channel_config={"url": receiver.url + "/t"})
    held = api.create_connection(name="held", channel="webhook", approval="manual",
                                 channel_config={"url": receiver.url + "/h"})
    assert api.post("/routes", json={"name": "r", "source": source["id"], "targets": [
        {"connection": target["id"], "template": {"text": "new lead {{ payload.name }}"}},
        {"connection": held["id"]}]}).status_code == 201
    receiver.reply(Reply(200, body={"thanks": NAME}))
    client = app.test_client()
    body = json.dumps({"name": NAME, "email": "ada@example.com"}).encode()
    routed = client.post(source["inbound_path"], data=body, content_type="application/json",
                         headers={"X-Customer": NAME}).json["id"]
    settle(app, lambda: api.get("/approvals").json["items"] and len(receiver) == 1)
    waiting = client.post(source["inbound_path"], json={"name": NAME, "n": 2}).json["id"]
    return {"source": source["id"], "target": target["id"], "held": held["id"], "routed": routed,
            "waiting": waiting, "body": body}


def test_erasing_a_source_removes_its_content_and_keeps_the_record(app, api, receiver, world):
    assert NAME in stored_rows(app)
    viewer = make_token(app, "viewer")
    r = api.post(f"/connections/{world['source']}/erase", token=viewer)
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"

    r = api.post(f"/connections/{world['source']}/erase")
    assert r.status_code == 200, r.json
    assert r.json == {"events": 2, "deliveries": 2, "attempts": 1, "stopped": 2}
    assert NAME not in stored_rows(app) and "ada@example.com" not in stored_rows(app)

    event = api.get(f"/events/{world['routed']}").json
    assert event["erased"] is True and event["payload"] is None and event["headers"] is None
    assert event["raw_body"] == "" and event["text"] is None
    assert (event["id"], event["status"], event["connection_id"]) == (world["routed"], "routed", world["source"])
    assert event["received_at"] and event["event_id"]
    listed = api.get(f"/events?connection={world['source']}").json["items"]
    assert [(e["erased"], e["payload"], e["headers"]) for e in listed] == [(True, None, None)] * 2

    deliveries = {d["connection"]: d for d in api.get("/deliveries").json["items"]}
    sent = api.get(f"/deliveries/{deliveries[world['target']]['id']}").json
    assert (sent["status"], sent["erased"], sent["body"], sent["template"]) == ("delivered", True, None, None)
    assert sent["attempts"][0]["response_excerpt"] is None and sent["attempts"][0]["status_code"] == 200
    assert deliveries[world["held"]]["status"] == "rejected"             # held: it will never go out
    assert [a["status"] for a in api.get("/approvals").json["items"]] == ["rejected"]

    # The event that was not routed yet never will be.
    assert api.get(f"/events/{world['waiting']}").json["status"] == "failed"
    run_jobs(app)
    assert len(api.get("/deliveries").json["items"]) == 2 and len(receiver) == 1

    r = api.post(f"/events/{world['routed']}/replay")
    assert r.status_code == 409 and r.json["error"]["code"] == "conflict" and "erased" in r.json["error"]["message"]
    r = api.post(f"/deliveries/{sent['id']}/retry")
    assert r.status_code == 409 and "erased" in r.json["error"]["message"]

    [record] = api.get("/audit?action=connection.erased").json["items"]
    assert record["object"] == world["source"] and record["actor"].startswith("token:")
    assert record["details"] == {"events": 2, "deliveries": 2, "attempts": 1, "stopped": 2}
    accepted = [x for x in api.get("/audit/exchanges?direction=inbound").json["items"] if x["event"] == world["routed"]]
    assert accepted[0]["body_sha256"] == hashlib.sha256(world["body"]).hexdigest()   # the proof stays

    again = api.post(f"/connections/{world['source']}/erase").json
    assert again == {"events": 0, "deliveries": 0, "attempts": 0, "stopped": 0}


def test_erasing_a_target_empties_its_deliveries_and_leaves_the_source_alone(app, api, world):
    r = api.post(f"/connections/{world['target']}/erase")
    assert r.json == {"events": 0, "deliveries": 1, "attempts": 1, "stopped": 0}
    event = api.get(f"/events/{world['routed']}").json
    assert event["erased"] is False and event["payload"]["name"] == NAME
    deliveries = {d["connection"]: d for d in api.get("/deliveries").json["items"]}
    assert deliveries[world["target"]]["erased"] is True
    assert api.get(f"/deliveries/{deliveries[world['target']]['id']}").json["body"] is None
    held = api.get(f"/deliveries/{deliveries[world['held']]['id']}").json
    assert held["erased"] is False and held["status"] == "pending_approval"


def test_a_delivery_erased_while_on_the_wire_is_not_sent_again(app, api, receiver):
    source = api.create_connection(name="crm", provider="generic")
    target = api.create_connection(name="target", channel="webhook", channel_config={"url": receiver.url + "/t"})
    api.post("/routes", json={"name": "r", "source": source["id"], "targets": [{"connection": target["id"]}]})
    api.post(f"/connections/{target['id']}/deactivate")
    app.test_client().post(source["inbound_path"], json={"name": NAME})
    settle(app, lambda: [d for d in api.get("/deliveries").json["items"] if d["last_error"]])   # held, queued
    # As an erasure leaves a delivery that was sending and is then scheduled for a retry.
    with get_database(app).session() as s:
        s.execute(sa.update(Delivery).values(erased_at=utcnow(), body=None))
    api.post(f"/connections/{target['id']}/activate")
    [delivery] = settle(app, lambda: [d for d in api.get("/deliveries").json["items"] if d["status"] == "failed"])
    assert delivery["last_error"] == "its content was erased" and len(receiver) == 0


def test_another_workspace_cannot_erase(app, api, world):
    r = api.post(f"/connections/{world['source']}/erase", token=make_token(app, "admin", "team-b"))
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    assert api.get(f"/events/{world['routed']}").json["erased"] is False


def test_erased_dead_deliveries_are_left_out_of_a_bulk_retry(app, api, receiver):
    source = api.create_connection(name="crm", provider="generic")
    target = api.create_connection(name="target", channel="webhook",
                                   channel_config={"url": receiver.url + "/t", "retry_schedule": []})
    api.post("/routes", json={"name": "r", "source": source["id"], "targets": [{"connection": target["id"]}]})
    receiver.reply(Reply(500))
    app.test_client().post(source["inbound_path"], json={"name": NAME})
    settle(app, lambda: [d for d in api.get("/deliveries").json["items"] if d["status"] == "dead"])
    assert api.post(f"/connections/{target['id']}/erase").json["deliveries"] == 1
    r = api.post("/deliveries/retry", json={"connection": target["id"]})
    assert r.status_code == 200 and r.json["count"] == 0
    assert [d["status"] for d in api.get("/deliveries").json["items"]] == ["dead"]
