"""hub.testing's signers produce what the hub's providers accept (and what the vendor SDK
verifies), and nothing they sign survives a changed body."""

from __future__ import annotations

import json

import pytest
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from hub.testing import github_headers, meta_headers, slack_headers, standard_webhooks_headers

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CASES = {
    "github": ({"provider": "hmac", "provider_config": {"preset": "github"}, "secrets": {"secret": "gh"}},
               lambda body: github_headers("gh", body)),
    "slack": ({"provider": "slack", "secrets": {"signing_secret": "sl"}},
              lambda body: {**slack_headers("sl", body), "Content-Type": "application/json"}),
    "meta": ({"provider": "meta", "secrets": {"app_secret": "me", "verify_token": "vt"}},
             lambda body: meta_headers("me", body)),
    "standard_webhooks": ({"provider": "hmac", "provider_config": {"preset": "standard_webhooks"},
                           "secrets": {"secret": SW_SECRET}},
                          lambda body: {**standard_webhooks_headers(SW_SECRET, body),
                                        "Content-Type": "application/json"}),
}
BODY = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "text": "hi"},
                   "entry": [{"changes": [{"value": {"statuses": [{"id": "s1", "status": "sent"}]}}]}]}).encode()


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_signer_is_accepted_by_its_provider_and_a_changed_body_is_not(api, client, name):
    body_fields, sign = CASES[name]
    created = api.post("/connections", json={"name": f"signed {name}", **body_fields})
    assert created.status_code == 201, created.json
    url = created.json["inbound_url"].replace("http://hub.test", "")
    headers = sign(BODY)
    ok = client.post(url, data=BODY, headers=headers)
    assert ok.status_code == 200 and ok.json["status"] == "accepted", ok.json
    tampered = client.post(url, data=BODY.replace(b"hi", b"ho"), headers=headers)
    assert tampered.status_code == 401 and tampered.json["error"]["code"] == "signature_invalid"


def test_the_vendor_sdks_verify_the_signers_output():
    headers = slack_headers("sl", BODY, timestamp=1_700_000_000)
    assert SignatureVerifier("sl").generate_signature(timestamp="1700000000", body=BODY.decode()) == \
        headers["X-Slack-Signature"]
    signed = standard_webhooks_headers(SW_SECRET, BODY)
    assert Webhook(SW_SECRET).verify(BODY, signed) == json.loads(BODY)
