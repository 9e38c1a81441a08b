"""HOOKHUB_BIND and the public URL that follows it; HOOKHUB_REDIS_URL's forms (TLS, Sentinel) and
the two-variable Sentinel form; the concurrency lease's length. Settings only: the processes that
use them are tested in tests/e2e/ (two hubs side by side, a Sentinel failover, a killed worker)."""

from contextlib import closing

import pytest

from hub.storage.config import Config, ConfigError, parse_bind, resolve
from hub.storage.redis_urls import SentinelTarget, redis_target
from hub.web.app import create_app


@pytest.mark.parametrize("bind, url", [
    ("127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("127.0.0.2:9001", "http://127.0.0.2:9001"),
    ("hub.internal:80", "http://hub.internal:80"),
    ("[::1]:8080", "http://[::1]:8080"),
    ("0.0.0.0:8000", "http://127.0.0.1:8000"),       # every interface names no host: the loopback stands in
    ("[::]:8000", "http://[::1]:8000"),
])
def test_the_public_url_follows_the_bind_address_when_unset(bind, url):
    assert resolve(None, environ={"HOOKHUB_BIND": bind})["HOOKHUB_PUBLIC_URL"] == url


def test_an_explicit_public_url_wins_over_the_bind_address():
    settings = resolve(None, environ={"HOOKHUB_BIND": "127.0.0.1:9000", "HOOKHUB_PUBLIC_URL": "https://hooks.example/"})
    assert settings["HOOKHUB_PUBLIC_URL"] == "https://hooks.example"
    assert resolve(None, environ={})["HOOKHUB_BIND"] == "127.0.0.1:8000"


@pytest.mark.parametrize("value", ["8000", "localhost", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000", "::1:8000"])
def test_a_bad_bind_address_is_refused_at_start_naming_the_variable(value):
    with pytest.raises(ConfigError, match="HOOKHUB_BIND"):
        Config.load({"HOOKHUB_BIND": value})


def test_parse_bind_reads_ipv6_in_brackets():
    assert parse_bind("[::1]:8000") == ("::1", 8000)
    assert parse_bind("0.0.0.0:80") == ("0.0.0.0", 80)


def test_the_app_shows_inbound_urls_on_the_bind_address(tmp_path, monkeypatch, redis_url):
    monkeypatch.delenv("HOOKHUB_PUBLIC_URL", raising=False)
    monkeypatch.setenv("HOOKHUB_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("HOOKHUB_REDIS_URL", redis_url)
    monkeypatch.setenv("HOOKHUB_BIND", "127.0.0.1:9123")
    with closing(create_app()) as app:
        assert app.config["HOOKHUB_PUBLIC_URL"] == "http://127.0.0.1:9123"


def test_a_sentinel_url_names_the_sentinels_master_database_and_credentials():
    target = redis_target("redis+sentinel://user:p%40ss@10.0.0.5:26380,sentinel-b,[fd00::7]:26381/mymaster/2"
                          "?socket_timeout=3&sentinel_password=s3cret")
    assert target == SentinelTarget(sentinels=(("10.0.0.5", 26380), ("sentinel-b", 26379), ("fd00::7", 26381)),
                                    master="mymaster", db=2, tls=False)
    assert target.options == {"username": "user", "password": "p@ss", "socket_timeout": 3.0}
    assert target.sentinel_options == {"password": "s3cret"}
    assert redis_target("rediss+sentinel://h:26379/m").tls is True
    assert redis_target("redis+sentinel://h/m").db == 0


@pytest.mark.parametrize("url", ["redis://cache:6379/0", "rediss://cache:6380/0?ssl_ca_certs=/etc/ca.pem",
                                 "unix:///run/redis.sock"])
def test_server_urls_are_used_as_they_are(url):
    assert redis_target(url) == url
    assert Config.load({"HOOKHUB_REDIS_URL": url})["HOOKHUB_REDIS_URL"] == url


@pytest.mark.parametrize("url, says", [
    ("cache:6379", "expected a URL"),
    ("http://cache:6379", "unknown scheme"),
    ("redis+sentinel:///mymaster", "no Sentinel address"),
    ("redis+sentinel://h:26379", "no master name"),
    ("redis+sentinel://h:26379/mymaster/zero", "must be a number"),
    ("redis+sentinel://h:port/mymaster", "not a Sentinel address"),
])
def test_a_bad_redis_url_is_refused_at_start_with_a_reason(url, says):
    with pytest.raises(ConfigError, match=f"HOOKHUB_REDIS_URL.*{says}"):
        Config.load({"HOOKHUB_REDIS_URL": url})


def test_sentinels_and_master_variables_are_one_sentinel_url():
    settings = resolve(None, environ={"HOOKHUB_REDIS_SENTINELS": "10.0.0.5:26379, 10.0.0.6:26379",
                                      "HOOKHUB_REDIS_MASTER": "mymaster"})
    assert settings["HOOKHUB_REDIS_URL"] == "redis+sentinel://10.0.0.5:26379,10.0.0.6:26379/mymaster/0"


@pytest.mark.parametrize("environ, says", [
    ({"HOOKHUB_REDIS_SENTINELS": "10.0.0.5:26379"}, "go together"),
    ({"HOOKHUB_REDIS_MASTER": "mymaster"}, "go together"),
    ({"HOOKHUB_REDIS_SENTINELS": "h:26379", "HOOKHUB_REDIS_MASTER": "m", "HOOKHUB_REDIS_URL": "redis://x"},
     "both set"),
    ({"HOOKHUB_REDIS_SENTINELS": "h:not-a-port", "HOOKHUB_REDIS_MASTER": "m"}, "not a Sentinel address"),
])
def test_inconsistent_sentinel_settings_are_refused(environ, says):
    with pytest.raises(ConfigError, match=says):
        resolve(None, environ=environ)


def test_the_concurrency_lease_grace_is_a_non_negative_number():
    assert Config.load({})["HOOKHUB_CONCURRENCY_LEASE_GRACE"] == 10.0
    assert Config.load({"HOOKHUB_CONCURRENCY_LEASE_GRACE": "2.5"})["HOOKHUB_CONCURRENCY_LEASE_GRACE"] == 2.5
    with pytest.raises(ConfigError, match="HOOKHUB_CONCURRENCY_LEASE_GRACE"):
        Config.load({"HOOKHUB_CONCURRENCY_LEASE_GRACE": "-1"})
