"""Mutual TLS per connection through the engine: the client certificate (config) and its key (a
secret) open an endpoint that requires them; without them the attempt records a TLS failure. A pair
that could not work (half of it, not PEM, not matching, expired) is refused when it is saved."""

from __future__ import annotations

import datetime
import ssl

import pytest
from cryptography.hazmat.primitives import serialization

from hub.testing import Receiver
from tests.delivery.conftest import all_settled, make_route, make_source, make_target, settle
from tests.tls import issue, key_pem, new_key, pem


@pytest.fixture
def certificates(tmp_path):
    keys = {name: new_key() for name in ("ca", "server", "client")}
    ca = issue("Hookhub Test CA", keys["ca"], None, keys["ca"], ca=True)
    files = {"ca.crt": pem(ca), "server.key": key_pem(keys["server"]),
             "server.crt": pem(issue("localhost", keys["server"], ca, keys["ca"], dns="localhost", ips=("127.0.0.1",)))}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    client = issue("hookhub-client", keys["client"], ca, keys["ca"], client=True)
    return {"ca": str(tmp_path / "ca.crt"), "server_cert": str(tmp_path / "server.crt"),
            "server_key": str(tmp_path / "server.key"), "client_cert": pem(client),
            "client_key": key_pem(keys["client"])}


@pytest.fixture
def settings(settings, certificates):
    return {**settings, "HOOKHUB_CA_BUNDLE": certificates["ca"]}


@pytest.fixture
def mtls_receiver(certificates):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates["server_cert"], certificates["server_key"])
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(certificates["ca"])
    with Receiver(ssl_context=context) as rx:
        yield rx


def test_a_connection_with_its_client_certificate_gets_through(app, api, client, mtls_receiver, certificates):
    source, inbound = make_source(api)
    with_cert = make_target(api, mtls_receiver.url + "/hook", "with cert", client_cert=certificates["client_cert"],
                            secrets={"client_key": certificates["client_key"]})
    without = make_target(api, mtls_receiver.url + "/hook", "without cert", retry_schedule=[0.1])
    make_route(api, source, [with_cert, without])
    client.post(inbound, json={"n": 1})
    items = {d["connection"]: d for d in settle(app, all_settled(api, 2), timeout=30)}
    assert items[with_cert]["status"] == "delivered"
    assert items[without]["status"] == "dead"
    assert all("TLS" in a["error"] for a in items[without]["attempts"])
    assert len(mtls_receiver) == 1 and mtls_receiver.tls_failures >= 2
    assert certificates["client_key"] not in str(api.get(f"/connections/{with_cert}").json)   # the key is a secret


def test_a_certificate_without_its_key_is_refused_when_saving(api, certificates):
    r = api.post("/connections", json={"name": "half", "channel": "webhook", "channel_config": {
        "url": "https://example.com/hook", "client_cert": certificates["client_cert"]}})
    assert r.status_code == 422 and "client_key" in str(r.json["error"]["fields"])


EXPIRED_AT = datetime.datetime(2024, 1, 31, 12, 0, tzinfo=datetime.UTC)


def _pairs(certificates):
    """Broken pairs by name: (client_cert, client_key, where the error is, the field, words)."""
    cert, key = certificates["client_cert"], certificates["client_key"]
    other_key = new_key()
    expired_key = new_key()
    expired = pem(issue("hookhub-client", expired_key, None, expired_key, client=True, not_after=EXPIRED_AT))
    encrypted = other_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.BestAvailableEncryption(b"passphrase")).decode()
    return {
        "key without certificate": (None, key, "channel_config", "client_cert", "required with the client_key"),
        "certificate not PEM": ("MIIB-not-a-cert", key, "channel_config", "client_cert", "not a PEM certificate"),
        "key not PEM": (cert, "-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n", "secrets",
                        "client_key", "not a PEM private key"),
        "key of another certificate": (cert, key_pem(other_key), "secrets", "client_key", "does not belong"),
        "encrypted key": (cert, encrypted, "secrets", "client_key", "encrypted with a passphrase"),
        "expired certificate": (expired, key_pem(expired_key), "channel_config", "client_cert",
                                "expired on 2024-01-31T12:00:00Z"),
    }


@pytest.mark.parametrize("case", ["key without certificate", "certificate not PEM", "key not PEM",
                                  "key of another certificate", "encrypted key", "expired certificate"])
def test_a_client_certificate_that_cannot_work_is_refused_when_saving(api, certificates, case):
    cert, key, where, field, words = _pairs(certificates)[case]
    r = api.post("/connections", json={"name": "mtls", "channel": "webhook", "secrets": {"client_key": key},
                                      "channel_config": {"url": "https://example.com/hook", "client_cert": cert}})
    assert r.status_code == 422 and r.json["error"]["code"] == "validation_error", r.json
    assert words in r.json["error"]["fields"][where][field][0], r.json
    assert key.splitlines()[1] not in str(r.json)                      # a key is never echoed


def test_a_patch_that_breaks_the_pair_is_refused_and_one_that_keeps_it_is_not(api, certificates):
    cid = make_target(api, "https://example.com/hook", "mtls", client_cert=certificates["client_cert"],
                      secrets={"client_key": certificates["client_key"]})
    r = api.patch(f"/connections/{cid}", json={"secrets": {"client_key": key_pem(new_key())}})
    assert r.status_code == 422 and "does not belong" in r.json["error"]["fields"]["secrets"]["client_key"][0]
    r = api.patch(f"/connections/{cid}", json={"channel_config": {"client_cert": None}})
    assert r.status_code == 422 and "client_key" in r.json["error"]["fields"]["channel_config"]["client_cert"][0]
    assert api.patch(f"/connections/{cid}", json={"channel_config": {"timeout": 5}}).status_code == 200
    r = api.patch(f"/connections/{cid}", json={"channel_config": {"client_cert": None},
                                               "secrets": {"client_key": None}})
    assert r.status_code == 200 and "client_cert" not in r.json["channel_config"] and r.json["secrets"] == {}
