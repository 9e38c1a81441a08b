"""Rotating the at-rest key: after `hookhub secrets rotate-key` with a new key first in
HOOKHUB_SECRET_KEYS, the old key can be dropped and every secret, inbound key and param still works."""

from __future__ import annotations

import contextlib
import json

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from hub.storage.config import ConfigError
from hub.storage.db import get_database
from hub.storage.models import Connection, Param
from hub.storage.vault import Vault
from hub.testing import AdminClient, github_headers, make_app

GH = {"provider": "hmac", "provider_config": {"preset": "github"}}


def signed(client, conn, secret):
    body = json.dumps({"n": 1}).encode()
    return client.post(conn["inbound_url"].removeprefix("http://hub.test"), data=body,
                       headers=github_headers(secret, body))


def stored_tokens(app) -> list[str]:
    with get_database(app).session() as s:
        rows = s.execute(sa.select(Connection.secrets_encrypted, Connection.api_key_encrypted)).all()
        return [t for row in rows for t in row if t] + list(s.scalars(sa.select(Param.value_encrypted)))


def test_after_rotation_the_old_key_can_be_dropped(app, api, run, monkeypatch, tmp_path, redis_url):
    old_key = app.config["HOOKHUB_SECRET_KEYS"][0]
    direct = api.post("/connections", json={"name": "direct", **GH, "secrets": {"secret": "direct secret"}}).json
    api.post("/params", json={"name": "GH_SECRET", "value": "param secret"})
    by_param = api.post("/connections", json={"name": "by param", **GH,
                                              "secrets": {"secret": "${param.GH_SECRET}"}}).json
    new_key = Fernet.generate_key().decode()
    with pytest.raises(ConfigError):                          # the new key alone cannot read them yet
        Vault([new_key]).decrypt(stored_tokens(app)[0])

    monkeypatch.setenv("HOOKHUB_SECRET_KEYS", f"{new_key},{old_key}")
    output = run("secrets", "rotate-key", "--batch", "1").output
    assert "re-encrypted 2 connection secrets" in output and "re-encrypted 2 inbound keys" in output
    assert "re-encrypted 1 params" in output and "can now be removed" in output

    tokens = stored_tokens(app)
    assert len(tokens) == 5 and all(Vault([new_key]).decrypt(t) for t in tokens)
    with contextlib.closing(make_app(tmp_path / "instance", redis_url, HOOKHUB_SECRET_KEYS=(new_key,),
                                     HOOKHUB_DATABASE_URL=app.config["HOOKHUB_DATABASE_URL"],
                                     HOOKHUB_BOOTSTRAP_TOKEN=app.config["HOOKHUB_BOOTSTRAP_TOKEN"])) as rotated:
        client = rotated.test_client()
        assert signed(client, direct, "direct secret").json["status"] == "accepted"
        assert signed(client, by_param, "param secret").json["status"] == "accepted"
        url = AdminClient(rotated).get(f"/connections/{direct['id']}/url").json["url"]
        assert url == direct["inbound_url"]                  # the inbound key itself did not change


def test_a_value_no_key_decrypts_is_reported_and_left_alone(app, api, run, monkeypatch):
    conn = api.post("/connections", json={"name": "direct", **GH, "secrets": {"secret": "direct secret"}}).json
    foreign = Vault([Fernet.generate_key().decode()]).encrypt_json({"current": {"secret": "x"}, "previous": {}})
    with get_database(app).session() as s:
        s.get(Connection, conn["id"]).secrets_encrypted = foreign
    result = run("secrets", "rotate-key", ok=False)
    assert result.exit_code == 1
    assert f"cannot decrypt connection secrets of {conn['id']}" in result.output
    assert "re-encrypted 1 inbound keys" in result.output and "keep every key" in result.output
    with get_database(app).session() as s:
        assert s.get(Connection, conn["id"]).secrets_encrypted == foreign
