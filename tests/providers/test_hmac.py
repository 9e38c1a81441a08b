"""The ``hmac`` provider: every preset against its vector and its vendor's SDK, custom settings,
freshness windows, malformed input and configuration checks."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from urllib.parse import urlencode

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from standardwebhooks.webhooks import Webhook

from hub.plugin import ConfigInvalid, HookhubError, InvalidPayload, SignatureInvalid, TimestampOutOfWindow
from plugins.providers import custom_hmac
from plugins.providers.hmac_presets import PRESETS
from tests.providers.helpers import FORM, NOW, NOW_TS, b64_hmac, hex_hmac, make_conn, make_request, registered

PROVIDER = registered(custom_hmac, "hmac")
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TEAMS_SECRET = "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA="
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212",
                 "Caller": "+14158675309"}


def conn(config: dict | str, secret: str = "s3cret", previous: tuple[str, ...] = ()):
    if isinstance(config, str):
        config = {"preset": config}
    return make_conn("hmac", config=config, secrets={"secret": secret}, previous={"secret": previous})


def verify(request, connection):
    PROVIDER.verify(request, connection)
    return True


# --------------------------------------------------------------------------- published and shared vectors

VECTORS = [
    pytest.param("github", "It's a Secret to Everybody", b"Hello, World!",
                 {"X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
                 NOW_TS, id="github-published"),
    pytest.param("standard_webhooks", SW_SECRET, b'{"test": 2432232314}',
                 {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
                  "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
                 1614265330, id="standard-webhooks-published"),
    pytest.param("standard_webhooks", SW_SECRET, b'{"test": 2432232314}',
                 {"svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "svix-timestamp": "1614265330",
                  "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
                 1614265330, id="svix-headers"),
    pytest.param("stripe", "whsec_test_secret", b'{"id":"evt_test"}',
                 {"Stripe-Signature": "t=1700000000,"
                                      "v1=13941114bb88ac44a76abcfddea5b92aa6182a4b63d8be3aae908a616083bd7e"},
                 1700000000, id="stripe"),
    pytest.param("shopify", "shpss_test", b'{"id":1}',
                 {"X-Shopify-Hmac-Sha256": "1GxccvotnkOedTjSm8S0m/VA3yAUKshyqT52ccNYHj4="}, NOW_TS, id="shopify"),
    pytest.param("teams_outgoing", TEAMS_SECRET, b'{"type":"message","text":"hi"}',
                 {"Authorization": "HMAC OsI22fOxGbRqh5cP8AMgGG80vP5pVkuGv1D1ft388ls="}, NOW_TS, id="teams"),
]


@pytest.mark.parametrize("preset, secret, body, headers, at", VECTORS)
def test_each_preset_verifies_its_vector(preset, secret, body, headers, at):
    assert verify(make_request(body, headers, received_at=at), conn(preset, secret))


@pytest.mark.parametrize("preset, secret, body, headers, at", VECTORS)
def test_each_preset_vector_fails_with_another_secret(preset, secret, body, headers, at):
    other = base64.b64encode(b"another key of 32 bytes, really.").decode()
    with pytest.raises(SignatureInvalid, match="does not match"):
        PROVIDER.verify(make_request(body, headers, received_at=at), conn(preset, other))


@pytest.mark.parametrize("preset, secret, body, headers, at", VECTORS)
def test_each_preset_vector_fails_on_a_tampered_body(preset, secret, body, headers, at):
    with pytest.raises(SignatureInvalid, match="does not match"):
        PROVIDER.verify(make_request(body + b" ", headers, received_at=at), conn(preset, secret))


@pytest.mark.parametrize("preset, secret, body, headers, at", VECTORS)
def test_each_preset_refuses_a_missing_signature_header(preset, secret, body, headers, at):
    names = PRESETS[preset]["signature_header"].split(",")
    signature_header = names[0]
    kept = {k: v for k, v in headers.items() if k not in names}
    assert len(kept) < len(headers)
    with pytest.raises(SignatureInvalid, match=f"the {signature_header} header.* is missing"):
        PROVIDER.verify(make_request(body, kept, received_at=at), conn(preset, secret))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_refuses_an_empty_configured_secret(preset):
    with pytest.raises(SignatureInvalid, match="no signing secret configured"):
        PROVIDER.verify(make_request(b"{}", {}), conn(preset, secret=""))


def test_combo_signs_timestamp_dot_body():
    body = '{"deal":"Größe"}'.encode()
    signature = "sha256=" + hex_hmac("combo-secret", f"{NOW_TS}.".encode() + body)
    headers = {"X-Combo-Signature": signature, "X-Combo-Timestamp": str(NOW_TS)}
    assert verify(make_request(body, headers), conn("combo", "combo-secret"))
    with pytest.raises(TimestampOutOfWindow, match="301 seconds old"):
        PROVIDER.verify(make_request(body, headers, received_at=NOW_TS + 301), conn("combo", "combo-secret"))


@pytest.mark.parametrize("stamp", ["2023-11-14T22:13:20Z", "2023-11-14T22:13:20.000+00:00",
                                   "2023-11-14T23:13:20+01:00"])
def test_sidekick_signs_the_body_and_reads_an_iso_timestamp(stamp):
    body = b'{"event":"lead.created"}'
    headers = {"x-sidekick-signature": hex_hmac("side", body), "x-sidekick-timestamp": stamp}
    assert verify(make_request(body, headers), conn("sidekick", "side"))


@pytest.mark.parametrize("stamp, error, words", [
    ("2023-11-14T22:08:19Z", TimestampOutOfWindow, "301 seconds old"),
    ("2023-11-14T22:18:21Z", TimestampOutOfWindow, "301 seconds in the future"),
    ("last tuesday", TimestampOutOfWindow, "not an ISO 8601 date-time"),
    ("", TimestampOutOfWindow, "x-sidekick-timestamp header is missing"),
])
def test_sidekick_refuses_stale_future_and_unreadable_timestamps(stamp, error, words):
    body = b"{}"
    headers = {"x-sidekick-signature": hex_hmac("side", body), "x-sidekick-timestamp": stamp}
    with pytest.raises(error, match=words):
        PROVIDER.verify(make_request(body, headers), conn("sidekick", "side"))


# --------------------------------------------------------------------------- Twilio (twilio-python's own test vectors)

def test_twilio_form_parameters_are_sorted_and_appended_to_the_url():
    request = make_request(urlencode(TWILIO_PARAMS), {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
                           content_type=FORM, url=TWILIO_URL)
    assert verify(request, conn("twilio", "12345"))


def test_twilio_repeated_parameters_are_sorted_by_name_then_value():
    body = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
    request = make_request(body, {"X-Twilio-Signature": "IK+Dwps556ElfBT0I3Rgjkr1wJU="}, content_type=FORM,
                           url=TWILIO_URL)
    assert verify(request, conn("twilio", "12345"))


@pytest.mark.parametrize("url, signature", [
    (TWILIO_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # received with a port, signed without
    (TWILIO_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),                             # signed with :443, received without
    (TWILIO_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),     # signed with :80
])
def test_twilio_accepts_the_url_with_or_without_its_port(url, signature):
    request = make_request(urlencode(TWILIO_PARAMS), {"X-Twilio-Signature": signature}, content_type=FORM, url=url)
    assert verify(request, conn("twilio", "12345"))


def test_twilio_refuses_a_changed_form_parameter():
    params = {**TWILIO_PARAMS, "Digits": "9999"}
    request = make_request(urlencode(params), {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
                           content_type=FORM, url=TWILIO_URL)
    with pytest.raises(SignatureInvalid, match="does not match"):
        PROVIDER.verify(request, conn("twilio", "12345"))


TWILIO_JSON = '{"property": "value", "boolean": true}'
TWILIO_JSON_URL = TWILIO_URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"


def test_twilio_json_bodies_are_bound_by_body_sha256_in_the_url():
    request = make_request(TWILIO_JSON, {"X-Twilio-Signature": "a9nBmqA0ju/hNViExpshrM61xv4="}, url=TWILIO_JSON_URL)
    assert verify(request, conn("twilio", "12345"))


@pytest.mark.parametrize("body, url, words", [
    (TWILIO_JSON.replace("true", "false"), TWILIO_JSON_URL, "does not match the bodySHA256"),
    (TWILIO_JSON, TWILIO_URL, "no bodySHA256 parameter"),
    (TWILIO_JSON, TWILIO_URL + "&bodySHA256=xyz", "not a hex SHA-256"),
])
def test_twilio_json_bodies_without_a_matching_body_hash_are_refused(body, url, words):
    request = make_request(body, {"X-Twilio-Signature": "a9nBmqA0ju/hNViExpshrM61xv4="}, url=url)
    with pytest.raises(SignatureInvalid, match=words):
        PROVIDER.verify(request, conn("twilio", "12345"))


def test_twilio_form_body_that_is_not_utf8_is_an_invalid_payload():
    request = make_request(b"Body=%ff%fe", {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
                           content_type=FORM, url=TWILIO_URL)
    with pytest.raises(InvalidPayload, match="UTF-8"):
        PROVIDER.verify(request, conn("twilio", "12345"))


# --------------------------------------------------------------------------- real SDKs

def test_stripe_sdk_signature_verifies_with_a_unicode_body():
    payload = json.dumps({"id": "evt_1", "description": "café ☕"}, ensure_ascii=False)
    header = stripe.WebhookSignature.generate_signature_header(payload, "whsec_abc", timestamp=NOW_TS)
    request = make_request(payload, {"Stripe-Signature": header})
    assert verify(request, conn("stripe", "whsec_abc"))
    assert stripe.WebhookSignature.verify_header(payload, header, "whsec_abc")  # the SDK agrees


def test_stripe_any_v1_of_several_passes_and_other_schemes_are_ignored():
    payload = '{"id":"evt_2"}'
    old = stripe.WebhookSignature.generate_signature_header(payload, "whsec_old", timestamp=NOW_TS)
    new = stripe.WebhookSignature.generate_signature_header(payload, "whsec_new", timestamp=NOW_TS)
    header = f"{new},v0=deadbeef,{old.split(',')[1]}"
    assert verify(make_request(payload, {"Stripe-Signature": header}), conn("stripe", "whsec_old"))
    assert verify(make_request(payload, {"Stripe-Signature": header}), conn("stripe", "whsec_new"))


@pytest.mark.parametrize("offset, error", [(-301, "301 seconds old"), (301, "301 seconds in the future")])
def test_stripe_refuses_stale_and_future_timestamps(offset, error):
    payload = '{"id":"evt_3"}'
    header = stripe.WebhookSignature.generate_signature_header(payload, "whsec_x", timestamp=NOW_TS + offset)
    with pytest.raises(TimestampOutOfWindow, match=error):
        PROVIDER.verify(make_request(payload, {"Stripe-Signature": header}), conn("stripe", "whsec_x"))


@pytest.mark.parametrize("header, error, words", [
    ("garbage", SignatureInvalid, "no 'v1=' signature"),
    ("v1=" + "a" * 64, TimestampOutOfWindow, "no 't=' timestamp"),
    ("t=abc,v1=" + "a" * 64, TimestampOutOfWindow, "not a Unix timestamp"),
    (f"t={NOW_TS},v1=nothex", SignatureInvalid, "not valid hex"),
    (f"t={NOW_TS},v1=abcd", SignatureInvalid, "2 bytes long; an HMAC-SHA256 signature is 32"),
])
def test_stripe_malformed_headers_are_refused_with_a_plain_reason(header, error, words):
    with pytest.raises(error, match=words):
        PROVIDER.verify(make_request(b"{}", {"Stripe-Signature": header}), conn("stripe", "whsec_x"))


def sw_request(body: str, secret: str = SW_SECRET, msg_id: str = "msg_1", at: datetime = NOW, prefix: str = "webhook"):
    signature = Webhook(secret).sign(msg_id, at, body)
    return make_request(body, {f"{prefix}-id": msg_id, f"{prefix}-timestamp": str(int(at.timestamp())),
                               f"{prefix}-signature": signature})


@pytest.mark.parametrize("prefix", ["webhook", "svix"])
def test_standard_webhooks_sdk_signature_verifies(prefix):
    assert verify(sw_request('{"msg":"héllo"}', prefix=prefix), conn("standard_webhooks", SW_SECRET))


def test_standard_webhooks_unprefixed_and_unpadded_secrets_work():
    secret = base64.b64encode(b"k" * 24).decode().rstrip("=")
    assert verify(sw_request("{}", secret="whsec_" + secret), conn("standard_webhooks", secret))


def test_standard_webhooks_rotation_lists_and_ed25519_entries():
    request = sw_request("{}", secret=SW_SECRET)
    rotated = base64.b64encode(b"n" * 32).decode()
    signature = f"v1a,AAAA v1,{b64_hmac(b'nope', b'x')} {request.headers['webhook-signature']}"
    headers = {**dict(request.headers), "webhook-signature": signature}
    assert verify(make_request(b"{}", headers), conn("standard_webhooks", "whsec_" + rotated, previous=(SW_SECRET,)))


def test_standard_webhooks_with_only_ed25519_signatures_says_they_are_unsupported():
    headers = {**dict(sw_request("{}").headers), "webhook-signature": "v1a,bm90IGEgcmVhbCBzaWc="}
    with pytest.raises(SignatureInvalid, match="'v1a,' ed25519 signatures, are not supported"):
        PROVIDER.verify(make_request(b"{}", headers), conn("standard_webhooks", SW_SECRET))


@pytest.mark.parametrize("change, error, words", [
    ({"webhook-signature": "v1,!!!not base64!!!"}, SignatureInvalid, "not valid base64"),
    ({"webhook-signature": "v2,abc"}, SignatureInvalid, "starts with 'v1,'"),
    ({"webhook-timestamp": "soon"}, TimestampOutOfWindow, "not a Unix timestamp"),
    ({"webhook-timestamp": str(NOW_TS - 301)}, TimestampOutOfWindow, "301 seconds old"),
    ({"webhook-timestamp": str(NOW_TS + 301)}, TimestampOutOfWindow, "301 seconds in the future"),
    ({"webhook-id": "msg_other"}, SignatureInvalid, "does not match"),
    ({"webhook-id": None}, SignatureInvalid, "webhook-id header .*is missing"),
])
def test_standard_webhooks_refuses_bad_headers(change, error, words):
    headers = dict(sw_request("{}").headers)
    for name, value in change.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    with pytest.raises(error, match=words):
        PROVIDER.verify(make_request(b"{}", headers), conn("standard_webhooks", SW_SECRET))


# --------------------------------------------------------------------------- custom settings

CUSTOM = {"signature_header": "X-Acme-Sig", "signature_prefix": "sha512=", "algorithm": "sha512", "encoding": "hex",
          "signed_content": "{ts}:{id}:{body}", "timestamp_header": "X-Acme-Time", "timestamp_format": "unix_ms",
          "id_header": "X-Acme-Delivery", "tolerance": 60}


def custom_request(body: bytes, secret: str = "acme", ms: int = NOW_TS * 1000, delivery: str = "d-1"):
    signature = "sha512=" + hex_hmac(secret, f"{ms}:{delivery}:".encode() + body, hashlib.sha512)
    return make_request(body, {"X-Acme-Sig": signature, "X-Acme-Time": str(ms), "X-Acme-Delivery": delivery})


def test_custom_settings_without_a_preset_verify():
    assert verify(custom_request(b"payload"), conn(CUSTOM, "acme"))


@pytest.mark.parametrize("ms, words", [(NOW_TS * 1000 - 61_000, "61 seconds old"),
                                       (NOW_TS * 1000 + 61_000, "61 seconds in the future")])
def test_custom_tolerance_applies_both_ways(ms, words):
    with pytest.raises(TimestampOutOfWindow, match=words):
        PROVIDER.verify(custom_request(b"x", ms=ms), conn(CUSTOM, "acme"))


def test_custom_base64_key_with_sha1_base64_signature():
    key = b"\x00\x01binary key\xff"
    config = {"signature_header": "X-Sig", "algorithm": "sha1", "encoding": "base64", "key_encoding": "base64"}
    request = make_request(b"body", {"X-Sig": b64_hmac(key, b"body", hashlib.sha1)})
    assert verify(request, conn(config, base64.b64encode(key).decode()))


def test_explicit_settings_override_the_preset():
    config = {"preset": "github", "signature_header": "X-Gitea-Signature", "signature_prefix": ""}
    request = make_request(b"{}", {"X-Gitea-Signature": hex_hmac("gitea", b"{}")})
    assert verify(request, conn(config, "gitea"))
    with pytest.raises(SignatureInvalid, match="X-Gitea-Signature header is missing"):
        PROVIDER.verify(make_request(b"{}", {"X-Hub-Signature-256": "sha256=" + hex_hmac("gitea", b"{}")}),
                        conn(config, "gitea"))


def test_a_previous_secret_verifies_and_a_bad_previous_one_is_skipped():
    body = b'{"ok":true}'
    request = make_request(body, {"X-Shopify-Hmac-Sha256": b64_hmac("old", body)})
    assert verify(request, conn("shopify", "new", previous=("old",)))
    teams = make_request(body, {"Authorization": "HMAC " + b64_hmac(base64.b64decode(TEAMS_SECRET), body)})
    assert verify(teams, conn("teams_outgoing", TEAMS_SECRET, previous=("not base64 at all!",)))


def test_a_secret_that_does_not_decode_is_refused_without_showing_it():
    with pytest.raises(SignatureInvalid, match="not valid base64") as caught:
        PROVIDER.verify(make_request(b"{}", {"Authorization": "HMAC AAAA"}), conn("teams_outgoing", "%%%secret%%%"))
    assert "%%%secret%%%" not in caught.value.message


@pytest.mark.parametrize("preset, headers, words", [
    ("github", {"X-Hub-Signature-256": "garbage"}, "must start with 'sha256='"),
    ("github", {"X-Hub-Signature-256": "sha1=" + "a" * 40}, "must start with 'sha256='"),
    ("github", {"X-Hub-Signature-256": "sha256=" + "zz" * 32}, "not valid hex"),
    ("github", {"X-Hub-Signature-256": "sha256=" + "é" * 64}, "non-ASCII"),
    ("github", {"X-Hub-Signature-256": "sha256=" + "a" * 20_000}, "too long"),
    ("shopify", {"X-Shopify-Hmac-Sha256": "@@@@"}, "not valid base64"),
    ("shopify", {"X-Shopify-Hmac-Sha256": "a"}, "not valid base64"),
    ("shopify", {"X-Shopify-Hmac-Sha256": "YWJj"}, "3 bytes long"),
    ("teams_outgoing", {"Authorization": "Bearer abc"}, "must start with 'HMAC '"),
])
def test_malformed_signatures_are_refused_with_a_plain_reason(preset, headers, words):
    with pytest.raises(SignatureInvalid, match=words):
        PROVIDER.verify(make_request(b"{}", headers), conn(preset, TEAMS_SECRET))


HEADER_VALUES = st.one_of(st.text(max_size=300), st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
                          st.sampled_from(["v1,", "v1a,", "t=,v1=", "t=1,v1=", "sha256=", "HMAC ", "=", ",,,", " "]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(preset=st.sampled_from(sorted(PRESETS)), signature=HEADER_VALUES, stamp=HEADER_VALUES,
       body=st.binary(max_size=64), form=st.booleans())
def test_arbitrary_headers_and_bodies_only_raise_hub_errors(preset, signature, stamp, body, form):
    headers = {}
    for name in ("signature_header", "timestamp_header", "id_header"):
        for header in (PRESETS[preset].get(name) or "").split(","):
            if header:
                headers[header] = signature if name == "signature_header" else stamp
    request = make_request(body, headers, content_type=FORM if form else "application/json",
                           url=TWILIO_URL + "&bodySHA256=" + stamp[:70].replace("&", ""))
    try:
        PROVIDER.verify(request, conn(preset, TEAMS_SECRET))
    except (SignatureInvalid, TimestampOutOfWindow, InvalidPayload):
        pass
    else:
        pytest.fail("a random signature verified")


# --------------------------------------------------------------------------- configuration

def test_without_a_preset_the_needed_settings_are_required_by_name():
    with pytest.raises(ConfigInvalid) as caught:
        PROVIDER.validate_config({}, {"secret": "x"})
    assert set(caught.value.fields) == {"signature_header", "algorithm", "encoding"}
    assert "required when no preset is chosen" in caught.value.fields["algorithm"]


@pytest.mark.parametrize("config, field, words", [
    ({**CUSTOM, "signed_content": "{body}{nonce}"}, "signed_content", "unknown placeholder {nonce}"),
    ({**CUSTOM, "timestamp_header": None}, "signed_content", "uses {ts}"),
    ({**CUSTOM, "id_header": None}, "signed_content", "uses {id}"),
    ({**CUSTOM, "timestamp_key": "t"}, "timestamp_header", "either timestamp_header or timestamp_key"),
    ({"preset": "github", "timestamp_key": "t"}, "timestamp_key", "needs signature_key"),
    ({"preset": "github", "body_hash_param": "bodySHA256"}, "body_hash_param", "{url}"),
])
def test_inconsistent_settings_are_refused_at_save_time(config, field, words):
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(ConfigInvalid) as caught:
        PROVIDER.validate_config(config, {"secret": "x"})
    assert words in caught.value.fields[field]


@pytest.mark.parametrize("preset", ["teams_outgoing", "standard_webhooks"])
def test_a_secret_that_is_not_base64_is_refused_at_save_time(preset):
    with pytest.raises(ConfigInvalid) as caught:
        PROVIDER.validate_config({"preset": preset}, {"secret": "%%%"})
    assert "not valid base64" in caught.value.fields["secret"]


@pytest.mark.parametrize("config", [{"preset": p} for p in sorted(PRESETS)] + [CUSTOM])
def test_every_preset_and_a_full_custom_config_are_accepted(config):
    loaded = PROVIDER.config_schema().load(config)
    PROVIDER.validate_config({k: v for k, v in loaded.items() if v is not None}, {"secret": TEAMS_SECRET})


@pytest.mark.parametrize("config", [{"preset": "gitlab"}, {"algorithm": "md5"}, {"encoding": "base32"},
                                    {"timestamp_format": "rfc2822"}, {"tolerance": 0}])
def test_the_schema_refuses_unknown_choices(config):
    with pytest.raises(ValidationError):
        PROVIDER.config_schema().load(config)


def test_incomplete_settings_at_request_time_refuse_the_request():
    with pytest.raises(SignatureInvalid, match="settings are incomplete"):
        PROVIDER.verify(make_request(b"{}", {"X-Sig": "abc"}), conn({"signature_header": "X-Sig"}))


# --------------------------------------------------------------------------- parsing

def test_github_parse_dedupes_on_the_delivery_and_names_the_event():
    request = make_request(b'{"action":"opened"}', {"X-GitHub-Delivery": "72d3162e-cc78", "X-GitHub-Event": "issues"})
    parsed = PROVIDER.parse(request, conn("github"))
    assert parsed.payload == {"action": "opened"}
    assert parsed.event_id == "72d3162e-cc78"
    assert parsed.fields == {"event": "issues"}


@pytest.mark.parametrize("preset, headers, body, event_id", [
    ("shopify", {"X-Shopify-Webhook-Id": "b54557e4"}, b'{"id":1}', "b54557e4"),
    ("standard_webhooks", {"svix-id": "msg_2"}, b"{}", "msg_2"),
    ("stripe", {}, b'{"id":"evt_9","type":"charge.succeeded"}', "evt_9"),
    ("teams_outgoing", {}, b'{"type":"message","id":"1485983408511"}', "1485983408511"),
    ("twilio", {"I-Twilio-Idempotency-Token": "tok-1"}, b"{}", "tok-1"),
    ("combo", {}, b'{"id":"not used"}', None),
])
def test_each_preset_takes_the_event_id_from_its_id_header_or_body(preset, headers, body, event_id):
    assert PROVIDER.parse(make_request(body, headers), conn(preset)).event_id == event_id


def test_the_signed_timestamp_becomes_event_ts():
    request = make_request(b"{}", {"webhook-timestamp": "1614265330"})
    assert PROVIDER.parse(request, conn("standard_webhooks")).fields["event_ts"] == "2021-02-25T15:02:10Z"


def test_form_bodies_parse_to_a_dict():
    parsed = PROVIDER.parse(make_request("Body=h%C3%A9llo&From=%2B1555", {}, content_type=FORM), conn("twilio"))
    assert parsed.payload == {"Body": "héllo", "From": "+1555"}


def test_a_broken_json_body_is_an_invalid_payload():
    with pytest.raises(InvalidPayload):
        PROVIDER.parse(make_request(b"{", {}), conn("github"))


def test_the_provider_declares_its_secret():
    assert PROVIDER.required_secrets == ("secret",)
    assert PROVIDER.secrets_schema().fields["secret"].metadata["secret"] is True
    assert issubclass(SignatureInvalid, HookhubError)
