"""A whole hub for a test: the app on a fresh SQLite database with the embedded Redis, every
installed plugin loaded (yours too, once your package is installed), an admin token, and a way to
run the queued jobs on a real RQ worker in the test's own process."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask

ADMIN_TOKEN = "hkh_testing_admin_token_0123456789abcdef"   # noqa: S105 - a test fixture's token
PUBLIC_URL = "http://hub.test"


def make_app(instance_path: str | Path, redis_url: str, **settings: Any) -> Flask:
    """An app with its schema and admin token; ``settings`` override any ``HOOKHUB_*`` value.

    Outbound sends may reach 127.0.0.1 (a :class:`~hub.testing.Receiver`), retries come after
    0.2, 0.4 and 0.8 s, and inbound URLs start with ``http://hub.test``."""
    from hub.storage.config import TestConfig
    from hub.storage.db import get_database
    from hub.storage.schema import upgrade
    from hub.web.app import bootstrap, create_app

    config = TestConfig.load({})
    config.update(HOOKHUB_INSTANCE_PATH=str(instance_path), HOOKHUB_REDIS_URL=redis_url,
                  HOOKHUB_SECRET_KEYS=(Fernet.generate_key().decode(),), HOOKHUB_BOOTSTRAP_TOKEN=ADMIN_TOKEN,
                  HOOKHUB_PUBLIC_URL=PUBLIC_URL,
                  HOOKHUB_ALLOW_PRIVATE_NETWORKS=(ipaddress.ip_network("127.0.0.0/8"),))
    config.update(settings)
    app = create_app(config)
    upgrade(get_database(app))
    bootstrap(app)
    return app


class AdminClient:
    """The admin API with the test's admin token: ``admin.post("/connections", json={…})``."""

    def __init__(self, app: Flask, token: str = ADMIN_TOKEN) -> None:
        self.client = app.test_client()
        self.token = token

    def request(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def create_connection(self, **body: Any) -> dict[str, Any]:
        """POST /connections; fails the test with the hub's answer unless it is 201. The result's
        ``inbound_path`` is its inbound URL without the host, ready for ``app.test_client()``."""
        r = self.post("/connections", json=body)
        assert r.status_code == 201, r.get_json()
        created = dict(r.get_json())
        if created.get("inbound_url"):
            created["inbound_path"] = created["inbound_url"].removeprefix(PUBLIC_URL)
        return created


def run_jobs(app: Flask) -> None:
    """Route accepted events and send due deliveries: the hand-off pump, then a real RQ worker
    in burst mode (with its scheduler, so due retries run too), in this process."""
    from hub.inbound.handoff import drain
    from hub.worker.runner import build_worker

    while drain(app):
        pass
    build_worker(app).work(burst=True, with_scheduler=True)


def settle(app: Flask, predicate: Callable[[], Any], timeout: float = 15.0, message: str = "the jobs to settle") -> Any:
    """:func:`run_jobs` until ``predicate()`` is truthy (routing, then sends, then retries take a
    few passes); returns its value, or fails the test after ``timeout`` seconds, naming ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        run_jobs(app)
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def hookhub_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded redis-server for the session."""
    from hub.storage.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(str(tmp_path_factory.mktemp("hookhub-redis")))
    yield server.start()
    server.stop()


@pytest.fixture
def hookhub_app(tmp_path: Path, hookhub_redis_url: str) -> Iterator[Flask]:
    """A fresh hub (see :func:`make_app`), its Redis emptied first."""
    import redis

    from hub.storage.db import get_database

    redis.Redis.from_url(hookhub_redis_url).flushall()
    app = make_app(tmp_path / "hookhub", hookhub_redis_url)
    yield app
    app.extensions["hookhub.gateway"].cache.close()
    get_database(app).dispose()


@pytest.fixture
def hookhub_admin(hookhub_app: Flask) -> AdminClient:
    """:class:`AdminClient` for ``hookhub_app``."""
    return AdminClient(hookhub_app)
