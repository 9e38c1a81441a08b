"""The SSRF rules at send time, through the whole engine: every blocked address form is refused,
the attempt says why, and the receiver gets nothing."""

from __future__ import annotations

from contextlib import closing

import pytest

from hub.testing import AdminClient, Reply, make_app
from tests.delivery.conftest import all_settled, make_route, make_source, make_target, settle


@pytest.fixture
def settings(settings):
    return {**settings, "HOOKHUB_ALLOW_PRIVATE_NETWORKS": ()}      # no private network reachable


TABLE = [
    ("http://127.0.0.1:{port}/hook", "loopback"),
    ("http://2130706433:{port}/hook", "loopback"),                       # decimal
    ("http://0177.0.0.1:{port}/hook", "loopback"),                       # octal
    ("http://0x7f.0.0.1:{port}/hook", "loopback"),                       # hex
    ("http://127.1:{port}/hook", "loopback"),                            # short form
    ("http://[::ffff:127.0.0.1]:{port}/hook", "IPv4-mapped"),
    ("http://[::1]:{port}/hook", "loopback"),
    ("http://localhost:{port}/hook", "loopback"),                        # a name that resolves inside
    ("http://0.0.0.0:{port}/hook", "this network"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://10.1.2.3/hook", "private network"),
    ("http://192.168.0.10/hook", "private network"),
    ("http://172.16.5.5/hook", "private network"),
    ("http://100.64.0.1/hook", "carrier-grade NAT"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://240.0.0.1/hook", "reserved"),
    ("http://[fd00::1]/hook", "unique-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/hook", "NAT64"),
]


def test_every_blocked_form_is_refused_at_send_time_and_recorded(app, api, client, receiver):
    port = receiver.url.rsplit(":", 1)[1]
    source, inbound = make_source(api)
    targets = [make_target(api, url.format(port=port), f"target {n}") for n, (url, _) in enumerate(TABLE)]
    make_route(api, source, targets)
    client.post(inbound, json={"n": 1})
    items = {d["connection"]: d for d in settle(app, all_settled(api, len(TABLE)), timeout=30)}
    for target, (url, words) in zip(targets, TABLE, strict=True):
        item = items[target]
        assert item["status"] == "failed", url
        [attempt] = item["attempts"]
        assert attempt["outcome"] == "blocked" and attempt["status_code"] is None, url
        assert words in attempt["error"] and "HOOKHUB_ALLOW_PRIVATE_NETWORKS" in attempt["error"], (url, attempt)
    assert len(receiver) == 0                                            # nothing reached this machine


def test_a_redirect_to_an_internal_address_is_refused(tmp_path, redis_url, redis_client, receiver):
    with closing(make_app(tmp_path / "instance", redis_url)) as app:        # make_app lets sends reach 127.0.0.1
        api, client = AdminClient(app), app.test_client()
        receiver.default = Reply(307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        source, inbound = make_source(api)
        make_route(api, source, [make_target(api, receiver.url + "/hook")])
        client.post(inbound, json={"n": 1})
        [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "failed" and item["attempts"][0]["outcome"] == "blocked"
    assert "redirect" in item["last_error"] and "169.254.169.254" in item["last_error"]
    assert len(receiver) == 1                                            # the first hop only
