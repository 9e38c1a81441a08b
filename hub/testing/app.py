"""A whole hub for a test: the app on a fresh SQLite database with the embedded Redis, every
installed plugin loaded (yours too, once your package is installed), an admin token, and a way to
run the queued jobs on a real RQ worker in the test's own process."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask

if TYPE_CHECKING:
    from hub.web.app import HubApp

ADMIN_TOKEN = "hkh_testing_admin_token_0123456789abcdef"   # noqa: S105 - a test fixture's token
PUBLIC_URL = "http://hub.test"


def make_app(instance_path: str | Path, redis_url: str, *, migrate: bool = True, **settings: Any) -> HubApp:
    """An app with its schema and admin token; ``settings`` override any ``HOOKHUB_*`` value.

    Outbound sends may reach 127.0.0.1 (a :class:`~hub.testing.Receiver`), retries come after
    0.2, 0.4 and 0.8 s, and inbound URLs start with ``http://hub.test``; the admin token is
    :data:`ADMIN_TOKEN`. For example ``make_app(path, url, HOOKHUB_ALLOW_PRIVATE_NETWORKS=())``
    refuses sends to 127.0.0.1, as production does. ``migrate=False`` leaves the database as
    ``hookhub db upgrade`` would find it: without the schema (and so without the token).

    Call ``app.close()`` when the test is done with it (the fixtures do)."""
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
    if migrate:
        upgrade(get_database(app))
        bootstrap(app)
    return app


class AdminClient:
    """The admin API of ``app`` with a bearer token: ``admin.post("/connections", json={…})``.

    ``token`` defaults to the app's ``HOOKHUB_BOOTSTRAP_TOKEN`` (:data:`ADMIN_TOKEN` for an app
    from :func:`make_app`). Every request method takes ``json=`` for the body, ``token=`` to send
    another token for that request only (a viewer's, say), and whatever else Flask's test client
    takes (``headers=``, ``data=``, ``query_string=``…); ``admin.client`` is the test client
    itself, for a request without a token."""

    def __init__(self, app: Flask, token: str | None = None) -> None:
        self.client = app.test_client()
        self.token = token or app.config.get("HOOKHUB_BOOTSTRAP_TOKEN") or ADMIN_TOKEN

    def request(self, method: str, path: str, *, json: Any = None, token: str | None = None, **kw: Any) -> Any:
        """``method`` on ``/api/v1{path}``."""
        headers = {"Authorization": f"Bearer {token or self.token}", **kw.pop("headers", {})}
        return self.client.open(f"/api/v1{path}", method=method, json=json, headers=headers, **kw)

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


def make_token(app: Flask, role: str = "admin", workspace: str = "default", name: str | None = None,
               expires_in: int | None = None) -> str:
    """A new token of ``role`` (``owner``, ``admin`` or ``viewer``) in ``workspace`` — created if it
    does not exist yet — for ``AdminClient(app, token)`` or ``admin.get(…, token=…)``."""
    from hub.services.tokens import create_token
    from hub.services.workspaces import ensure_workspace
    from hub.storage.db import get_database

    with get_database(app).session() as session:
        ensure_workspace(session, workspace)
        return create_token(session, workspace=workspace, role=role, name=name or f"{role}-{workspace}",
                            actor="test", expires_in=expires_in)[1]


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
def hookhub_app(tmp_path: Path, hookhub_redis_url: str) -> Iterator[HubApp]:
    """A fresh hub (see :func:`make_app`), its Redis emptied first; closed after the test."""
    import redis

    with redis.Redis.from_url(hookhub_redis_url) as client:
        client.flushall()
    app = make_app(tmp_path / "hookhub", hookhub_redis_url)
    yield app
    app.close()


@pytest.fixture
def hookhub_admin(hookhub_app: HubApp) -> AdminClient:
    """:class:`AdminClient` for ``hookhub_app``."""
    return AdminClient(hookhub_app)
