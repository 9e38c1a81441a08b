"""Fixtures for the outbound side: an app whose deliveries may reach 127.0.0.1, a capturing
receiver, and helpers that create connections and routes through the admin API and run the
real worker (RQ, in this process, with its scheduler) until the deliveries settle."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from hub.testing import AdminClient, settle  # noqa: F401 - settle for the tests here

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture
def settings(settings) -> dict[str, Any]:
    return {**settings, "HOOKHUB_ALLOW_PRIVATE_NETWORKS": LOOPBACK, "HOOKHUB_MIN_DELAY_AFTER_429": 1.0,
            "HOOKHUB_WORKER_CONCURRENCY": 8}


def make_source(api: AdminClient, name: str = "crm source", **extra: Any) -> tuple[str, str]:
    """A generic inbound connection: (its id, its inbound path with the key)."""
    r = api.post("/connections", json={"name": name, "provider": "generic", **extra})
    assert r.status_code == 201, r.json
    return r.json["id"], r.json["inbound_url"].replace("http://hub.test", "")


def make_target(api: AdminClient, url: str, name: str = "receiver", *, secrets: dict | None = None,
                channel: str = "webhook", **config: Any) -> str:
    if channel == "webhook":
        config.setdefault("url", url)
    body = {"name": name, "channel": channel, "channel_config": config, "secrets": secrets or {}}
    r = api.post("/connections", json=body)
    assert r.status_code == 201, r.json
    return r.json["id"]


def make_route(api: AdminClient, source: str, targets: list[Any], match: list | None = None, name: str = "r") -> str:
    targets = [t if isinstance(t, dict) else {"connection": t} for t in targets]
    r = api.post("/routes", json={"name": name, "source": source, "match": match or [], "targets": targets})
    assert r.status_code == 201, r.json
    return r.json["id"]


def deliveries(api: AdminClient, **filters: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    r = api.get(f"/deliveries?{query}")
    assert r.status_code == 200, r.json
    return r.json["items"]


def statuses(api: AdminClient, **filters: str) -> list[str]:
    return sorted(d["status"] for d in deliveries(api, **filters))


def all_settled(api: AdminClient, count: int, **filters: str):
    """A predicate: ``count`` deliveries exist and none is still queued or sending."""
    def check():
        items = deliveries(api, **filters)
        if len(items) == count and all(d["status"] not in ("queued", "sending") for d in items):
            return items
        return None
    return check
