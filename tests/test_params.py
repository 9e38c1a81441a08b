"""Config params and environment references: ${param.NAME} / ${env.NAME} in connection settings
and secrets, checked at save, stored as references, and always used with their current values."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from hub.storage.db import get_database
from hub.storage.models import Connection, Param
from hub.testing import github_headers

GH = {"provider": "hmac", "provider_config": {"preset": "github"}}


def create_param(api, name, value, secret=True):
    r = api.post("/params", json={"name": name, "value": value, "secret": secret})
    assert r.status_code == 201, r.json
    return r.json


def post_signed(client, conn, secret, n=1):
    body = json.dumps({"n": n}).encode()
    return client.post(conn["inbound_url"].removeprefix("http://hub.test"), data=body,
                       headers=github_headers(secret, body))


def test_a_secret_param_is_never_shown_and_is_encrypted_at_rest(app, api):
    made = create_param(api, "GH_SECRET", "first value")
    assert made["value"] is None and made["secret"] is True and made["used_by"] == []
    plain = create_param(api, "REGION", "eu-west-1", secret=False)
    assert plain["value"] == "eu-west-1"
    assert "first value" not in api.get("/params").get_data(as_text=True)
    with get_database(app).session() as s:
        stored = s.scalar(sa.select(Param.value_encrypted).where(Param.name == "GH_SECRET"))
        assert "first value" not in stored
    assert api.post("/params", json={"name": "GH_SECRET", "value": "x"}).status_code == 409
    bad = api.post("/params", json={"name": "lower-case", "value": ""})
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"name", "value"}
    assert api.patch("/params/GH_SECRET", json={"secret": False}).status_code == 422
    assert api.get("/params/NOPE").status_code == 404


def test_a_connection_uses_the_params_current_value(client, api):
    create_param(api, "GH_SECRET", "first value")
    conn = api.post("/connections", json={"name": "gh repo", **GH, "secrets": {"secret": "${param.GH_SECRET}"}}).json
    assert conn["secrets"] == {"secret": "********"}
    assert post_signed(client, conn, "first value").json["status"] == "accepted"
    assert api.get("/params/GH_SECRET").json["used_by"] == [f"gh repo ({conn['id']})"]
    assert api.patch("/params/GH_SECRET", json={"value": "second value"}).status_code == 200
    assert post_signed(client, conn, "second value", 2).json["status"] == "accepted"   # at once
    assert post_signed(client, conn, "first value", 3).status_code == 401


def test_a_param_in_a_setting_is_checked_by_the_plugin_with_its_value(api, app):
    create_param(api, "HOOK_URL", "https://example.com/hook", secret=False)
    made = api.post("/connections", json={"name": "out", "channel": "webhook",
                                          "channel_config": {"url": "${param.HOOK_URL}"}})
    assert made.status_code == 201, made.json
    assert made.json["channel_config"]["url"] == "${param.HOOK_URL}"      # the reference is what is stored
    create_param(api, "NOT_A_URL", "ftp://nope", secret=False)
    bad = api.patch(f"/connections/{made.json['id']}", json={"channel_config": {"url": "${param.NOT_A_URL}"}})
    assert bad.status_code == 422 and "url" in bad.json["error"]["fields"]["channel_config"]
    with get_database(app).session() as s:
        view_url = s.get(Connection, made.json["id"]).channel_config["url"]
    assert view_url == "${param.HOOK_URL}"


def test_unknown_references_are_refused_at_save_naming_the_field(api):
    r = api.post("/connections", json={"name": "gh repo", **GH, "secrets": {"secret": "${param.MISSING}"}})
    assert r.status_code == 422
    assert r.json["error"]["fields"]["secrets"]["secret"] == ["no param 'MISSING' in this workspace"]
    r = api.post("/connections", json={"name": "out", "channel": "webhook", "channel_config": {
        "url": "https://x.example", "headers": {"X-Token": "${env.HOME}"}}})
    assert r.status_code == 422
    assert "HOOKHUB_ENV_REFERENCES" in r.json["error"]["fields"]["channel_config"]["headers.X-Token"][0]


@pytest.fixture
def settings(settings):
    return {**settings, "HOOKHUB_ENV_REFERENCES": ("HOOKHUB_TEST_*",)}


def test_allowed_environment_references_use_the_variable(client, api, monkeypatch):
    missing = api.post("/connections", json={"name": "gh repo", **GH, "secrets": {"secret": "${env.HOOKHUB_TEST_GH}"}})
    assert missing.status_code == 422
    assert missing.json["error"]["fields"]["secrets"]["secret"] == [
        "the environment variable HOOKHUB_TEST_GH is not set"]
    monkeypatch.setenv("HOOKHUB_TEST_GH", "from the environment")
    conn = api.post("/connections", json={"name": "gh repo", **GH,
                                          "secrets": {"secret": "${env.HOOKHUB_TEST_GH}"}}).json
    assert post_signed(client, conn, "from the environment").json["status"] == "accepted"


def test_a_param_in_use_cannot_be_deleted(api):
    create_param(api, "GH_SECRET", "v")
    conn = api.post("/connections", json={"name": "gh repo", **GH, "secrets": {"secret": "${param.GH_SECRET}"}}).json
    r = api.delete("/params/GH_SECRET")
    assert r.status_code == 409 and f"gh repo ({conn['id']})" in r.json["error"]["message"]
    api.patch(f"/connections/{conn['id']}", json={"secrets": {"secret": "a plain value now"}})
    assert api.delete("/params/GH_SECRET").status_code == 204
    assert api.get("/params").json["items"] == []


def test_a_viewer_reads_params_but_cannot_change_them(app, api):
    from hub.testing import make_token

    create_param(api, "REGION", "eu", secret=False)
    viewer = make_token(app, "viewer")
    assert api.get("/params", token=viewer).json["items"][0]["value"] == "eu"
    assert api.post("/params", json={"name": "X", "value": "y"}, token=viewer).status_code == 403
