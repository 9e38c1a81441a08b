"""``/api/v1/approvals`` through the real worker: deliveries to a ``manual`` connection wait as
pending approvals; approving one sends it, rejecting one (with a reason) never does; a decision
is taken once; viewers only read."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from hub.storage.db import get_database
from hub.storage.models import AuditRecord
from hub.testing import make_token
from hub.worker.sweeper import sweep
from tests.delivery.conftest import all_settled, deliveries, make_route, make_source, settle


def held(app, api, client, receiver, count: int, name: str = "manual", **config) -> tuple[str, list[dict]]:
    """``count`` events routed to a manual connection; returns it and its approvals (newest first)."""
    source, inbound = make_source(api, f"{name} source")
    manual = api.post("/connections", json={"name": f"{name} target", "channel": "webhook", "approval": "manual",
                                            "channel_config": {"url": receiver.url + "/m", **config}}).json["id"]
    make_route(api, source, [manual])
    for n in range(count):
        client.post(inbound, json={"n": n})
    settle(app, lambda: len(mine := deliveries(api, connection=manual)) == count
           and all(d["status"] == "pending_approval" for d in mine))
    items = [a for a in api.get("/approvals").json["items"] if a["connection"] == manual]
    assert len(items) == count
    return manual, items


def test_approving_sends_the_delivery_and_records_who_decided(app, api, client, receiver):
    manual, [approval] = held(app, api, client, receiver, 1)
    assert approval["status"] == "pending" and approval["connection"] == manual
    assert approval["delivery_status"] == "pending_approval" and len(receiver) == 0
    r = api.post(f"/approvals/{approval['id']}/approve", json={"reason": "looks right"})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "approved" and r.json["decided_by"].startswith("token:")
    assert r.json["reason"] == "looks right" and r.json["decided_at"]
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "delivered" and receiver.wait_for(1)[0].json()["payload"] == {"n": 0}
    with get_database(app).session() as s:
        [record] = s.scalars(sa.select(AuditRecord).where(AuditRecord.action == "approval.decided")).all()
        assert record.object_id == approval["delivery"] and record.details["approved"] is True


def test_approve_takes_no_body(app, api, client, receiver):
    _, [approval] = held(app, api, client, receiver, 1)
    r = api.post(f"/approvals/{approval['id']}/approve")                     # no json=: no body at all
    assert r.status_code == 200 and r.json["status"] == "approved" and r.json["reason"] is None, r.json


def test_rejecting_needs_a_reason_and_the_delivery_is_never_sent(app, api, client, receiver):
    _, [approval] = held(app, api, client, receiver, 1)
    r = api.post(f"/approvals/{approval['id']}/reject", json={})
    assert r.status_code == 422 and r.json["error"]["code"] == "validation_error"
    assert "reason" in r.json["error"]["fields"]
    r = api.post(f"/approvals/{approval['id']}/reject", json={"reason": "not this customer"})
    assert r.status_code == 200 and r.json["status"] == "rejected" and r.json["delivery_status"] == "rejected"
    settle(app, lambda: True)                                    # a worker pass: nothing to send
    [item] = deliveries(api)
    assert item["status"] == "rejected" and "not this customer" in item["last_error"]
    assert len(receiver) == 0
    assert api.post(f"/deliveries/{item['id']}/retry").status_code == 200   # an admin may still send it on purpose


def test_a_decision_is_taken_once(app, api, client, receiver):
    _, [approval] = held(app, api, client, receiver, 1)
    assert api.post(f"/approvals/{approval['id']}/reject", json={"reason": "no"}).status_code == 200
    for action, body in (("approve", {}), ("reject", {"reason": "again"})):
        r = api.post(f"/approvals/{approval['id']}/{action}", json=body)
        assert r.status_code == 409 and r.json["error"]["code"] == "conflict", r.json
        assert "already rejected" in r.json["error"]["message"]
    assert api.get(f"/approvals/{approval['id']}").json["reason"] == "no"


def test_the_list_puts_pending_first_filters_and_pages(app, api, client, receiver):
    _, items = held(app, api, client, receiver, 4)
    decided = [items[0]["id"], items[2]["id"]]                   # the newest and the third
    for approval_id in decided:
        assert api.post(f"/approvals/{approval_id}/approve", json={}).status_code == 200
    listed = api.get("/approvals").json["items"]
    assert [a["status"] for a in listed] == ["pending", "pending", "approved", "approved"]
    assert [a["id"] for a in listed[2:]] == decided              # each group newest first
    pages, cursor = [], None
    while True:
        page = api.get("/approvals?limit=1" + (f"&cursor={cursor}" if cursor else "")).json
        pages += [a["id"] for a in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert pages == [a["id"] for a in listed]
    assert [a["id"] for a in api.get("/approvals?status=approved").json["items"]] == decided
    assert api.get("/approvals?status=maybe").status_code == 422
    bad = api.get("/approvals?cursor=garbage")
    assert bad.status_code == 422 and "cursor" in bad.json["error"]["fields"], bad.json


def test_viewers_read_but_cannot_decide_and_other_workspaces_see_nothing(app, api, client, receiver):
    _, [approval] = held(app, api, client, receiver, 1)
    viewer = make_token(app, "viewer")
    other = make_token(app, "admin", workspace="other")
    assert api.get("/approvals", token=viewer).json["items"][0]["id"] == approval["id"]
    r = api.post(f"/approvals/{approval['id']}/approve", json={}, token=viewer)
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    assert api.get("/approvals", token=other).json["items"] == []
    assert api.post(f"/approvals/{approval['id']}/approve", json={}, token=other).status_code == 404
    assert api.get(f"/approvals/{approval['id']}").json["status"] == "pending"


def test_the_openapi_document_describes_the_approval_routes(client):
    spec = client.get("/api/v1/openapi.json").json
    assert {"/api/v1/approvals", "/api/v1/approvals/{approval_id}", "/api/v1/approvals/{approval_id}/approve",
            "/api/v1/approvals/{approval_id}/reject"} <= set(spec["paths"])
    body = spec["paths"]["/api/v1/approvals/{approval_id}/reject"]["post"]["requestBody"]["content"]
    schema = body["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert schema["required"] == ["reason"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_undecided_approval_expires_and_its_delivery_is_never_sent(app, api, client, receiver):
    _, [approval] = held(app, api, client, receiver, 1, approval_timeout=3)
    expires = _at(approval["expires_at"])
    assert expires - _at(approval["created_at"]) <= timedelta(seconds=3.1)
    assert sweep(app, force=True)["approvals_expired"] == 0            # not yet
    while datetime.now(UTC) <= expires:                                 # until the clock passes expires_at
        time.sleep(0.05)
    assert sweep(app, force=True)["approvals_expired"] == 1
    expired = api.get(f"/approvals/{approval['id']}").json
    assert expired["status"] == "expired" and expired["decided_by"] == "system"
    assert expired["reason"] == "no decision within 3 seconds" and expired["delivery_status"] == "rejected"
    [item] = deliveries(api)
    assert item["status"] == "rejected" and "the approval expired" in item["last_error"]
    late = api.post(f"/approvals/{approval['id']}/approve", json={})
    assert late.status_code == 409 and "already expired" in late.json["error"]["message"]
    settle(app, lambda: True)
    assert len(receiver) == 0
    with get_database(app).session() as s:
        [record] = s.scalars(sa.select(AuditRecord).where(AuditRecord.action == "approval.expired")).all()
        assert record.actor == "system" and record.object_id == approval["delivery"]


def test_approvals_expire_after_a_week_by_default_or_never_when_set_to_zero(app, api, client, receiver):
    _, [default] = held(app, api, client, receiver, 1)
    waits = _at(default["expires_at"]) - _at(default["created_at"])
    assert timedelta(days=7) - timedelta(seconds=1) <= waits <= timedelta(days=7, seconds=1)
    _, [forever] = held(app, api, client, receiver, 1, name="patient", approval_timeout=0)
    assert forever["expires_at"] is None
