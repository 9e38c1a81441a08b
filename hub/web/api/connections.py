"""``/api/v1/connections``: CRUD, activation, the inbound key and URL, secret rotation."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import RAISE, Schema, fields, validate

from hub.core.errors import invalid
from hub.services.connection_check import run_connection_test
from hub.services.connections import APPROVAL_MODES, NAME_PATTERN, NAME_RULE, ConnectionService, for_app
from hub.services.erasure import erase_connection
from hub.storage import db
from hub.storage.models import Connection
from hub.web.api.auth import actor, admin_only, current_workspace, protect, workspace_for
from hub.web.api.openapi import ApiBlueprint

blp = ApiBlueprint("connections", __name__, url_prefix="/api/v1/connections",
                   description="Connections to external systems: inbound providers and outbound channels.")
protect(blp)


ALLOWED_IPS = {"description": "Inbound: the client addresses (CIDRs, e.g. 203.0.113.0/24) allowed to call the "
                              "inbound URL; others get 403. Empty or null: any client with the key."}
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}(/(3[0-2]|[12]?[0-9]))?"
_IPV6 = r"[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?"
#: An address or a network, IPv4 or IPv6 (the API checks an IPv6 one exactly).
NETWORK = {"pattern": f"^({_IPV4}|{_IPV6})$", "description": "e.g. 203.0.113.0/24, 203.0.113.7 or 2001:db8::/32"}
NAME = {"pattern": NAME_PATTERN.pattern, "description": f"Unique in its workspace: {NAME_RULE}."}
PROVIDER = {"plugin": "provider", "description": "An installed provider (GET /api/v1/plugins); `provider_config` "
                                                 "and `secrets` follow its schemas. It cannot change once saved."}
CHANNEL = {"plugin": "channel", "description": "An installed channel (GET /api/v1/plugins); `channel_config` and "
                                               "`secrets` follow its schemas."}


def allowlist_field(**kwargs: Any) -> fields.List:
    return fields.List(fields.String(metadata=NETWORK), allow_none=True, metadata=ALLOWED_IPS, **kwargs)


class ApprovalConfig(Schema):
    class Meta:
        unknown = RAISE

    approver = fields.String(allow_none=True, metadata={
        "description": "With approval `external`: the connection (with a channel) each approval request is sent to."})


class Correlation(Schema):
    """Inbound: the requests of this connection decide the approval their payload names."""

    class Meta:
        unknown = RAISE

    path = fields.String(required=True, metadata={
        "description": "Where the approval id is, e.g. `payload.approval_id` (dotted with [n], or JSONPath)."})
    decision_path = fields.String(required=True, metadata={"description": "Where the decision is: approve(d), "
                                                                          "reject(ed), deny, true, false or pending."})
    reason_path = fields.String(allow_none=True, metadata={"description": "Where the reason is (optional)."})


class Reply(Schema):
    """Inbound: what an accepted (or duplicate) request gets back instead of the hub's JSON."""

    class Meta:
        unknown = RAISE

    status = fields.Integer(load_default=200, metadata={"minimum": 200, "maximum": 299,
                                                        "description": "A 2xx status: the request was accepted."})
    headers = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    body = fields.Raw(allow_none=True, metadata={"description": "A JSON template (the route templates' engine), "
                                                                "rendered from the stored event's envelope."})


class ConnectionIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, metadata=NAME)
    workspace = fields.String(load_default=None)
    provider = fields.String(load_default=None, allow_none=True, metadata=PROVIDER)
    provider_config = fields.Dict(load_default=None, allow_none=True)
    channel = fields.String(load_default=None, allow_none=True, metadata=CHANNEL)
    channel_config = fields.Dict(load_default=None, allow_none=True)
    secrets = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), load_default=None)
    default_channel = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    field_map = fields.Dict(load_default=None, allow_none=True)
    allowed_ips = allowlist_field(load_default=None)
    approval = fields.String(load_default="none", validate=validate.OneOf(APPROVAL_MODES))
    approval_config = fields.Nested(ApprovalConfig, load_default=None, allow_none=True)
    correlation = fields.Nested(Correlation, load_default=None, allow_none=True)
    reply = fields.Nested(Reply, load_default=None, allow_none=True)
    active = fields.Boolean(load_default=True)


class ConnectionPatch(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(metadata=NAME)
    provider = fields.String(allow_none=True, metadata=PROVIDER)
    provider_config = fields.Dict(allow_none=True)
    channel = fields.String(allow_none=True, metadata=CHANNEL)
    channel_config = fields.Dict(allow_none=True)
    secrets = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    default_channel = fields.String(allow_none=True, validate=validate.Length(max=200))
    field_map = fields.Dict(allow_none=True)
    allowed_ips = allowlist_field()
    approval = fields.String(validate=validate.OneOf(APPROVAL_MODES))
    approval_config = fields.Nested(ApprovalConfig, allow_none=True)
    correlation = fields.Nested(Correlation, allow_none=True)
    reply = fields.Nested(Reply, allow_none=True)
    active = fields.Boolean()


class ConnectionOut(Schema):
    id = fields.String()
    name = fields.String()
    workspace = fields.String()
    provider = fields.String(allow_none=True)
    provider_config = fields.Dict()
    channel = fields.String(allow_none=True)
    channel_config = fields.Dict()
    secrets = fields.Dict(metadata={"description": "Write-only: a placeholder (or a masked URL) per set secret."})
    default_channel = fields.String(allow_none=True)
    field_map = fields.Dict()
    allowed_ips = fields.List(fields.String())
    approval = fields.String()
    approval_config = fields.Nested(ApprovalConfig)
    correlation = fields.Nested(Correlation, allow_none=True)
    reply = fields.Nested(Reply, allow_none=True)
    active = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    flag = fields.String(allow_none=True)
    inbound_url = fields.String(allow_none=True,
                                metadata={"description": "Carries ?key= only right after create or reset-key."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ConnectionList(Schema):
    items = fields.List(fields.Nested(ConnectionOut))
    next = fields.String(allow_none=True)


class UrlOut(Schema):
    url = fields.String(metadata={"description": "The inbound URL with its key."})
    inbound_url = fields.String(metadata={"description": "The same URL, under the name create uses."})


class RotateIn(Schema):
    class Meta:
        unknown = RAISE

    secret = fields.String(required=True, metadata={"description": "The new secret value."})
    name = fields.String(load_default=None, metadata={"description": "Which secret (default: the provider's "
                                                                     "signing secret)."})
    grace_seconds = fields.Integer(load_default=None, validate=validate.Range(min=0, max=7 * 86400))


class RotateOut(Schema):
    name = fields.String()
    previous_valid_until = fields.DateTime()


def service() -> ConnectionService:
    return for_app(db.session(), actor())


def to_json(svc: ConnectionService, conn: Connection, key: str | None = None) -> dict[str, Any]:
    return {
        "id": conn.id, "name": conn.name, "workspace": conn.workspace_id, "provider": conn.provider,
        "provider_config": conn.provider_config or {}, "channel": conn.channel,
        "channel_config": conn.channel_config or {}, "secrets": svc.masked_secrets(conn),
        "default_channel": conn.default_channel, "field_map": conn.field_map or {},
        "allowed_ips": list(conn.allowed_ips or []), "approval": conn.approval,
        "approval_config": conn.approval_config or {}, "correlation": conn.correlation, "reply": conn.reply,
        "active": conn.active, "disabled_reason": conn.disabled_reason, "flag": conn.flag,
        "inbound_url": svc.inbound_url(conn, key), "created_at": conn.created_at, "updated_at": conn.updated_at,
    }


def _load(svc: ConnectionService, connection_id: str) -> Connection:
    return svc.get(current_workspace(), connection_id)


@blp.route("")
@blp.response(200, ConnectionList)
def list_connections():
    svc = service()
    return {"items": [to_json(svc, c) for c in svc.list(current_workspace())], "next": None}


@blp.route("", methods=["POST"])
@blp.arguments(ConnectionIn)
@blp.response(201, ConnectionOut)
@blp.creates("connection_id", *[(method, f"/api/v1/connections/{{connection_id}}{action}") for method, action in (
    ("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/url"), ("POST", "/activate"), ("POST", "/deactivate"),
    ("POST", "/test"), ("POST", "/reset-key"), ("POST", "/rotate-secret"), ("POST", "/erase"))])
def create_connection(data):
    svc = service()
    workspace = workspace_for(data.pop("workspace", None))
    conn, key = svc.create(workspace, data)
    db.session().commit()
    return to_json(svc, conn, key)


@blp.route("/<connection_id>")
@blp.response(200, ConnectionOut)
def get_connection(connection_id):
    svc = service()
    return to_json(svc, _load(svc, connection_id))


@blp.route("/<connection_id>", methods=["PATCH"])
@blp.arguments(ConnectionPatch, required=False)
@blp.response(200, ConnectionOut)
def update_connection(data, connection_id):
    svc = service()
    conn = svc.update(_load(svc, connection_id), data)
    db.session().commit()
    return to_json(svc, conn)


@blp.route("/<connection_id>", methods=["DELETE"])
@blp.response(204)
@blp.errors(409)
def delete_connection(connection_id):
    svc = service()
    svc.delete(_load(svc, connection_id))
    db.session().commit()


@blp.route("/<connection_id>/activate", methods=["POST"])
@blp.response(200, ConnectionOut)
def activate(connection_id):
    svc = service()
    conn = _load(svc, connection_id)
    svc.activate(conn)                      # held deliveries go out
    return to_json(svc, conn)


@blp.route("/<connection_id>/deactivate", methods=["POST"])
@blp.response(200, ConnectionOut)
def deactivate(connection_id):
    svc = service()
    conn = svc.set_active(_load(svc, connection_id), False, reason="deactivated by an admin")
    db.session().commit()
    return to_json(svc, conn)


class TestOut(Schema):
    ok = fields.Boolean()
    status = fields.Integer(metadata={"description": "HTTP status of the answer; 0 when none came back."})
    detail = fields.String(metadata={"description": "What happened, in plain words."})


@blp.route("/<connection_id>/test", methods=["POST"])
@blp.response(200, TestOut)
@blp.errors(409)
def test_connection(connection_id):
    """Send a labelled test message through the real outbound path and report the answer."""
    svc = service()
    outcome = run_connection_test(current_app._get_current_object(), db.session(), svc,
                                  _load(svc, connection_id), actor())
    db.session().commit()
    return outcome


@blp.route("/<connection_id>/url")
@blp.response(200, UrlOut)
@blp.errors(403)
@admin_only
def get_url(connection_id):
    svc = service()
    conn = _load(svc, connection_id)
    url = svc.inbound_url(conn, svc.reveal_key(conn))
    db.session().commit()
    return {"url": url, "inbound_url": url}


@blp.route("/<connection_id>/reset-key", methods=["POST"])
@blp.response(200, UrlOut)
def reset_key(connection_id):
    svc = service()
    conn = _load(svc, connection_id)
    url = svc.inbound_url(conn, svc.reset_key(conn))
    db.session().commit()
    return {"url": url, "inbound_url": url}


@blp.route("/<connection_id>/rotate-secret", methods=["POST"])
@blp.arguments(RotateIn)
@blp.response(200, RotateOut)
def rotate_secret(data, connection_id):
    svc = service()
    conn = _load(svc, connection_id)
    name = data["name"] or _default_secret_name(svc, conn)
    expires = svc.rotate_secret(conn, name, data["secret"], data["grace_seconds"])
    db.session().commit()
    return {"name": name, "previous_valid_until": expires}


def _default_secret_name(svc: ConnectionService, conn: Connection) -> str:
    """The signing secret of the provider (or of the channel when there is no provider)."""
    names: list[str] = []
    if conn.provider in svc.host.providers:
        names += list(svc.host.providers.get(conn.provider).secrets_schema().fields)
    if conn.channel in svc.host.channels:
        names += list(svc.host.channels.get(conn.channel).secrets_schema().fields)
    for candidate in ("signing_secret", "secret", "app_secret"):
        if candidate in names:
            return candidate
    raise invalid({"name": ["say which secret to rotate"]})


class ErasureOut(Schema):
    events = fields.Integer(metadata={"description": "Its events whose payload, raw body and headers were removed."})
    deliveries = fields.Integer(metadata={"description": "Deliveries to it, or made from its events, emptied."})
    attempts = fields.Integer(metadata={"description": "Attempts whose response excerpt was removed."})
    stopped = fields.Integer(metadata={"description": "Events not yet routed and deliveries not yet sent, ended."})


@blp.route("/<connection_id>/erase", methods=["POST"])
@blp.response(200, ErasureOut)
@admin_only
def erase(connection_id):
    """Remove every stored payload, raw body and header value of the connection's events and
    deliveries; ids, statuses, times and SHA-256 digests stay. Audited as `connection.erased`."""
    return erase_connection(db.session(), current_workspace(), connection_id, actor())
