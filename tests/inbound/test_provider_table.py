"""Every row of the SPECS provider table against the running app: connections created through the
admin API, requests signed as each vendor signs them (the vendors' SDKs where one exists, the
SPECS vectors byte for byte), posted through the Flask test client, and the stored event read
back through ``GET /api/v1/events/{id}``. Refusals are checked for status, error code and their
failure record."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import sqlalchemy as sa
import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from hub.runtime.plugin_host import get_host
from hub.storage.db import get_database
from hub.storage.models import AuditRecord, Event
from hub.web import hook_endpoint
from tests.providers.helpers import b64_hmac, hex_hmac
from tests.waiting import wait_until

PUBLIC = "http://hub.test"           # HOOKHUB_PUBLIC_URL in the test settings
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MIB = 1024 * 1024
DEFAULT_CHANNEL = "hooks"


def now() -> int:
    return int(time.time())


def text_of(tag: str) -> str:
    """Non-ASCII text in every body: the bytes must survive verification and storage untouched."""
    return f"Grüße ✓ 👋 {tag}"


# --------------------------------------------------------------------------- connections and requests

@dataclass
class Conn:
    id: str
    provider: str
    key: str

    @property
    def path(self) -> str:
        return f"/hooks/{self.provider}/{self.id}"

    @property
    def url(self) -> str:
        """The inbound URL an admin pastes into the vendor's console (the URL Twilio signs)."""
        return f"{PUBLIC}{self.path}?key={self.key}"


def create(api, payload: dict[str, Any]) -> Conn:
    r = api.post("/connections", json=payload)
    assert r.status_code == 201, r.json
    created = r.json
    assert created["inbound_url"].startswith(f"{PUBLIC}/hooks/{created['provider']}/{created['id']}?key=")
    return Conn(created["id"], created["provider"], created["inbound_url"].split("?key=", 1)[1])


def send(client, url: str, body: bytes, headers: dict[str, str], content_type: str | None = JSON):
    """POST exactly ``body`` to the URL the sender uses (the test client takes the path + query)."""
    assert url.startswith(PUBLIC)
    return client.post(url[len(PUBLIC):], data=body, headers=headers, content_type=content_type)


def accepted(response) -> str:
    assert response.status_code == 200, response.data
    assert response.json["status"] == "accepted", response.json
    assert response.json["id"].startswith("evt_")
    return response.json["id"]


def stored(api, hub_id: str) -> dict[str, Any]:
    r = api.get(f"/events/{hub_id}")
    assert r.status_code == 200
    return r.json


def raw_body_of(event: dict[str, Any]) -> bytes:
    if event["raw_body_encoding"] == "base64":
        return base64.b64decode(event["raw_body"])
    return event["raw_body"].encode("utf-8")


def failures(api, conn: Conn | None = None) -> list[dict[str, Any]]:
    return api.get("/failures" + (f"?connection={conn.id}" if conn else "")).json["items"]


def assert_refused(api, conn: Conn, response, status: int, code: str, *, only_failure: bool = False) -> None:
    """The error shape, and a failure record with the same cause under this connection (the only
    one so far with ``only_failure``)."""
    assert response.status_code == status, (response.status_code, response.data)
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    listed = failures(api, conn)
    assert any(f["code"] == code and f["status"] == status and f["connection"] == conn.id for f in listed), listed
    if only_failure:
        assert len(listed) == 1, listed


def events_of(app, conn: Conn) -> int:
    with get_database(app).session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.connection_id == conn.id))


def after_change(attempt: Callable[[int], Any], status: int, timeout: float = 3.0,
                 until: Callable[[Any], bool] | None = None):
    """The first answer with ``status`` (and, with ``until``, for which ``until(answer)`` holds) to
    fresh requests ``attempt(0)``, ``attempt(1)``, … (or the last one after ``timeout``). A change made
    through the admin API reaches the inbound path's cache through Redis: these table tests allow for
    that hop; the strict property ("refused as soon as the admin API has answered") is
    test_admin_changes_apply_to_the_very_next_request. Also how a test waits for a grace period or a
    dedupe window to end: by asking until the answer changes."""
    tries = itertools.count()
    last: list[Any] = []

    def answered() -> bool:
        last[:] = [attempt(next(tries))]
        return last[0].status_code == status and (until is None or until(last[0]))

    with contextlib.suppress(AssertionError):         # the last answer is returned, and asserted by the caller
        wait_until(answered, f"an answer {status}", timeout=timeout, every=0.02)
    return last[0]


@pytest.fixture
def frozen_clock(monkeypatch):
    """Pin the inbound route's clock so a published vector's own timestamp is "now"."""
    def freeze(ts: int) -> None:
        class Frozen(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.fromtimestamp(ts, tz)
        monkeypatch.setattr(hook_endpoint, "datetime", Frozen)
    return freeze


# --------------------------------------------------------------------------- how each vendor signs

Signed = tuple[dict[str, str], str]     # headers, and the URL the sender posts to


def sign_slack(conn: Conn, body: bytes, secret: str, ts: int, content_type: str) -> Signed:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(ts)}, conn.url


def sign_meta(conn: Conn, body: bytes, secret: str, ts: int, content_type: str) -> Signed:
    return {"X-Hub-Signature-256": "sha256=" + hex_hmac(secret, body)}, conn.url


def sign_github(conn: Conn, body: bytes, secret: str, ts: int, content_type: str) -> Signed:
    return {"X-Hub-Signature-256": "sha256=" + hex_hmac(secret, body), "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Event": "push"}, conn.url


def sign_stripe(conn: Conn, body: bytes, secret: str, ts: int, content_type: str) -> Signed:
    header = stripe.WebhookSignature.generate_signature_header(body.decode("utf-8"), secret, timestamp=ts)
    return {"Stripe-Signature": header}, conn.url


def sign_shopify(conn: Conn, body: bytes, secret: str, ts: int, content_type: str) -> Signed:
    return {"X-Shopify-Hmac-Sha256": b64_hmac(secret, body), "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Topic": "orders/create"}, conn.url


def sign_standard(conn: Conn, body: bytes, secret: str, ts: int, content_type: str) -> Signed:
    msg_id = "msg_" + uuid.uuid4().hex
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, UTC), body.decode("utf-8"))
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}, conn.url


def sign_sidekick(conn: Conn, body: bytes, secret: str, ts: int, content_type: str) -> Signed:
    stamp = datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    return {"x-sidekick-signature": hex_hmac(secret, body), "x-sidekick-timestamp": stamp}, conn.url


def sign_combo(conn: Conn, body: bytes, secret: str, ts: int, content_type: str) -> Signed:
    return {"X-Combo-Signature": "sha256=" + hex_hmac(secret, f"{ts}.".encode() + body),
            "X-Combo-Timestamp": str(ts)}, conn.url


def sign_teams(conn: Conn, body: bytes, secret: str, ts: int, content_type: str) -> Signed:
    return {"Authorization": "HMAC " + b64_hmac(base64.b64decode(secret), body)}, conn.url


def sign_twilio(conn: Conn, body: bytes, secret: str, ts: int, content_type: str, url: str | None = None) -> Signed:
    """Twilio's algorithm: the full URL (query included), then each POST parameter name+value sorted
    by name; a JSON body is bound by ``bodySHA256`` in the URL instead."""
    url = url or conn.url
    params = ""
    if content_type == FORM:
        params = "".join(name + value for name, value in sorted(parse_qsl(body.decode(), keep_blank_values=True)))
    else:
        url += "&bodySHA256=" + hashlib.sha256(body).hexdigest()
    digest = hmac.new(secret.encode(), (url + params).encode("utf-8"), hashlib.sha1).digest()
    return {"X-Twilio-Signature": base64.b64encode(digest).decode()}, url


# --------------------------------------------------------------------------- one row of the table per scheme

def json_body(value: Any, *, ascii_only: bool = False) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")


@dataclass(frozen=True)
class Scheme:
    id: str
    provider: str
    secret_name: str
    secret: str
    other_secret: str
    signer: Callable[..., Signed]
    signature_header: str
    make_body: Callable[[str], bytes]                    # a realistic body carrying text_of(tag)
    expected_event_id: Callable[[str, dict[str, str]], str]   # (tag, signed headers) → event_id
    content_type: str = JSON
    preset: str | None = None
    timestamp_header: str | None = None   # header carrying the signed timestamp ("" = inside the signature)
    expected_channel: str = DEFAULT_CHANNEL
    event_type: str | None = None
    field_map: dict[str, Any] | None = None
    extra_secrets: dict[str, str] = field(default_factory=dict)
    malformed: tuple[tuple[str, Callable[[str, int], str]], ...] = ()   # (label, (good value, ts) → bad)

    @property
    def timestamped(self) -> bool:
        return self.timestamp_header is not None

    def connect(self, api, name: str | None = None, **config: Any) -> Conn:
        payload: dict[str, Any] = {"name": name or f"{self.id} in", "provider": self.provider,
                                   "secrets": {self.secret_name: self.secret, **self.extra_secrets},
                                   "default_channel": DEFAULT_CHANNEL}
        provider_config = dict(config)
        if self.preset:
            provider_config["preset"] = self.preset
        if provider_config:
            payload["provider_config"] = provider_config
        if self.field_map:
            payload["field_map"] = self.field_map
        return create(api, payload)

    def sign(self, conn: Conn, body: bytes, *, secret: str | None = None, ts: int | None = None,
             content_type: str | None = None) -> Signed:
        return self.signer(conn, body, secret or self.secret, now() if ts is None else ts,
                           content_type or self.content_type)


def _slack_body(tag: str) -> bytes:
    return json_body({"token": "XXYYZZ", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
                      "event_id": f"Ev{tag}", "event_time": 1700000000,
                      "event": {"type": "message", "channel": "C024BE91L", "user": "U2147483697",
                                "text": text_of(tag), "ts": "1700000000.000100",
                                "event_ts": "1700000000.000100", "channel_type": "channel"}})


def _whatsapp_body(tag: str) -> bytes:
    # Meta escapes non-ASCII as \uXXXX: the escaped bytes are what is signed.
    return json_body({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": f"wamid.{tag}", "timestamp": "1700000000",
                          "type": "text", "text": {"body": text_of(tag)}}]}}]}]}, ascii_only=True)


def _twilio_form(tag: str) -> bytes:
    return urlencode({"ToCountry": "US", "SmsMessageSid": f"SM{tag}", "NumMedia": "0", "Body": text_of(tag),
                      "From": "+14158675309", "To": "+18005551212", "MessageSid": f"SM{tag}",
                      "AccountSid": "AC0123456789abcdef", "ApiVersion": "2010-04-01"}).encode()


TEAMS_TOKEN = "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA="
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_B64 = base64.b64encode(b"another key of 32 bytes, really.").decode()

HEX_MALFORMED = (
    ("garbage", lambda good, ts: "garbage"),
    ("not hex", lambda good, ts: "sha256=" + "zz" * 32),
    ("wrong prefix", lambda good, ts: "sha1=" + good.split("=", 1)[1]),
    ("truncated", lambda good, ts: good[:-2]),
)

SLACK = Scheme(
    event_type="message",   # the envelope's type (CONTRACT: provider defaults, else the payload's type)
    id="slack", provider="slack", secret_name="signing_secret", secret="8f742231b10e8888abcd99yyyzzz85a5",
    other_secret="0123456789abcdef0123456789abcdef", signer=sign_slack, signature_header="X-Slack-Signature",
    make_body=_slack_body, expected_event_id=lambda tag, h: f"Ev{tag}",
    timestamp_header="X-Slack-Request-Timestamp", expected_channel="C024BE91L",
    malformed=(("garbage", lambda good, ts: "garbage"),
               ("not hex", lambda good, ts: "v0=" + "zz" * 32),
               ("wrong prefix", lambda good, ts: "v1=" + good[3:]),
               ("truncated", lambda good, ts: good[:-2])))
META = Scheme(
    event_type="messages",   # the envelope's type (CONTRACT: provider defaults, else the payload's type)
    id="meta", provider="meta", secret_name="app_secret", secret="test_app_secret", other_secret="another_secret",
    signer=sign_meta, signature_header="X-Hub-Signature-256", make_body=_whatsapp_body,
    expected_event_id=lambda tag, h: f"wamid.{tag}", expected_channel="106540352242922",
    extra_secrets={"verify_token": "my-verify-token"}, malformed=HEX_MALFORMED)
GITHUB = Scheme(
    id="github", provider="hmac", preset="github", secret_name="secret", secret="It's a Secret to Everybody",
    other_secret="It's a Secret to Nobody", signer=sign_github, signature_header="X-Hub-Signature-256",
    make_body=lambda tag: json_body({"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"},
                                     "head_commit": {"id": tag, "message": text_of(tag)}}),
    expected_event_id=lambda tag, h: h["X-GitHub-Delivery"], event_type="push", expected_channel="octo/hello",
    field_map={"text": "head_commit.message", "channel": "repository.full_name"}, malformed=HEX_MALFORMED)
STRIPE = Scheme(
    event_type="charge.succeeded",   # the envelope's type (CONTRACT: provider defaults, else the payload's type)
    id="stripe", provider="hmac", preset="stripe", secret_name="secret", secret="whsec_test_secret",
    other_secret="whsec_other_secret", signer=sign_stripe, signature_header="Stripe-Signature",
    make_body=lambda tag: json_body({"id": f"evt_{tag}", "object": "event", "type": "charge.succeeded",
                                     "data": {"object": {"id": "ch_1", "description": text_of(tag)}}}),
    expected_event_id=lambda tag, h: f"evt_{tag}", timestamp_header="",
    field_map={"text": "data.object.description"},
    malformed=(("garbage", lambda good, ts: "garbage"),
               ("not hex", lambda good, ts: f"t={ts},v1=" + "zz" * 32),
               ("wrong scheme key", lambda good, ts: good.replace(",v1=", ",v0=")),
               ("truncated", lambda good, ts: good[:-2])))
SHOPIFY = Scheme(
    id="shopify", provider="hmac", preset="shopify", secret_name="secret", secret="shpss_test",
    other_secret="shpss_other", signer=sign_shopify, signature_header="X-Shopify-Hmac-Sha256",
    make_body=lambda tag: json_body({"id": tag, "email": "jon@example.com", "message": text_of(tag)}),
    expected_event_id=lambda tag, h: h["X-Shopify-Webhook-Id"], event_type="orders/create",
    malformed=(("garbage", lambda good, ts: "garbage"),
               ("bad base64", lambda good, ts: "!!not*base64!!"),
               ("wrong prefix", lambda good, ts: "sha256=" + good),
               ("short digest", lambda good, ts: base64.b64encode(b"0123456789abcdef").decode())))
STANDARD = Scheme(
    event_type="invoice.paid",   # the envelope's type (CONTRACT: provider defaults, else the payload's type)
    id="standard_webhooks", provider="hmac", preset="standard_webhooks", secret_name="secret", secret=SW_SECRET,
    other_secret="whsec_" + OTHER_B64, signer=sign_standard, signature_header="webhook-signature",
    make_body=lambda tag: json_body({"type": "invoice.paid", "text": text_of(tag)}),
    expected_event_id=lambda tag, h: h["webhook-id"], timestamp_header="webhook-timestamp",
    malformed=(("garbage", lambda good, ts: "garbage"),
               ("bad base64", lambda good, ts: "v1,!!not*base64!!"),
               ("ed25519 v1a", lambda good, ts: "v1a," + good[3:]),
               ("wrong version", lambda good, ts: "v2," + good[3:]),
               ("short digest", lambda good, ts: "v1," + base64.b64encode(b"0123456789abcdef").decode())))
SIDEKICK = Scheme(
    event_type="task.done",   # the envelope's type (CONTRACT: provider defaults, else the payload's type)
    id="sidekick", provider="hmac", preset="sidekick", secret_name="secret", secret="sidekick-secret",
    other_secret="not-the-secret", signer=sign_sidekick, signature_header="x-sidekick-signature",
    make_body=lambda tag: json_body({"event_id": tag, "event": "task.done", "text": text_of(tag)}),
    expected_event_id=lambda tag, h: tag, timestamp_header="x-sidekick-timestamp",
    malformed=(("garbage", lambda good, ts: "garbage"),
               ("prefixed", lambda good, ts: "sha256=" + good),
               ("truncated", lambda good, ts: good[:-2])))
COMBO = Scheme(
    id="combo", provider="hmac", preset="combo", secret_name="secret", secret="combo-secret",
    other_secret="not-the-secret", signer=sign_combo, signature_header="X-Combo-Signature",
    make_body=lambda tag: json_body({"event_id": tag, "text": text_of(tag)}),
    expected_event_id=lambda tag, h: tag, timestamp_header="X-Combo-Timestamp", malformed=HEX_MALFORMED)
TEAMS = Scheme(
    event_type="message",   # the envelope's type (CONTRACT: provider defaults, else the payload's type)
    id="teams_outgoing", provider="hmac", preset="teams_outgoing", secret_name="secret", secret=TEAMS_TOKEN,
    other_secret=OTHER_B64, signer=sign_teams, signature_header="Authorization",
    make_body=lambda tag: json_body({"type": "message", "id": tag, "text": text_of(tag),
                                     "from": {"id": "29:1", "name": "Megan"}}),
    expected_event_id=lambda tag, h: tag,
    malformed=(("garbage", lambda good, ts: "garbage"),
               ("bad base64", lambda good, ts: "HMAC !!not*base64!!"),
               ("wrong scheme", lambda good, ts: "Bearer " + good[5:]),
               ("short digest", lambda good, ts: "HMAC " + base64.b64encode(b"0123456789abcdef").decode())))
TWILIO = Scheme(
    id="twilio", provider="hmac", preset="twilio", secret_name="secret", secret="12345-twilio-auth-token",
    other_secret="54321-other-token", signer=sign_twilio, signature_header="X-Twilio-Signature",
    make_body=_twilio_form, content_type=FORM, expected_event_id=lambda tag, h: f"SM{tag}",
    expected_channel="+18005551212", field_map={"event_id": "MessageSid", "text": "Body", "channel": "To"},
    malformed=(("garbage", lambda good, ts: "garbage"),
               ("bad base64", lambda good, ts: "!!not*base64!!"),
               ("wrong prefix", lambda good, ts: "sha1=" + good)))

SCHEMES = [SLACK, META, GITHUB, STRIPE, SHOPIFY, STANDARD, SIDEKICK, COMBO, TEAMS, TWILIO]
by_id = pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.id)


def tamper(body: bytes, content_type: str) -> bytes:
    """The same message with one value changed after signing."""
    if content_type == FORM:
        return body.replace(b"Body=", b"Body=X", 1)
    return body.replace(b"\"text", b"\"txet", 1) if b"\"text" in body else body.replace(b"{", b"{\"x\":1,", 1)


def reserialised(body: bytes) -> bytes:
    """The same JSON re-serialised (what a proxy or a careless receiver would do): other bytes."""
    return json.dumps(json.loads(body), ensure_ascii=False, indent=1).encode("utf-8")


# --------------------------------------------------------------------------- positives, table-driven

@by_id
def test_each_scheme_accepts_a_signed_unicode_body_and_stores_it_byte_for_byte(scheme, client, api):
    conn = scheme.connect(api)
    body = scheme.make_body("u1")
    headers, url = scheme.sign(conn, body)
    r = send(client, url, body, headers, scheme.content_type)
    hub_id = accepted(r)
    assert r.json["event_id"] == scheme.expected_event_id("u1", headers)
    event = stored(api, hub_id)
    assert raw_body_of(event) == body
    assert event["provider"] == scheme.provider
    assert event["event_id"] == scheme.expected_event_id("u1", headers)
    assert event["text"] == text_of("u1")
    assert event["channel"] == scheme.expected_channel
    assert event["type"] == event["event_type"] == scheme.event_type
    assert "key" not in event["query"]


@by_id
def test_each_scheme_answers_the_same_event_again_as_a_duplicate(scheme, app, client, api):
    conn = scheme.connect(api)
    body = scheme.make_body("d1")
    headers, url = scheme.sign(conn, body)
    first = accepted(send(client, url, body, headers, scheme.content_type))
    again = send(client, url, body, headers, scheme.content_type)
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "id": first, "event_id": scheme.expected_event_id("d1", headers)}
    assert events_of(app, conn) == 1


# --------------------------------------------------------------------------- negatives, table-driven

def _negative_cases():
    for s in SCHEMES:
        cases = [("wrong secret", 401, "signature_invalid"), ("tampered body", 401, "signature_invalid"),
                 ("missing signature header", 401, "signature_invalid")]
        if s.content_type != FORM:  # Twilio signs the form parameters, not their encoding
            cases.append(("re-serialised body", 401, "signature_invalid"))
        if s.timestamped:
            cases += [("stale timestamp", 401, "timestamp_out_of_window"),
                      ("future timestamp", 401, "timestamp_out_of_window"),
                      ("missing timestamp", 401, "timestamp_out_of_window")]
        cases += [(f"malformed: {label}", 401, "signature_invalid") for label, _ in s.malformed]
        for case, status, code in cases:
            yield pytest.param(s, case, status, code, id=f"{s.id}-{case.replace(' ', '-').replace(':', '')}")


def _build_negative(scheme: Scheme, conn: Conn, case: str) -> tuple[bytes, dict[str, str], str]:
    body = scheme.make_body("n1")
    if case == "wrong secret":
        headers, url = scheme.sign(conn, body, secret=scheme.other_secret)
        return body, headers, url
    if case in ("stale timestamp", "future timestamp"):
        headers, url = scheme.sign(conn, body, ts=now() + (-400 if case.startswith("stale") else 400))
        return body, headers, url
    headers, url = scheme.sign(conn, body)
    if case == "tampered body":
        return tamper(body, scheme.content_type), headers, url
    if case == "re-serialised body":
        return reserialised(body), headers, url
    if case == "missing signature header":
        del headers[scheme.signature_header]
        return body, headers, url
    if case == "missing timestamp":
        if scheme.timestamp_header:
            del headers[scheme.timestamp_header]
        else:  # Stripe: the timestamp is the t= item of the signature header
            headers[scheme.signature_header] = ",".join(
                item for item in headers[scheme.signature_header].split(",") if not item.startswith("t="))
        return body, headers, url
    label = case.removeprefix("malformed: ")
    make_bad = dict(scheme.malformed)[label]
    headers[scheme.signature_header] = make_bad(headers[scheme.signature_header], now())
    return body, headers, url


@pytest.mark.parametrize("scheme, case, status, code", list(_negative_cases()))
def test_each_scheme_refuses_a_bad_request_and_records_the_failure(scheme, case, status, code, app, client, api):
    conn = scheme.connect(api)
    body, headers, url = _build_negative(scheme, conn, case)
    r = send(client, url, body, headers, scheme.content_type)
    assert_refused(api, conn, r, status, code, only_failure=True)
    assert events_of(app, conn) == 0


@by_id
def test_each_scheme_refuses_a_body_over_one_mebibyte_before_anything_else(scheme, client, api):
    conn = scheme.connect(api)
    body = b"x" * (MIB + 1)
    headers, url = scheme.sign(conn, body, content_type="text/plain")
    r = send(client, url, body, headers, "text/plain")
    assert_refused(api, conn, r, 413, "payload_too_large")


@by_id
def test_each_scheme_refuses_a_url_with_another_provider_segment(scheme, client, api):
    conn = scheme.connect(api)
    body = scheme.make_body("p1")
    headers, url = scheme.sign(conn, body)
    other = "generic" if scheme.provider != "generic" else "hmac"
    wrong = url.replace(f"/hooks/{scheme.provider}/", f"/hooks/{other}/")
    r = send(client, wrong, body, headers, scheme.content_type)
    assert r.status_code == 400 and r.json["error"]["code"] == "provider_mismatch"
    assert f"/hooks/{scheme.provider}/{conn.id}" in r.json["error"]["message"]
    assert any(f["code"] == "provider_mismatch" and f["status"] == 400 for f in failures(api))


def test_a_provider_mismatch_is_listed_among_the_failures_of_its_connection(client, api):
    """DESIGN: every rejection is recorded "queryable, with cause"; the connection is known (its
    id is in the URL) just as for the inactive-connection 404, which is listed under it."""
    conn = GITHUB.connect(api)
    body = GITHUB.make_body("p2")
    headers, url = GITHUB.sign(conn, body)
    r = send(client, url.replace("/hooks/hmac/", "/hooks/slack/"), body, headers)
    assert_refused(api, conn, r, 400, "provider_mismatch")


@by_id
def test_each_scheme_answers_404_while_the_connection_is_inactive(scheme, client, api):
    conn = scheme.connect(api)

    def attempt(tag: str) -> Callable[[int], Any]:
        def post(n: int):
            body = scheme.make_body(f"{tag}{n}")
            headers, url = scheme.sign(conn, body)
            return send(client, url, body, headers, scheme.content_type)
        return post

    accepted(attempt("warm")(0))
    assert api.post(f"/connections/{conn.id}/deactivate").status_code == 200
    assert_refused(api, conn, after_change(attempt("i"), 404), 404, "not_found")
    assert api.post(f"/connections/{conn.id}/activate").status_code == 200
    accepted(after_change(attempt("a"), 200))


@by_id
def test_each_scheme_stops_taking_the_old_key_after_a_reset(scheme, client, api):
    conn = scheme.connect(api)
    body = scheme.make_body("k1")
    headers, url = scheme.sign(conn, body)
    accepted(send(client, url, body, headers, scheme.content_type))
    new_url = api.post(f"/connections/{conn.id}/reset-key").json["url"]

    def with_old_key(n: int):                       # correctly signed, but with the old key
        body = scheme.make_body(f"k2-{n}")
        headers, url = scheme.sign(conn, body)
        return send(client, url, body, headers, scheme.content_type)

    assert_refused(api, conn, after_change(with_old_key, 401), 401, "unauthorized")
    conn.key = new_url.split("?key=", 1)[1]
    assert new_url == conn.url
    body = scheme.make_body("k3")
    headers, url = scheme.sign(conn, body)
    accepted(send(client, url, body, headers, scheme.content_type))


@pytest.mark.parametrize("scheme", [s for s in SCHEMES if s is not TWILIO], ids=lambda s: s.id)
def test_each_scheme_takes_the_key_from_the_x_hookhub_key_header_too(scheme, client, api):
    """(Twilio signs the URL it posts to and sends no custom headers: its key stays in the URL.)"""
    conn = scheme.connect(api)
    body = scheme.make_body("h1")
    headers, url = scheme.sign(conn, body)
    url = url.replace(f"?key={conn.key}", "")
    headers["X-Hookhub-Key"] = conn.key
    hub_id = accepted(send(client, url, body, headers, scheme.content_type))
    assert stored(api, hub_id)["headers"]["X-Hookhub-Key"] == ["[redacted]"]


# --------------------------------------------------------------------------- secret rotation

ROTATABLE = [SLACK, META, GITHUB, STANDARD]


@pytest.mark.parametrize("scheme", ROTATABLE, ids=lambda s: s.id)
def test_rotated_secret_overlaps_for_the_grace_period_then_only_the_new_one_verifies(scheme, app, client, api):
    conn = scheme.connect(api)
    old, new = scheme.secret, scheme.other_secret
    newest = "whsec_" + base64.b64encode(b"the newest key, 32 bytes long!!!").decode() \
        if scheme is STANDARD else "the-newest-secret"

    def post(secret: str, tag: str):
        body = scheme.make_body(tag)
        headers, url = scheme.sign(conn, body, secret=secret)
        return send(client, url, body, headers, scheme.content_type)

    r = api.post(f"/connections/{conn.id}/rotate-secret", json={"secret": new, "grace_seconds": 1})
    assert r.status_code == 200 and r.json["name"] == scheme.secret_name
    accepted(after_change(lambda n: post(new, f"r2-{n}"), 200))
    accepted(post(old, "r1"))
    stranger = "whsec_" + base64.b64encode(b"a stranger's key, 32 bytes long.").decode() \
        if scheme is STANDARD else "stranger-secret"
    assert post(stranger, "r3").status_code == 401
    # the grace second ends: the old secret is refused from then on
    assert_refused(api, conn, after_change(lambda n: post(old, f"r4-{n}"), 401, timeout=10), 401, "signature_invalid")
    accepted(post(new, "r5"))

    r = api.post(f"/connections/{conn.id}/rotate-secret", json={"secret": newest, "grace_seconds": 0})
    assert r.status_code == 200
    assert_refused(api, conn, after_change(lambda n: post(new, f"r6-{n}"), 401), 401, "signature_invalid")
    accepted(post(newest, "r7"))

    with get_database(app).session() as session:
        rotations = session.scalars(sa.select(AuditRecord).where(
            AuditRecord.object_id == conn.id, AuditRecord.action == "connection.secret_rotated")).all()
        assert len(rotations) == 2
        assert all(a.details["secret"] == scheme.secret_name for a in rotations)
        assert all(a.object_type == "connection" and a.workspace_id == "default" for a in rotations)
        assert all(new not in json.dumps(a.details) and newest not in json.dumps(a.details) for a in rotations)


def test_admin_changes_apply_to_the_very_next_request(client, api):
    """A reset key, a secret rotated without grace and a deactivation are in force as soon as the admin
    API has answered (DESIGN: reset-key; hub/inbound/cache.py: "a reset key stops working at once in
    every web process"). Repeated, because a stale cache entry shows up only now and then."""
    conn = SLACK.connect(api)
    secret, stale = SLACK.secret, []

    def post(tag: str, *, key: str | None = None, with_secret: str | None = None):
        body = SLACK.make_body(tag)
        headers, url = SLACK.sign(conn, body, secret=with_secret or secret)
        if key is not None:
            url = url.replace(f"key={conn.key}", f"key={key}")
        return send(client, url, body, headers)

    for n in range(40):
        accepted(post(f"warm-a{n}"))                                # the connection is now cached
        old_key = conn.key
        conn.key = api.post(f"/connections/{conn.id}/reset-key").json["url"].split("?key=", 1)[1]
        if post(f"old-key{n}", key=old_key).status_code != 401:
            stale.append(f"cycle {n}: the old key was accepted after POST /reset-key answered")
        accepted(after_change(lambda m, n=n: post(f"warm-b{n}-{m}"), 200))
        old_secret, secret = secret, f"secret-{n}"
        assert api.post(f"/connections/{conn.id}/rotate-secret",
                        json={"secret": secret, "grace_seconds": 0}).status_code == 200
        if post(f"old-secret{n}", with_secret=old_secret).status_code != 401:
            stale.append(f"cycle {n}: the old secret verified after rotate-secret with grace 0 answered")
        accepted(after_change(lambda m, n=n: post(f"warm-c{n}-{m}"), 200))
    assert api.post(f"/connections/{conn.id}/deactivate").status_code == 200
    if post("inactive").status_code != 404:
        stale.append("a request was accepted after POST /deactivate answered")
    assert not stale, "\n".join(stale)


# --------------------------------------------------------------------------- Slack

SLACK_VECTOR_TS = 1531420618
SLACK_VECTOR_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
SLACK_VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SLACK_VECTOR_HEADERS = {"X-Slack-Signature": SLACK_VECTOR_SIGNATURE,
                        "X-Slack-Request-Timestamp": str(SLACK_VECTOR_TS)}


def test_slack_published_vector_passes_at_its_own_time(client, api, frozen_clock):
    conn = SLACK.connect(api)
    frozen_clock(SLACK_VECTOR_TS + 60)
    hub_id = accepted(send(client, conn.url, SLACK_VECTOR_BODY, SLACK_VECTOR_HEADERS, FORM))
    event = stored(api, hub_id)
    assert raw_body_of(event) == SLACK_VECTOR_BODY
    assert event["event_id"] == "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    assert event["channel"] == "G8PSS9T3V"


def test_slack_published_vector_is_stale_today(client, api):
    conn = SLACK.connect(api)
    r = send(client, conn.url, SLACK_VECTOR_BODY, SLACK_VECTOR_HEADERS, FORM)
    assert_refused(api, conn, r, 401, "timestamp_out_of_window")


def test_slack_slash_command_form_body_re_signed_now_is_accepted(client, api):
    conn = SLACK.connect(api)
    # The signer reproduces the published signature at the published time …
    assert sign_slack(conn, SLACK_VECTOR_BODY, SLACK.secret, SLACK_VECTOR_TS, FORM)[0] == SLACK_VECTOR_HEADERS
    # … and signs the same bytes with a current timestamp.
    body = SLACK_VECTOR_BODY.replace(b"&text=&", "&text=déploie+prod&".encode())
    headers, url = SLACK.sign(conn, body, content_type=FORM)
    hub_id = accepted(send(client, url, body, headers, FORM))
    event = stored(api, hub_id)
    assert event["event_id"] == "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    assert event["channel"] == "G8PSS9T3V"
    assert event["text"] == "déploie prod"
    assert event["payload"]["command"] == "/webhook-collect"
    assert event["event_ts"] is not None
    assert raw_body_of(event) == body


def test_slack_interactivity_form_with_a_json_payload_field_is_accepted(client, api):
    conn = SLACK.connect(api)
    payload = {"type": "block_actions", "trigger_id": "13345224609.738474920.8088930838d88f008e0",
               "channel": {"id": "CBR2V3XEX", "name": "review-updates"},
               "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "CBR2V3XEX"},
               "message": {"ts": "1548261231.000200", "text": "Approve the release? ✅"},
               "actions": [{"action_id": "approve", "action_ts": "1548426417.840180"}]}
    body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
    headers, url = SLACK.sign(conn, body, content_type=FORM)
    event = stored(api, accepted(send(client, url, body, headers, FORM)))
    assert event["event_id"] == "13345224609.738474920.8088930838d88f008e0"
    assert event["channel"] == "CBR2V3XEX"
    assert event["message_id"] == "1548261231.000200"
    assert event["text"] == "Approve the release? ✅"
    assert event["payload"]["type"] == "block_actions"


def test_slack_url_verification_is_answered_with_the_challenge_and_not_stored(app, client, api):
    conn = SLACK.connect(api)
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json_body({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"})
    headers, url = SLACK.sign(conn, body)
    r = send(client, url, body, headers)
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.json == {"challenge": challenge}
    assert events_of(app, conn) == 0
    assert api.get(f"/events?connection={conn.id}").json["items"] == []
    # the challenge is answered only after the signature check
    headers, url = SLACK.sign(conn, body, secret=SLACK.other_secret)
    assert_refused(api, conn, send(client, url, body, headers), 401, "signature_invalid")


def test_slack_retry_of_the_same_event_id_is_a_duplicate(app, client, api):
    conn = SLACK.connect(api)
    body = SLACK.make_body("retry")
    headers, url = SLACK.sign(conn, body, ts=now() - 60)
    first = accepted(send(client, url, body, headers))
    headers, url = SLACK.sign(conn, body)            # Slack re-signs each retry with its own timestamp
    headers.update({"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    retry = send(client, url, body, headers)
    assert retry.status_code == 200
    assert retry.json == {"status": "duplicate", "id": first, "event_id": "Evretry"}
    assert events_of(app, conn) == 1


def test_slack_envelope_fields_of_an_event_callback(client, api):
    conn = SLACK.connect(api)
    body = SLACK.make_body("f1")
    headers, url = SLACK.sign(conn, body)
    event = stored(api, accepted(send(client, url, body, headers)))
    assert event["message_id"] == "1700000000.000100"
    assert event["event_ts"].startswith("2023-11-14T22:13:20")
    assert event["payload"]["event"]["text"] == text_of("f1")


# --------------------------------------------------------------------------- Meta (WhatsApp)

META_VECTOR_BODY = (b'{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":'
                    b'[{"text":{"body":"\\u00e4\\u00f6\\u00e5"}}]}}]}]}')
META_VECTOR_SIGNATURE = "sha256=8b287061d050914baf5a7a6e9ba51074de4ad0c1874440b51bb79210cef40f06"


def test_meta_vector_with_escaped_non_ascii_is_accepted_byte_for_byte(client, api):
    conn = META.connect(api)
    r = send(client, conn.url, META_VECTOR_BODY, {"X-Hub-Signature-256": META_VECTOR_SIGNATURE})
    event = stored(api, accepted(r))
    assert raw_body_of(event) == META_VECTOR_BODY          # still \u-escaped: never re-serialised
    assert event["text"] == "äöå"
    assert event["event_id"] == hashlib.sha256(META_VECTOR_BODY).hexdigest()   # the vector has no message id


def test_meta_whatsapp_message_envelope(client, api):
    conn = META.connect(api)
    body = META.make_body("HBgLMTY1MDUA")
    headers, url = META.sign(conn, body)
    event = stored(api, accepted(send(client, url, body, headers)))
    assert event["event_id"] == "wamid.HBgLMTY1MDUA" and event["message_id"] == "wamid.HBgLMTY1MDUA"
    assert event["channel"] == "106540352242922"
    assert event["text"] == text_of("HBgLMTY1MDUA")
    assert event["event_ts"] == "2023-11-14T22:13:20Z"


def _handshake(client, conn: Conn, token: str, challenge: str = "1158201444", mode: str = "subscribe"):
    query = urlencode({"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge})
    return client.get(f"{conn.path}?key={conn.key}&{query}")


def test_meta_get_handshake_echoes_the_challenge_as_plain_text(app, client, api):
    conn = META.connect(api)
    r = _handshake(client, conn, "my-verify-token")
    assert r.status_code == 200
    assert r.data == b"1158201444"
    assert r.mimetype == "text/plain"
    assert events_of(app, conn) == 0


def test_a_handshake_announces_no_row_to_the_group_commit_and_a_post_does(app, client, api, monkeypatch):
    """A POST announces the row it will probably hand over, so that a leader about to commit waits
    for it (GroupCommit.expecting); a GET handshake stores nothing, and no leader waits for it."""
    conn = META.connect(api)
    commits = app.extensions["hookhub.gateway"].events.commits
    provider = get_host(app).providers.get("meta")
    seen: list[tuple[str, int]] = []
    for name in ("handshake", "verify"):
        def observed(request, view, original=getattr(provider, name)):
            seen.append((request.method, commits.announced()))
            return original(request, view)
        monkeypatch.setattr(provider, name, observed)
    assert _handshake(client, conn, "my-verify-token").status_code == 200
    body = META.make_body("HBgLMTY1MDUA")
    headers, url = META.sign(conn, body)
    accepted(send(client, url, body, headers))
    assert seen == [("GET", 0), ("POST", 1)]
    assert commits.announced() == 0                      # each announcement ends with its request


@pytest.mark.parametrize("token, mode", [("wrong-token", "subscribe"), ("my-verify-token", "unsubscribe")])
def test_meta_get_handshake_is_403_on_a_wrong_token_or_mode(client, api, token, mode):
    conn = META.connect(api)
    r = _handshake(client, conn, token, mode=mode)
    assert_refused(api, conn, r, 403, "forbidden")
    assert b"1158201444" not in r.data


def test_meta_get_handshake_still_needs_the_inbound_key(client, api):
    conn = META.connect(api)
    query = urlencode({"hub.mode": "subscribe", "hub.verify_token": "my-verify-token", "hub.challenge": "7"})
    assert_refused(api, conn, client.get(f"{conn.path}?key=wrong&{query}"), 401, "unauthorized")


def test_meta_verify_token_rotation_answers_the_handshake_with_both_tokens_during_the_grace(client, api):
    conn = META.connect(api)
    r = api.post(f"/connections/{conn.id}/rotate-secret",
                 json={"name": "verify_token", "secret": "next-verify-token", "grace_seconds": 600})
    assert r.status_code == 200 and r.json["name"] == "verify_token"
    assert after_change(lambda n: _handshake(client, conn, "next-verify-token"), 200).data == b"1158201444"
    assert _handshake(client, conn, "my-verify-token").data == b"1158201444"
    assert _handshake(client, conn, "next-verify-token").data == b"1158201444"
    assert _handshake(client, conn, "another-token").status_code == 403


def _status_body(status: str) -> bytes:
    return json_body({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [{"id": "wamid.OUTBOUND1", "status": status, "timestamp": "1700000100",
                          "recipient_id": "16505551234"}]}}]}]})


def test_meta_status_only_updates_are_accepted_with_a_distinct_event_id_per_status(client, api):
    conn = META.connect(api)
    ids = []
    for status in ("sent", "delivered", "read"):
        body = _status_body(status)
        headers, url = META.sign(conn, body)
        r = send(client, url, body, headers)
        event = stored(api, accepted(r))
        assert event["message_id"] == "wamid.OUTBOUND1" and event["channel"] == "106540352242922"
        assert event["text"] is None
        ids.append(event["event_id"])
    assert ids == ["wamid.OUTBOUND1:sent", "wamid.OUTBOUND1:delivered", "wamid.OUTBOUND1:read"]
    body = _status_body("read")
    headers, url = META.sign(conn, body)
    assert send(client, url, body, headers).json["status"] == "duplicate"


# --------------------------------------------------------------------------- GitHub

def test_github_published_vector_is_accepted_with_delivery_and_event(client, api):
    conn = GITHUB.connect(api)
    headers = {"X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
               "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event": "ping"}
    event = stored(api, accepted(send(client, conn.url, b"Hello, World!", headers, "text/plain")))
    assert event["event_id"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert event["event_type"] == "ping"
    assert raw_body_of(event) == b"Hello, World!"
    assert event["payload"] == "Hello, World!"


def test_github_binary_body_is_kept_byte_for_byte(client, api):
    conn = GITHUB.connect(api)
    body = bytes(range(256)) * 4
    headers, url = GITHUB.sign(conn, body)
    event = stored(api, accepted(send(client, url, body, headers, "application/octet-stream")))
    assert event["raw_body_encoding"] == "base64" and raw_body_of(event) == body


def test_github_json_body_that_is_not_json_is_invalid_payload_after_the_signature(client, api):
    conn = GITHUB.connect(api)
    body = b"{not json"
    headers, url = GITHUB.sign(conn, body)
    assert_refused(api, conn, send(client, url, body, headers), 400, "invalid_payload")


# --------------------------------------------------------------------------- Stripe

STRIPE_VECTOR_HEADER = "t=1700000000,v1=13941114bb88ac44a76abcfddea5b92aa6182a4b63d8be3aae908a616083bd7e"


def test_stripe_vector_passes_at_its_own_time(client, api, frozen_clock):
    conn = STRIPE.connect(api)
    frozen_clock(1700000000 + 299)
    event = stored(api, accepted(send(client, conn.url, b'{"id":"evt_test"}',
                                      {"Stripe-Signature": STRIPE_VECTOR_HEADER})))
    assert event["event_id"] == "evt_test"
    assert raw_body_of(event) == b'{"id":"evt_test"}'


def test_stripe_vector_is_stale_today_and_the_sdk_signs_it_again_now(client, api):
    conn = STRIPE.connect(api)
    assert_refused(api, conn, send(client, conn.url, b'{"id":"evt_test"}', {"Stripe-Signature": STRIPE_VECTOR_HEADER}),
                   401, "timestamp_out_of_window")
    assert sign_stripe(conn, b'{"id":"evt_test"}', "whsec_test_secret", 1700000000, JSON)[0] == \
        {"Stripe-Signature": STRIPE_VECTOR_HEADER}
    headers, url = STRIPE.sign(conn, b'{"id":"evt_test"}')
    assert accepted(send(client, url, b'{"id":"evt_test"}', headers))


def test_stripe_any_matching_v1_passes(client, api):
    conn = STRIPE.connect(api)
    body = STRIPE.make_body("multi")
    ts = now()
    good = hex_hmac(STRIPE.secret, f"{ts}.".encode() + body)
    wrong = hex_hmac("whsec_rolled_secret", f"{ts}.".encode() + body)
    headers = {"Stripe-Signature": f"t={ts},v1={wrong},v1={good},v0={wrong}"}
    assert stored(api, accepted(send(client, conn.url, body, headers)))["event_id"] == "evt_multi"
    only_wrong = {"Stripe-Signature": f"t={ts},v1={wrong},v1={wrong}"}
    assert_refused(api, conn, send(client, conn.url, body, only_wrong), 401, "signature_invalid")


# --------------------------------------------------------------------------- Shopify

def test_shopify_vector_is_accepted_with_webhook_id_and_topic(client, api):
    conn = SHOPIFY.connect(api)
    headers = {"X-Shopify-Hmac-Sha256": "1GxccvotnkOedTjSm8S0m/VA3yAUKshyqT52ccNYHj4=",
               "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "X-Shopify-Topic": "orders/create"}
    event = stored(api, accepted(send(client, conn.url, b'{"id":1}', headers)))
    assert event["event_id"] == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert event["event_type"] == "orders/create"
    assert event["payload"] == {"id": 1} and raw_body_of(event) == b'{"id":1}'


# --------------------------------------------------------------------------- Standard Webhooks / Svix

SW_VECTOR = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
             "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
SW_VECTOR_BODY = b'{"test": 2432232314}'


@pytest.mark.parametrize("prefix", ["webhook", "svix"])
def test_standard_webhooks_published_vector_passes_at_its_own_time(client, api, frozen_clock, prefix):
    conn = STANDARD.connect(api)
    frozen_clock(1614265330 - 120)
    headers = {name.replace("webhook", prefix): value for name, value in SW_VECTOR.items()}
    event = stored(api, accepted(send(client, conn.url, SW_VECTOR_BODY, headers)))
    assert event["event_id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert raw_body_of(event) == SW_VECTOR_BODY


def test_standard_webhooks_vector_is_stale_today_and_the_sdk_signs_it_again_now(client, api):
    conn = STANDARD.connect(api)
    assert_refused(api, conn, send(client, conn.url, SW_VECTOR_BODY, SW_VECTOR), 401, "timestamp_out_of_window")
    ts = now()
    signature = Webhook(SW_SECRET).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(ts, UTC),
                                        SW_VECTOR_BODY.decode())
    headers = {"svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "svix-timestamp": str(ts), "svix-signature": signature}
    assert stored(api, accepted(send(client, conn.url, SW_VECTOR_BODY, headers)))["event_id"] == \
        "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_standard_webhooks_space_separated_list_passes_when_any_v1_matches(client, api):
    conn = STANDARD.connect(api)
    body = STANDARD.make_body("list")
    headers, url = STANDARD.sign(conn, body)
    stranger, _ = STANDARD.sign(conn, body, secret=STANDARD.other_secret)
    assert stranger["webhook-signature"] != headers["webhook-signature"]
    headers["webhook-signature"] = (f"v1a,{base64.b64encode(b'x' * 64).decode()} "
                                    f"{stranger['webhook-signature']} {headers['webhook-signature']}")
    accepted(send(client, url, body, headers))


def test_standard_webhooks_needs_the_webhook_id_it_signs(client, api):
    conn = STANDARD.connect(api)
    body = STANDARD.make_body("noid")
    headers, url = STANDARD.sign(conn, body)
    del headers["webhook-id"]
    assert_refused(api, conn, send(client, url, body, headers), 401, "signature_invalid")


# --------------------------------------------------------------------------- sidekick, combo, Teams

def test_sidekick_accepts_an_iso_8601_timestamp_with_offset(client, api):
    conn = SIDEKICK.connect(api)
    body = SIDEKICK.make_body("iso")
    headers, url = SIDEKICK.sign(conn, body)
    headers["x-sidekick-timestamp"] = datetime.now(UTC).astimezone().isoformat()
    event = stored(api, accepted(send(client, url, body, headers)))
    assert event["event_id"] == "iso" and event["event_ts"] is not None


def test_combo_timestamp_is_part_of_the_signed_content(client, api):
    conn = COMBO.connect(api)
    body = COMBO.make_body("ts")
    headers, url = COMBO.sign(conn, body)
    headers["X-Combo-Timestamp"] = str(int(headers["X-Combo-Timestamp"]) - 1)   # inside the window, not signed
    assert_refused(api, conn, send(client, url, body, headers), 401, "signature_invalid")


def test_teams_outgoing_vector_is_accepted(client, api):
    conn = TEAMS.connect(api)
    body = b'{"type":"message","text":"hi"}'
    r = send(client, conn.url, body, {"Authorization": "HMAC OsI22fOxGbRqh5cP8AMgGG80vP5pVkuGv1D1ft388ls="})
    event = stored(api, accepted(r))
    assert event["text"] == "hi"
    assert event["event_id"] == hashlib.sha256(body).hexdigest()    # no "id" in the vector
    assert event["headers"]["Authorization"] == ["[redacted]"]


# --------------------------------------------------------------------------- Twilio

def test_twilio_form_webhook_signed_over_the_url_and_sorted_params(client, api):
    conn = TWILIO.connect(api)
    body = _twilio_form("tw1")
    headers, url = TWILIO.sign(conn, body)
    assert url == conn.url      # the URL the admin pasted into the Twilio console, key included
    event = stored(api, accepted(send(client, url, body, headers, FORM)))
    assert event["event_id"] == "SMtw1" and event["text"] == text_of("tw1")
    assert event["payload"]["Body"] == text_of("tw1")
    assert raw_body_of(event) == body


def test_twilio_idempotency_token_is_the_event_id(client, api):
    conn = TWILIO.connect(api)
    body = _twilio_form("tw2")
    headers, url = TWILIO.sign(conn, body)
    headers["I-Twilio-Idempotency-Token"] = "0b0b7c1e-9b2d-4f0e-8d4e-6ea4d0f0c0de"
    assert stored(api, accepted(send(client, url, body, headers, FORM)))["event_id"] == \
        "0b0b7c1e-9b2d-4f0e-8d4e-6ea4d0f0c0de"


def test_twilio_json_body_is_bound_by_body_sha256_in_the_signed_url(client, api):
    conn = TWILIO.connect(api)
    body = json_body({"AccountSid": "AC1", "text": text_of("json")})
    headers, url = TWILIO.sign(conn, body, content_type=JSON)
    assert "&bodySHA256=" in url
    event = stored(api, accepted(send(client, url, body, headers, JSON)))
    assert raw_body_of(event) == body and event["query"]["bodySHA256"] == hashlib.sha256(body).hexdigest()
    # the same signed URL with another body
    assert_refused(api, conn, send(client, url, body + b" ", headers, JSON), 401, "signature_invalid")
    # the signed URL without its bodySHA256
    plain = url.split("&bodySHA256=")[0]
    assert_refused(api, conn, send(client, plain, body, headers, JSON), 401, "signature_invalid")


def test_twilio_signature_over_another_url_is_refused(client, api):
    """Behind a proxy Twilio signs the public URL: HOOKHUB_PUBLIC_URL must be that URL."""
    conn = TWILIO.connect(api)
    body = _twilio_form("tw3")
    headers, _ = sign_twilio(conn, body, TWILIO.secret, now(), FORM,
                             url=conn.url.replace(PUBLIC, "https://internal.example:8443"))
    assert_refused(api, conn, send(client, conn.url, body, headers, FORM), 401, "signature_invalid")
    # the default port spelled out is the same URL
    headers, _ = sign_twilio(conn, body, TWILIO.secret, now(), FORM, url=conn.url.replace(PUBLIC, PUBLIC + ":80"))
    accepted(send(client, conn.url, body, headers, FORM))


# --------------------------------------------------------------------------- custom systems and per-connection settings

def test_custom_hmac_with_explicit_settings(client, api):
    config = {"signature_header": "X-Acme-Signature", "signature_prefix": "sha512=", "algorithm": "sha512",
              "encoding": "hex", "signed_content": "{ts}:{body}", "timestamp_header": "X-Acme-Timestamp",
              "timestamp_format": "unix_ms", "tolerance": 60, "id_header": "X-Acme-Delivery",
              "event_header": "X-Acme-Event"}
    conn = create(api, {"name": "acme crm", "provider": "hmac", "provider_config": config,
                        "secrets": {"secret": "acme-secret"}})
    body = json_body({"deal": {"id": 7}, "message": "won ✓"})

    def headers_at(ms: int) -> dict[str, str]:
        digest = hmac.new(b"acme-secret", f"{ms}:".encode() + body, hashlib.sha512).hexdigest()
        return {"X-Acme-Signature": f"sha512={digest}", "X-Acme-Timestamp": str(ms),
                "X-Acme-Delivery": "dlv-1", "X-Acme-Event": "deal.won"}

    event = stored(api, accepted(send(client, conn.url, body, headers_at(int(time.time() * 1000)))))
    assert event["event_id"] == "dlv-1" and event["event_type"] == "deal.won" and event["text"] == "won ✓"
    assert_refused(api, conn, send(client, conn.url, body, headers_at(int(time.time() * 1000) - 61_000)),
                   401, "timestamp_out_of_window")


def test_custom_hmac_settings_are_checked_when_the_connection_is_saved(api):
    r = api.post("/connections", json={"name": "half done", "provider": "hmac",
                                       "provider_config": {"signature_header": "X-Sig"},
                                       "secrets": {"secret": "s"}})
    assert r.status_code == 422 and r.json["error"]["code"] == "validation_error"
    assert {"algorithm", "encoding"} <= set(r.json["error"]["fields"]["provider_config"])


def test_generic_field_map_reads_dotted_jsonpath_header_and_query(client, api):
    conn = create(api, {"name": "crm generic", "provider": "generic", "default_channel": "general",
                        "field_map": {"event_id": "header:X-Request-Id", "channel": "query:room",
                                      "text": ["$.items[?(@.kind == 'note')].title", "summary"],
                                      "message_id": "items[1].id", "event_ts": "meta.at"}})
    body = json_body({"items": [{"id": "a", "kind": "task", "title": "t"}, {"id": "b", "kind": "note",
                                                                           "title": "nöte"}],
                      "meta": {"at": "2026-03-23T15:29:58Z"}})
    r = send(client, conn.url + "&room=sales", body, {"X-Request-Id": "req-42"})
    event = stored(api, accepted(r))
    assert event["event_id"] == "req-42" and event["channel"] == "sales"
    assert event["text"] == "nöte" and event["message_id"] == "b"
    assert event["event_ts"] == "2026-03-23T15:29:58Z"
    assert event["query"] == {"room": "sales"}


def test_per_connection_max_body_bytes(client, api):
    conn = GITHUB.connect(api, name="small github", max_body_bytes=100)
    body = b"x" * 101
    headers, url = GITHUB.sign(conn, body)
    assert_refused(api, conn, send(client, url, body, headers, "text/plain"), 413, "payload_too_large")
    headers, url = GITHUB.sign(conn, body[:100])
    accepted(send(client, url, body[:100], headers, "text/plain"))


def test_dedupe_window_zero_turns_deduplication_off(app, client, api):
    conn = SHOPIFY.connect(api, name="no dedupe", dedupe_window=0)
    body = SHOPIFY.make_body("same")
    headers, url = SHOPIFY.sign(conn, body)
    first = accepted(send(client, url, body, headers))
    second = accepted(send(client, url, body, headers))
    assert first != second and events_of(app, conn) == 2


def test_per_connection_rate_limit_answers_429_with_retry_after(client, api):
    conn = GITHUB.connect(api, name="limited github", rate_limit="2/minute")
    answers = []
    for n in range(3):
        body = GITHUB.make_body(f"rl{n}")
        headers, url = GITHUB.sign(conn, body)
        answers.append(send(client, url, body, headers))
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert_refused(api, conn, answers[2], 429, "rate_limited")


def test_rotation_grace_from_the_connection_settings_is_the_default_overlap(client, api):
    conn = SLACK.connect(api, name="slack grace 1", rotation_grace=1)
    r = api.post(f"/connections/{conn.id}/rotate-secret", json={"secret": SLACK.other_secret})
    assert r.status_code == 200 and r.json["name"] == "signing_secret"

    def signed_with(secret: str, tag: str) -> Callable[[int], Any]:
        def post(n: int):
            body = SLACK.make_body(f"{tag}{n}")
            headers, url = SLACK.sign(conn, body, secret=secret)
            return send(client, url, body, headers)
        return post

    accepted(after_change(signed_with(SLACK.other_secret, "g0-"), 200))
    body = SLACK.make_body("g1")
    headers, url = SLACK.sign(conn, body)                 # the old secret, inside the overlap
    accepted(send(client, url, body, headers))

    def with_the_old_secret(n: int):
        body = SLACK.make_body(f"g2-{n}")
        headers, url = SLACK.sign(conn, body)
        return send(client, url, body, headers)

    # the overlap ends: the old secret is refused from then on
    assert_refused(api, conn, after_change(with_the_old_secret, 401, timeout=10), 401, "signature_invalid")


def test_rotation_grace_zero_in_the_connection_settings_means_no_overlap(client, api):
    """``rotation_grace`` accepts 0 (ProviderConfigSchema: min 0), i.e. the old secret stops at once."""
    conn = SLACK.connect(api, name="slack grace 0", rotation_grace=0)
    r = api.post(f"/connections/{conn.id}/rotate-secret", json={"secret": SLACK.other_secret})
    assert r.status_code == 200

    def with_old_secret(n: int):
        body = SLACK.make_body(f"z{n}")
        headers, url = SLACK.sign(conn, body)
        return send(client, url, body, headers)

    assert_refused(api, conn, after_change(with_old_secret, 401), 401, "signature_invalid")
    body = SLACK.make_body("z-new")
    headers, url = SLACK.sign(conn, body, secret=SLACK.other_secret)
    accepted(send(client, url, body, headers))


def test_hookhub_rotation_grace_is_the_overlap_when_the_connection_sets_none(app, api):
    """docs/configuration.md: HOOKHUB_ROTATION_GRACE is the seconds a rotated-out secret keeps verifying."""
    app.config["HOOKHUB_ROTATION_GRACE"] = 60
    conn = SLACK.connect(api)
    r = api.post(f"/connections/{conn.id}/rotate-secret", json={"secret": SLACK.other_secret})
    assert r.status_code == 200
    until = datetime.fromisoformat(r.json["previous_valid_until"].replace("Z", "+00:00"))
    assert (until - datetime.now(UTC)).total_seconds() <= 60


def test_dedupe_window_from_the_connection_settings_is_honoured(app, client, api):
    conn = SHOPIFY.connect(api, name="short dedupe", dedupe_window=1)
    body = SHOPIFY.make_body("w1")
    headers, url = SHOPIFY.sign(conn, body)
    first = accepted(send(client, url, body, headers))
    assert send(client, url, body, headers).json == {"status": "duplicate", "id": first,
                                                     "event_id": headers["X-Shopify-Webhook-Id"]}
    # once the window has passed, the same delivery is a new event
    accepted(after_change(lambda n: send(client, url, body, headers), 200, timeout=10,
                          until=lambda r: r.json["status"] == "accepted"))
    assert events_of(app, conn) == 2
