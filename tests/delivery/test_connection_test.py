"""``POST /api/v1/connections/{id}/test`` and ``hookhub connections test``: a labelled message
through the real send path, and an answer an admin understands."""

from __future__ import annotations

from contextlib import closing

import pytest
from click.testing import CliRunner
from standardwebhooks.webhooks import Webhook

from hub.cli.main import build_cli
from hub.testing import AdminClient, Reply, make_app
from tests.delivery.conftest import make_source, make_target

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_working_endpoint_gets_a_labelled_signed_message(api, receiver):
    target = make_target(api, receiver.url + "/hook", secrets={"signing_secret": SECRET})
    r = api.post(f"/connections/{target}/test")
    assert r.status_code == 200
    assert r.json == {"ok": True, "status": 200, "detail": "delivered: the endpoint answered HTTP 200"}
    [got] = receiver.wait_for(1)
    assert got.headers["X-Hookhub-Test"] == "true"
    body = Webhook(SECRET).verify(got.body, dict(got.headers.items()))      # signed like a delivery
    assert body["event_type"] == "hookhub.test" and "Test message from Hookhub" in body["text"]


def test_a_capped_connection_frees_its_slot_after_each_test(api, receiver):
    """Under ``max_concurrency: 1`` the test send takes the connection's one slot and gives it back:
    a second test right after goes out too, instead of waiting for the first one's lease to end."""
    target = make_target(api, receiver.url + "/hook", max_concurrency=1)
    for _ in range(2):
        assert api.post(f"/connections/{target}/test").json["ok"] is True
    assert len(receiver.wait_for(2)) == 2


@pytest.mark.parametrize("config, reply, status, words", [
    ({}, Reply(404, "no such hook"), 404, "not delivered: HTTP 404: no such hook"),
    ({}, Reply(500, "boom"), 500, "not delivered: HTTP 500: boom"),
    ({}, Reply(410), 410, "a real delivery would disable this connection"),
    ({"success": "json_response"}, Reply(200, {"status": "ok"}), 200,
     "your endpoint answered 200 but without a 'response' key"),
    ({"timeout": 0.5}, Reply(200, delay=2), 0, "no answer: timeout"),
])
def test_failures_are_explained(api, receiver, config, reply, status, words):
    receiver.reply(reply)
    target = make_target(api, receiver.url + "/hook", **config)
    r = api.post(f"/connections/{target}/test").json
    assert r["ok"] is False and r["status"] == status
    assert words in r["detail"]


def test_dns_and_tls_problems_are_named(api, receiver):
    dns = make_target(api, "https://hookhub-test.invalid/hook", "dns")
    detail = api.post(f"/connections/{dns}/test").json["detail"]
    assert "DNS" in detail and "hookhub-test.invalid" in detail
    tls = make_target(api, receiver.url.replace("http://", "https://") + "/hook", "tls")
    assert "TLS" in api.post(f"/connections/{tls}/test").json["detail"]


def test_the_ssrf_rules_apply(tmp_path, redis_url, redis_client, receiver):
    with closing(make_app(tmp_path / "instance", redis_url, HOOKHUB_ALLOW_PRIVATE_NETWORKS=())) as app:
        api = AdminClient(app)
        target = make_target(api, receiver.url + "/hook")
        r = api.post(f"/connections/{target}/test").json
    assert r["ok"] is False and r["status"] == 0
    assert "loopback" in r["detail"] and "HOOKHUB_ALLOW_PRIVATE_NETWORKS" in r["detail"]
    assert len(receiver) == 0


def test_a_connection_without_a_channel_cannot_be_tested(api):
    source, _ = make_source(api)
    r = api.post(f"/connections/{source}/test")
    assert r.status_code == 409 and "no outbound channel" in r.json["error"]["message"]


def test_the_cli_prints_the_outcome_and_fails_on_failure(cli_env, monkeypatch, api, receiver):
    monkeypatch.setenv("HOOKHUB_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/8")
    target = make_target(api, receiver.url + "/hook")
    receiver.reply(Reply(200), Reply(403, "forbidden here"))
    ok = CliRunner().invoke(build_cli(), ["connections", "test", target])
    assert ok.exit_code == 0 and ok.output.startswith("ok (HTTP 200)")
    failed = CliRunner().invoke(build_cli(), ["connections", "test", target])
    assert failed.exit_code == 1 and "FAILED (HTTP 403): not delivered: HTTP 403: forbidden here" in failed.output
