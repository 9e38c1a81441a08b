"""Mutual TLS per connection through the engine: the client certificate (config) and its key (a
secret) open an endpoint that requires them; without them the attempt records a TLS failure."""

from __future__ import annotations

import ssl

import pytest

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
