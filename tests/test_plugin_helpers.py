"""The helpers of the public plugin API (hub.plugin.helpers) that the built-in plugins share: text cut
to a vendor's limits by grapheme cluster, and a provider's signed headers, replay window, Unix times
and steps into a payload. Imported from ``hub.plugin``, as a plugin does."""

from __future__ import annotations

import json
import re

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from hub.plugin import (
    SignatureInvalid,
    TimestampOutOfWindow,
    check_timestamp_age,
    dict_or_empty,
    hex_sha256_signature,
    hmac_sha256_matches,
    required_header,
    text_or_none,
    truncate,
    unix_time_iso,
    utf16_units,
)
from tests.providers.helpers import make_request

ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")  # Slack's: half an &amp; / &lt; / &gt;


def json_bytes(text: str) -> int:
    """Bytes of ``text`` inside a UTF-8 JSON string as Teams is sent one (a pair held as two code points
    joined, a lone surrogate as U+FFFD), quotes left out so that the pieces of a text add up."""
    sendable = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return len(json.dumps(sendable, ensure_ascii=False).encode("utf-8")) - 2


# --------------------------------------------------------------------------- utf16_units

@pytest.mark.parametrize("text, units", [
    ("😀", 2),                    # beyond the BMP: a surrogate pair in UTF-16, one code point here
    ("\ud83d\ude00", 2),          # the same pair held as two code points (a JSON "\ud83d\ude00")
    ("\ud83d", 1),                # a lone surrogate still counts, and does not raise
    ("👩\u200d💻", 5),            # woman, zero-width joiner, laptop
    ("👍🏽", 4),                   # thumbs up and a skin tone
    ("🇫🇷", 4),                   # two regional indicators
], ids=["astral", "pair-as-two-code-points", "lone-surrogate", "zwj-sequence", "skin-tone", "flag"])
def test_utf16_units_counts_as_javascript_does(text, units):
    assert utf16_units(text) == units


# --------------------------------------------------------------------------- truncate

TRUNCATE_CASES = [
    pytest.param("😀😀", 3, {}, "😀…", id="astral-counts-two-units"),
    pytest.param("x" * 5 + "👩\u200d💻" + "y", 8, {}, "xxxxx…", id="zwj-sequence-kept-whole"),
    pytest.param("xxx👍🏽y", 6, {}, "xxx…", id="skin-tone-stays-with-its-emoji"),
    pytest.param("cafe\u0301s", 5, {}, "caf…", id="accent-stays-with-its-letter"),
    pytest.param("ab🇫🇷🇩🇪", 9, {}, "ab🇫🇷…", id="flag-not-split-into-indicators"),
    pytest.param("ab\r\ncd", 4, {}, "ab…", id="crlf-kept-whole"),
    pytest.param("\ud83d\ude00" * 3, 4, {}, "\ud83d\ude00…", id="pair-as-two-code-points-kept-as-given"),
    pytest.param("ab```cd", 4, {}, "ab…", id="no-half-backtick-run"),
    pytest.param("```" + "x" * 20, 12, {"close_fence": "```"}, "```xxxxx…```", id="open-fence-closed-inline"),
    pytest.param("```\n" + "x" * 20, 12, {"close_fence": "\n```"}, "```\nxxx…\n```", id="open-fence-closed-on-a-line"),
    pytest.param("```a```xx😀😀", 12, {"close_fence": "```"}, "```a```xx😀…", id="closed-fence-left-alone"),
    pytest.param("ab&amp;c", 5, {"drop_tail": ENTITY_TAIL}, "ab…", id="half-entity-dropped"),
    pytest.param("😀&amp;😀", 8, {"drop_tail": ENTITY_TAIL}, "😀&amp;…", id="whole-entity-kept"),
    pytest.param("é" * 10, 9, {"measure": json_bytes}, "ééé…", id="bytes-two-per-accented-letter"),
    pytest.param('a"b"c"d', 8, {"measure": json_bytes}, 'a"b…', id="bytes-of-json-escapes"),
    pytest.param("ok👩\u200d💻", 12, {"measure": json_bytes}, "ok…", id="bytes-zwj-sequence-kept-whole"),
    pytest.param("e\u0301" * 5, 6, {"measure": len}, "e\u0301e\u0301…", id="code-points-accent-kept"),
]


@pytest.mark.parametrize("text, limit, options, expected", TRUNCATE_CASES)
def test_truncate_cuts_whole_characters_to_fit(text, limit, options, expected):
    result = truncate(text, limit, **options)
    assert result == expected
    assert options.get("measure", utf16_units)(result) <= limit


@pytest.mark.parametrize("text", ["😀😀", "\ud83d\ude00" * 2, "```a", "a&am"],
                         ids=["astral", "pair-as-two-code-points", "open-fence", "entity-tail"])
def test_truncate_returns_a_text_that_fits_unchanged(text):
    assert truncate(text, 4, close_fence="```", drop_tail=ENTITY_TAIL) is text


PIECES = ["a", "b", " ", "`", "```", "&amp;", "&", "é", "e\u0301", "😀", "\ud83d\ude00", "\ud83d", "👩\u200d💻",
          "👍🏽", "🇫🇷", "\r\n", "\n", '"', "\u200d", "한"]
_GRAPHEME = regex.compile(r"\X")


@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join), st.integers(min_value=1, max_value=40),
       st.sampled_from([utf16_units, json_bytes, len]))
def test_truncate_always_fits_and_cuts_a_prefix_between_clusters(text, limit, measure):
    result = truncate(text, limit, measure=measure)
    if result is text:
        assert measure(text) <= limit
        return
    head = result.removesuffix("…")
    assert text.startswith(head)
    assert measure(result) <= limit or not head  # only an ellipsis longer than the limit goes over
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    cut = len(head.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass"))
    ends = {0} | {m.end() for m in _GRAPHEME.finditer(joined)}
    assert cut in ends, "the cut splits a grapheme cluster"


# --------------------------------------------------------------------------- provider helpers

HEADER_CASES = [
    pytest.param({"X-Signature": "  v0=abc \t"}, SignatureInvalid, "v0=abc", id="stripped"),
    pytest.param({"x-signature": "v0=abc"}, SignatureInvalid, "v0=abc", id="any-case"),
    pytest.param({}, SignatureInvalid, "the X-Signature header is missing", id="missing"),
    pytest.param({"X-Signature": "   "}, TimestampOutOfWindow, "the X-Signature header is missing", id="blank"),
    pytest.param({"X-Signature": "a" * 17}, SignatureInvalid, "the X-Signature header is too long (17 characters)",
                 id="too-long"),
    pytest.param({"X-Signature": "v0=é"}, SignatureInvalid, "the X-Signature header contains non-ASCII characters",
                 id="non-ascii"),
]


@pytest.mark.parametrize("headers, error, expected", HEADER_CASES)
def test_required_header_reads_a_short_ascii_value_or_says_why_not(headers, error, expected):
    request = make_request(headers=headers)
    if expected.startswith("the "):
        with pytest.raises(error) as raised:
            required_header(request, "X-Signature", error, max_chars=16)
        assert raised.value.message == expected
    else:
        assert required_header(request, "X-Signature", error, max_chars=16) == expected


HEX = "0123456789abcdef" * 4
NOT_HEX = "the X-Hub-Signature-256 header is not a hex HMAC-SHA256 signature (expected 64 hex digits after 'sha256=')"


@pytest.mark.parametrize("value, expected", [
    ("sha256=" + HEX, HEX),
    ("sha256=" + HEX.upper(), HEX),                                     # compared with a lower-case hexdigest
    (HEX, "the X-Hub-Signature-256 header must start with 'sha256='"),
    ("SHA256=" + HEX, "the X-Hub-Signature-256 header must start with 'sha256='"),
    ("sha256=" + HEX[:-1], NOT_HEX),
    ("sha256=" + HEX + "0", NOT_HEX),
    ("sha256=" + "g" * 64, NOT_HEX),
], ids=["hex", "upper-case", "no-prefix", "prefix-case", "63-digits", "65-digits", "not-hex"])
def test_hex_sha256_signature_takes_64_hex_digits_after_the_prefix(value, expected):
    if expected.startswith("the "):
        with pytest.raises(SignatureInvalid) as raised:
            hex_sha256_signature(value, header="X-Hub-Signature-256", prefix="sha256=")
        assert raised.value.message == expected
    else:
        assert hex_sha256_signature(value, header="X-Hub-Signature-256", prefix="sha256=") == expected


BODY = b'{"type":"event_callback","event_id":"Ev1"}'
# Signed by Slack's own SDK: "v0=" + hex HMAC-SHA256 of "v0:<timestamp>:<body>".
SLACK_SIGNATURE = SignatureVerifier("new-secret").generate_signature(timestamp="1700000000", body=BODY)


@pytest.mark.parametrize("secrets, message, matches", [
    (["new-secret"], b"v0:1700000000:" + BODY, True),
    (["new-secret", "old-secret"], b"v0:1700000000:" + BODY, True),
    (["old-secret", "new-secret"], b"v0:1700000000:" + BODY, True),    # a previous secret still in rotation
    (["old-secret"], b"v0:1700000000:" + BODY, False),
    ([], b"v0:1700000000:" + BODY, False),
    (["new-secret"], b"v0:1700000001:" + BODY, False),                   # another timestamp
    (["new-secret"], b"v0:1700000000:" + BODY + b" ", False),            # a modified body
], ids=["current", "current-first", "current-second", "wrong-secret", "no-secret", "other-timestamp",
        "modified-body"])
def test_hmac_sha256_matches_any_of_the_secrets(secrets, message, matches):
    given_hex = hex_sha256_signature(SLACK_SIGNATURE, header="X-Slack-Signature", prefix="v0=")
    assert hmac_sha256_matches(secrets, message, given_hex) is matches


@pytest.mark.parametrize("age, expected", [
    (300, None),
    (-300, None),
    (300.5, "the X-Timestamp timestamp is 300 seconds old (at most 300 s allowed)"),
    (301, "the X-Timestamp timestamp is 301 seconds old (at most 300 s allowed)"),
    (-301, "the X-Timestamp timestamp is 301 seconds in the future (at most 300 s allowed)"),
], ids=["oldest-allowed", "furthest-ahead-allowed", "half-a-second-too-old", "too-old", "too-far-ahead"])
def test_check_timestamp_age_refuses_a_timestamp_outside_the_window(age, expected):
    if expected is None:
        check_timestamp_age(age, tolerance=300, what="X-Timestamp timestamp")
    else:
        with pytest.raises(TimestampOutOfWindow) as raised:
            check_timestamp_age(age, tolerance=300, what="X-Timestamp timestamp")
        assert raised.value.message == expected


@pytest.mark.parametrize("seconds, microseconds, expected", [
    (0, 0, "1970-01-01T00:00:00Z"),
    (1531420618, 200, "2018-07-12T18:36:58.000200Z"),           # Slack's "1531420618.000200"
    (1531420618, 999999, "2018-07-12T18:36:58.999999Z"),        # exact, where a float second would round
    (1_700_000_000_123 / 1000, 0, "2023-11-14T22:13:20.123000Z"),  # Messenger's milliseconds
    (10**20, 0, None),
    (1531420618, 10**18, None),
], ids=["epoch", "slack-ts", "exact-fraction", "milliseconds", "beyond-year-9999", "fraction-overflows"])
def test_unix_time_iso_writes_utc_with_a_z(seconds, microseconds, expected):
    assert unix_time_iso(seconds, microseconds=microseconds) == expected


@pytest.mark.parametrize("value, expected", [
    ({"ts": "1"}, {"ts": "1"}), ({}, {}), (None, {}), ([{"ts": "1"}], {}), ("ts", {}), (1, {}),
], ids=["object", "empty-object", "null", "list", "string", "number"])
def test_dict_or_empty_steps_into_objects_only(value, expected):
    assert dict_or_empty(value) == expected
    assert dict_or_empty(value).get("ts") == expected.get("ts")


@pytest.mark.parametrize("value, expected", [
    ("C123", "C123"), ("", None), (None, None), (0, None), (1.5, None), (["C123"], None), ({"id": "C123"}, None),
], ids=["text", "empty", "null", "zero", "number", "list", "object"])
def test_text_or_none_keeps_non_empty_strings_only(value, expected):
    assert text_or_none(value) == expected
