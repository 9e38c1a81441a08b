import ipaddress
from contextlib import closing

import pytest

from hub.storage.config import Config, ConfigError, TestConfig, normalise_database_url, resolve
from hub.web.app import create_app


def test_defaults_without_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = resolve(None, environ={})
    assert settings["HOOKHUB_INSTANCE_PATH"] == str(tmp_path / "instance")
    assert settings["HOOKHUB_DATABASE_URL"] == f"sqlite:///{tmp_path / 'instance' / 'hookhub.db'}"
    assert settings["HOOKHUB_REDIS_URL"] is None
    assert settings["HOOKHUB_MAX_BODY_BYTES"] == 1024 * 1024
    assert settings["HOOKHUB_PUBLIC_URL"] == "http://127.0.0.1:8000"
    assert settings["HOOKHUB_ALLOW_PRIVATE_NETWORKS"] == ()


def test_environment_overrides_each_type():
    env = {
        "HOOKHUB_DATABASE_URL": "postgres://u:p@db/hookhub",
        "HOOKHUB_REDIS_URL": "redis://cache:6379/2",
        "HOOKHUB_SECRET_KEYS": "k1, k2",
        "HOOKHUB_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8, 10.1.2.3/32,::1/128",
        "HOOKHUB_PUBLIC_URL": "https://hooks.example.com/",
        "HOOKHUB_DISABLE_PLUGINS": "channel_discord",
        "HOOKHUB_LOAD_PLUGINS": "",
        "HOOKHUB_MAX_BODY_BYTES": "2048",
        "HOOKHUB_OUTBOUND_TIMEOUT": "2.5",
        "HOOKHUB_RETRY_SCHEDULE": "1,2,3.5",
        "HOOKHUB_BOOTSTRAP_TOKEN": "abc",
    }
    s = resolve(None, environ=env)
    assert s["HOOKHUB_DATABASE_URL"] == "postgresql+psycopg://u:p@db/hookhub"
    assert s["HOOKHUB_REDIS_URL"] == "redis://cache:6379/2"
    assert s["HOOKHUB_SECRET_KEYS"] == ("k1", "k2")
    assert s["HOOKHUB_ALLOW_PRIVATE_NETWORKS"] == (ipaddress.ip_network("127.0.0.0/8"),
                                                   ipaddress.ip_network("10.1.2.3/32"),
                                                   ipaddress.ip_network("::1/128"))
    assert s["HOOKHUB_PUBLIC_URL"] == "https://hooks.example.com"
    assert s["HOOKHUB_DISABLE_PLUGINS"] == ("channel_discord",)
    assert s["HOOKHUB_LOAD_PLUGINS"] == ()      # set but empty: load no third-party plugin
    assert s["HOOKHUB_MAX_BODY_BYTES"] == 2048
    assert s["HOOKHUB_OUTBOUND_TIMEOUT"] == 2.5
    assert s["HOOKHUB_RETRY_SCHEDULE"] == (1.0, 2.0, 3.5)
    assert s["HOOKHUB_BOOTSTRAP_TOKEN"] == "abc"


@pytest.mark.parametrize("name, value", [
    ("HOOKHUB_MAX_BODY_BYTES", "lots"),
    ("HOOKHUB_ALLOW_PRIVATE_NETWORKS", "not-a-network"),
    ("HOOKHUB_RETRY_SCHEDULE", "5,-1"),
    ("HOOKHUB_OUTBOUND_TIMEOUT", "ten"),
    ("HOOKHUB_DATABASE_CONNECTIONS", "0"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Config.load({name: value})


def test_test_config_is_a_config_subclass_with_fast_schedules():
    s = TestConfig.load({})
    assert s["TESTING"] is True
    assert max(s["HOOKHUB_RETRY_SCHEDULE"]) < 5


def test_postgres_url_forms_use_psycopg3():
    assert normalise_database_url("postgresql://x/y") == "postgresql+psycopg://x/y"
    assert normalise_database_url("postgresql+psycopg://x/y") == "postgresql+psycopg://x/y"
    assert normalise_database_url("sqlite:///a.db") == "sqlite:///a.db"


def test_create_app_reads_environment(tmp_path, monkeypatch, redis_url):
    monkeypatch.setenv("HOOKHUB_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("HOOKHUB_PUBLIC_URL", "https://h.example/")
    monkeypatch.setenv("HOOKHUB_REDIS_URL", redis_url)
    with closing(create_app()) as app:
        assert app.config["HOOKHUB_PUBLIC_URL"] == "https://h.example"
        assert app.instance_path == str(tmp_path / "inst")
        assert app.config["HOOKHUB_DATABASE_URL"].endswith("/inst/hookhub.db")


def test_every_setting_is_documented():
    from pathlib import Path

    from hub.storage.config import Config

    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    missing = [name for name in dir(Config) if name.startswith("HOOKHUB_") and f"`{name}`" not in doc]
    assert missing == [], f"docs/configuration.md does not describe {missing}"
