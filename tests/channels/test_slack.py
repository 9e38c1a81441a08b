"""The ``slack`` channel: Block Kit messages, Slack's limits and escaping, and Slack's answers."""

from __future__ import annotations

import pytest

from hub.plugin import ChannelConfigSchema, ConfigInvalid, PermanentFailure
from plugins.channels import slack
from tests.channels.helpers import (
    ENVELOPE,
    answer,
    envelope,
    make_conn,
    message,
    registered,
    sent,
    utf16_units,
    verdict,
)

SLACK = registered(slack, "slack")
# The placeholder URL of Slack's incoming-webhook documentation.
URL = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


def conn(**kwargs):
    return make_conn(SLACK, URL, **kwargs)


def built(body, **kwargs):
    return sent(SLACK.build(message(body, **kwargs), conn()))


def test_the_plugin_declares_its_metadata_secret_and_pacing():
    assert (SLACK.title, SLACK.required_secrets, SLACK.url_secret, SLACK.default_rate_limit) == (
        "Slack (incoming webhook)", ("webhook_url",), "webhook_url", "1/second")
    assert issubclass(SLACK.config_schema, ChannelConfigSchema)
    field = SLACK.secrets_schema().fields["webhook_url"]
    assert field.required and field.metadata["secret"] and field.metadata["description"]


def test_the_default_rendering_is_block_kit_with_a_text_fallback():
    assert SLACK.default_body(ENVELOPE, conn()) == {
        "text": "crm-deals · ops: Deal 42 won by Ada",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "crm-deals · ops", "emoji": True}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*Channel*\nops"},
                {"type": "mrkdwn", "text": "*Source*\ncrm-deals"},
                {"type": "mrkdwn", "text": "*Time*\n2026-03-23T15:29:58Z"}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": "Deal 42 won by Ada"}},
        ],
    }


def test_an_event_without_text_shows_its_payload_as_a_code_block():
    body = SLACK.default_body(envelope(text=None, event_ts=None), conn())
    assert body["text"] == "crm-deals · ops: new event"
    assert body["blocks"][1]["fields"][2] == {"type": "mrkdwn", "text": "*Time*\n2026-03-23T15:30:00Z"}
    assert body["blocks"][2] == {"type": "section", "text": {
        "type": "mrkdwn", "text": '```{"deal": {"id": 42, "stage": "won"}}```'}}


@pytest.mark.parametrize("channel, default_channel, title", [
    ("ops", "alerts", "crm-deals · ops"), (None, "alerts", "crm-deals · alerts"), (None, None, "crm-deals")])
def test_the_title_names_the_connection_and_the_channel_or_its_default(channel, default_channel, title):
    body = SLACK.default_body(envelope(channel=channel), conn(default_channel=default_channel))
    assert body["blocks"][0]["text"]["text"] == title


def test_relayed_text_is_escaped_so_it_cannot_ping_the_channel_or_forge_a_link():
    body = SLACK.default_body(envelope(text="<!channel> deploy & <https://evil.example|click>"), conn())
    escaped = "&lt;!channel&gt; deploy &amp; &lt;https://evil.example|click&gt;"
    assert body["blocks"][2]["text"]["text"] == escaped
    assert body["text"] == f"crm-deals · ops: {escaped}"


def test_build_posts_the_json_message_to_the_webhook_url():
    request = SLACK.build(message(SLACK.default_body(ENVELOPE, conn())), conn())
    assert (request.method, request.url) == ("POST", URL)
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert sent(request) == SLACK.default_body(ENVELOPE, conn())


# Slack's own incoming-webhook examples: a text message, and a Block Kit message with a fallback.
SLACK_TEXT_EXAMPLE = {"text": "Hello, world."}
SLACK_BLOCKS_EXAMPLE = {
    "text": "Danny Torrence left a 1 star review for your property.",
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "Danny Torrence left the following review for your property:"}},
        {"type": "section", "block_id": "section567",
         "text": {"type": "mrkdwn", "text": "<https://example.com|Overlook Hotel> \n :star: \n Doors had too many "
                                            "axe holes, guest in room 237 was far too rowdy, whole place felt "
                                            "stuck in the 1920s."},
         "accessory": {"type": "image", "image_url": "https://is5-ssl.mzstatic.com/image/thumb/Purple3/v4/d3/72/5c/"
                                                     "d3725c8f-c642-5d69-1904-aa36e4297885/source/256x256bb.jpg",
                       "alt_text": "Haunted hotel image"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Average Rating*\n1.0"}]},
    ],
}


@pytest.mark.parametrize("example", [SLACK_TEXT_EXAMPLE, SLACK_BLOCKS_EXAMPLE], ids=["text", "blocks"])
def test_a_template_in_slacks_documented_shape_is_sent_unchanged(example):
    assert built(example) == example


SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy* done"}}


@pytest.mark.parametrize("body, expected", [
    ("Deploy finished", {"text": "Deploy finished"}),
    ("  ", {"text": "(empty message)"}),
    ({"text": 42}, {"text": "42"}),
    ({"blocks": [SECTION]}, {"blocks": [SECTION], "text": "*Deploy* done"}),
    ({"text": "", "blocks": [SECTION]}, {"blocks": [SECTION], "text": "*Deploy* done"}),
    ({"message": "hi"}, {"message": "hi", "text": '```{"message": "hi"}```'}),
    ([1, 2], {"text": "```[1, 2]```"}),
    (None, {"text": "(empty message)"}),
], ids=["string", "blank", "number", "blocks", "empty-text", "unknown-keys", "list", "null"])
def test_a_template_output_becomes_a_valid_slack_message_with_text(body, expected):
    assert built(body) == expected


def test_a_test_message_is_labelled_in_its_text_and_above_its_blocks():
    assert built("Hello", is_test=True) == {"text": "[Test] Hello"}
    payload = built({"text": "Hi", "blocks": [SECTION]}, is_test=True)
    assert payload == {"text": "[Test] Hi", "blocks": [
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": "*Test message from Hookhub* (Test connection of “crm-deals”)"}]},
        SECTION]}


def test_an_ordinary_message_is_not_labelled():
    assert "[Test]" not in built("Hello")["text"]


def test_the_header_is_cut_to_150_characters_with_an_ellipsis():
    header = SLACK.default_body(envelope(connection="c" * 200), conn())["blocks"][0]["text"]["text"]
    assert len(header) == 150 and header == "c" * 149 + "…"


def test_long_event_text_is_cut_to_3000_with_an_ellipsis():
    body = SLACK.default_body(envelope(text="x" * 5000), conn())
    assert body["blocks"][2]["text"]["text"] == "x" * 2999 + "…"
    assert utf16_units(body["text"]) <= 3000


def test_a_cut_never_leaves_half_an_escaped_entity():
    text = SLACK.default_body(envelope(text="a" * 2997 + "<b>"), conn())["blocks"][2]["text"]["text"]
    assert text == "a" * 2997 + "…"


def test_a_cut_inside_a_code_block_closes_it():
    text = SLACK.default_body(envelope(text="```" + "x" * 4000), conn())["blocks"][2]["text"]["text"]
    assert utf16_units(text) == 3000
    assert text.endswith("…```") and text.count("```") == 2


def test_a_cut_never_splits_an_emoji():
    text = SLACK.default_body(envelope(text="😀" * 2000), conn())["blocks"][2]["text"]["text"]
    assert utf16_units(text) <= 3000 and text == "😀" * 1499 + "…"


@pytest.mark.parametrize("text, expected", [
    ("x" * 2996 + "👩\u200d💻", "x" * 2996 + "…"),
    ("x" * 2997 + "👍🏽", "x" * 2997 + "…"),
    ("x" * 2998 + "e\u0301z", "x" * 2998 + "…"),
], ids=["zwj-sequence", "skin-tone", "combining-accent"])
def test_a_cut_never_splits_a_character_sequence(text, expected):
    assert SLACK.default_body(envelope(text=text), conn())["blocks"][2]["text"]["text"] == expected


def test_templated_blocks_are_cut_to_slacks_limits():
    payload = built({"text": "t", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 200}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3500},
         "fields": [{"type": "mrkdwn", "text": "f" * 2500}] * 12}]})
    header, section = payload["blocks"]
    assert len(header["text"]["text"]) == 150
    assert len(section["text"]["text"]) == 3000
    assert [len(f["text"]) for f in section["fields"]] == [2000] * 10


def test_more_than_50_blocks_keep_49_and_say_how_many_are_hidden():
    payload = built({"text": "t", "blocks": [SECTION] * 60})
    assert len(payload["blocks"]) == 50
    assert payload["blocks"][:49] == [SECTION] * 49
    assert payload["blocks"][49] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "… 11 more blocks not shown (Slack shows at most 50)"}]}


def test_a_connection_without_its_url_cannot_build():
    with pytest.raises(PermanentFailure, match="webhook_url"):
        SLACK.build(message("hi"), make_conn(SLACK, ""))


@pytest.mark.parametrize("status, body, headers, expected", [
    (200, "ok", {}, ("delivered", 200, None, False, False, None)),
    (200, "", {}, ("delivered", 200, None, False, False, None)),                 # Mattermost-style empty body
    (200, '{"ok": true}', {}, ("delivered", 200, None, False, False, None)),     # Slack-compatible JSON
    (204, "", {}, ("delivered", 204, None, False, False, None)),
    (200, '{"ok": false, "error": "invalid_blocks"}', {}, ("failed", 200, None, False, False, None)),
    (200, '{"success": false}', {}, ("failed", 200, None, False, False, None)),  # Rocket.Chat refusing
    (400, "invalid_payload", {}, ("failed", 400, None, False, False, None)),
    (400, "no_text", {}, ("failed", 400, None, False, False, None)),
    (403, "action_prohibited", {}, ("failed", 403, None, False, True, None)),
    (403, "invalid_token", {}, ("failed", 403, None, False, True, None)),
    (404, "channel_not_found", {}, ("failed", 404, None, False, True, None)),
    (410, "channel_is_archived", {}, ("failed", 410, None, True, False, None)),
    (404, "no_service", {}, ("failed", 404, None, True, False, None)),
    (429, "rate_limited", {"Retry-After": "30"}, ("retry", 429, 30.0, False, False, 30.0)),
    (429, "", {}, ("retry", 429, None, False, False, None)),
    (500, "rollup_error", {}, ("retry", 500, None, False, False, None)),
    (503, "", {"Retry-After": "120"}, ("retry", 503, 120.0, False, False, None)),
    (400, "something_new", {}, ("failed", 400, None, False, False, None)),
    (302, "", {"Location": "https://example.com/"}, ("failed", 302, None, False, False, None)),
])
def test_each_answer_gets_its_verdict(status, body, headers, expected):
    assert verdict(SLACK.interpret(answer(status, body, headers), conn())) == expected


@pytest.mark.parametrize("status, body, words", [
    (400, "invalid_payload", "Slack answered 400 invalid_payload: the message is not valid Slack JSON"),
    (400, "no_text", "give the template a 'text' key"),
    (403, "invalid_token", "save a new webhook as webhook_url"),
    (404, "channel_not_found", "the channel was deleted"),
    (410, "channel_is_archived", "the channel is archived"),
    (429, "", "rate limited"),
    (500, "rollup_error", "Slack could not process the message right now; will retry"),
    (200, '{"ok": false, "error": "invalid_blocks"}', "a block is not valid Block Kit"),
])
def test_the_detail_says_what_slack_said_and_what_to_fix(status, body, words):
    result = SLACK.interpret(answer(status, body), conn())
    assert words in result.detail
    assert result.flag in (None, result.detail)


@pytest.mark.parametrize("url", [
    URL,
    "https://chat.example.org/hooks/xzq8ac7hnbfy3kfe4ukpqm6e1c",           # Mattermost
    "https://rocket.example.org/hooks/6C4r8Gz2/Hx4Qw9",                     # Rocket.Chat
    "https://zulip.example.org/api/v1/external/slack_incoming?api_key=abc&stream=ops",
    "http://localhost:8065/hooks/local-test",
])
def test_any_absolute_http_url_is_accepted_as_the_webhook(url):
    SLACK.validate_config({}, {"webhook_url": url})


@pytest.mark.parametrize("url, words", [
    ("", "is required"),
    ("hooks.slack.com/services/T0/B0/X", "absolute http:// or https:// URL"),
    ("ftp://hooks.slack.com/services/T0/B0/X", "absolute http:// or https:// URL"),
    ("javascript:alert(1)", "absolute http:// or https:// URL"),
    ("https:///services/T0/B0/X", "absolute http:// or https:// URL"),
    ("https://hooks.slack.com/services/T0/B0/X Y", "without spaces"),
    ("https://hooks.slack.com/services/T0/B0/X\n", "without spaces"),
])
def test_anything_else_is_refused_at_save_time_with_a_clear_message(url, words):
    with pytest.raises(ConfigInvalid, match=words) as caught:
        SLACK.validate_config({}, {"webhook_url": url})
    assert list(caught.value.fields) == ["webhook_url"]
