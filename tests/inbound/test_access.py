"""Who may call an inbound URL, and how often: the key before anything that describes the
connection, allowlists, the client behind trusted proxies, the per-address limit on failed
authentications (inbound and admin API), and the per-workspace inbound rate limit."""

from __future__ import annotations

import ipaddress

import pytest

from hub.core.addresses import client_address, parse_networks, within
from hub.testing import AdminClient, github_headers, make_token

PROXY = "10.0.0.5"
TRUSTED = parse_networks(["10.0.0.0/24"])


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("203.0.113.9", [], "203.0.113.9"),                                   # no proxy
    ("203.0.113.9", ["198.51.100.7"], "203.0.113.9"),                     # an untrusted peer cannot say
    (PROXY, ["198.51.100.7"], "198.51.100.7"),                            # the proxy says who connected
    (PROXY, ["1.2.3.4, 198.51.100.7"], "198.51.100.7"),                   # the left part is the client's word
    (PROXY, ["1.2.3.4", "198.51.100.7, 10.0.0.9"], "198.51.100.7"),       # several headers, two proxies
    (PROXY, ["10.0.0.8, 10.0.0.9"], "10.0.0.8"),                          # only proxies: the first of them
    (PROXY, ["not-an-address"], PROXY),                                   # garbage from a proxy: the proxy
    (PROXY, [], PROXY),
    ("::ffff:10.0.0.5", ["2001:db8::1"], "2001:db8::1"),                  # an IPv4-mapped proxy address
])
def test_the_client_behind_trusted_proxies(peer, forwarded, expected):
    assert client_address(peer, forwarded, TRUSTED) == expected


def test_networks_are_checked_by_version_and_refused_when_unreadable():
    nets = parse_networks(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"])
    assert within("203.0.113.200", nets) and within("2001:db8::42", nets) and within("198.51.100.7", nets)
    assert not within("198.51.100.8", nets) and not within("garbage", nets)
    with pytest.raises(ValueError, match="'300.1.1.1' is not an IP address"):
        parse_networks(["300.1.1.1"])


@pytest.fixture
def github(api):
    return api.post("/connections", json={"name": "github repo", "provider": "hmac", "secrets": {"secret": "s3cret"},
                                          "provider_config": {"preset": "github"}}).json


def post(client, path, body=b'{"n": 1}', *, secret="s3cret", peer="127.0.0.1", **headers):
    return client.post(path, data=body, headers={**github_headers(secret, body), **headers},
                       environ_base={"REMOTE_ADDR": peer})


def path_of(conn, key=None) -> str:
    path = conn["inbound_url"].removeprefix("http://hub.test")
    return path if key is None else path.split("?")[0] + f"?key={key}"


def test_the_key_is_checked_before_the_provider_is_named(client, github):
    wrong_provider = path_of(github).replace("/hooks/hmac/", "/hooks/slack/")
    r = client.post(wrong_provider.split("?")[0] + "?key=guess", json={})
    assert r.status_code == 401 and "hmac" not in r.get_data(as_text=True)   # nothing about the connection
    r = client.post(wrong_provider, json={})
    assert r.status_code == 400 and r.json["error"]["code"] == "provider_mismatch"


@pytest.fixture
def settings(settings):
    return {**settings, "HOOKHUB_AUTH_FAILURE_LIMIT": "3/minute",
            "HOOKHUB_TRUSTED_PROXIES": (ipaddress.ip_network("10.0.0.0/24"),)}


def test_a_flood_of_bad_keys_is_refused_before_the_key_is_checked(client, api, github):
    for _ in range(3):
        assert post(client, path_of(github, key="guess"), peer="198.51.100.7").status_code == 401
    r = post(client, path_of(github), peer="198.51.100.7")                     # even the right key, now
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json["error"]["code"] == "rate_limited" and "198.51.100.7" in r.json["error"]["message"]
    assert post(client, path_of(github), peer="203.0.113.1").json["status"] == "accepted"   # others are not held
    codes = [f["code"] for f in api.get(f"/failures?connection={github['id']}").json["items"]]
    assert codes.count("unauthorized") == 3 and codes.count("rate_limited") == 1


def test_a_refused_client_is_refused_again_without_asking_redis(client, github, redis_client):
    for _ in range(3):
        assert post(client, path_of(github, key="guess"), peer="198.51.100.11").status_code == 401
    assert post(client, path_of(github), peer="198.51.100.11").status_code == 429
    redis_client.config_resetstat()
    for _ in range(5):         # a fixed window's count only grows: exhausted it stays until the window ends
        r = post(client, path_of(github), peer="198.51.100.11")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    asked = redis_client.info("commandstats")
    assert "cmdstat_get" not in asked and "cmdstat_ttl" not in asked, asked


def test_bad_signatures_count_as_failed_authentications(client, github):
    for _ in range(3):
        r = post(client, path_of(github), secret="not it", peer="198.51.100.8")
        assert r.status_code == 401 and r.json["error"]["code"] == "signature_invalid"
    assert post(client, path_of(github), peer="198.51.100.8").status_code == 429


def test_behind_a_trusted_proxy_the_limit_and_the_records_use_the_real_client(client, api, github):
    for n in range(3):
        assert post(client, path_of(github, key="guess"), peer=PROXY,
                    **{"X-Forwarded-For": f"1.1.1.{n}, 198.51.100.9"}).status_code == 401
    blocked = post(client, path_of(github), peer=PROXY, **{"X-Forwarded-For": "198.51.100.9"})
    assert blocked.status_code == 429                                          # the client, not the proxy, is held
    fine = post(client, path_of(github), peer=PROXY, **{"X-Forwarded-For": "198.51.100.10"})
    assert fine.json["status"] == "accepted"
    event = api.get(f"/events/{fine.json['id']}").json
    assert event["headers"]["X-Forwarded-For"] == ["198.51.100.10"]
    failures = api.get(f"/failures?connection={github['id']}").json["items"]
    assert {f["remote_addr"] for f in failures} == {"198.51.100.9"}
    spoofed = post(client, path_of(github), peer="203.0.113.5", **{"X-Forwarded-For": "198.51.100.10"})
    assert spoofed.json["status"] == "accepted"
    assert api.get(f"/failures?connection={github['id']}").json["items"] == failures   # nothing new recorded


def test_failed_admin_sign_ins_are_limited_per_address(app):
    client = app.test_client()
    for _ in range(3):
        r = client.get("/api/v1/connections", headers={"Authorization": "Bearer hkh_guess"},
                       environ_base={"REMOTE_ADDR": "198.51.100.20"})
        assert r.status_code == 401
    token = make_token(app, "admin")
    r = client.get("/api/v1/connections", headers={"Authorization": f"Bearer {token}"},
                   environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert AdminClient(app, token).get("/connections").status_code == 200    # another address is not held


def test_a_workspace_limit_holds_all_its_connections_together(client, api):
    api.post("/workspaces", json={"name": "team-b", "inbound_rate_limit": "3/minute"})
    b = {"X-Hookhub-Workspace": "team-b"}
    first = api.post("/connections", json={"name": "b-one", "provider": "generic"}, headers=b).json
    second = api.post("/connections", json={"name": "b-two", "provider": "generic"}, headers=b).json
    mine = api.post("/connections", json={"name": "default-one", "provider": "generic"}).json
    answers = [client.post(path_of(conn), json={"n": n}).status_code
               for n, conn in enumerate([first, second, first, second])]
    assert answers == [200, 200, 200, 429]
    assert client.post(path_of(mine), json={}).status_code == 200                # other workspaces are not held
    api.patch("/workspaces/team-b", json={"inbound_rate_limit": None}, headers=b)
    assert client.post(path_of(second), json={"n": 9}).status_code == 200        # the change reached the cache


def test_an_allowlist_refuses_other_clients_with_403_and_records_them(client, api, github):
    r = api.patch(f"/connections/{github['id']}", json={"allowed_ips": ["203.0.113.0/24", "198.51.100.7"]})
    assert r.status_code == 200 and r.json["allowed_ips"] == ["203.0.113.0/24", "198.51.100.7/32"]
    assert post(client, path_of(github), peer="203.0.113.44").json["status"] == "accepted"
    refused = post(client, path_of(github), peer="192.0.2.1")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert "192.0.2.1" in refused.json["error"]["message"]
    behind_proxy = post(client, path_of(github), peer=PROXY, **{"X-Forwarded-For": "198.51.100.7"})
    assert behind_proxy.json["status"] == "accepted"                           # the real client is allowed
    [failure] = [f for f in api.get(f"/failures?connection={github['id']}").json["items"] if f["status"] == 403]
    assert failure["remote_addr"] == "192.0.2.1" and failure["code"] == "forbidden"
    bad = api.patch(f"/connections/{github['id']}", json={"allowed_ips": ["not a network"]})
    assert bad.status_code == 422 and "allowed_ips" in bad.json["error"]["fields"]
    outbound = api.post("/connections", json={"name": "out only", "channel": "webhook", "allowed_ips": ["10.0.0.0/8"],
                                              "channel_config": {"url": "https://example.com/h"}})
    assert outbound.status_code == 422 and "inbound side" in outbound.json["error"]["fields"]["allowed_ips"][0]
    api.patch(f"/connections/{github['id']}", json={"allowed_ips": []})
    assert post(client, path_of(github), peer="192.0.2.1").json["status"] == "accepted"   # open again at once
