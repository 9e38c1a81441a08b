"""``/api/v1/tokens``: admin API tokens. The value is shown once, in the answer to its creation;
lists never show it. A revoked or expired token gets 401 from then on. An admin manages the tokens
of its workspace (not owner tokens); an owner manages tokens anywhere."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from hub.core.errors import Forbidden
from hub.services import tokens
from hub.storage import db
from hub.storage.models import ApiToken
from hub.web.api.auth import actor, admin_only, current_token, current_workspace, is_owner, protect, workspace_for
from hub.web.api.openapi import TRIMMED_NAME, ApiBlueprint

blp = ApiBlueprint("tokens", __name__, url_prefix="/api/v1/tokens",
                   description="Bearer tokens for the admin API and the console: created, listed and revoked.")
protect(blp)


class TokenIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata=TRIMMED_NAME)
    role = fields.String(load_default="admin", validate=validate.OneOf(tokens.ROLES))
    workspace = fields.String(load_default=None, metadata={"description": "Default: the workspace of the request."})
    expires_in = fields.Integer(load_default=None, allow_none=True,
                                validate=validate.Range(min=60, max=tokens.MAX_EXPIRES_IN),
                                metadata={"description": "Seconds until it stops working (default: never)."})


class TokenOut(Schema):
    id = fields.String()
    name = fields.String()
    role = fields.String()
    workspace = fields.String()
    state = fields.String(metadata={"description": "active, expired or revoked"})
    created_at = fields.DateTime()
    created_by = fields.String(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class TokenCreated(TokenOut):
    token = fields.String(metadata={"description": "The value: shown this once, never again."})


class TokenList(Schema):
    items = fields.List(fields.Nested(TokenOut))
    next = fields.String(allow_none=True)


class TokenArgs(Schema):
    all = fields.Boolean(load_default=False, metadata={"description": "An owner's list of every workspace's tokens."})


def to_json(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "role": token.role, "workspace": token.workspace_id,
            "state": tokens.state(token), "created_at": token.created_at, "created_by": token.created_by,
            "last_used_at": token.last_used_at, "expires_at": token.expires_at, "revoked_at": token.revoked_at}


@blp.route("")
@blp.arguments(TokenArgs, location="query")
@blp.response(200, TokenList)
@blp.errors(403)
@admin_only
def list_tokens(args):
    scope = None if args["all"] and is_owner() else current_workspace()
    return {"items": [to_json(t) for t in tokens.tokens(db.session(), scope)], "next": None}


@blp.route("", methods=["POST"])
@blp.arguments(TokenIn)
@blp.response(201, TokenCreated)
@admin_only
def create_token(data):
    workspace = workspace_for(data["workspace"])
    if not tokens.can_manage(current_token(), workspace, data["role"]):
        raise Forbidden("an admin token can create admin and viewer tokens of its own workspace only")
    token, value = tokens.create_token(db.session(), workspace=workspace, role=data["role"], name=data["name"],
                                       actor=actor(), expires_in=data["expires_in"])
    db.session().commit()
    return {**to_json(token), "token": value}


@blp.route("/<token_id>")
@blp.response(200, TokenOut)
@blp.errors(403)
@admin_only
def get_token(token_id):
    return to_json(tokens.get_token(db.session(), token_id, None if is_owner() else current_workspace()))


@blp.route("/<token_id>", methods=["DELETE"])
@blp.response(204)
@admin_only
def revoke_token(token_id):
    token = tokens.get_token(db.session(), token_id, None if is_owner() else current_workspace())
    if not tokens.can_manage(current_token(), token.workspace_id, token.role):
        raise Forbidden("an admin token cannot revoke an owner token")
    tokens.revoke(db.session(), token, actor())
    db.session().commit()
