"""Tenants are invisible to each other: every endpoint of the admin API, called with a token of
workspace B on a resource of workspace A, answers 404 and changes nothing of A. The matrix is read
from the app's URL map, so an endpoint added later is in it (and fails here until it behaves)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

import pytest
import sqlalchemy as sa

from hub.storage.db import get_database
from hub.storage.models import ApiToken, Approval, AuditRecord, Connection, Delivery, Event, Failure, Param, Route
from hub.testing import make_token, settle

A = "default"
B = "team-b"
#: Bodies that pass each endpoint's schema, so that what answers is the workspace check.
BODIES: dict[tuple[str, str], dict] = {
    ("POST", "/api/v1/approvals/<approval_id>/reject"): {"reason": "not mine"},
    ("POST", "/api/v1/connections/<connection_id>/rotate-secret"): {"secret": "whsec_" + "A" * 43 + "=",
                                                                   "name": "signing_secret"},
    ("POST", "/api/v1/routes/<route_id>/preview"): {"sample": {"text": "hi"}},
    ("PATCH", "/api/v1/connections/<connection_id>"): {"default_channel": "taken"},
    ("PATCH", "/api/v1/routes/<route_id>"): {"name": "taken"},
    ("PATCH", "/api/v1/workspaces/<workspace_id>"): {"retention_days": 1},
    ("PATCH", "/api/v1/params/<name>"): {"value": "taken"},
}
#: Endpoints without a resource in their path: a body that names one of A's resources, and the
#: answers that show it was not found for B (a param name is B's own: creating it is B's business).
BODY_REFERENCES: dict[tuple[str, str], tuple[dict, set[int]]] = {
    ("POST", "/api/v1/deliveries/retry"): ({"connection": "{connection_id}"}, {404}),
    ("POST", "/api/v1/routes"): ({"name": "steal", "source": "{connection_id}",
                                  "targets": [{"connection": "{target_id}"}]}, {422}),
    ("POST", "/api/v1/connections"): ({"name": "steal", "provider": "generic", "workspace": A}, {404}),
    ("POST", "/api/v1/tokens"): ({"name": "steal", "role": "viewer", "workspace": A}, {404}),
    ("POST", "/api/v1/params"): ({"name": "A_PARAM", "value": "not a's"}, {201}),
}
#: Not about another workspace's resources: the document, the installed plugins, and creating a
#: workspace (which only an owner may do at all; tests/test_api_access.py checks it).
OUTSIDE = {("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/plugins"), ("POST", "/api/v1/workspaces")}


@pytest.fixture
def settings(settings):
    return {**settings, "HOOKHUB_ALLOW_PRIVATE_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),)}


@pytest.fixture
def workspace_a(app, api, client, receiver) -> dict[str, str]:
    """One of everything in workspace A: connections, a route, an event, a delivered and a held
    delivery with its approval, an audit record and a token."""
    source = api.post("/connections", json={"name": "a-source", "provider": "generic"}).json
    target = api.post("/connections", json={"name": "a-target", "channel": "webhook",
                                            "channel_config": {"url": receiver.url + "/a"},
                                            "secrets": {"signing_secret": "whsec_" + "B" * 43 + "="}}).json
    held = api.post("/connections", json={"name": "a-held", "channel": "webhook", "approval": "manual",
                                          "channel_config": {"url": receiver.url + "/held"}}).json
    route = api.post("/routes", json={"name": "a-route", "source": source["id"],
                                      "targets": [{"connection": target["id"]}, {"connection": held["id"]}]}).json
    event = client.post(source["inbound_url"].removeprefix("http://hub.test"), json={"text": "a"}).json
    settle(app, lambda: len(receiver) == 1 and api.get("/approvals").json["items"])
    delivered = next(d for d in api.get("/deliveries").json["items"] if d["connection"] == target["id"])
    [approval] = api.get("/approvals").json["items"]
    token_id = api.post("/tokens", json={"name": "a-viewer", "role": "viewer"}).json["id"]
    record = api.get("/audit").json["items"][0]["id"]
    api.post("/params", json={"name": "A_PARAM", "value": "a's", "secret": False})
    return {"name": "A_PARAM", "connection_id": source["id"], "target_id": target["id"], "route_id": route["id"],
            "event_id": event["id"], "delivery_id": delivered["id"], "approval_id": approval["id"],
            "record_id": record, "token_id": token_id, "workspace_id": A}


def snapshot(app) -> str:
    """Every row of workspace A, as one digest."""
    rows = []
    with get_database(app).session() as s:
        for model in (Connection, Route, Event, Delivery, Approval, AuditRecord, ApiToken, Failure, Param):
            for row in s.scalars(sa.select(model).where(model.workspace_id == A).order_by(model.id)):
                rows.append({c.key: repr(getattr(row, c.key)) for c in sa.inspect(model).column_attrs})
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def endpoints(app) -> list[tuple[str, str]]:
    found = [(method, rule.rule) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")
             for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(set(found) - OUTSIDE)


def test_another_workspace_sees_none_of_a_and_changes_nothing(app, api, workspace_a):
    b_admin = make_token(app, "admin", B)
    before = snapshot(app)
    a_ids = set(workspace_a.values()) - {A, "A_PARAM"}
    checked = []
    for method, rule in endpoints(app):
        path = re.sub(r"<(\w+)>", lambda m: workspace_a[m.group(1)], rule).removeprefix("/api/v1")
        if "<" in rule:
            body = BODIES.get((method, rule), {}) if method != "GET" else None
            r = api.request(method, path, json=body, token=b_admin)
            assert r.status_code == 404, f"{method} {rule} answered {r.status_code} to workspace B: {r.get_json()}"
            assert r.json["error"]["code"] == "not_found"
        elif method == "GET":
            r = api.get(path, token=b_admin)
            assert r.status_code == 200, f"GET {rule}: {r.status_code}"
            shown = r.get_data(as_text=True)
            assert not any(i in shown for i in a_ids), f"GET {rule} shows workspace A's resources to B"
        else:
            assert (method, rule) in BODY_REFERENCES, f"{method} {rule} is new: say in BODY_REFERENCES how it names " \
                                                      "a resource"
            template, expected = BODY_REFERENCES[(method, rule)]
            body = json.loads(json.dumps(template).replace("{connection_id}", workspace_a["connection_id"])
                              .replace("{target_id}", workspace_a["target_id"]))
            r = api.request(method, path, json=body, token=b_admin)
            assert r.status_code in expected, f"{method} {rule} with A's resources answered {r.status_code}"
        assert snapshot(app) == before, f"{method} {rule} by workspace B changed workspace A"
        checked.append((method, rule))
    assert len(checked) >= 35


def test_the_owner_sees_a_through_the_same_endpoints(app, api, workspace_a):
    """The matrix's 404s come from the workspace, not from broken ids: A's owner reaches each one."""
    for key in ("connection_id", "route_id", "event_id", "delivery_id", "approval_id", "record_id", "token_id"):
        noun = {"connection_id": "connections", "route_id": "routes", "event_id": "events",
                "delivery_id": "deliveries", "approval_id": "approvals", "record_id": "audit",
                "token_id": "tokens"}[key]
        assert api.get(f"/{noun}/{workspace_a[key]}").status_code == 200, noun
