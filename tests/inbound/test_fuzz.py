"""Property-based: whatever reaches an inbound URL with the right key — arbitrary bytes, odd header
names and values, any content type, signed or not — the answer is a 2xx the contract names or a
4xx in the error shape; never a 5xx, never an escaped exception, never a crash the gateway had to
swallow. One app per test function, on SQLite and on PostgreSQL; a generic, a slack, a meta and an
hmac (github) connection."""

from __future__ import annotations

import io
import json
import logging
import re
import string
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.testing import AdminClient
from tests.providers.helpers import hex_hmac

PUBLIC = "http://hub.test"
SLACK_SECRET = "fuzz-slack-signing-secret"
META_SECRET = "fuzz-meta-app-secret"
VERIFY_TOKEN = "fuzz-verify-token"
GITHUB_SECRET = "fuzz-github-secret"

CONNECTIONS: dict[str, dict[str, Any]] = {
    "generic": {"provider": "generic"},
    "slack": {"provider": "slack", "secrets": {"signing_secret": SLACK_SECRET}},
    "meta": {"provider": "meta", "secrets": {"app_secret": META_SECRET, "verify_token": VERIFY_TOKEN}},
    "github": {"provider": "hmac", "provider_config": {"preset": "github"}, "secrets": {"secret": GITHUB_SECRET}},
}
KNOWN_CODES = {"not_found", "provider_mismatch", "payload_too_large", "unauthorized", "signature_invalid",
               "timestamp_out_of_window", "rate_limited", "invalid_payload", "unavailable", "forbidden",
               "method_not_allowed"}
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


# --------------------------------------------------------------------------- strategies

TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
RESERVED_HEADERS = {"content-type", "content-length", "transfer-encoding", "host"}
INTERESTING_HEADERS = [
    "X-Slack-Signature", "X-Slack-Request-Timestamp", "X-Slack-Retry-Num", "X-Slack-Retry-Reason",
    "X-Hub-Signature-256", "X-Hub-Signature", "X-GitHub-Delivery", "X-GitHub-Event", "X-Hookhub-Key",
    "Authorization", "Content-Encoding", "Accept", "X-Forwarded-For", "X-Forwarded-Proto", "Cookie",
]
SPECIAL_VALUES = [
    "", " ", "\t", "v0=", "v0=" + "0" * 64, "v0=" + "g" * 64, "sha256=", "sha256=" + "0" * 64, "sha256=" + "Z" * 64,
    "sha1=abc", "0", "-1", "1e309", "99999999999999999999999", "NaN", "1700000000", "1700000000.5",
    "x" * 9000, "ÿ" * 20, "é", "=?utf-8?q?caf=C3=A9?=", "null", "[]", "{}", "a, b, c", ";;;", "%00",
]
printable = st.text(alphabet=string.printable.replace("\r", "").replace("\n", "").replace("\x0b", "")
                    .replace("\x0c", ""), max_size=80)
# What a WSGI server hands over for non-ASCII header bytes: latin-1 characters.
latin1 = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
                 | st.just("\t"), max_size=80)
header_names = (st.sampled_from(INTERESTING_HEADERS) | st.text(alphabet=TOKEN, min_size=1, max_size=40)).filter(
    lambda name: name.lower() not in RESERVED_HEADERS)
header_values = printable | latin1 | st.sampled_from(SPECIAL_VALUES)
headers = st.dictionaries(header_names, header_values, max_size=8)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25)


def _dumps(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")


def mostly(shaped: st.SearchStrategy) -> st.SearchStrategy:
    """Usually the shape a provider expects, sometimes any JSON value in its place."""
    return st.one_of(shaped, shaped, shaped, json_values)


def shaped_list(item: st.SearchStrategy, min_size: int = 0) -> st.SearchStrategy:
    return mostly(st.lists(mostly(item), min_size=min_size, max_size=3))


text_or_value = mostly(st.text(max_size=30))
with_text_and_ts = st.fixed_dictionaries({}, optional={"text": text_or_value, "ts": text_or_value})
slack_event = st.fixed_dictionaries({
    "type": text_or_value, "text": text_or_value,
    "channel": text_or_value | st.fixed_dictionaries({"id": text_or_value}),
}, optional={
    "ts": text_or_value, "event_ts": text_or_value, "message": mostly(with_text_and_ts),
    "item": mostly(st.fixed_dictionaries({}, optional={"channel": text_or_value, "ts": text_or_value})),
})
slack_events = st.fixed_dictionaries({
    "type": mostly(st.sampled_from(["url_verification", "event_callback", "event_callback", "app_rate_limited"])),
    "event": mostly(slack_event), "event_id": text_or_value,
}, optional={"challenge": text_or_value, "event_time": text_or_value, "team_id": text_or_value})
slack_interactivity = st.fixed_dictionaries({}, optional={
    "type": text_or_value, "trigger_id": text_or_value, "action_ts": text_or_value,
    "actions": shaped_list(st.fixed_dictionaries({"action_ts": text_or_value})),
    "channel": mostly(st.fixed_dictionaries({"id": text_or_value})),
    "container": mostly(st.fixed_dictionaries({}, optional={"channel_id": text_or_value,
                                                            "message_ts": text_or_value})),
    "message": mostly(with_text_and_ts),
})
slack_forms = st.fixed_dictionaries({}, optional={
    "command": st.text(max_size=20), "text": st.text(max_size=40), "channel_id": st.text(max_size=12),
    "trigger_id": st.text(max_size=30), "ssl_check": st.sampled_from(["1", "0", ""]),
    "payload": st.builds(json.dumps, mostly(slack_interactivity)) | st.text(max_size=30),
}).map(lambda form: urlencode(form).encode())

unix_or_odd = text_or_value | st.sampled_from(["1700000000", "1700000000000", "9" * 15, "-1", "1e3"])
meta_message = st.fixed_dictionaries({
    "id": text_or_value, "timestamp": unix_or_odd, "text": mostly(st.fixed_dictionaries({"body": text_or_value})),
}, optional={
    "button": mostly(st.fixed_dictionaries({"text": text_or_value})),
    "interactive": mostly(st.fixed_dictionaries({}, optional={
        "button_reply": mostly(st.fixed_dictionaries({"title": text_or_value})),
        "list_reply": mostly(st.fixed_dictionaries({"title": text_or_value}))})),
    "image": mostly(st.fixed_dictionaries({"caption": text_or_value})),
})
meta_status = st.fixed_dictionaries({"id": text_or_value, "status": text_or_value}, optional={"timestamp": unix_or_odd})
meta_metadata = mostly(st.fixed_dictionaries({"phone_number_id": text_or_value}))
# The spine (entry → changes → value → messages) is kept so that signed bodies reach the parser's leaves.
meta_value = (st.fixed_dictionaries({"metadata": meta_metadata, "messages": shaped_list(meta_message, 1)},
                                    optional={"statuses": shaped_list(meta_status)})
              | st.fixed_dictionaries({"statuses": shaped_list(meta_status, 1)}, optional={"metadata": meta_metadata}))
meta_messaging = st.fixed_dictionaries({
    "message": mostly(st.fixed_dictionaries({"mid": text_or_value}, optional={"text": text_or_value})),
}, optional={"postback": mostly(st.fixed_dictionaries({"mid": text_or_value})),
             "recipient": mostly(st.fixed_dictionaries({"id": text_or_value})), "timestamp": unix_or_odd})
meta_change = st.fixed_dictionaries({"value": meta_value}, optional={"field": text_or_value})
meta_entry = (st.fixed_dictionaries({"changes": st.lists(meta_change, min_size=1, max_size=2)},
                                    optional={"id": text_or_value})
              | st.fixed_dictionaries({"messaging": shaped_list(meta_messaging, 1)}, optional={"id": text_or_value}))
meta_bodies = mostly(st.fixed_dictionaries({"entry": st.lists(meta_entry, min_size=1, max_size=3)},
                                           optional={"object": text_or_value}))
github_bodies = st.fixed_dictionaries({}, optional={
    "event_id": text_or_value, "text": text_or_value, "message": text_or_value, "channel": text_or_value,
    "event_ts": text_or_value | st.sampled_from(["2026-03-23T15:29:58Z", "1700000000123", "-1", "1e400", "²"]),
    "message_id": text_or_value, "body": text_or_value, "content": text_or_value,
})
json_documents = st.one_of(json_values, slack_events, meta_bodies, github_bodies)
json_bodies = st.builds(_dumps, json_documents, st.booleans())

form_pairs = st.lists(st.tuples(st.text(max_size=15) | st.sampled_from(["payload", "command", "ssl_check", "text",
                                                                       "channel_id", "trigger_id"]),
                                st.text(max_size=40) | st.builds(lambda v: json.dumps(v), json_documents)),
                      max_size=6)
form_bodies = st.builds(lambda pairs: urlencode(pairs).encode(), form_pairs) | st.sampled_from(
    [b"a=%zz", b"a=%ff%fe", b"payload=%7B", b"payload=1&payload=2", b"ssl_check=1&token=x", b"&&&==", b"=",
     b"command=%2Fdeploy&text=%E2%9C%93&trigger_id=1.2.3"])


@st.composite
def multipart_bodies(draw) -> tuple[bytes, str]:
    boundary = draw(st.text(alphabet=string.ascii_letters + string.digits + "'()+_,-./:=?", min_size=1, max_size=30))
    parts = []
    for name, value, filename in draw(st.lists(st.tuples(st.text(max_size=10), st.binary(max_size=60),
                                                         st.none() | st.text(max_size=10)), max_size=4)):
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n")
    body = b"".join(parts) + (f"--{boundary}--\r\n".encode() if draw(st.booleans()) else b"")
    declared = draw(st.sampled_from([f"multipart/form-data; boundary={boundary}", "multipart/form-data",
                                     "multipart/form-data; boundary=", "multipart/form-data; boundary=other",
                                     f'multipart/form-data; boundary="{boundary}"', "multipart/mixed"]))
    return body, declared


SHAPED_JSON = {"slack": slack_events, "meta": meta_bodies, "github": github_bodies, "generic": github_bodies}
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "application/vnd.api+json", "APPLICATION/JSON"]
FORM_TYPES = ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1"]
ANY_TYPES = JSON_TYPES + FORM_TYPES + ["text/plain", "text/html; charset=utf-8", "application/octet-stream",
                                       "multipart/form-data", "garbage", ";", "application/", "*/*", "json"]
content_types = st.none() | st.sampled_from(ANY_TYPES) | printable


def bodies_with_types(name: str) -> st.SearchStrategy[tuple[bytes, str | None]]:
    """Half the time a body shaped like the provider's own requests (so that signed ones exercise
    its parser), else any JSON, form, multipart, text or bytes under any content type."""
    shaped = st.tuples(st.builds(_dumps, SHAPED_JSON[name], st.booleans()), st.sampled_from(JSON_TYPES))
    if name == "slack":
        shaped = shaped | st.tuples(slack_forms, st.sampled_from(FORM_TYPES))
    return st.one_of(
        shaped, shaped, shaped, shaped,
        st.tuples(json_bodies, st.sampled_from(JSON_TYPES)),
        st.tuples(form_bodies, st.sampled_from(FORM_TYPES)),
        multipart_bodies(),
        st.tuples(st.binary(max_size=600) | json_bodies | form_bodies | st.text(max_size=200).map(str.encode),
                  content_types),
    )


query_params = st.lists(st.tuples(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge"])
                                  | st.text(max_size=10).filter(lambda k: k != "key"),
                                  st.sampled_from(["subscribe", VERIFY_TOKEN, "nul\x00"]) | st.text(max_size=30)),
                         max_size=4)


@st.composite
def inbound_requests(draw, name: str) -> dict[str, Any]:
    body, content_type = draw(bodies_with_types(name))
    return {"method": draw(st.sampled_from(["POST"] * 5 + ["GET"])), "body": body, "content_type": content_type,
            "headers": draw(headers), "query": draw(query_params), "sign": draw(st.sampled_from([True] * 3 + [False])),
            "key_in_header": draw(st.booleans())}


# --------------------------------------------------------------------------- the property

def signature_headers(name: str, body: bytes) -> dict[str, str]:
    """What an honest sender adds: the request then reaches the provider's parser."""
    if name == "slack":
        ts = str(int(time.time()))
        # slack_sdk's signer decodes the body as UTF-8: sign the raw bytes as Slack's docs describe
        return {"X-Slack-Signature": "v0=" + hex_hmac(SLACK_SECRET, f"v0:{ts}:".encode() + body),
                "X-Slack-Request-Timestamp": ts}
    if name == "meta":
        return {"X-Hub-Signature-256": "sha256=" + hex_hmac(META_SECRET, body)}
    if name == "github":
        return {"X-Hub-Signature-256": "sha256=" + hex_hmac(GITHUB_SECRET, body),
                "X-GitHub-Delivery": str(uuid.uuid4()), "X-GitHub-Event": "push"}
    return {}


@pytest.fixture
def app(app_on_each_database):
    """On SQLite and on PostgreSQL: each refuses different values (JSONB and text refuse NUL)."""
    return app_on_each_database


@pytest.fixture(params=sorted(CONNECTIONS))
def target(request, api) -> dict[str, str]:
    created = api.post("/connections", json={"name": f"fuzz {request.param}", **CONNECTIONS[request.param]})
    assert created.status_code == 201, created.json
    url = created.json["inbound_url"]
    return {"name": request.param, "path": url[len(PUBLIC):].split("?")[0], "key": url.split("?key=", 1)[1]}


def check_answer(name: str, method: str, response) -> None:
    status = response.status_code
    assert status < 500, (status, response.data[:500])
    if status == 200:
        if name == "meta" and method == "GET":            # the hub.challenge echo
            assert response.mimetype == "text/plain"
            return
        if name == "slack" and response.data == b"":      # ssl_check
            return
        data = response.get_json(silent=True)
        assert isinstance(data, dict), response.data[:500]
        if name == "slack" and "challenge" in data:       # url_verification
            assert set(data) == {"challenge"} and isinstance(data["challenge"], str)
            return
        assert data["status"] in ("accepted", "duplicate"), data
        assert data["id"].startswith("evt_") and isinstance(data["event_id"], str) and data["event_id"], data
        return
    assert 400 <= status < 500, status
    assert response.mimetype == "application/json"
    data = response.get_json(silent=True)
    assert isinstance(data, dict) and set(data) == {"error"}, response.data[:500]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", data["error"]["code"]) and data["error"]["code"] in KNOWN_CODES, data
    assert isinstance(data["error"]["message"], str) and data["error"]["message"], data


@FUZZ
@given(data=st.data())
def test_inbound_route_never_answers_5xx_whatever_arrives(target, client, api, caplog, data):
    request = data.draw(inbound_requests(target["name"]))
    name, body = target["name"], request["body"]
    sent_headers = dict(request["headers"])
    if request["sign"]:
        sent_headers.update(signature_headers(name, body))
    query = list(request["query"])
    if request["key_in_header"]:
        sent_headers["X-Hookhub-Key"] = target["key"]
    else:
        query.insert(0, ("key", target["key"]))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        # input_stream: the exact bytes (the test client would encode an empty form body itself)
        response = client.open(target["path"] + "?" + urlencode(query), method=request["method"],
                               input_stream=io.BytesIO(body), content_length=len(body),
                               headers=sent_headers, content_type=request["content_type"])
    check_answer(name, request["method"], response)
    answer = response.get_json(silent=True) or {}
    hypothesis.event(f"{response.status_code} {answer.get('status') or answer.get('error', {}).get('code', '')}")
    crashes = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not crashes, crashes       # e.g. "provider slack crashed in parse": a swallowed plugin bug
    if response.status_code == 200 and (response.get_json(silent=True) or {}).get("status") == "accepted":
        event = api.get(f"/events/{response.json['id']}").json
        raw = event["raw_body"].encode() if event["raw_body_encoding"] == "utf-8" else None
        assert raw is None or raw == body


# --------------------------------------------------------------------------- what the fuzzing turned up

@pytest.fixture
def generic_on_each_database(app):
    """A generic connection on SQLite, then on PostgreSQL (the module's ``app``)."""
    client = app.test_client()
    api = AdminClient(app)
    created = api.post("/connections", json={"name": "odd json", "provider": "generic"}).json
    return client, api, created["inbound_url"][len(PUBLIC):]


def _strict_json(raw: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(raw, parse_constant=refuse)


def _post_each(client, api, url: str, bodies: list[bytes]) -> list[str]:
    """Problems: a 5xx (the sender retries forever), or an accepted event the API cannot give back as JSON."""
    problems = []
    for body in bodies:
        r = client.post(url, data=body, content_type="application/json")
        if r.status_code >= 500:
            problems.append(f"{body!r} → {r.status_code} {r.json['error']['code']}")
        elif r.status_code == 200 and r.json["status"] == "accepted":
            event = api.get(f"/events/{r.json['id']}")
            try:
                _strict_json(event.data)
            except ValueError as exc:
                problems.append(f"{body!r} → accepted, but GET /api/v1/events/{{id}} is not JSON: {exc}")
        elif r.status_code != 200:
            assert r.json["error"]["code"] == "invalid_payload", r.json
    return problems


def test_non_finite_json_numbers_are_refused_or_stored_as_json(generic_on_each_database):
    """``NaN``/``Infinity`` are not JSON (RFC 8259) and ``1e400`` overflows a double: Python's json reads
    them all as floats. DESIGN: an unparsable body is a 400; CONTRACT: the admin API speaks JSON."""
    client, api, url = generic_on_each_database
    problems = _post_each(client, api, url, [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}',
                                             b'{"text": 1e400}'])
    assert not problems, "\n".join(problems)


def test_json_strings_with_nul_or_lone_surrogates_are_never_answered_5xx(generic_on_each_database):
    """Valid JSON text that a JSONB column cannot hold must not be answered 503 "storage is unavailable;
    retry later": the storage is up, and the sender would retry the same bytes forever."""
    client, api, url = generic_on_each_database
    problems = _post_each(client, api, url, [b'{"text": "nul \\u0000 byte"}', b'{"text": "lone \\ud800"}',
                                             b'{"t\\u0000": 1}'])
    assert not problems, "\n".join(problems)
