"""Admin API: token auth and roles, connection CRUD, write-only secrets, the inbound key."""

from contextlib import closing

import sqlalchemy as sa

from hub.services.tokens import create_token
from hub.storage.db import get_database
from hub.testing import AdminClient, make_app

GITHUB = {"name": "gh-repo", "provider": "hmac", "provider_config": {"preset": "github"},
          "secrets": {"secret": "It's a Secret to Everybody"}}


def make_token(app, role):
    with get_database(app).session() as s:
        return create_token(s, role=role, name=f"{role}-test")[1]


# ------------------------------------------------------------------ auth

def test_missing_invalid_and_malformed_tokens_are_401(api):
    for token, fragment in (("", "missing Authorization"), ("nope", "not valid")):
        r = api.get("/connections", token=token) if token else api.client.get("/api/v1/connections")
        assert r.status_code == 401
        assert r.json["error"]["code"] == "unauthorized"
        assert fragment in r.json["error"]["message"]
    r = api.client.get("/api/v1/connections", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and "Bearer" in r.json["error"]["message"]


def test_viewer_can_read_but_not_write(app, api):
    viewer = make_token(app, "viewer")
    created = api.post("/connections", json=GITHUB).json
    assert api.get("/connections", token=viewer).status_code == 200
    r = api.post("/connections", json={**GITHUB, "name": "other"}, token=viewer)
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    assert api.post(f"/connections/{created['id']}/deactivate", token=viewer).status_code == 403
    assert api.get(f"/connections/{created['id']}/url", token=viewer).status_code == 403  # reveals the key


def test_token_cannot_act_in_another_workspace(api):
    r = api.post("/connections", json={**GITHUB, "workspace": "elsewhere"})
    assert r.status_code == 404 and "workspace" in r.json["error"]["message"]   # invisible, not forbidden


def test_tokens_are_stored_hashed(app):
    from tests.conftest import ADMIN_TOKEN

    with get_database(app).engine.connect() as conn:
        stored = [row[0] for row in conn.execute(sa.text("SELECT token_hash FROM api_tokens"))]
    assert stored and ADMIN_TOKEN not in stored and all(len(h) == 64 for h in stored)


# ------------------------------------------------------------------ CRUD

def test_create_returns_the_contract_shape_with_the_key_once(api):
    r = api.post("/connections", json={**GITHUB, "default_channel": "ops"})
    assert r.status_code == 201, r.json
    body = r.json
    assert body["id"].startswith("con_")
    assert body["provider"] == "hmac" and body["active"] is True and body["workspace"] == "default"
    assert body["secrets"] == {"secret": "********"}
    assert body["inbound_url"].startswith(f"http://hub.test/hooks/hmac/{body['id']}?key=")
    assert len(body["inbound_url"].split("key=")[1]) == 43          # 32 bytes, base64url
    assert body["default_channel"] == "ops"
    assert body["field_map"]["text"] == ["text", "message", "content", "body"]
    again = api.get(f"/connections/{body['id']}").json
    assert again["inbound_url"] == f"http://hub.test/hooks/hmac/{body['id']}"  # no key after create
    assert again["secrets"] == {"secret": "********"}
    listed = api.get("/connections").json
    assert [c["id"] for c in listed["items"]] == [body["id"]] and listed["next"] is None


def test_url_and_reset_key_show_the_key_and_reset_changes_it(api):
    created = api.post("/connections", json=GITHUB).json
    first_key = created["inbound_url"].split("key=")[1]
    assert api.get(f"/connections/{created['id']}/url").json["url"] == created["inbound_url"]
    reset = api.post(f"/connections/{created['id']}/reset-key").json["url"]
    assert reset.split("key=")[1] != first_key
    assert api.get(f"/connections/{created['id']}/url").json["url"] == reset


def test_url_and_reset_key_also_answer_inbound_url_like_create(api):
    created = api.post("/connections", json=GITHUB).json
    shown = api.get(f"/connections/{created['id']}/url").json
    assert shown == {"url": created["inbound_url"], "inbound_url": created["inbound_url"]}
    reset = api.post(f"/connections/{created['id']}/reset-key").json
    assert reset["inbound_url"] == reset["url"] != created["inbound_url"]


def test_patch_keeps_secret_on_placeholder_and_replaces_it_on_new_value(app, api):
    created = api.post("/connections", json=GITHUB).json
    cid = created["id"]
    r = api.patch(f"/connections/{cid}", json={"name": "renamed", "secrets": {"secret": "********"}})
    assert r.status_code == 200 and r.json["name"] == "renamed"
    view = _view(app, cid)
    assert view.secrets["secret"] == "It's a Secret to Everybody"
    api.patch(f"/connections/{cid}", json={"secrets": {"secret": "new-value"}})
    assert _view(app, cid).secrets["secret"] == "new-value"


def test_patch_merges_the_configurations_key_by_key(api):
    cid = api.post("/connections", json={
        **GITHUB, "provider_config": {"preset": "github", "rate_limit": "10/second"}, "channel": "webhook",
        "channel_config": {"url": "https://example.com/hook", "headers": {"X-Team": "ops"}, "timeout": 3}}).json["id"]
    r = api.patch(f"/connections/{cid}", json={"channel_config": {"timeout": 5},
                                               "provider_config": {"rate_limit": "5/second"}})
    assert r.status_code == 200, r.json
    config = r.json["channel_config"]
    assert config["url"] == "https://example.com/hook" and config["headers"] == {"X-Team": "ops"}
    assert config["timeout"] == 5
    assert r.json["provider_config"]["preset"] == "github" and r.json["provider_config"]["rate_limit"] == "5/second"
    config = api.patch(f"/connections/{cid}", json={"channel_config": {"timeout": None, "method": "PUT"}}).json[
        "channel_config"]
    assert "timeout" not in config and config["method"] == "PUT" and config["url"] == "https://example.com/hook"
    assert api.patch(f"/connections/{cid}", json={"channel_config": {"method": None}}).json[
        "channel_config"]["method"] == "POST"                               # removed: the default again
    r = api.patch(f"/connections/{cid}", json={"channel_config": {"url": "ftp://example.com"}})
    assert r.status_code == 422 and "url" in r.json["error"]["fields"]["channel_config"]   # the merge is validated
    r = api.patch(f"/connections/{cid}", json={"channel_config": {"url": None}})
    assert r.status_code == 422 and "url" in r.json["error"]["fields"]["channel_config"]
    r = api.patch(f"/connections/{cid}", json={"channel": "slack", "channel_config": {},     # a new channel: whole
                                               "secrets": {"webhook_url": "https://hooks.slack.com/services/T/B/x"}})
    assert r.status_code == 200, r.json
    assert "url" not in r.json["channel_config"] and "headers" not in r.json["channel_config"]


def test_provider_is_immutable(api):
    cid = api.post("/connections", json=GITHUB).json["id"]
    r = api.patch(f"/connections/{cid}", json={"provider": "generic"})
    assert r.status_code == 422
    assert "cannot change" in r.json["error"]["fields"]["provider"][0]


def test_activate_deactivate_and_delete(api):
    cid = api.post("/connections", json=GITHUB).json["id"]
    off = api.post(f"/connections/{cid}/deactivate").json
    assert off["active"] is False and off["disabled_reason"]
    on = api.post(f"/connections/{cid}/activate").json
    assert on["active"] is True and on["disabled_reason"] is None
    assert api.delete(f"/connections/{cid}").status_code == 204
    r = api.get(f"/connections/{cid}")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


def test_deleting_a_route_target_is_refused_but_a_source_takes_its_routes_along(app_on_each_database):
    api = AdminClient(app_on_each_database)
    source = api.post("/connections", json={"name": "crm", "provider": "generic"}).json["id"]
    other = api.post("/connections", json={"name": "erp", "provider": "generic"}).json["id"]
    target = api.post("/connections", json={"name": "billing", "channel": "webhook",
                                            "channel_config": {"url": "https://example.com/hook"}}).json["id"]
    both = api.post("/connections", json={"name": "loop", "provider": "generic", "channel": "webhook",
                                          "channel_config": {"url": "https://example.com/loop"}}).json["id"]
    routes = {}
    for name, src, dst in (("escalations", source, target), ("copies", other, target), ("to itself", both, both)):
        r = api.post("/routes", json={"name": name, "source": src, "targets": [{"connection": dst}]})
        assert r.status_code == 201, r.json
        routes[name] = r.json["id"]

    r = api.delete(f"/connections/{target}")
    assert r.status_code == 409 and r.json["error"]["code"] == "conflict"
    message = r.json["error"]["message"]
    assert f"'escalations' ({routes['escalations']})" in message and f"'copies' ({routes['copies']})" in message
    assert api.get(f"/connections/{target}").status_code == 200

    assert api.delete(f"/connections/{source}").status_code == 204       # its route goes with it
    assert api.get(f"/routes/{routes['escalations']}").status_code == 404
    assert api.delete(f"/connections/{both}").status_code == 204         # the source of its own route
    assert api.get(f"/routes/{routes['to itself']}").status_code == 404
    r = api.delete(f"/connections/{target}")
    assert r.status_code == 409 and "'escalations'" not in r.json["error"]["message"]
    assert api.delete(f"/routes/{routes['copies']}").status_code == 204
    assert api.delete(f"/connections/{target}").status_code == 204
    assert api.get("/routes").json["items"] == []
    assert [c["id"] for c in api.get("/connections").json["items"]] == [other]


def test_actions_are_audited(app, api):
    cid = api.post("/connections", json=GITHUB).json["id"]
    api.post(f"/connections/{cid}/reset-key")
    api.get(f"/connections/{cid}/url")
    with get_database(app).engine.connect() as conn:
        actions = [r[0] for r in conn.execute(sa.text(
            "SELECT action FROM audit_records WHERE object_id = :id ORDER BY at"), {"id": cid})]
    assert actions == ["connection.created", "connection.key_reset", "connection.url_revealed"]


# ------------------------------------------------------------------ validation

def test_validation_errors_name_each_field(api):
    r = api.post("/connections", json={"name": "x!", "provider": "nope", "secrets": {"secret": "s"},
                                      "approval": "sometimes", "surprise": 1})
    assert r.status_code == 422
    err = r.json["error"]
    assert err["code"] == "validation_error"
    assert set(err["fields"]) >= {"approval", "surprise"}
    r = api.post("/connections", json={"name": "x!", "provider": "nope"})
    fields = r.json["error"]["fields"]
    assert "3 to 50 characters" in fields["name"][0]
    assert "no provider 'nope'" in fields["provider"][0]


def test_name_rules(api):
    ok = "Deals (EU) [prod]-v1.2_x"
    assert api.post("/connections", json={**GITHUB, "name": ok}).status_code == 201
    for bad in ("ab", "x" * 51, "semi;colon", "émoji"):
        r = api.post("/connections", json={**GITHUB, "name": bad})
        assert r.status_code == 422 and "name" in r.json["error"]["fields"], bad
    dup = api.post("/connections", json={**GITHUB, "name": ok})
    assert dup.status_code == 422 and "already exists" in dup.json["error"]["fields"]["name"][0]


def test_unknown_and_missing_secrets_are_refused(api):
    r = api.post("/connections", json={**GITHUB, "secrets": {"secret": "s", "password": "p"}})
    assert "password" in r.json["error"]["fields"]["secrets"]
    r = api.post("/connections", json={**GITHUB, "secrets": {}})
    assert "secret" in r.json["error"]["fields"]["secrets"]


def test_bad_field_map_path_is_a_validation_error(api):
    r = api.post("/connections", json={**GITHUB, "field_map": {"event_id": "a..b", "colour": "x"}})
    fm = r.json["error"]["fields"]["field_map"]
    assert set(fm) == {"event_id", "colour"}


def test_malformed_json_body_is_a_clean_400(api):
    r = api.post("/connections", data=b"{not json", content_type="application/json")
    assert r.status_code in (400, 422)
    assert r.json["error"]["code"] in ("bad_request", "validation_error")


# ------------------------------------------------------------------ secrets at rest

def test_no_secret_is_stored_in_clear(app, api):
    secret = "plaintext-signing-secret-0123456789"
    created = api.post("/connections", json={**GITHUB, "secrets": {"secret": secret}}).json
    key = created["inbound_url"].split("key=")[1]
    engine = get_database(app).engine
    with engine.connect() as conn:
        dump = []
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                dump.append(repr(tuple(row)))
    text = "\n".join(dump)
    assert created["id"] in text                   # the dump did read the connection
    assert secret not in text
    assert key not in text


# ------------------------------------------------------------------ plugins and docs

def test_plugins_endpoint_lists_providers_with_json_schemas(api):
    body = api.get("/plugins").json
    names = {p["name"] for p in body["providers"]}
    assert {"generic", "hmac"} <= names
    hmac_provider = next(p for p in body["providers"] if p["name"] == "hmac")
    assert hmac_provider["secrets_schema"]["properties"]["secret"]["writeOnly"] is True
    assert "preset" in hmac_provider["config_schema"]["properties"]
    assert any(p["name"] == "provider_generic" and p["builtin"] for p in body["plugins"])


def test_openapi_document_lists_the_connection_routes(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/connections/{connection_id}/reset-key" in spec["paths"]


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {"database": "ok", "schema": "ok", "redis": "ok"}


def test_readiness_names_what_is_down(tmp_path, settings):
    with closing(make_app(tmp_path / "instance", "redis://127.0.0.1:1/0", **settings)) as app:
        r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["error"]["checks"] == {"database": "ok", "schema": "ok", "redis": "unavailable"}


def test_readiness_says_when_the_schema_is_behind(tmp_path, redis_url, redis_client, settings):
    # no `hookhub db upgrade` yet
    with closing(make_app(tmp_path / "instance", redis_url, migrate=False, **settings)) as app:
        r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert "hookhub db upgrade" in r.json["error"]["checks"]["schema"]
    assert "hookhub db upgrade" in r.json["error"]["message"]


def test_unknown_route_and_wrong_method_use_the_error_shape(client):
    r = client.get("/nothing-here")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    r = client.put("/healthz")
    assert r.status_code == 405 and r.json["error"]["code"] == "method_not_allowed"


def _view(app, cid):
    from hub.runtime.plugin_host import get_host
    from hub.services.connections import ConnectionService
    from hub.storage.models import Connection
    from hub.storage.vault import get_vault

    with get_database(app).session() as s:
        svc = ConnectionService(s, get_host(app), get_vault(app), public_url="http://hub.test")
        return svc.view(s.get(Connection, cid))
