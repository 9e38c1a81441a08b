"""What the console's activity tests set up again and again, through the admin API and real HTTP:
a GitHub-signed source, a webhook target on the test's receiver, a route between them, signed
events posted to the live server, and the jobs run until they settle."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests

from hub.testing import AdminClient, github_headers

GITHUB_SECRET = "console-scenario-signing-secret"   # noqa: S105 - what the test's sender signs with


def github_source(api: AdminClient, name: str = "github") -> dict[str, Any]:
    """An inbound connection verifying GitHub's signature (its event type is X-GitHub-Event)."""
    return api.create_connection(name=name, provider="hmac", provider_config={"preset": "github"},
                                 secrets={"secret": GITHUB_SECRET})


def webhook_target(api: AdminClient, url: str, name: str = "ops hook", **extra: Any) -> dict[str, Any]:
    channel_config = {"url": url, **extra.pop("channel_config", {})}
    return api.create_connection(name=name, channel="webhook", channel_config=channel_config, **extra)


def route(api: AdminClient, source: str, *targets: str, template: Any = None, name: str = "to ops",
          **extra: Any) -> dict[str, Any]:
    body = {"name": name, "source": source, "targets": [{"connection": t, "template": template} for t in targets],
            **extra}
    answer = api.post("/routes", json=body)
    assert answer.status_code == 201, answer.json
    return answer.json


def post_signed(live: Any, source: dict[str, Any], payload: Any, event: str = "push",
                secret: str = GITHUB_SECRET) -> requests.Response:
    """``payload`` signed as GitHub signs it, posted to the source's inbound URL on the live server."""
    parts = urlsplit(source["inbound_url"])
    body = json.dumps(payload).encode()
    return requests.post(f"{live.url}{parts.path}?{parts.query}", data=body,
                         headers=github_headers(secret, body, event=event), timeout=10)
