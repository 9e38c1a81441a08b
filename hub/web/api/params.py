"""``/api/v1/params``: a workspace's config params, named in connection settings as
``${param.NAME}``. A secret param's value is never returned (``"value": null``)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields

from hub.runtime.changes import get_changes
from hub.runtime.params import PARAM_NAME, PARAM_NAME_RULE
from hub.services.params import MAX_VALUE, ParamService
from hub.storage import db
from hub.storage.models import Param
from hub.storage.vault import get_vault
from hub.web.api.auth import actor, current_workspace, protect
from hub.web.api.openapi import ApiBlueprint

blp = ApiBlueprint("params", __name__, url_prefix="/api/v1/params",
                   description="Config params: values connection settings and secrets name as ${param.NAME}.")
protect(blp)


VALUE = {"minLength": 1, "maxLength": MAX_VALUE}


class ParamIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, metadata={"pattern": PARAM_NAME.pattern,
                                                  "description": f"{PARAM_NAME_RULE}, e.g. SLACK_SECRET."})
    value = fields.String(required=True, metadata=VALUE)
    secret = fields.Boolean(load_default=True, metadata={"description": "Never shown again (default true)."})


class ParamPatch(Schema):
    class Meta:
        unknown = RAISE

    value = fields.String(metadata=VALUE)
    secret = fields.Boolean(metadata={"description": "true only: a secret param stays secret."})


class ParamOut(Schema):
    id = fields.String()
    name = fields.String()
    secret = fields.Boolean()
    value = fields.String(allow_none=True, metadata={"description": "null for a secret param."})
    used_by = fields.List(fields.String(), metadata={"description": "Connections naming it: name (id)."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ParamList(Schema):
    items = fields.List(fields.Nested(ParamOut))
    next = fields.String(allow_none=True)


def service() -> ParamService:
    return ParamService(db.session(), get_vault(), actor(), get_changes())


def to_json(svc: ParamService, param: Param) -> dict[str, Any]:
    return {"id": param.id, "name": param.name, "secret": param.secret, "value": svc.value(param),
            "used_by": svc.users(param), "created_at": param.created_at, "updated_at": param.updated_at}


@blp.route("")
@blp.response(200, ParamList)
def list_params():
    svc = service()
    return {"items": [to_json(svc, p) for p in svc.list(current_workspace())], "next": None}


@blp.route("", methods=["POST"])
@blp.arguments(ParamIn)
@blp.response(201, ParamOut)
@blp.errors(409)
def create_param(data):
    svc = service()
    param = svc.create(current_workspace(), data)
    db.session().commit()
    return to_json(svc, param)


@blp.route("/<name>")
@blp.response(200, ParamOut)
def get_param(name):
    svc = service()
    return to_json(svc, svc.get(current_workspace(), name))


@blp.route("/<name>", methods=["PATCH"])
@blp.arguments(ParamPatch, required=False)
@blp.response(200, ParamOut)
def update_param(data, name):
    svc = service()
    param = svc.update(svc.get(current_workspace(), name), data)
    db.session().commit()
    return to_json(svc, param)


@blp.route("/<name>", methods=["DELETE"])
@blp.response(204)
@blp.errors(409)
def delete_param(name):
    svc = service()
    svc.delete(svc.get(current_workspace(), name))
    db.session().commit()
