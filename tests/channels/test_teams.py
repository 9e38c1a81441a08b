"""The ``teams`` channel: the Workflows Adaptive Card envelope, the legacy MessageCard mode, the
28 KB limit, and the answers of both kinds of URL."""

from __future__ import annotations

import json

import pytest
from marshmallow import ValidationError

from hub.plugin import ChannelConfigSchema, ConfigInvalid, PermanentFailure
from plugins.channels import teams
from tests.channels.helpers import ENVELOPE, answer, envelope, make_conn, message, registered, sent, verdict

TEAMS = registered(teams, "teams")
URL = ("https://prod-12.westeurope.logic.azure.com:443/workflows/0f1e2d3c4b5a69788796a5b4c3d2e1f0/triggers/manual/"
       "paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=q1w2e3r4t5y6u7i8o9p0")
LEGACY_URL = "https://contoso.webhook.office.com/webhookb2/1234abcd@5678efgh/IncomingWebhook/90ab/cdef"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
LIMIT = 28 * 1024


def conn(mode=None, **kwargs):
    return make_conn(TEAMS, LEGACY_URL if mode == "legacy" else URL, {"mode": mode} if mode else {}, **kwargs)


def built(body, mode=None, **kwargs):
    return sent(TEAMS.build(message(body, **kwargs), conn(mode)))


def wrapped(*elements, version="1.4"):
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {"$schema": SCHEMA, "type": "AdaptiveCard", "version": version, "body": list(elements)}}]}


def test_the_plugin_declares_its_metadata_secret_and_pacing():
    assert (TEAMS.title, TEAMS.required_secrets, TEAMS.url_secret, TEAMS.default_rate_limit) == (
        "Microsoft Teams (Workflows webhook)", ("webhook_url",), "webhook_url", "4/second")
    assert issubclass(TEAMS.config_schema, ChannelConfigSchema)
    field = TEAMS.secrets_schema().fields["webhook_url"]
    assert field.required and field.metadata["secret"]


def test_the_mode_defaults_to_workflows_and_is_one_of_two():
    assert TEAMS.config_schema().load({})["mode"] == "workflows"
    assert TEAMS.config_schema().load({"mode": "legacy"})["mode"] == "legacy"
    with pytest.raises(ValidationError, match="mode"):
        TEAMS.config_schema().load({"mode": "o365"})


def test_the_default_rendering_is_the_adaptive_card_envelope_of_the_specs():
    assert TEAMS.default_body(ENVELOPE, conn()) == {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": "crm-deals · ops", "weight": "Bolder", "size": "Medium",
                     "wrap": True},
                    {"type": "FactSet", "facts": [{"title": "Channel", "value": "ops"},
                                                  {"title": "Source", "value": "crm-deals"},
                                                  {"title": "Time", "value": "2026-03-23T15:29:58Z"}]},
                    {"type": "TextBlock", "text": "Deal 42 won by Ada", "wrap": True},
                ],
            },
        }],
    }


def test_the_legacy_default_rendering_is_a_message_card():
    assert TEAMS.default_body(ENVELOPE, conn("legacy")) == {
        "@type": "MessageCard", "@context": "https://schema.org/extensions",
        "summary": "crm-deals · ops", "title": "crm-deals · ops",
        "sections": [{"facts": [{"name": "Channel", "value": "ops"}, {"name": "Source", "value": "crm-deals"},
                                {"name": "Time", "value": "2026-03-23T15:29:58Z"}],
                      "text": "Deal 42 won by Ada"}],
    }


def test_an_event_without_text_shows_its_payload():
    body = TEAMS.default_body(envelope(text=""), conn())
    assert body["attachments"][0]["content"]["body"][2] == {
        "type": "TextBlock", "text": '{"deal": {"id": 42, "stage": "won"}}', "wrap": True}


def test_build_posts_the_envelope_to_the_workflow_url():
    request = TEAMS.build(message(TEAMS.default_body(ENVELOPE, conn())), conn())
    assert (request.method, request.url) == ("POST", URL)
    assert sent(request) == TEAMS.default_body(ENVELOPE, conn())


# Microsoft's "send an Adaptive Card with an incoming webhook" example, and a connector MessageCard example.
MS_CARD_EXAMPLE = wrapped({"type": "TextBlock", "text": "For Samples and Templates, see "
                                                       "[https://adaptivecards.io/samples](https://adaptivecards.io/samples)"},
                          version="1.2")
MS_MESSAGE_CARD_EXAMPLE = {
    "@type": "MessageCard", "@context": "http://schema.org/extensions", "themeColor": "0076D7",
    "summary": "Larry Bryant created a new task",
    "sections": [{"activityTitle": "Larry Bryant created a new task", "activitySubtitle": "On Project Tango",
                  "activityImage": "https://adaptivecards.io/content/cats/3.png",
                  "facts": [{"name": "Assigned to", "value": "Unassigned"},
                            {"name": "Status", "value": "Not started"}],
                  "markdown": True}],
}


@pytest.mark.parametrize("mode", ["workflows", "legacy"])
def test_microsofts_documented_shapes_are_sent_unchanged(mode):
    assert built(MS_CARD_EXAMPLE, mode) == MS_CARD_EXAMPLE
    assert built(MS_MESSAGE_CARD_EXAMPLE, mode) == MS_MESSAGE_CARD_EXAMPLE


def test_a_bare_adaptive_card_is_wrapped_in_the_envelope():
    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Build {{ id }} failed"}]}
    assert built(card) == wrapped({"type": "TextBlock", "text": "Build {{ id }} failed"})
    card_15 = {"type": "AdaptiveCard", "version": "1.5", "body": []}
    assert built(card_15) == wrapped(version="1.5")


@pytest.mark.parametrize("body, elements", [
    ("Deploy finished", [{"type": "TextBlock", "text": "Deploy finished", "wrap": True}]),
    ("", [{"type": "TextBlock", "text": "(empty message)", "wrap": True}]),
    ({"title": "Deploy", "text": "v1.2 is live"},
     [{"type": "TextBlock", "text": "Deploy", "weight": "Bolder", "size": "Medium", "wrap": True},
      {"type": "TextBlock", "text": "v1.2 is live", "wrap": True}]),
    ({"text": 42}, [{"type": "TextBlock", "text": "42", "wrap": True}]),
    ({"status": "ok"}, [{"type": "TextBlock", "text": '{"status": "ok"}', "wrap": True}]),
    ([1, 2], [{"type": "TextBlock", "text": "[1, 2]", "wrap": True}]),
], ids=["string", "empty", "title-text", "number", "other-dict", "list"])
def test_other_template_outputs_become_a_text_card(body, elements):
    assert built(body) == wrapped(*elements)


@pytest.mark.parametrize("body, expected", [
    ("Deploy finished", {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                         "summary": "Deploy finished", "text": "Deploy finished"}),
    ({"title": "Deploy", "text": "live"}, {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                                           "summary": "Deploy", "text": "live", "title": "Deploy"}),
    ({"@type": "MessageCard", "text": "bare"}, {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                                                "summary": "bare", "text": "bare"}),
])
def test_legacy_mode_turns_template_outputs_into_message_cards(body, expected):
    assert built(body, "legacy") == expected


def test_a_test_message_is_labelled_at_the_top_of_the_card():
    label = {"type": "TextBlock", "text": "Test message from Hookhub", "weight": "Bolder", "color": "Accent",
             "wrap": True}
    assert built("Hello", is_test=True) == wrapped(label, {"type": "TextBlock", "text": "Hello", "wrap": True})
    legacy = built("Hello", "legacy", is_test=True)
    assert (legacy["summary"], legacy["title"]) == ("[Test] Hello", "[Test] Test message from Hookhub")


def test_an_ordinary_message_is_not_labelled():
    assert "Test message" not in json.dumps(built("Hello"))


def padding_for_exact_size(size: int, mode=None) -> str:
    """A text that makes the serialized request exactly ``size`` bytes."""
    base = len(TEAMS.build(message({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": ""}]}),
                           conn(mode)).body)
    return "a" * (size - base)


def card_with(text):
    return {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": text}]}


def test_a_message_of_exactly_28_kb_is_sent():
    request = TEAMS.build(message(card_with(padding_for_exact_size(LIMIT))), conn())
    assert len(request.body) == LIMIT


def test_a_message_one_byte_over_28_kb_fails_permanently_naming_its_size():
    with pytest.raises(PermanentFailure, match=r"28,673 bytes .* at most 28,672 bytes \(28 KB\)"):
        TEAMS.build(message(card_with(padding_for_exact_size(LIMIT + 1))), conn())


def test_the_size_counts_bytes_not_characters():
    text = "é" * (LIMIT // 2)  # 14,336 characters, 28,672 bytes of text alone
    with pytest.raises(PermanentFailure, match="bytes once serialized"):
        TEAMS.build(message(card_with(text)), conn())


@pytest.mark.parametrize("text", ["x" * 100_000, "😀" * 50_000, "a\n" * 30_000, "\ud83d\ude00" * 20_000],
                         ids=["ascii", "emoji", "escapes", "surrogate-pairs"])
@pytest.mark.parametrize("mode", ["workflows", "legacy"])
def test_the_default_rendering_of_a_huge_event_still_fits(text, mode):
    body = TEAMS.default_body(envelope(text=text), conn(mode))
    shown = body["sections"][0]["text"] if mode == "legacy" else body["attachments"][0]["content"]["body"][2]["text"]
    assert shown.endswith("…") and text.startswith(shown[:-1])
    assert not "\ud800" <= shown[-2] <= "\udbff"  # the cut left no half of a surrogate pair
    assert 18 * 1024 < len(TEAMS.build(message(body), conn(mode)).body) <= LIMIT


def test_the_default_rendering_cuts_the_event_text_to_20_kb_of_json():
    body = TEAMS.default_body(envelope(text="x" * 100_000), conn())
    # 20 KB for the JSON string: its two quotes, the 3-byte ellipsis, and as many x as fit.
    assert body["attachments"][0]["content"]["body"][2]["text"] == "x" * (20 * 1024 - 2 - 3) + "…"


@pytest.mark.parametrize("source, title", [
    ("x" * 300, "x" * 255 + "…"),
    ("x" * 254 + "👍🏽" + "y" * 10, "x" * 254 + "…"),       # never an emoji without its skin tone
    ("x" * 254 + "e\u0301" + "y" * 10, "x" * 254 + "…"),   # nor a letter without its accent
], ids=["ascii", "skin-tone", "combining-accent"])
def test_the_default_rendering_cuts_titles_to_256_characters_without_splitting_one(source, title):
    body = TEAMS.default_body(envelope(connection=source), conn())
    assert body["attachments"][0]["content"]["body"][0]["text"] == title


def test_a_connection_without_its_url_cannot_build():
    with pytest.raises(PermanentFailure, match="webhook_url"):
        TEAMS.build(message("hi"), make_conn(TEAMS, ""))


THROTTLED = ("Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with "
             "ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0..")
TOO_LARGE = ("Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with "
             "ContextId tcid=622824298674363899,server=DB5PEPF00003FC8..")
WORKFLOW_ERROR = {"error": {"code": "TriggerInputSchemaMismatch",
                            "message": "The input body for trigger 'manual' of type 'Request' did not match"}}


@pytest.mark.parametrize("mode, status, body, headers, expected", [
    ("workflows", 202, "", {}, ("delivered", 202, None, False, False, None)),
    ("workflows", 200, "", {}, ("delivered", 200, None, False, False, None)),
    ("workflows", 200, "1", {}, ("delivered", 200, None, False, False, None)),
    ("workflows", 429, "", {"Retry-After": "7"}, ("retry", 429, 7.0, False, False, 7.0)),
    ("workflows", 429, "", {}, ("retry", 429, None, False, False, None)),
    ("workflows", 500, "", {}, ("retry", 500, None, False, False, None)),
    ("workflows", 502, "", {"Retry-After": "30"}, ("retry", 502, 30.0, False, False, None)),
    ("workflows", 404, "", {}, ("failed", 404, None, True, False, None)),
    ("workflows", 410, "", {}, ("failed", 410, None, True, False, None)),
    ("workflows", 400, WORKFLOW_ERROR, {}, ("failed", 400, None, False, False, None)),
    ("workflows", 401, "", {}, ("failed", 401, None, False, True, None)),
    ("workflows", 413, "", {}, ("failed", 413, None, False, False, None)),
    ("workflows", 200, THROTTLED, {}, ("retry", 200, 60.0, False, False, None)),
    ("legacy", 200, "1", {}, ("delivered", 200, None, False, False, None)),
    ("legacy", 200, THROTTLED, {}, ("retry", 200, 60.0, False, False, None)),
    ("legacy", 200, THROTTLED, {"Retry-After": "90"}, ("retry", 200, 90.0, False, False, None)),
    ("legacy", 200, TOO_LARGE, {}, ("failed", 200, None, False, False, None)),
    ("legacy", 200, "Summary or Text is required.", {}, ("failed", 200, None, False, False, None)),
    ("legacy", 202, "", {}, ("failed", 202, None, False, False, None)),
    ("legacy", 429, "", {"Retry-After": "5"}, ("retry", 429, 5.0, False, False, 5.0)),
    ("legacy", 404, "", {}, ("failed", 404, None, True, False, None)),
])
def test_each_answer_gets_its_verdict(mode, status, body, headers, expected):
    assert verdict(TEAMS.interpret(answer(status, body, headers), conn(mode))) == expected


@pytest.mark.parametrize("mode, status, body, words", [
    ("workflows", 400, WORKFLOW_ERROR, "TriggerInputSchemaMismatch: The input body for trigger"),
    ("workflows", 404, "", "the workflow (or connector) was deleted"),
    ("legacy", 200, THROTTLED, "throttled"),
    ("legacy", 200, TOO_LARGE, "returned HTTP error 413"),
    ("legacy", 200, "Summary or Text is required.", "Summary or Text is required."),
    ("legacy", 202, "", "set mode to 'workflows'"),
])
def test_the_detail_says_what_teams_said(mode, status, body, words):
    assert words in TEAMS.interpret(answer(status, body), conn(mode)).detail


@pytest.mark.parametrize("url", [
    URL,
    "https://default0123456789abcdef.01.environment.api.powerplatform.com:443/powerautomate/automations/direct/"
    "workflows/0123abcd/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=x",
    LEGACY_URL,
])
def test_workflow_and_connector_urls_are_accepted(url):
    TEAMS.validate_config({}, {"webhook_url": url})


@pytest.mark.parametrize("url, words", [
    ("", "is required"),
    ("prod-12.westeurope.logic.azure.com/workflows/abc", "absolute http:// or https:// URL"),
    ("ftp://contoso.webhook.office.com/webhookb2/x", "absolute http:// or https:// URL"),
    ("https://contoso.webhook.office.com/webhook b2", "without spaces"),
])
def test_anything_else_is_refused_at_save_time(url, words):
    with pytest.raises(ConfigInvalid, match=words) as caught:
        TEAMS.validate_config({}, {"webhook_url": url})
    assert list(caught.value.fields) == ["webhook_url"]
