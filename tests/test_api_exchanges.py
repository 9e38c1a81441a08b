"""``/api/v1/audit/exchanges``: every inbound request accepted or refused and every outbound attempt,
newest first across the three tables, with the SHA-256 of the exact bytes received or sent and of
the headers in their canonical form; paged, filtered, scoped to the workspace; on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest
import sqlalchemy as sa

from hub.core.digests import headers_sha256
from hub.storage.db import get_database
from hub.storage.models import Event
from hub.testing import AdminClient, Reply, github_headers, make_token, settle

SECRET = "It's a Secret to Everybody"
#: Headers the HTTP client adds on the wire; the digest covers the request as the hub built and signed it.
TRANSPORT_HEADERS = {"host", "accept-encoding", "accept", "connection", "content-length"}


@pytest.fixture
def settings(settings):
    return {**settings, "HOOKHUB_ALLOW_PRIVATE_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),)}


@pytest.fixture
def app(app_on_each_database):
    return app_on_each_database


@pytest.fixture
def api(app) -> AdminClient:
    return AdminClient(app)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def walk(api: AdminClient, query: str, limit: int) -> list[dict]:
    """Every page of the list, ``limit`` entries at a time."""
    items, cursor = [], None
    while True:
        page = api.get(f"/audit/exchanges?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")).json
        assert len(page["items"]) <= limit
        items += page["items"]
        if not (cursor := page["next"]):
            return items


@pytest.fixture
def exchanged(app, api, receiver):
    """An accepted request, a refused one (bad signature), and a delivery that took two attempts."""
    source = api.create_connection(name="gh-repo", provider="hmac", provider_config={"preset": "github"},
                                   secrets={"secret": SECRET})
    target = api.create_connection(name="receiver", channel="webhook",
                                   channel_config={"url": receiver.url + "/hook", "headers": {"X-Team": "ops"}},
                                   secrets={"signing_secret": "whsec_" + "A" * 43 + "="})
    assert api.post("/routes", json={"name": "all", "source": source["id"],
                                     "targets": [{"connection": target["id"]}]}).status_code == 201
    receiver.reply(Reply(500), Reply(200))
    client = app.test_client()
    body = b'{"action": "opened", "text": "caf\xc3\xa9", "n": 1}'
    accepted = client.post(source["inbound_path"], data=body, content_type="application/json",
                           headers={**github_headers(SECRET, body, event="issues"), "X-Trace": "a", "x-trace": "b"})
    assert accepted.json["status"] == "accepted", accepted.json
    refused_body = b'{"action": "forged"}'
    refused = client.post(source["inbound_path"], data=refused_body, content_type="application/json",
                          headers=github_headers("not the secret", refused_body, event="issues"))
    assert refused.json["error"]["code"] == "signature_invalid"
    settle(app, lambda: [d for d in api.get("/deliveries").json["items"] if d["status"] == "delivered"])
    return {"source": source["id"], "target": target["id"], "event": accepted.json["id"], "body": body,
            "refused_body": refused_body, "sent": receiver.wait_for(2)}


def test_every_request_and_attempt_is_listed_newest_first_with_its_digests(app, api, exchanged):
    items = api.get("/audit/exchanges").json["items"]
    assert [(i["direction"], i["outcome"], i["retry"]) for i in items] == [
        ("outbound", "delivered", 1), ("outbound", "retry", 0),
        ("inbound", "signature_invalid", 0), ("inbound", "accepted", 0)]
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    second, first, refused, accepted = items

    assert accepted["event"] == exchanged["event"] and accepted["connection"] == exchanged["source"]
    assert accepted["body_sha256"] == sha(exchanged["body"])                # the exact bytes received
    with get_database(app).session() as s:
        envelope = s.scalar(sa.select(Event.envelope).where(Event.id == exchanged["event"]))
    received = [(name, value) for name, values in envelope["headers"].items() for value in values]
    assert accepted["headers_sha256"] == headers_sha256(received)          # every header, repeated ones in order
    assert accepted["duration_ms"] is not None and accepted["duration_ms"] >= 0

    assert refused["event"] is None and refused["connection"] == exchanged["source"]
    assert refused["body_sha256"] == sha(exchanged["refused_body"])
    assert refused["headers_sha256"] and refused["headers_sha256"] != accepted["headers_sha256"]
    assert refused["duration_ms"] is None          # a refusal's row does not keep when the request arrived

    for entry, got in zip((first, second), exchanged["sent"], strict=True):
        assert entry["delivery"] == second["delivery"] and entry["connection"] == exchanged["target"]
        assert entry["body_sha256"] == sha(got.body)                         # the exact bytes sent
        signed = [(k, v) for k, v in got.headers.items_multi() if k.lower() not in TRANSPORT_HEADERS]
        assert entry["headers_sha256"] == headers_sha256(signed)
        assert entry["duration_ms"] is not None
    assert first["headers_sha256"] != second["headers_sha256"]              # each attempt is signed anew


def test_headers_are_hashed_in_one_canonical_form():
    canonical = b"content-type: application/json\nx-trace: a\nx-trace: b\n"
    assert headers_sha256([("X-Trace", "a"), ("Content-Type", "application/json"), ("x-trace", "b")]) == sha(canonical)
    assert headers_sha256([("X-Trace", "b"), ("X-Trace", "a")]) != headers_sha256([("X-Trace", "a"), ("X-Trace", "b")])
    assert headers_sha256([("X-Name", "café")]) == sha("x-name: café\n".encode("latin-1"))
    # A value ISO-8859-1 cannot hold (only a plugin can make one) is UTF-8; the other lines stay ISO-8859-1.
    assert headers_sha256([("X-Price", "5 €"), ("X-Name", "café")]) == sha(
        "x-name: café\n".encode("latin-1") + "x-price: 5 €\n".encode())


def test_filters_and_pages_cover_the_list_exactly(app, api, exchanged):
    everything = api.get("/audit/exchanges").json["items"]
    inbound = api.get("/audit/exchanges?direction=inbound").json["items"]
    outbound = api.get("/audit/exchanges?direction=outbound").json["items"]
    assert {i["direction"] for i in inbound} == {"inbound"} and len(inbound) == 2
    assert {i["direction"] for i in outbound} == {"outbound"} and len(outbound) == 2
    assert api.get(f"/audit/exchanges?connection={exchanged['target']}").json["items"] == outbound
    assert api.get(f"/audit/exchanges?connection={exchanged['source']}").json["items"] == inbound
    for limit in (1, 2, 3):
        assert walk(api, "", limit) == everything
    assert walk(api, "&direction=inbound", 1) == inbound
    r = api.get("/audit/exchanges?cursor=not-a-cursor")
    assert r.status_code == 422 and r.json["error"]["code"] == "validation_error"
    assert api.get("/audit/exchanges?direction=sideways").status_code == 422


def test_viewers_read_it_and_other_workspaces_see_none_of_it(app, api, exchanged):
    viewer = make_token(app, "viewer")
    assert len(api.get("/audit/exchanges", token=viewer).json["items"]) == 4
    elsewhere = make_token(app, "admin", "team-b")
    assert api.get("/audit/exchanges", token=elsewhere).json == {"items": [], "next": None}
    assert api.get(f"/audit/exchanges?connection={exchanged['source']}", token=elsewhere).json["items"] == []


def test_a_request_to_an_unknown_connection_is_listed_for_the_default_workspace(app, api):
    r = app.test_client().post("/hooks/generic/con_doesnotexist?key=x", data=b"{}")
    assert r.status_code == 404
    [entry] = api.get("/audit/exchanges").json["items"]
    assert (entry["outcome"], entry["connection"], entry["body_sha256"]) == ("not_found", None, None)
    assert entry["headers_sha256"]
    assert api.get("/audit/exchanges", token=make_token(app, "admin", "team-b")).json["items"] == []
