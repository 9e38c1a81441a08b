"""Headers a genuine sender would add, for tests that post signed requests to the hub: the
formats of the SPECS table, written out plainly (the hub's own providers verify them; vendor SDKs
sign the same bytes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid


def hmac_hex(secret: str | bytes, data: bytes, algorithm: str = "sha256") -> str:
    """HMAC of ``data`` under ``secret`` (text is UTF-8), as lower-case hex."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, data, getattr(hashlib, algorithm)).hexdigest()


def github_headers(secret: str, body: bytes, event: str = "push", delivery: str | None = None) -> dict[str, str]:
    """GitHub: ``X-Hub-Signature-256: sha256=<hex>`` over the raw body, with the event and delivery id."""
    return {"X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body), "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "Content-Type": "application/json"}


def slack_headers(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack: ``X-Slack-Signature: v0=<hex>`` over ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + hmac_hex(signing_secret, f"v0:{ts}:".encode() + body)}


def meta_headers(app_secret: str, body: bytes) -> dict[str, str]:
    """Meta / WhatsApp: ``X-Hub-Signature-256: sha256=<hex>`` over the raw body."""
    return {"X-Hub-Signature-256": "sha256=" + hmac_hex(app_secret, body), "Content-Type": "application/json"}


def standard_webhooks_headers(secret: str, body: bytes, msg_id: str | None = None,
                              timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks (Svix): ``webhook-signature: v1,<base64>`` over ``{id}.{timestamp}.{body}``,
    keyed by the base64 after ``whsec_``."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": ts,
            "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii")}
