"""Workspaces and tokens through the admin API and the CLI: roles, values shown once, revocation
and expiry, and an owner acting in another workspace."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from hub.core.times import utcnow
from hub.storage.db import get_database
from hub.storage.models import ApiToken, AuditRecord
from hub.testing import AdminClient, make_token

GENERIC = {"provider": "generic"}


def test_the_bootstrap_token_is_an_owner(api):
    [bootstrap] = [t for t in api.get("/tokens").json["items"] if t["name"] == "bootstrap"]
    assert bootstrap["role"] == "owner" and bootstrap["workspace"] == "default" and bootstrap["state"] == "active"


def test_an_owner_creates_workspaces_and_others_cannot(app, api):
    r = api.post("/workspaces", json={"name": "team-b", "inbound_rate_limit": "100/second", "retention_days": 7})
    assert r.status_code == 201, r.json
    assert r.json | {"created_at": None} == {"id": "team-b", "name": "team-b", "inbound_rate_limit": "100/second",
                                             "retention_days": 7, "created_at": None}
    again = api.post("/workspaces", json={"name": "team-b"})
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"
    bad = api.post("/workspaces", json={"name": "Team B!", "inbound_rate_limit": "lots"})
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"name", "inbound_rate_limit"}
    admin = make_token(app, "admin", "team-b")
    refused = api.post("/workspaces", json={"name": "team-c"}, token=admin)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert [w["id"] for w in api.get("/workspaces").json["items"]] == ["default", "team-b"]
    assert [w["id"] for w in api.get("/workspaces", token=admin).json["items"]] == ["team-b"]
    assert api.get("/workspaces/default", token=admin).status_code == 404      # invisible, not forbidden


def test_an_admin_changes_its_own_workspace_and_a_viewer_cannot(app, api):
    admin, viewer = make_token(app, "admin", "team-b"), make_token(app, "viewer", "team-b")
    r = api.patch("/workspaces/team-b", json={"inbound_rate_limit": "5/second", "retention_days": 90}, token=admin)
    assert r.status_code == 200 and r.json["inbound_rate_limit"] == "5/second" and r.json["retention_days"] == 90
    assert api.patch("/workspaces/team-b", json={"retention_days": 1}, token=viewer).status_code == 403
    assert api.patch("/workspaces/default", json={"retention_days": 1}, token=admin).status_code == 404
    cleared = api.patch("/workspaces/team-b", json={"inbound_rate_limit": None}, token=admin)
    assert cleared.json["inbound_rate_limit"] is None
    assert api.patch("/workspaces/team-b", json={"retention_days": 0}).status_code == 422


def test_a_token_value_is_shown_once_and_never_listed(app, api):
    r = api.post("/tokens", json={"name": "ci", "role": "admin"})
    assert r.status_code == 201, r.json
    created = r.json
    assert created["token"].startswith("hkh_") and created["role"] == "admin" and created["workspace"] == "default"
    assert created["expires_at"] is None and created["state"] == "active"
    assert AdminClient(app, created["token"]).get("/connections").status_code == 200
    listed = api.get("/tokens").json["items"]
    assert created["id"] in {t["id"] for t in listed}
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert created["token"] not in api.get("/tokens").get_data(as_text=True)
    assert "token" not in api.get(f"/tokens/{created['id']}").json


def test_a_revoked_token_gets_401_from_then_on(app, api):
    created = api.post("/tokens", json={"name": "leaked", "role": "viewer"}).json
    leaked = AdminClient(app, created["token"])
    assert leaked.get("/connections").status_code == 200
    assert api.delete(f"/tokens/{created['id']}").status_code == 204
    r = leaked.get("/connections")
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    assert api.get(f"/tokens/{created['id']}").json["state"] == "revoked"
    assert api.delete(f"/tokens/{created['id']}").status_code == 204          # revoking again changes nothing
    with get_database(app).session() as s:
        revoked = s.scalars(sa.select(AuditRecord).where(AuditRecord.action == "token.revoked")).all()
        assert [r.object_id for r in revoked] == [created["id"]]


def test_an_expired_token_gets_401(app, api):
    created = api.post("/tokens", json={"name": "short", "role": "admin", "expires_in": 60}).json
    assert created["expires_at"] is not None
    client = AdminClient(app, created["token"])
    assert client.get("/connections").status_code == 200
    with get_database(app).session() as s:      # an hour later
        s.get(ApiToken, created["id"]).expires_at = utcnow() - timedelta(seconds=1)
    assert client.get("/connections").status_code == 401
    assert api.get(f"/tokens/{created['id']}").json["state"] == "expired"
    too_short = api.post("/tokens", json={"name": "x", "expires_in": 5})
    assert too_short.status_code == 422 and "expires_in" in too_short.json["error"]["fields"]


def test_an_admin_manages_tokens_of_its_own_workspace_only(app, api):
    admin = make_token(app, "admin", "team-b")
    viewer = make_token(app, "viewer", "team-b")
    r = api.post("/tokens", json={"name": "b-viewer", "role": "viewer"}, token=admin)
    assert r.status_code == 201 and r.json["workspace"] == "team-b"
    owner = api.post("/tokens", json={"name": "b-owner", "role": "owner"}, token=admin)
    assert owner.status_code == 403
    elsewhere = api.post("/tokens", json={"name": "sneaky", "workspace": "default"}, token=admin)
    assert elsewhere.status_code == 404
    bootstrap_id = next(t["id"] for t in api.get("/tokens").json["items"] if t["name"] == "bootstrap")
    assert api.get(f"/tokens/{bootstrap_id}", token=admin).status_code == 404
    assert api.delete(f"/tokens/{bootstrap_id}", token=admin).status_code == 404
    assert {t["workspace"] for t in api.get("/tokens", token=admin).json["items"]} == {"team-b"}
    assert api.get("/tokens", token=viewer).status_code == 403               # access is an admin's business
    every = api.get("/tokens?all=true").json["items"]
    assert {t["workspace"] for t in every} == {"default", "team-b"}


def test_an_owner_acts_in_another_workspace_by_naming_it(app, api):
    admin_b = make_token(app, "admin", "team-b")
    admin_default = make_token(app, "admin")
    made = api.post("/connections", json={"name": "b-source", **GENERIC}, headers={"X-Hookhub-Workspace": "team-b"})
    assert made.status_code == 201 and made.json["workspace"] == "team-b"
    assert [c["name"] for c in api.get("/connections", token=admin_b).json["items"]] == ["b-source"]
    assert api.get("/connections", token=admin_default).json["items"] == []
    nosy = api.get("/connections", token=admin_default, headers={"X-Hookhub-Workspace": "team-b"})
    assert nosy.status_code == 404 and "workspace" in nosy.json["error"]["message"]
    body = api.post("/connections", json={"name": "b-two", "workspace": "team-b", **GENERIC}, token=admin_default)
    assert body.status_code == 404
    assert api.get("/connections", headers={"X-Hookhub-Workspace": "nowhere"}).status_code == 404


def test_the_cli_creates_lists_and_revokes_tokens_and_workspaces(app, api, run):
    assert "created workspace team-c" in run("workspaces", "create", "team-c", "--inbound-rate-limit",
                                             "10/second").output
    listed = run("workspaces", "list").output
    assert "team-c" in listed and "10/second" in listed and "default" in listed
    value = run("tokens", "create", "--workspace", "team-c", "--role", "viewer", "--name", "dash",
                "--expires-in", "3600").output.strip()
    assert value.startswith("hkh_") and AdminClient(app, value).get("/connections").status_code == 200
    lines = [line for line in run("tokens", "list", "--workspace", "team-c").output.splitlines() if "dash" in line]
    assert len(lines) == 1 and "viewer" in lines[0] and "active" in lines[0] and value not in lines[0]
    token_id = lines[0].split()[0]
    assert f"{token_id} (dash) revoked" in run("tokens", "revoke", token_id).output
    assert AdminClient(app, value).get("/connections").status_code == 401
    missing = run("tokens", "create", "--workspace", "nowhere", ok=False)
    assert missing.exit_code == 1 and "no workspace 'nowhere'" in missing.output and "Traceback" not in missing.output
    bad = run("workspaces", "create", "Bad Name", ok=False)
    assert bad.exit_code == 1 and "name:" in bad.output
