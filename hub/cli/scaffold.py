"""``hookhub plugins new``: a ready-to-install plugin package (a provider or a channel) with its
entry point, a working example implementation and tests that run against a whole hub."""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path
from string import Template

from hub import __version__
from hub.core.errors import PluginError
from hub.runtime.plugin_host import GROUP, PluginHost

NAME = re.compile(r"[a-z][a-z0-9_]{1,39}")   # the plugin API's slug rule
KINDS = ("provider", "channel")


class ScaffoldError(Exception):
    """The package cannot be created (a bad name, one that is taken, or the folder exists); ``str()``
    says why."""


def create(name: str, kind: str, parent: Path) -> Path:
    """Write ``hookhub-<name>/`` under ``parent``; returns its path."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(f"{name!r} is not a plugin name: 2–40 characters, lower-case letters, digits and _, "
                            "starting with a letter (it is stored in the database, so choose it for good)")
    if kind not in KINDS:
        raise ScaffoldError(f"the kind must be one of {', '.join(KINDS)}")
    installed = installed_names()
    if name in installed:
        # The package registers a plugin, and a provider or channel, under this one name: installed
        # next to a namesake, every hookhub command would fail ("registered twice").
        free = next((f"{name}_{suffix}" for suffix in ("custom", "2", "3")
                     if NAME.fullmatch(f"{name}_{suffix}") and f"{name}_{suffix}" not in installed), None)
        raise ScaffoldError(f"{name!r} is already taken by {' and '.join(installed[name])}; choose another name"
                            + (f", e.g. {free!r}" if free else ""))
    root = parent / f"hookhub-{name.replace('_', '-')}"
    if root.exists():
        raise ScaffoldError(f"{root} exists already; choose another name or folder")
    values = {"name": name, "module": f"hookhub_{name}", "dist": root.name, "version": __version__,
              "title": name.replace("_", " ").title(), "header": "X-" + name.replace("_", "-").title() + "-Token",
              "kind": kind, "class_name": "".join(part.title() for part in name.split("_")) + kind.title()}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{values['module']}/__init__.py": PROVIDER if kind == "provider" else CHANNEL,
        "tests/conftest.py": CONFTEST,
        "tests/test_plugin.py": PROVIDER_TESTS if kind == "provider" else CHANNEL_TESTS,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values))
    return root


def installed_names() -> dict[str, list[str]]:
    """Each name the installed plugins use, with what uses it: a plugin's entry point, a provider, a
    channel. Every installed plugin counts, also one that HOOKHUB_DISABLE_PLUGINS turns off today."""
    names: dict[str, list[str]] = {}
    for ep in md.entry_points(group=GROUP):
        names.setdefault(ep.name, []).append(f"the entry point of the installed plugin {ep.value!r}")
    try:
        host = PluginHost().load()
    except PluginError:       # an installed set that does not load (a clash already?): entry points only
        return names
    for registry in (host.providers, host.channels):
        for registered in registry:
            names.setdefault(registered, []).append(
                f"the {registry.kind} {registered!r} of the plugin {registry.origin(registered)!r}")
    return names


PYPROJECT = '''\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "A Hookhub $kind plugin: $title"
requires-python = ">=3.11"
dependencies = ["hookhub>=$version"]

[project.optional-dependencies]
dev = ["pytest>=8"]

# Hookhub loads every module listed in this group, built-in plugins included.
[project.entry-points.hookhub]
$name = "$module"

[tool.setuptools]
packages = ["$module"]
'''

README = '''\
# $dist

A [Hookhub](https://github.com/) $kind plugin: **$name**.

    pip install -e '.[dev]'      # into the environment Hookhub runs in
    hookhub plugins list         # shows $name, its version and its hooks
    pytest                       # runs the tests against a whole hub (hub.testing)

Import only `hub.plugin` (the public plugin API) in the plugin itself; tests may use
`hub.testing`. The plugin author guide is Hookhub's `docs/plugins.md`.
'''

PROVIDER = '''\
"""The $name provider: a request is genuine when its $header header equals the
connection's secret ``token`` (compared in constant time; during a rotation, either token)."""

from marshmallow import Schema

from hub.plugin import (
    ConnectionView,
    InboundRequest,
    ParsedEvent,
    Provider,
    ProviderConfigSchema,
    SignatureInvalid,
    hookimpl,
    secret_field,
    secure_compare,
)


class ${class_name}Config(ProviderConfigSchema):
    """Settings an admin fills in, beyond the common ones (rate_limit, max_body_bytes, …)."""


class ${class_name}Secrets(Schema):
    token = secret_field(metadata={"description": "The token the sender puts in $header."})


class $class_name(Provider):
    name = "$name"                       # stored in the database: never rename it
    title = "$title"
    description = "Verifies $header against the connection's token."
    config_schema = ${class_name}Config
    secrets_schema = ${class_name}Secrets
    required_secrets = ("token",)

    def verify(self, request: InboundRequest, conn: ConnectionView) -> None:
        sent = request.headers.get("$header")
        if not sent:
            raise SignatureInvalid("the $header header is missing")
        if not any(secure_compare(sent, token) for token in conn.secret_values("token")):
            raise SignatureInvalid("the $header header does not match the connection's token")

    def parse(self, request: InboundRequest, conn: ConnectionView) -> ParsedEvent:
        payload = request.parse_body()
        event_id = payload.get("id") if isinstance(payload, dict) else None
        return ParsedEvent(payload=payload, event_id=str(event_id) if event_id is not None else None)


@hookimpl
def hub_register_providers(registry):
    registry.add($class_name)
'''

CHANNEL = '''\
"""The $name channel: each message is POSTed as JSON to the connection's ``url``, with the
secret ``api_key`` as a bearer token; the answer is read by the Standard Webhooks rules."""

from marshmallow import Schema, fields

from hub.plugin import (
    Channel,
    ChannelConfigSchema,
    ConnectionView,
    HttpRequest,
    HttpResponse,
    OutboundMessage,
    SendResult,
    hookimpl,
    interpret_status,
    secret_field,
)


class ${class_name}Config(ChannelConfigSchema):
    """Settings an admin fills in, beyond the common ones (timeout, retry_schedule, rate_limit, …)."""

    url = fields.Url(required=True, schemes={"http", "https"}, metadata={"description": "Where messages go."})


class ${class_name}Secrets(Schema):
    api_key = secret_field(metadata={"description": "Sent as 'Authorization: Bearer <api_key>'."})


class $class_name(Channel):
    name = "$name"                       # stored in the database: never rename it
    title = "$title"
    description = "POSTs each message as JSON with a bearer token."
    config_schema = ${class_name}Config
    secrets_schema = ${class_name}Secrets
    required_secrets = ("api_key",)
    default_rate_limit = "10/second"

    def build(self, message: OutboundMessage, conn: ConnectionView) -> HttpRequest:
        import json

        body = json.dumps({"message": message.body, "id": message.webhook_id}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {conn.secrets['api_key']}"}
        return HttpRequest("POST", conn.channel_config["url"], headers, body)

    def interpret(self, response: HttpResponse, conn: ConnectionView) -> SendResult:
        return interpret_status(response)   # 2xx delivered, 429/5xx retried, 410 disables, other 4xx fail


@hookimpl
def hub_register_channels(registry):
    registry.add($class_name)
'''

CONFTEST = '''\
pytest_plugins = ["hub.testing"]   # hookhub_app, hookhub_admin, receiver, signers: see hub/testing
'''

PROVIDER_TESTS = '''\
"""The $name provider inside a whole hub: the request path an external system uses."""

from hub.testing import settle


def connection(hookhub_admin):
    return hookhub_admin.create_connection(name="$name test", provider="$name", secrets={"token": "s3cret"})


def test_a_request_with_the_token_is_accepted_once(hookhub_app, hookhub_admin):
    conn = connection(hookhub_admin)
    client = hookhub_app.test_client()
    first = client.post(conn["inbound_path"], json={"id": 42, "text": "hello"}, headers={"$header": "s3cret"})
    assert first.status_code == 200 and first.json["status"] == "accepted" and first.json["event_id"] == "42"
    again = client.post(conn["inbound_path"], json={"id": 42, "text": "hello"}, headers={"$header": "s3cret"})
    assert again.json["status"] == "duplicate"
    event = settle(hookhub_app, lambda: hookhub_admin.get(f"/events/{first.json['id']}").json)
    assert event["payload"] == {"id": 42, "text": "hello"} and event["text"] == "hello"


def test_a_wrong_or_missing_token_is_refused(hookhub_app, hookhub_admin):
    conn = connection(hookhub_admin)
    client = hookhub_app.test_client()
    for headers in ({"$header": "guess"}, {}):
        r = client.post(conn["inbound_path"], json={"id": 1}, headers=headers)
        assert r.status_code == 401 and r.json["error"]["code"] == "signature_invalid"


def test_the_token_is_required_when_saving(hookhub_admin):
    r = hookhub_admin.post("/connections", json={"name": "no token", "provider": "$name"})
    assert r.status_code == 422 and "token" in r.json["error"]["fields"]["secrets"]
'''

CHANNEL_TESTS = '''\
"""The $name channel inside a whole hub: routed events reach a local receiver."""

from hub.testing import Reply, settle


def route_to_target(hookhub_admin, receiver):
    """A generic inbound connection whose every event goes to a $name connection."""
    source = hookhub_admin.create_connection(name="source", provider="generic")
    target = hookhub_admin.create_connection(name="$name test", channel="$name",
                                             channel_config={"url": receiver.url + "/in"},
                                             secrets={"api_key": "k3y"})
    r = hookhub_admin.post("/routes", json={"name": "to $name", "source": source["id"],
                                            "targets": [{"connection": target["id"]}]})
    assert r.status_code == 201, r.json
    return source


def delivery(hookhub_admin, status):
    """The only delivery, once it has ``status``."""
    items = hookhub_admin.get("/deliveries").json["items"]
    return items[0] if len(items) == 1 and items[0]["status"] == status else None


def test_an_event_is_delivered_with_the_bearer_token(hookhub_app, hookhub_admin, receiver):
    source = route_to_target(hookhub_admin, receiver)
    hookhub_app.test_client().post(source["inbound_path"], json={"text": "hello"})
    settle(hookhub_app, lambda: delivery(hookhub_admin, "delivered"))
    [request] = receiver.wait_for(1)
    assert request.headers["Authorization"] == "Bearer k3y"
    assert request.json()["message"]["payload"] == {"text": "hello"}


def test_a_server_error_is_retried(hookhub_app, hookhub_admin, receiver):
    receiver.reply(Reply(503, "busy"))
    source = route_to_target(hookhub_admin, receiver)
    hookhub_app.test_client().post(source["inbound_path"], json={"text": "hello"})
    done = settle(hookhub_app, lambda: delivery(hookhub_admin, "delivered"))
    assert done["attempt_count"] == 2 and len(receiver.wait_for(2)) == 2
'''
