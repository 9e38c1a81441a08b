"""``rediss://``: the hub's whole use of Redis — RQ and its scheduler, the rate limits (inbound and
outbound), pacing — over TLS to a real redis-server that listens on a TLS port only, trusting a
private CA named in the URL."""

import shutil
import subprocess

import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import ec

from hub.testing import AdminClient, make_app, settle
from tests.conftest import free_port
from tests.tls import issue, key_pem, pem
from tests.waiting import wait_until


@pytest.fixture
def tls_redis(tmp_path):
    """redis-server on a TLS port only (no plain TCP, no socket); yields (port, CA file)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `make test` installs it")
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("ca", "server")}
    ca = issue("Hookhub Test CA", keys["ca"], None, keys["ca"], ca=True)
    files = {"ca.crt": pem(ca), "server.key": key_pem(keys["server"]),
             "server.crt": pem(issue("redis", keys["server"], ca, keys["ca"], ips=("127.0.0.1",)))}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    port = free_port()
    proc = subprocess.Popen([binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--tls-cert-file", str(tmp_path / "server.crt"),
                             "--tls-key-file", str(tmp_path / "server.key"),
                             "--tls-ca-cert-file", str(tmp_path / "ca.crt"), "--tls-auth-clients", "no"],
                            stdout=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(tmp_path / "ca.crt"))
    def answers() -> bool:
        assert proc.poll() is None, "the TLS redis-server exited"
        return client.ping()

    wait_until(answers, "the TLS redis-server to answer", timeout=10, ignoring=(redis.ConnectionError,))
    yield client, f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.crt'}"
    client.close()
    proc.terminate()
    proc.wait(10)


def test_every_use_of_redis_works_over_tls(tmp_path, tls_redis, receiver):
    client, url = tls_redis
    app = make_app(tmp_path / "instance", url, HOOKHUB_INBOUND_RATE_LIMIT="3/minute")
    try:
        admin = AdminClient(app)
        source = admin.create_connection(name="source", provider="generic")
        target = admin.create_connection(name="target", channel="webhook", channel_config={
            "url": receiver.url + "/hook", "max_concurrency": 2, "rate_limit": "1000/hour"})
        assert admin.post("/routes", json={"name": "all", "source": source["id"],
                                           "targets": [{"connection": target["id"]}]}).status_code == 201
        inbound = app.test_client()
        answers = [inbound.post(source["inbound_path"], json={"event_id": f"e{n}"}).status_code for n in range(4)]
        assert answers == [200, 200, 200, 429]          # the inbound limit counts in the TLS Redis
        # Routing and sending: RQ (and its scheduler) over TLS; one of the three waits for a slot (max 2).
        settle(app, lambda: len(receiver) >= 3, message="three deliveries")
        assert sorted(r.json()["event_id"] for r in receiver.wait_for(3)) == ["e0", "e1", "e2"]
        keys = {k.decode() for k in client.keys("*")}
        assert any(k.startswith("LIMITS:") and "outbound" in k for k in keys), keys     # the outbound rate limit
        assert any(k.startswith("rq:") for k in keys), keys
        assert client.zcard(f"hookhub:slots:{target['id']}") == 0     # pacing took and gave back its slots
    finally:
        app.close()
