"""Slack, Teams and Discord through the real worker, against a receiver on 127.0.0.1 that answers
the way each vendor does: the payload that arrives, and the state each documented answer leads to."""

from __future__ import annotations

from datetime import datetime

from hub.storage.db import get_database
from hub.storage.models import Connection
from hub.testing import Reply
from tests.delivery.conftest import all_settled, deliveries, make_route, make_source, make_target, settle

DISCORD_PATH = "/api/webhooks/1234567890/tok3n-abcdefWXYZ"


def chat(api, channel, url, name=None, **config):
    return make_target(api, url, name or f"{channel} target", channel=channel, secrets={"webhook_url": url}, **config)


def connection_row(app, connection_id):
    with get_database(app).session() as s:
        row = s.get(Connection, connection_id)
        s.expunge(row)
        return row


def routed(api, *targets):
    source, inbound = make_source(api)
    make_route(api, source, list(targets))
    return inbound


# ----------------------------------------------------------------------------- Slack

def test_slack_gets_block_kit_with_a_text_fallback_and_ok_delivers(app, api, client, receiver):
    receiver.default = Reply(200, "ok")
    inbound = routed(api, chat(api, "slack", receiver.url + "/services/T0/B0/xyz"))
    client.post(inbound, json={"text": "Deal <won> & closed", "channel": "sales"})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "delivered"
    body = receiver.wait_for(1)[0].json()
    assert "Deal &lt;won&gt; &amp; closed" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section"]


def test_slack_error_strings_lead_to_the_documented_states(app, api, client, receiver):
    flagged = chat(api, "slack", receiver.url + "/flagged", "slack flagged")
    archived = chat(api, "slack", receiver.url + "/archived", "slack archived")
    bad = chat(api, "slack", receiver.url + "/bad", "slack bad")
    answers = {"/flagged": Reply(404, "channel_not_found"), "/archived": Reply(410, "channel_is_archived"),
               "/bad": Reply(400, "invalid_payload")}
    receiver.default = lambda captured: answers[captured.path]
    inbound = routed(api, flagged, archived, bad)
    client.post(inbound, json={"text": "hello"})
    items = {d["connection"]: d for d in settle(app, all_settled(api, 3), timeout=20)}
    assert {k: v["status"] for k, v in items.items()} == {flagged: "failed", archived: "failed", bad: "failed"}
    assert all(len(d["attempts"]) == 1 for d in items.values())              # permanent: never retried
    assert "channel_not_found" in connection_row(app, flagged).flag
    assert connection_row(app, flagged).active is True
    assert connection_row(app, archived).active is False
    assert "invalid_payload" in items[bad]["last_error"] and connection_row(app, bad).flag is None


def test_slack_429_is_rescheduled_and_paces_every_worker(app, api, client, receiver):
    receiver.reply(Reply(429, "rate_limited", headers={"Retry-After": "2"}), Reply(200, "ok"), Reply(200, "ok"))
    inbound = routed(api, chat(api, "slack", receiver.url + "/hook"))
    client.post(inbound, json={"text": "one"})
    client.post(inbound, json={"text": "two"})
    items = settle(app, all_settled(api, 2), timeout=20)
    assert [d["status"] for d in items] == ["delivered", "delivered"]
    first, second, third = receiver.wait_for(3)
    assert second.at - first.at >= 2.0 and third.at - first.at >= 2.0     # the cooldown held both back


def test_slack_default_pacing_is_about_one_message_a_second(app, api, client, receiver):
    receiver.default = Reply(200, "ok")
    inbound = routed(api, chat(api, "slack", receiver.url + "/hook"))
    for n in range(3):
        client.post(inbound, json={"text": f"message {n}"})
    settle(app, all_settled(api, 3), timeout=20)
    got = receiver.wait_for(3)
    assert got[-1].at - got[0].at >= 1.5


# ----------------------------------------------------------------------------- Microsoft Teams

def test_teams_workflows_accepts_202_with_an_empty_body(app, api, client, receiver):
    receiver.default = Reply(202, b"")
    inbound = routed(api, chat(api, "teams", receiver.url + "/workflows/abc?sig=s1gnature"))
    client.post(inbound, json={"text": "build failed"})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "delivered"
    body = receiver.wait_for(1)[0].json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard" and attachment["content"]["version"] == "1.4"


def test_teams_legacy_connector_throttling_inside_a_200_is_rescheduled(app, api, client, receiver):
    receiver.reply(Reply(200, "Microsoft Teams endpoint returned HTTP error 429 with ContextId abc"))
    inbound = routed(api, chat(api, "teams", receiver.url + "/webhookb2/legacy", mode="legacy"))
    client.post(inbound, json={"text": "legacy"})
    [item] = settle(app, lambda: [d for d in deliveries(api) if d["attempts"]])
    assert receiver.wait_for(1)[0].json()["@type"] == "MessageCard"
    assert item["status"] == "queued" and item["attempts"][0]["outcome"] == "retry"
    wait = datetime.fromisoformat(item["next_attempt_at"]) - datetime.fromisoformat(item["attempts"][0]["at"])
    assert wait.total_seconds() >= 55                       # not the 0.2 s of the test schedule


def test_teams_legacy_success_is_the_body_1(app, api, client, receiver):
    receiver.reply(Reply(200, "1"), Reply(200, "something else"))
    inbound = routed(api, chat(api, "teams", receiver.url + "/webhookb2/legacy", mode="legacy"))
    client.post(inbound, json={"text": "first"})
    assert settle(app, all_settled(api, 1))[0]["status"] == "delivered"
    client.post(inbound, json={"text": "second"})
    assert settle(app, all_settled(api, 2))[0]["status"] == "failed"


# ----------------------------------------------------------------------------- Discord

def test_discord_204_delivers_without_pinging_anyone(app, api, client, receiver):
    receiver.default = Reply(204)
    inbound = routed(api, chat(api, "discord", receiver.url + DISCORD_PATH))
    client.post(inbound, json={"text": "@everyone the build is green"})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "delivered"
    got = receiver.wait_for(1)[0]
    assert got.path == DISCORD_PATH and got.query.get("wait") == ["true"]
    assert got.json()["allowed_mentions"] == {"parse": []}


def test_discord_429_retry_after_is_honoured_by_every_delivery(app, api, client, receiver):
    limited = Reply(429, {"message": "You are being rate limited.", "retry_after": 2.5, "global": False},
                    headers={"Retry-After": "3", "X-RateLimit-Reset-After": "2.5", "X-RateLimit-Remaining": "0"})
    receiver.reply(limited, Reply(204), Reply(204))
    inbound = routed(api, chat(api, "discord", receiver.url + DISCORD_PATH))
    client.post(inbound, json={"text": "one"})
    settle(app, lambda: [d for d in deliveries(api) if d["attempts"]])      # refused with 429 …
    client.post(inbound, json={"text": "two"})                              # … so a new message waits too
    items = settle(app, all_settled(api, 2), timeout=20)
    assert [d["status"] for d in items] == ["delivered", "delivered"]
    first, *later = receiver.wait_for(3)
    assert all(r.at - first.at >= 2.5 for r in later)                        # the bucket is shared via Redis


def test_discord_empty_bucket_on_success_holds_the_next_send(app, api, client, receiver):
    receiver.reply(Reply(204, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2"}), Reply(204))
    inbound = routed(api, chat(api, "discord", receiver.url + DISCORD_PATH))
    client.post(inbound, json={"text": "one"})
    settle(app, all_settled(api, 1))
    client.post(inbound, json={"text": "two"})
    settle(app, all_settled(api, 2), timeout=20)
    first, second = receiver.wait_for(2)
    assert second.at - first.at >= 2.0


def test_discord_404_means_the_webhook_is_gone(app, api, client, receiver):
    receiver.default = Reply(404, {"message": "Unknown Webhook", "code": 10015})
    target = chat(api, "discord", receiver.url + DISCORD_PATH)
    client.post(routed(api, target), json={"text": "hello"})
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "failed" and "Unknown Webhook" in item["last_error"]
    assert connection_row(app, target).active is False


# ----------------------------------------------------------------------------- admin view

def test_webhook_urls_are_masked_and_bad_ones_refused_under_secrets(api, receiver):
    target = chat(api, "discord", receiver.url + DISCORD_PATH)
    shown = api.get(f"/connections/{target}").json["secrets"]["webhook_url"]
    assert shown == "http://127.0.0.1/…WXYZ" and "tok3n" not in shown
    r = api.post("/connections", json={"name": "bad discord", "channel": "discord",
                                       "secrets": {"webhook_url": "https://discord.com/channels/1/2"}})
    assert r.status_code == 422
    assert "webhook_url" in r.json["error"]["fields"]["secrets"]
