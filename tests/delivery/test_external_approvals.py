"""External approvers and correlated callbacks, on a real RQ worker: the approval request is a
signed delivery to the approver, its answer decides (the seeds' format), a 202 leaves it to a
callback, and whoever decides is recorded."""

from __future__ import annotations

from datetime import timedelta

from hub.core.times import utcnow
from hub.storage.db import get_database
from hub.storage.models import Approval
from hub.testing import Reply, settle
from tests.delivery.conftest import deliveries, make_route, make_source, make_target


def external(api, receiver, name="guarded", **extra):
    """A source routed to a target whose deliveries an approver at /approver decides."""
    approver = make_target(api, receiver.url + "/approver", f"{name} approver")
    target = api.post("/connections", json={
        "name": f"{name} target", "channel": "webhook", "approval": "external",
        "approval_config": {"approver": approver}, "channel_config": {"url": receiver.url + "/target"}, **extra})
    assert target.status_code == 201, target.json
    source, inbound = make_source(api, f"{name} source")
    make_route(api, source, [target.json["id"]])
    return source, inbound, target.json["id"], approver


def sent_to(receiver, path):
    return [r for r in receiver if r.path == path]


def test_an_approver_answering_approved_releases_the_delivery(app, api, client, receiver):
    receiver.reply(lambda req: Reply(200, {"output": {"response": "approved", "reason": "fine"}})
                   if req.path == "/approver" else Reply(200))
    _, inbound, target, approver = external(api, receiver)
    client.post(inbound, json={"text": "deploy prod", "event_id": "e1"})
    settle(app, lambda: sent_to(receiver, "/target"))
    [asked] = sent_to(receiver, "/approver")
    request = asked.json()
    assert request["type"] == "approval.requested" and request["event"]["text"] == "deploy prod"
    assert request["approval"]["connection"] == target and request["request"]["method"] == "POST"
    assert request["request"]["body"]["text"] == "deploy prod"            # what would be sent
    [approval] = api.get("/approvals").json["items"]
    assert approval["status"] == "approved" and approval["decided_by"] == f"approver:{approver}"
    assert approval["reason"] == "fine"
    assert [d["status"] for d in deliveries(api, connection=target)] == ["delivered"]


def test_an_approver_answering_rejected_means_never_sent(app, api, client, receiver):
    receiver.reply(lambda req: Reply(200, {"response": "rejected", "reason": "not on fridays"})
                   if req.path == "/approver" else Reply(200))
    _, inbound, target, _ = external(api, receiver)
    client.post(inbound, json={"event_id": "e1"})
    settle(app, lambda: [d for d in deliveries(api, connection=target) if d["status"] == "rejected"])
    assert sent_to(receiver, "/target") == []
    [approval] = api.get("/approvals").json["items"]
    assert approval["status"] == "rejected" and approval["reason"] == "not on fridays"


def test_an_unreadable_or_failing_approver_is_retried_and_the_approval_stays_pending(app, api, client, receiver):
    receiver.reply(Reply(500), Reply(200, {"verdict": "maybe"}),
                   Reply(200, {"output": {"response": "approve"}}), Reply(200))
    _, inbound, target, approver = external(api, receiver, channel_config={"url": receiver.url + "/target"})
    client.post(inbound, json={"event_id": "e1"})
    settle(app, lambda: sent_to(receiver, "/target"), timeout=20)
    assert len(sent_to(receiver, "/approver")) == 3                          # 500, unreadable, then approve
    [request] = deliveries(api, connection=approver)
    assert [a["outcome"] for a in request["attempts"]] == ["retry", "retry", "delivered"]


def test_a_202_waits_for_a_correlated_callback_which_decides(app, api, client, receiver):
    receiver.reply(lambda req: Reply(202) if req.path == "/approver" else Reply(200))
    _, inbound, target, _ = external(api, receiver)
    client.post(inbound, json={"event_id": "e1"})
    settle(app, lambda: sent_to(receiver, "/approver"))
    [approval] = api.get("/approvals").json["items"]
    assert approval["status"] == "pending"
    callbacks = api.post("/connections", json={"name": "approval callbacks", "provider": "generic", "correlation": {
        "path": "payload.approval_id", "decision_path": "payload.decision", "reason_path": "payload.why"}}).json
    path = callbacks["inbound_url"].removeprefix("http://hub.test")
    r = client.post(path, json={"approval_id": approval["id"], "decision": "approve", "why": "looked at it"})
    assert r.status_code == 200 and r.json["status"] == "accepted"
    settle(app, lambda: sent_to(receiver, "/target"))
    decided = api.get(f"/approvals/{approval['id']}").json
    assert decided["decided_by"] == f"connection:{callbacks['id']}" and decided["reason"] == "looked at it"
    again = client.post(path, json={"approval_id": approval["id"], "decision": "reject"})
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"
    missing = client.post(path, json={"decision": "approve"})
    assert missing.status_code == 400 and missing.json["error"]["code"] == "correlation_missing"
    unmatched = client.post(path, json={"approval_id": "apr_nope", "decision": "approve"})
    assert unmatched.status_code == 404 and unmatched.json["error"]["code"] == "correlation_unmatched"
    codes = {f["code"] for f in api.get(f"/failures?connection={callbacks['id']}").json["items"]}
    assert codes == {"conflict", "correlation_missing", "correlation_unmatched"}     # each recorded


def test_an_approval_past_its_expiry_cannot_be_decided_before_the_sweep(app, api, client, receiver):
    receiver.reply(lambda req: Reply(202) if req.path == "/approver" else Reply(200))
    _, inbound, target, _ = external(api, receiver)
    client.post(inbound, json={"event_id": "e1"})
    settle(app, lambda: sent_to(receiver, "/approver"))
    [approval] = api.get("/approvals").json["items"]
    with get_database(app).session() as s:           # its window passed six seconds ago; no sweep yet
        s.get(Approval, approval["id"]).expires_at = utcnow() - timedelta(seconds=6)
    late = api.post(f"/approvals/{approval['id']}/approve", json={})
    assert late.status_code == 409 and "expired" in late.json["error"]["message"]
    settle(app, lambda: True)
    assert sent_to(receiver, "/target") == [] and api.get(f"/approvals/{approval['id']}").json["status"] == "pending"


def test_an_approver_must_be_a_connection_with_a_channel(api, receiver):
    inbound_only, _ = make_source(api, "not an approver")
    r = api.post("/connections", json={"name": "t", "channel": "webhook", "approval": "external",
                                       "approval_config": {"approver": inbound_only},
                                       "channel_config": {"url": receiver.url + "/t"}})
    assert r.status_code == 422 and "outbound channel" in r.json["error"]["fields"]["approval_config"]["approver"][0]
    r = api.post("/connections", json={"name": "t2", "channel": "webhook", "approval": "external",
                                       "channel_config": {"url": receiver.url + "/t"}})
    assert r.status_code == 422 and "approval_config" in r.json["error"]["fields"]
