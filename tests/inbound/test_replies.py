"""Replies to senders: a connection's reply (status, headers, JSON body template) answers an
accepted request and its duplicate; a reply that cannot be rendered falls back to the hub's own
answer with the event stored, and flags the connection; provider handshakes keep priority."""

from __future__ import annotations

import json

from hub.testing import slack_headers


def inbound(api, name="slash", **extra):
    r = api.post("/connections", json={"name": name, "provider": "generic", **extra})
    assert r.status_code == 201, r.json
    return r.json, r.json["inbound_url"].removeprefix("http://hub.test")


def test_an_accepted_request_gets_the_rendered_reply_and_its_duplicate_the_same(client, api):
    _, path = inbound(api, reply={"status": 201, "headers": {"X-Reply": "1"},
                                  "body": {"text": "got {{ payload.n }}", "n": "{{ payload.n }}", "id": "{{ id }}"}})
    first = client.post(path, json={"event_id": "e1", "n": 7})
    assert first.status_code == 201 and first.headers["X-Reply"] == "1"
    assert first.json["text"] == "got 7" and first.json["n"] == 7           # a lone expression keeps its type
    again = client.post(path, json={"event_id": "e1", "n": 7})
    assert again.status_code == 201 and again.json == first.json            # same reply, same stored event id
    assert api.get(f"/events/{first.json['id']}").json["payload"] == {"event_id": "e1", "n": 7}


def test_a_reply_that_cannot_render_answers_the_hubs_json_and_flags_the_connection(client, api):
    conn, path = inbound(api, reply={"body": {"text": "{{ payload.missing.deeper }}"}})
    r = client.post(path, json={"n": 1})
    assert r.status_code == 200 and r.json["status"] == "accepted"          # stored all the same
    assert api.get(f"/events/{r.json['id']}").status_code == 200
    flag = api.get(f"/connections/{conn['id']}").json["flag"]
    assert flag.startswith("the reply could not be rendered") and r.json["id"] in flag


def test_a_teams_outgoing_webhook_gets_its_message_back(client, api):
    _, path = inbound(api, "teams bot", reply={"body": {"type": "message", "text": "Received: {{ text }}"}})
    r = client.post(path, json={"type": "message", "text": "<at>hub</at> status?", "id": "1"})
    assert r.status_code == 200 and r.json == {"type": "message", "text": "Received: <at>hub</at> status?"}


def test_a_slack_url_verification_keeps_its_own_answer(client, api):
    r = api.post("/connections", json={"name": "slack app", "provider": "slack",
                                       "secrets": {"signing_secret": "s" * 32},
                                       "reply": {"body": {"response_type": "ephemeral", "text": "on it"}}})
    path = r.json["inbound_url"].removeprefix("http://hub.test")
    body = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    answer = client.post(path, data=body, headers={**slack_headers("s" * 32, body), "Content-Type": "application/json"})
    assert answer.json == {"challenge": "abc"}


def test_bad_replies_are_refused_at_save(api):
    r = api.post("/connections", json={"name": "bad reply", "provider": "generic",
                                       "reply": {"status": 500, "body": {"t": "{{ payload.x "}}})
    assert r.status_code == 422
    fields = r.json["error"]["fields"]
    assert set(fields) == {"reply"} and {"status", "body"} <= set(fields["reply"])
    outbound = api.post("/connections", json={"name": "out", "channel": "webhook",
                                              "channel_config": {"url": "https://x.example/h"}, "reply": {"body": "x"}})
    assert outbound.status_code == 422 and "inbound side" in outbound.json["error"]["fields"]["reply"][0]
