"""The ``discord`` channel: content and embeds within Discord's limits, mention safety, the webhook
URL forms, and Discord's answers and rate-limit headers."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from hub.plugin import ChannelConfigSchema, ConfigInvalid, PermanentFailure
from plugins.channels import discord
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

DISCORD = registered(discord, "discord")
URL = "https://discord.com/api/webhooks/1234567890123456789/aBcDeFgHiJkLmNoPqRsTuVwXyZ-0123456789_abcdefghijklmnopqrstuvwxyzAB"
NO_MENTIONS = {"parse": []}


def conn(config=None, url=URL):
    return make_conn(DISCORD, url, config)


def built(body, config=None, **kwargs):
    return sent(DISCORD.build(message(body, **kwargs), conn(config)))


def test_the_plugin_declares_its_metadata_secret_and_pacing():
    assert (DISCORD.title, DISCORD.required_secrets, DISCORD.url_secret, DISCORD.default_rate_limit) == (
        "Discord (webhook)", ("webhook_url",), "webhook_url", "5/2second")
    assert issubclass(DISCORD.config_schema, ChannelConfigSchema)
    field = DISCORD.secrets_schema().fields["webhook_url"]
    assert field.required and field.metadata["secret"]


def test_the_config_takes_a_username_an_avatar_and_an_opt_in_to_mentions():
    schema = DISCORD.config_schema()
    assert schema.load({})["allow_mentions"] is False
    loaded = schema.load({"username": "Hookhub", "avatar_url": "https://cdn.example.com/a.png", "allow_mentions": True})
    assert (loaded["username"], loaded["avatar_url"], loaded["allow_mentions"]) == (
        "Hookhub", "https://cdn.example.com/a.png", True)
    for bad in ({"username": "u" * 81}, {"username": ""}, {"avatar_url": "not a url"}):
        with pytest.raises(ValidationError):
            schema.load(bad)


def test_short_text_goes_in_content_with_an_embed_of_the_details():
    assert DISCORD.default_body(ENVELOPE, conn()) == {
        "content": "Deal 42 won by Ada",
        "embeds": [{
            "title": "crm-deals · ops",
            "fields": [{"name": "Channel", "value": "ops", "inline": True},
                       {"name": "Source", "value": "crm-deals", "inline": True},
                       {"name": "Time", "value": "2026-03-23T15:29:58Z", "inline": True}],
            "timestamp": "2026-03-23T15:29:58Z",
        }],
    }


def test_long_text_goes_in_the_embed_description():
    body = DISCORD.default_body(envelope(text="y" * 500), conn())
    assert "content" not in body
    assert body["embeds"][0]["description"] == "y" * 500


def test_an_event_without_text_shows_its_payload_as_json():
    body = DISCORD.default_body(envelope(text=None, event_ts="not a time", received_at=None), conn())
    embed = body["embeds"][0]
    assert embed["description"] == '```json\n{"deal": {"id": 42, "stage": "won"}}\n```'
    assert "timestamp" not in embed  # Discord refuses a timestamp that is not ISO 8601


def test_build_posts_to_the_webhook_with_wait_and_no_mentions():
    request = DISCORD.build(message(DISCORD.default_body(ENVELOPE, conn())), conn())
    assert (request.method, request.url) == ("POST", URL + "?wait=true")
    assert sent(request) == {**DISCORD.default_body(ENVELOPE, conn()), "allowed_mentions": NO_MENTIONS}


@pytest.mark.parametrize("query, expected", [
    ("?thread_id=111", "?thread_id=111&wait=true"),
    ("?wait=false", "?wait=true"),
    ("?thread_id=111&wait=false", "?thread_id=111&wait=true"),
])
def test_the_users_query_is_kept_and_wait_is_true(query, expected):
    assert DISCORD.build(message("hi"), conn(url=URL + query)).url == URL + expected


# Discord's documented webhook message: content plus an embed.
DISCORD_EXAMPLE = {"content": "Hello, World!",
                   "embeds": [{"title": "Hello, Embed!", "description": "This is an embed."}]}


def test_a_template_in_discords_documented_shape_is_sent_with_mentions_off():
    assert built(DISCORD_EXAMPLE) == {**DISCORD_EXAMPLE, "allowed_mentions": NO_MENTIONS}


@pytest.mark.parametrize("body, expected", [
    ("Deploy finished", {"content": "Deploy finished"}),
    ({"text": "Slack-shaped"}, {"content": "Slack-shaped"}),
    ({"content": 42}, {"content": "42"}),
    ({"embeds": {"title": "one"}}, {"embeds": [{"title": "one"}]}),
    ({"status": "ok"}, {"status": "ok", "content": '```json\n{"status": "ok"}\n```'}),
    ([1, 2], {"content": "```json\n[1, 2]\n```"}),
    ("", {"content": "(empty message)"}),
    ({"content": "", "embeds": []}, {"content": "(empty message)", "embeds": []}),
], ids=["string", "slack-text", "number", "single-embed", "other-dict", "list", "empty", "nothing"])
def test_a_template_output_becomes_a_valid_discord_message(body, expected):
    assert built(body) == {**expected, "allowed_mentions": NO_MENTIONS}


@pytest.mark.parametrize("config, body, expected", [
    ({}, "@everyone @here <@&123> <@456> deploy", NO_MENTIONS),
    ({"allow_mentions": False}, {"content": "@everyone"}, NO_MENTIONS),
    ({}, {"content": "<@456>", "allowed_mentions": {"parse": ["users"]}}, {"parse": ["users"]}),
    ({"allow_mentions": True}, "@here", {"parse": ["everyone", "roles", "users"]}),
], ids=["relayed-text", "explicit-false", "template-decides", "admin-opt-in"])
def test_a_relayed_message_never_pings_unless_someone_chose_to(config, body, expected):
    assert built(body, config)["allowed_mentions"] == expected


def test_the_default_rendering_of_an_everyone_ping_does_not_ping():
    payload = built(DISCORD.default_body(envelope(text="@everyone the build is broken"), conn()))
    assert payload["content"] == "@everyone the build is broken"
    assert payload["allowed_mentions"] == NO_MENTIONS


def test_username_and_avatar_come_from_the_config_unless_the_template_sets_them():
    config = {"username": "Hookhub", "avatar_url": "https://cdn.example.com/a.png"}
    payload = built("hi", config)
    assert (payload["username"], payload["avatar_url"]) == ("Hookhub", "https://cdn.example.com/a.png")
    assert built({"content": "hi", "username": "CI"}, config)["username"] == "CI"


def test_a_test_message_is_labelled_as_such():
    assert built("Hello", is_test=True)["content"] == "[Test] Hello"
    assert built({"embeds": [{"title": "t"}]}, is_test=True)["content"] == "[Test] Test message from Hookhub"
    assert built("Hello")["content"] == "Hello"


@pytest.mark.parametrize("content, expected", [
    ("x" * 2000, "x" * 2000),
    ("x" * 2001, "x" * 1999 + "…"),
    ("😀" * 1001, "😀" * 999 + "…"),                           # 2002 units: the cut never splits an emoji
    ("\ud83d\ude00" * 1001, "😀" * 999 + "…"),                # nor a pair kept as two code points (sent as one)
    ("x" * 1996 + "👩\u200d💻", "x" * 1996 + "…"),            # nor a joined emoji sequence
    ("x" * 1997 + "👍🏽", "x" * 1997 + "…"),                    # nor an emoji from its skin tone
    ("x" * 1998 + "e\u0301z", "x" * 1998 + "…"),               # nor a letter from its accent
    ("```\n" + "x" * 3000, "```\n" + "x" * 1991 + "…\n```"),   # and closes the code block it cut
], ids=["at-limit", "one-over", "emoji", "surrogates", "zwj", "skin-tone", "combining", "code-fence"])
def test_content_is_cut_to_2000_characters_safely(content, expected):
    result = built(content)["content"]
    assert result == expected
    assert utf16_units(result) <= 2000


def embed_with(**parts):
    return {"embeds": [parts]}


@pytest.mark.parametrize("embed, path, limit", [
    ({"title": "t" * 300}, ("title",), 256),
    ({"description": "d" * 5000}, ("description",), 4096),
    ({"author": {"name": "a" * 300, "url": "https://example.com"}}, ("author", "name"), 256),
    ({"footer": {"text": "f" * 3000}}, ("footer", "text"), 2048),
    ({"fields": [{"name": "n" * 300, "value": "v"}]}, ("fields", 0, "name"), 256),
    ({"fields": [{"name": "n", "value": "v" * 2000}]}, ("fields", 0, "value"), 1024),
])
def test_each_embed_text_is_cut_to_its_limit(embed, path, limit):
    node = built(embed_with(**embed))["embeds"][0]
    for step in path:
        node = node[step]
    assert len(node) == limit and node.endswith("…")


def test_templated_embeds_keep_their_other_keys():
    embed = {"title": "t" * 300, "color": 5814783, "url": "https://example.com", "image": {"url": "https://x/i.png"},
             "author": {"name": "a", "icon_url": "https://x/a.png"}}
    fitted = built(embed_with(**embed))["embeds"][0]
    assert {k: v for k, v in fitted.items() if k != "title"} == {k: v for k, v in embed.items() if k != "title"}


def test_at_most_25_fields_and_10_embeds_are_sent():
    fields = [{"name": f"n{i}", "value": "v", "inline": True} for i in range(30)]
    assert built(embed_with(title="t", fields=fields))["embeds"][0]["fields"] == fields[:25]
    assert len(built({"embeds": [{"title": str(i)} for i in range(11)]})["embeds"]) == 10


def test_all_embeds_together_are_cut_to_6000_characters_in_display_order():
    payload = built({"embeds": [{"title": f"T{i}", "description": "d" * 4096} for i in range(3)]})
    first, second = payload["embeds"]  # the third has nothing left and an empty embed is refused
    assert first == {"title": "T0", "description": "d" * 4096}
    assert second["title"] == "T1" and second["description"] == "d" * (6000 - 2 - 4096 - 2 - 1) + "…"
    assert sum(utf16_units(e["title"]) + utf16_units(e["description"]) for e in payload["embeds"]) == 6000


def test_a_connection_without_its_url_cannot_build():
    with pytest.raises(PermanentFailure, match="webhook_url"):
        DISCORD.build(message("hi"), conn(url=""))


RATE_LIMITED = {"message": "You are being rate limited.", "retry_after": 0.75, "global": False}
GLOBAL = {"message": "You are being rate limited.", "retry_after": 12.5, "global": True}
TOO_LONG = {"message": "Invalid Form Body", "code": 50035, "errors": {"embeds": {"0": {"description": {
    "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 4096 or fewer in length."}]}}}}}
EMPTY_BUCKET = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1.5",
                "X-RateLimit-Bucket": "80c17d2f203122d936070c88c8d10f33"}


@pytest.mark.parametrize("status, body, headers, expected", [
    (204, "", {}, ("delivered", 204, None, False, False, None)),
    (200, {"id": "1"}, {"X-RateLimit-Remaining": "4", "X-RateLimit-Reset-After": "0.4"},
     ("delivered", 200, None, False, False, None)),
    (200, {"id": "1"}, EMPTY_BUCKET, ("delivered", 200, None, False, False, 1.5)),
    (429, RATE_LIMITED, {"Retry-After": "1", "X-RateLimit-Scope": "user", **EMPTY_BUCKET},
     ("retry", 429, 0.75, False, False, 0.75)),
    (429, GLOBAL, {"Retry-After": "13", "X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"},
     ("retry", 429, 12.5, False, False, 12.5)),
    (429, "<html>Cloudflare</html>", {"Retry-After": "3"}, ("retry", 429, 3.0, False, False, 3.0)),
    (429, "", {"X-RateLimit-Reset-After": "2.5"}, ("retry", 429, 2.5, False, False, 2.5)),
    (404, {"message": "Unknown Webhook", "code": 10015}, {}, ("failed", 404, None, True, False, None)),
    (404, {"message": "Unknown Channel", "code": 10003}, {}, ("failed", 404, None, False, True, None)),
    (401, {"message": "Invalid Webhook Token", "code": 50027}, {}, ("failed", 401, None, False, True, None)),
    (403, {"message": "Missing Access", "code": 50001}, {}, ("failed", 403, None, False, True, None)),
    (400, TOO_LONG, {}, ("failed", 400, None, False, False, None)),
    (400, {"message": "Cannot send an empty message", "code": 50006}, EMPTY_BUCKET,
     ("failed", 400, None, False, False, 1.5)),
    (413, "", {}, ("failed", 413, None, False, False, None)),
    (500, "", {}, ("retry", 500, None, False, False, None)),
    (502, "<html>Bad Gateway</html>", {"Retry-After": "10"}, ("retry", 502, 10.0, False, False, None)),
    (503, "", EMPTY_BUCKET, ("retry", 503, None, False, False, 1.5)),
])
def test_each_answer_gets_its_verdict(status, body, headers, expected):
    assert verdict(DISCORD.interpret(answer(status, body, headers), conn())) == expected


@pytest.mark.parametrize("status, body, headers, words", [
    (400, TOO_LONG, {}, "Discord answered 400, code 50035: Invalid Form Body; "
                        "embeds.0.description: Must be 4096 or fewer in length."),
    (400, {"message": "Cannot send an empty message", "code": 50006}, {}, "code 50006: Cannot send an empty message"),
    (429, GLOBAL, {}, "global: true"),
    (429, RATE_LIMITED, {"X-RateLimit-Scope": "user"}, "(scope: user); retry in 0.75 s"),
    (404, {"message": "Unknown Webhook", "code": 10015}, {}, "the webhook was deleted"),
    (401, {"message": "Invalid Webhook Token", "code": 50027}, {},
     "Invalid Webhook Token: the webhook token is invalid"),
])
def test_the_detail_carries_discords_message_and_code(status, body, headers, words):
    assert words in DISCORD.interpret(answer(status, body, headers), conn()).detail


@pytest.mark.parametrize("url", [
    URL,
    "https://discordapp.com/api/webhooks/1234567890123456789/token_-123",
    "https://ptb.discord.com/api/webhooks/1234567890123456789/token_-123",
    "https://canary.discord.com/api/webhooks/1234567890123456789/token_-123",
    "https://discord.com/api/v10/webhooks/1234567890123456789/token_-123",
    "https://discord.com/api/webhooks/1234567890123456789/token_-123/",
    "https://discord.com/api/webhooks/1234567890123456789/token_-123?thread_id=987654321",
    "https://chat.example.org/api/webhooks/01HXYZ/secret.token",        # a self-hosted compatible server
    "http://localhost:3001/webhooks/42/local-token",
])
def test_the_webhook_url_forms_are_accepted(url):
    DISCORD.validate_config({}, {"webhook_url": url})


@pytest.mark.parametrize("url, words", [
    ("", "is required"),
    ("discord.com/api/webhooks/1234567890123456789/token", "absolute http:// or https:// URL"),
    ("ftp://discord.com/api/webhooks/1234567890123456789/token", "absolute http:// or https:// URL"),
    ("https://discord.com/api/webhooks/1234567890123456789/tok en", "without spaces"),
    ("https://discord.com/api/webhooks/1234567890123456789", "must end in /webhooks/<id>/<token>"),
    ("https://discord.com/channels/1234567890/9876543210", "must end in /webhooks/<id>/<token>"),
    ("https://discord.com/api/webhooks/1234567890123456789/token/slack", "must end in /webhooks/<id>/<token>"),
    ("https://discord.com/api/webhooks/1234567890123456789/token/github", "must end in /webhooks/<id>/<token>"),
])
def test_anything_else_is_refused_at_save_time_with_a_clear_message(url, words):
    with pytest.raises(ConfigInvalid, match=words) as caught:
        DISCORD.validate_config({}, {"webhook_url": url})
    assert list(caught.value.fields) == ["webhook_url"]
