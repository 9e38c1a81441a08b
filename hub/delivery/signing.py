"""Standard Webhooks signatures on outbound requests: ``webhook-id``, ``webhook-timestamp`` and one
``v1,<base64>`` entry per unexpired secret (so receivers keep verifying during a rotation)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; ValueError with a readable message otherwise."""
    if not secret.startswith(PREFIX):
        raise ValueError("a signing secret looks like whsec_ followed by base64")
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part after whsec_ is not valid base64") from None
    if len(key) < 16:
        raise ValueError("a signing secret needs at least 16 bytes of key")
    return key


def signature_header(webhook_id: str, timestamp: int, body: bytes, secrets: Iterable[str]) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    entries = []
    for secret in secrets:
        digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
        entries.append("v1," + base64.b64encode(digest).decode())
    return " ".join(entries)


def sign_headers(webhook_id: str, timestamp: int, body: bytes, secrets: list[str]) -> dict[str, str]:
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(webhook_id, timestamp, body, secrets)}
