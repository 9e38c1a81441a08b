"""The delivery engine end to end in one process: admin API → inbound route → routing job →
delivery jobs on a real RQ worker (with its scheduler) → a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from hub.plugin import Decision, Veto, hookimpl
from hub.runtime.plugin_host import get_host
from hub.storage.db import get_database
from hub.storage.models import AuditRecord, Connection, Delivery
from hub.testing import Reply
from hub.worker.runner import JobIdFilter
from plugins.channels.webhook import WebhookChannel
from tests.delivery.conftest import (
    all_settled,
    deliveries,
    make_route,
    make_source,
    make_target,
    settle,
    statuses,
)

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_an_event_fans_out_to_every_target_of_every_matching_route(app, api, client, receiver):
    source, inbound = make_source(api)
    a = make_target(api, receiver.url + "/a", "target a")
    b = make_target(api, receiver.url + "/b", "target b")
    c = make_target(api, receiver.url + "/c", "target c")
    make_route(api, source, [a, b], name="both")
    make_route(api, source, [c], match=[{"path": "payload.kind", "op": "equals", "value": "deal"}], name="deals")
    make_route(api, source, [c], match=[{"path": "payload.kind", "op": "equals", "value": "lead"}], name="leads")
    accepted = client.post(inbound, json={"event_id": "d-1", "kind": "deal", "text": "won"}).json
    settle(app, all_settled(api, 3))
    got = receiver.wait_for(3)
    assert sorted(r.path for r in got) == ["/a", "/b", "/c"]
    assert {r.json()["id"] for r in got} == {accepted["id"]}          # default body: the envelope
    assert all(r.json()["payload"] == {"event_id": "d-1", "kind": "deal", "text": "won"} for r in got)
    assert len({r.headers["webhook-id"] for r in got}) == 3           # one idempotency key per delivery
    assert statuses(api, event=accepted["id"]) == ["delivered"] * 3


def test_match_rules_must_all_hold(app, api, client, receiver):
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook")
    make_route(api, source, [target], match=[
        {"path": "payload.deal.amount", "op": "exists"},
        {"path": "payload.deal.stage", "op": "in", "value": ["won", "closed"]},
        {"path": "payload.deal.owner", "op": "matches", "value": "^ops-"},
        {"path": "$.payload.tags[0]", "op": "not_equals", "value": "test"},
    ])
    bodies = [
        {"event_id": "1", "deal": {"amount": 10, "stage": "won", "owner": "ops-ann"}, "tags": ["real"]},   # all hold
        {"event_id": "2", "deal": {"stage": "won", "owner": "ops-ann"}, "tags": ["real"]},                 # no amount
        {"event_id": "3", "deal": {"amount": 10, "stage": "lost", "owner": "ops-ann"}, "tags": ["real"]},  # stage
        {"event_id": "4", "deal": {"amount": 10, "stage": "won", "owner": "sales-bob"}, "tags": ["real"]},  # owner
        {"event_id": "5", "deal": {"amount": 10, "stage": "closed", "owner": "ops-x"}, "tags": ["test"]},   # tag
        {"event_id": "6", "deal": {"amount": 0, "stage": "closed", "owner": "ops-x"}},                      # holds
    ]
    for body in bodies:
        assert client.post(inbound, json=body).json["status"] == "accepted"
    settle(app, all_settled(api, 2))
    assert sorted(r.json()["event_id"] for r in receiver.wait_for(2)) == ["1", "6"]


def test_templates_keep_json_types_and_render_text(app, api, client, receiver):
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook")
    template = {"count": "{{ payload.items | length }}", "first": "{{ payload.items[0] }}",
                "flag": "{{ payload.urgent }}", "missing": "{{ payload.nothing | default(none) }}",
                "summary": "{{ payload.items | length }} items for {{ payload.customer.name }}",
                "nested": ["{{ payload.customer }}", 7]}
    make_route(api, source, [{"connection": target, "template": template}])
    client.post(inbound, json={"items": [{"sku": "A", "qty": 2}, {"sku": "B"}], "urgent": True,
                               "customer": {"name": "ACME", "tier": 1}})
    settle(app, all_settled(api, 1))
    assert receiver.wait_for(1)[0].json() == {
        "count": 2, "first": {"sku": "A", "qty": 2}, "flag": True, "missing": None,
        "summary": "2 items for ACME", "nested": [{"name": "ACME", "tier": 1}, 7]}


def test_a_template_that_cannot_render_fails_the_delivery_with_the_reason(app, api, client, receiver):
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook")
    make_route(api, source, [{"connection": target, "template": {"id": "{{ payload.ticket.id }}"}}])
    client.post(inbound, json={"no_ticket": True})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "failed"
    assert "ticket" in item["last_error"] and '"id"' in item["last_error"]    # what, and where
    assert item["attempt_count"] == 1 and [a["outcome"] for a in item["attempts"]] == ["failed"]
    assert len(receiver) == 0
    with get_database(app).session() as s:     # the template's fault: the endpoint's health is untouched
        assert s.get(Connection, target).consecutive_failures == 0


def test_a_render_the_busy_worker_could_not_finish_is_retried_not_failed(app, api, client, receiver, monkeypatch):
    from hub.core.templating import budget

    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook")
    make_route(api, source, [{"connection": target, "template": {
        "n": "{% for i in range(50) %}{{ i }}{% endfor %}"}}])
    ticks = iter(range(0, 10**6, 2))       # two seconds of wall clock pass per reading, no CPU is used:
    monkeypatch.setattr(budget, "monotonic", lambda: next(ticks))   # the render is starved of the CPU
    client.post(inbound, json={"n": 1})
    [first] = settle(app, lambda: [d for d in deliveries(api) if d["attempt_count"] == 1] or None)
    assert first["status"] == "queued" and first["next_attempt_at"], first
    assert "too busy" in first["last_error"] and first["attempts"][0]["outcome"] == "retry"
    with get_database(app).session() as s:
        assert s.get(Connection, target).consecutive_failures == 0
    monkeypatch.undo()                       # the worker has the CPU again: the retry renders and sends
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "delivered" and item["attempt_count"] == 2
    assert receiver.wait_for(1)[0].json() == {"n": "".join(map(str, range(50)))}


def test_retryable_answers_are_retried_with_the_same_webhook_id_until_delivered(app, api, client, receiver):
    receiver.reply(Reply(500, "boom"), Reply(503, "busy"), Reply(200, "ok"))
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook")])
    client.post(inbound, json={"n": 1})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "delivered"
    assert [a["status_code"] for a in item["attempts"]] == [500, 503, 200]
    assert [a["outcome"] for a in item["attempts"]] == ["retry", "retry", "delivered"]
    got = receiver.wait_for(3)
    assert {r.headers["webhook-id"] for r in got} == {item["webhook_id"]}
    assert len({r.body for r in got}) == 1


def test_429_waits_for_retry_after(app, api, client, receiver):
    receiver.reply(Reply(429, "slow down", headers={"Retry-After": "2"}), Reply(200))
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook")])
    client.post(inbound, json={"n": 1})
    [item] = settle(app, all_settled(api, 1))
    first, second = receiver.wait_for(2)
    assert second.at - first.at >= 2.0                      # Retry-After honoured (the schedule says 0.2 s)
    assert [a["status_code"] for a in item["attempts"]] == [429, 200]


def test_429_without_retry_after_waits_the_minimum_delay(app, api, client, receiver):
    receiver.reply(Reply(429), Reply(200))
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook")])
    client.post(inbound, json={"n": 1})
    settle(app, all_settled(api, 1))
    first, second = receiver.wait_for(2)
    assert second.at - first.at >= 1.0                      # HOOKHUB_MIN_DELAY_AFTER_429 in these tests


def test_410_fails_at_once_and_disables_the_connection(app, api, client, receiver):
    receiver.reply(Reply(410, "gone"))
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook")
    make_route(api, source, [target])
    client.post(inbound, json={"n": 1})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "failed" and len(item["attempts"]) == 1
    conn = api.get(f"/connections/{target}").json
    assert conn["active"] is False
    with get_database(app).session() as s:
        audit = s.scalars(sa.select(AuditRecord).where(AuditRecord.action == "connection.disabled")).all()
        assert [a.object_id for a in audit] == [target]


def test_other_4xx_fail_at_once(app, api, client, receiver):
    receiver.reply(Reply(400, {"error": "bad field"}))
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook")])
    client.post(inbound, json={"n": 1})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "failed" and len(item["attempts"]) == 1
    assert "bad field" in item["last_error"]


def test_exhausted_retries_go_dead_then_retry_and_replay_deliver(app, api, client, receiver):
    receiver.default = Reply(500, "down")
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook")
    make_route(api, source, [target])
    event = client.post(inbound, json={"n": 1}).json["id"]
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "dead"
    assert len(item["attempts"]) == 4                       # the first try and the 3 of the test schedule
    assert [a["outcome"] for a in item["attempts"]] == ["retry"] * 3 + ["dead"]   # the last one says its fate
    assert [d["id"] for d in deliveries(api, status="dead")] == [item["id"]]
    full = api.get(f"/deliveries/{item['id']}").json
    assert full["attempts"][-1]["response_excerpt"] == "down" and full["attempts"][-1]["outcome"] == "dead"

    receiver.default = Reply(200, "ok")
    assert api.post(f"/deliveries/{item['id']}/retry").status_code == 200
    settle(app, lambda: api.get(f"/deliveries/{item['id']}").json["status"] == "delivered")
    retried = api.get(f"/deliveries/{item['id']}").json
    assert len(retried["attempts"]) == 5
    assert receiver.requests[-1].headers["webhook-id"] == item["webhook_id"]

    replay = api.post(f"/events/{event}/replay").json
    assert replay["count"] == 1 and replay["deliveries"][0] != item["id"]
    settle(app, lambda: api.get(f"/deliveries/{replay['deliveries'][0]}").json["status"] == "delivered")
    assert len(receiver) == 6


def test_an_empty_retry_schedule_means_dead_after_the_first_failure(app, api, client, receiver):
    receiver.default = Reply(503)
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook", retry_schedule=[])
    assert api.get(f"/connections/{target}").json["channel_config"]["retry_schedule"] == []
    make_route(api, source, [target])
    client.post(inbound, json={"n": 1})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "dead" and [a["outcome"] for a in item["attempts"]] == ["dead"]
    assert len(receiver) == 1


def test_bulk_retry_of_a_connections_dead_deliveries(app, api, client, receiver):
    receiver.default = Reply(503)
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook")
    make_route(api, source, [target])
    for n in range(3):
        client.post(inbound, json={"n": n})
    settle(app, all_settled(api, 3))
    assert statuses(api) == ["dead"] * 3
    receiver.default = Reply(204)
    r = api.post("/deliveries/retry", json={"connection": target})
    assert r.status_code == 200 and r.json["count"] == 3
    settle(app, lambda: statuses(api) == ["delivered"] * 3)


def test_standard_webhooks_signature_verifies_with_the_library_also_during_rotation(app, api, client, receiver):
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook", secrets={"signing_secret": SIGNING_SECRET})
    make_route(api, source, [target])
    client.post(inbound, json={"n": 1})
    settle(app, all_settled(api, 1))
    first = receiver.wait_for(1)[0]
    verified = Webhook(SIGNING_SECRET).verify(first.body, dict(first.headers.items()))
    assert verified["payload"] == {"n": 1}

    new_secret = "whsec_" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="
    r = api.post(f"/connections/{target}/rotate-secret",
                 json={"name": "signing_secret", "secret": new_secret, "grace_seconds": 3600})
    assert r.status_code == 200, r.json
    client.post(inbound, json={"n": 2})
    settle(app, all_settled(api, 2))
    second = receiver.wait_for(2)[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 2          # one v1 per live secret
    for secret in (SIGNING_SECRET, new_secret):                              # receivers of either verify
        assert Webhook(secret).verify(second.body, dict(second.headers.items()))["payload"] == {"n": 2}


def test_a_bad_signing_secret_is_refused_when_saving(api, receiver):
    r = api.post("/connections", json={"name": "signed", "channel": "webhook",
                                       "channel_config": {"url": receiver.url},
                                       "secrets": {"signing_secret": "not-a-whsec"}})
    assert r.status_code == 422
    assert "whsec_" in str(r.json["error"]["fields"]["secrets"]["signing_secret"])


def test_method_custom_headers_and_auth_header(app, api, client, receiver):
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/put", method="PUT", headers={"X-Team": "ops"},
                         auth_header="X-Api-Key", secrets={"auth_value": "k-123"})
    make_route(api, source, [target])
    client.post(inbound, json={"n": 1})
    settle(app, all_settled(api, 1))
    got = receiver.wait_for(1)[0]
    assert got.method == "PUT"
    assert got.headers["X-Team"] == "ops" and got.headers["X-Api-Key"] == "k-123"
    assert got.headers["Content-Type"] == "application/json"
    assert "k-123" not in str(api.get(f"/connections/{target}").json)       # write-only


def test_json_response_rule(app, api, client, receiver):
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook", success="json_response")])
    table = [(Reply(200, {"output": {"response": "done"}}), "delivered", None),
             (Reply(200, {"response": "ok"}), "delivered", None),
             (Reply(204), "delivered", None),
             (Reply(200, {"output": {"status": "ok"}}), "failed", "without a 'response' key"),
             (Reply(200, ""), "failed", "empty body"),
             (Reply(200, {"response": False}), "failed", "response = false")]
    for n, (reply, status, detail) in enumerate(table):
        receiver.reply(reply)
        client.post(inbound, json={"n": n})
        newest = settle(app, all_settled(api, n + 1))[0]
        assert newest["status"] == status, (n, newest)
        if detail:
            assert detail in newest["last_error"]


def test_slow_endpoint_times_out_and_is_retried(app, api, client, receiver):
    receiver.reply(Reply(200, delay=2.0), Reply(200))
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook", timeout=0.5)])
    client.post(inbound, json={"n": 1})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "delivered"
    assert item["attempts"][0]["outcome"] == "retry" and "timeout" in item["attempts"][0]["error"]


def test_outbound_rate_limit_paces_without_dropping(app, api, client, receiver):
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook", rate_limit="2/second")])
    for n in range(6):
        client.post(inbound, json={"n": n})
    items = settle(app, all_settled(api, 6), timeout=20)
    assert [d["status"] for d in items] == ["delivered"] * 6
    assert all(len(d["attempts"]) == 1 for d in items)                       # paced, never failed
    got = receiver.wait_for(6)
    assert got[-1].at - got[0].at >= 1.5                                     # 6 sends at 2/s span ≥ 2 windows
    assert sorted(r.json()["payload"]["n"] for r in got) == list(range(6))


def test_concurrency_cap_holds_sends_in_flight(app, api, client, receiver):
    receiver.default = Reply(200, delay=0.3)
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook", max_concurrency=1)])
    for n in range(4):
        client.post(inbound, json={"n": n})
    settle(app, all_settled(api, 4), timeout=20)
    assert receiver.max_in_flight == 1 and len(receiver) == 4


def test_consecutive_failures_disable_the_connection_and_activation_resumes(app, api, client, receiver):
    receiver.default = Reply(400, "nope")
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook", disable_after_failures=3, disable_after_seconds=0)
    make_route(api, source, [target])
    for n in range(3):
        client.post(inbound, json={"n": n})
    settle(app, all_settled(api, 3))
    conn = api.get(f"/connections/{target}").json
    assert conn["active"] is False
    client.post(inbound, json={"n": 3})                                     # routed while disabled: held
    settle(app, lambda: any(d["status"] == "queued" for d in deliveries(api)))
    with get_database(app).session() as s:
        assert "3 consecutive failed deliveries" in s.get(Connection, target).disabled_reason
    receiver.default = Reply(200)
    assert api.post(f"/connections/{target}/activate").status_code == 200
    settle(app, lambda: sorted(statuses(api)) == ["delivered", "failed", "failed", "failed"])


class Gatekeeper:
    """A plugin with every delivery hook: vetoes, amends, decides approvals, observes outcomes."""

    def __init__(self):
        self.finished = []

    @hookimpl
    def hub_before_delivery(self, delivery):
        if delivery.body["payload"].get("veto"):
            return Veto("vetoed by the gatekeeper")
        delivery.headers["X-Gatekeeper"] = "seen"
        delivery.body = {**delivery.body, "amended": True}
        return None

    @hookimpl
    def hub_decide_approval(self, delivery):
        amount = delivery.event.envelope["payload"].get("amount", 0)
        if amount < 100:
            return Decision(approve=True, reason="small amount")
        if amount > 10_000:
            return Decision(approve=False, reason="too large")
        return None                                          # an admin decides

    @hookimpl
    def hub_delivery_finished(self, delivery, result):
        self.finished.append((delivery.id, result.outcome, delivery.attempt))


def register(app, plugin, name="gatekeeper"):
    get_host(app).register(plugin, name)


def test_before_delivery_can_veto_or_amend_and_finished_observes(app, api, client, receiver):
    gate = Gatekeeper()
    register(app, gate)
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook")])
    client.post(inbound, json={"event_id": "ok"})
    client.post(inbound, json={"event_id": "no", "veto": True})
    items = settle(app, all_settled(api, 2))
    by_status = {d["status"]: d for d in items}
    assert set(by_status) == {"delivered", "rejected"}
    assert "vetoed by the gatekeeper" in by_status["rejected"]["last_error"]
    got = receiver.wait_for(1)[0]
    assert got.headers["X-Gatekeeper"] == "seen" and got.json()["amended"] is True
    assert gate.finished == [(by_status["delivered"]["id"], "delivered", 1)]


def test_approval_policy_and_manual_hold(app, api, client, receiver):
    gate = Gatekeeper()
    register(app, gate)
    source, inbound = make_source(api)
    policy = api.post("/connections", json={"name": "policy target", "channel": "webhook", "approval": "policy",
                                            "channel_config": {"url": receiver.url + "/p"}}).json["id"]
    manual = api.post("/connections", json={"name": "manual target", "channel": "webhook", "approval": "manual",
                                            "channel_config": {"url": receiver.url + "/m"}}).json["id"]
    make_route(api, source, [policy, manual])
    for amount in (50, 500, 50_000):
        client.post(inbound, json={"amount": amount})
    settle(app, lambda: len(deliveries(api)) == 6 and not any(d["status"] in ("queued", "sending")
                                                               for d in deliveries(api)))
    assert statuses(api, connection=manual) == ["pending_approval"] * 3     # manual: always an admin
    assert statuses(api, connection=policy) == ["delivered", "pending_approval", "rejected"]
    assert [r.path for r in receiver] == ["/p"]
    with get_database(app).session() as s:
        rejected = s.scalars(sa.select(Delivery).where(Delivery.status == "rejected")).one()
        assert "too large" in rejected.last_error


def test_attempts_record_status_duration_excerpt_and_are_capped(app, api, client, receiver):
    receiver.reply(Reply(400, "x" * 10_000))
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook")])
    client.post(inbound, json={"n": 1})
    [item] = settle(app, all_settled(api, 1))
    full = api.get(f"/deliveries/{item['id']}").json
    [attempt] = full["attempts"]
    assert attempt["status_code"] == 400 and attempt["duration_ms"] >= 0
    assert len(attempt["response_excerpt"]) == 4096
    assert datetime.fromisoformat(attempt["at"].replace("Z", "+00:00"))


def test_log_lines_of_a_send_thread_carry_the_job_id(app, api, client, receiver, caplog):
    class Clumsy(WebhookChannel):   # a channel plugin whose verdict logs, on the send pool's thread
        name = "clumsy"

        def interpret(self, response, conn):
            logging.getLogger("hub.test.clumsy").warning("judging HTTP %s", response.status)
            return super().interpret(response, conn)

    get_host(app).channels.add(Clumsy)
    source, inbound = make_source(api)
    target = api.post("/connections", json={"name": "clumsy", "channel": "clumsy",
                                            "channel_config": {"url": receiver.url + "/hook"}}).json["id"]
    make_route(api, source, [target])
    client.post(inbound, json={"n": 1})
    caplog.handler.addFilter(JobIdFilter())
    with caplog.at_level(logging.WARNING, logger="hub.test.clumsy"):
        [item] = settle(app, all_settled(api, 1))
    with get_database(app).session() as s:
        job_id = s.get(Delivery, item["id"]).job_id
    assert [(r.getMessage(), r.job_id) for r in caplog.records if r.name == "hub.test.clumsy"] == \
        [("judging HTTP 200", job_id)]
