"""Presets of the ``hmac`` provider: each vendor's signing scheme written as settings.

A header setting may list alternatives separated by commas (the first one present is used).
Settings a connection gives explicitly override the preset's.
"""

from __future__ import annotations

from typing import Any

#: Used when neither the preset nor the connection sets a value.
DEFAULTS: dict[str, Any] = {
    "signature_prefix": None,
    "key_encoding": "raw",
    "signed_content": "{body}",
    "timestamp_format": "unix",
    "tolerance": 300,
}

#: Settings that must be known (from the preset or the connection) for any scheme.
REQUIRED = ("signature_header", "algorithm", "encoding")

PRESETS: dict[str, dict[str, Any]] = {
    # LumenFlow-style: hex HMAC of the body; the ISO 8601 timestamp header is checked for staleness.
    "sidekick": {
        "signature_header": "x-sidekick-signature", "algorithm": "sha256", "encoding": "hex",
        "timestamp_header": "x-sidekick-timestamp", "timestamp_format": "iso8601",
    },
    "combo": {
        "signature_header": "X-Combo-Signature", "signature_prefix": "sha256=", "algorithm": "sha256",
        "encoding": "hex", "signed_content": "{ts}.{body}", "timestamp_header": "X-Combo-Timestamp",
        "timestamp_format": "unix",
    },
    "github": {
        "signature_header": "X-Hub-Signature-256", "signature_prefix": "sha256=", "algorithm": "sha256",
        "encoding": "hex", "id_header": "X-GitHub-Delivery", "event_header": "X-GitHub-Event",
    },
    # Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]; the secret is used verbatim (whsec_… string).
    "stripe": {
        "signature_header": "Stripe-Signature", "algorithm": "sha256", "encoding": "hex",
        "signature_separator": ",", "signature_key": "v1", "timestamp_key": "t",
        "signed_content": "{ts}.{body}", "timestamp_format": "unix", "id_field": "id",
    },
    "shopify": {
        "signature_header": "X-Shopify-Hmac-Sha256", "algorithm": "sha256", "encoding": "base64",
        "id_header": "X-Shopify-Webhook-Id", "event_header": "X-Shopify-Topic",
    },
    # Standard Webhooks / Svix: space-separated "v1,<b64>" entries; key = base64 after "whsec_".
    "standard_webhooks": {
        "signature_header": "webhook-signature,svix-signature", "signature_separator": " ",
        "signature_prefix": "v1,", "algorithm": "sha256", "encoding": "base64", "key_encoding": "whsec",
        "signed_content": "{id}.{ts}.{body}", "timestamp_header": "webhook-timestamp,svix-timestamp",
        "timestamp_format": "unix", "id_header": "webhook-id,svix-id",
    },
    # Microsoft Teams outgoing webhook: Authorization: HMAC <b64>, key = base64-decoded security token.
    "teams_outgoing": {
        "signature_header": "Authorization", "signature_prefix": "HMAC ", "algorithm": "sha256",
        "encoding": "base64", "key_encoding": "base64", "id_field": "id",
    },
    # Twilio: HMAC-SHA1 of the full URL + sorted POST params; JSON bodies are bound by ?bodySHA256=.
    "twilio": {
        "signature_header": "X-Twilio-Signature", "algorithm": "sha1", "encoding": "base64",
        "signed_content": "{url}{params}", "body_hash_param": "bodySHA256",
        "id_header": "I-Twilio-Idempotency-Token",
    },
}
