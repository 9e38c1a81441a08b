"""What the OpenAPI document says alike for every admin operation: the hub's error shape, the
errors every operation can answer, the ``X-Hookhub-Workspace`` header, and the list page.

Each API module uses :class:`ApiBlueprint`. It adds to every operation the answers that come from
authentication and argument parsing (401, 404, 429, and 403 for a change, 400 and 422 for a
body), so that a view declares only its own: ``@blp.errors(409)``. ``tests/test_openapi_contract.py``
runs schemathesis against the document, so it stays the truth."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from hub.web.api.auth import WORKSPACE_HEADER

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

#: Each error status an admin operation can answer, and when. The names are flask-smorest's
#: (``HTTPStatus`` names), so that its own references (422 for arguments) land on these.
ERROR_RESPONSES: dict[int, str] = {
    400: "The body is not valid JSON.",
    401: "No token, or one that is unknown, revoked or expired (`unauthorized`).",
    403: "The token's role may not do this (`forbidden`): a viewer changes nothing; some operations are for an "
         "admin or an owner only.",
    404: "No such object in the workspace (another workspace's objects are not found either), or "
         "`X-Hookhub-Workspace` names a workspace this token cannot act in (`not_found`).",
    409: "The object is not in a state that allows this (`conflict`); the message says why.",
    422: "A field is missing or has a bad value (`validation_error`); `fields` names each one.",
    429: "Too many failed sign-ins from this client address (`rate_limited`); `Retry-After` says when to retry.",
}


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Stable, snake_case: `not_found`, "
                                                                    "`validation_error`, `conflict`…"})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong, in plain words."})
    fields_ = ma.fields.Dict(keys=ma.fields.String(), data_key="fields", metadata={
        "description": "With `validation_error`: each bad field (nested for nested objects) and its problems."})


class ErrorSchema(ma.Schema):
    """Every non-2xx answer: ``{"error": {"code", "message"}}``, with ``fields`` for a validation error."""

    error = ma.fields.Nested(ErrorDetailSchema, required=True)


def timestamp(**kwargs: Any) -> ma.fields.String:
    """A time the API shows as ``2026-03-23T15:30:00.123Z`` (already formatted by the view)."""
    metadata = {"format": "date-time", **kwargs.pop("metadata", {})}
    return ma.fields.String(metadata=metadata, **kwargs)


# The rules below are the services' own, written out for the document; the services check them
# (all of a request's fields at once, so that one answer names every bad field).

#: A name that is 1 to 100 characters once trimmed (routes, tokens).
TRIMMED_NAME = {"pattern": r"^\s*(\S|\S[\s\S]{0,98}\S)\s*$", "description": "1 to 100 characters, trimmed."}


def case_insensitive(word: str) -> str:
    """``sec`` → ``[Ss][Ee][Cc]``: JSON Schema patterns have no flags."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def page_of(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The schema of a list page: ``{"items": [item…], "next": "<cursor or null>"}``."""
    return ma.Schema.from_dict({
        "items": ma.fields.List(ma.fields.Nested(item), required=True),
        "next": ma.fields.String(required=True, allow_none=True,
                                 metadata={"description": "The `cursor` of the next page; null on the last."}),
    }, name=name)


def installed_plugins(providers: list[str], channels: list[str]) -> Callable[..., dict[str, Any]]:
    """An apispec attribute function: a field marked ``metadata={"plugin": "provider"}`` (or
    ``"channel"``) takes one of the names this app has installed, which the document lists."""
    names = {"provider": sorted(providers), "channel": sorted(channels)}

    def installed_plugin_names(converter: Any, field: ma.fields.Field, **kwargs: Any) -> dict[str, Any]:
        kind = field.metadata.get("plugin")
        if kind not in names:
            return {}
        return {"enum": names[kind] + ([None] if field.allow_none else [])}

    return installed_plugin_names


def register_components(spec: Any) -> None:
    """The error responses, as components named after their status (``NOT_FOUND``…), and the
    workspace header every operation takes."""
    spec.components.parameter(WORKSPACE_HEADER, "header", {
        "required": False, "schema": {"type": "string"},
        "description": "An owner token acts in this workspace instead of its own; any other token naming "
                       "another workspace gets 404."})
    for status, description in ERROR_RESPONSES.items():
        response: dict[str, Any] = {"description": description,
                                    "content": {"application/json": {"schema": ErrorSchema}}}
        if status == 429:
            response["headers"] = {"Retry-After": {"description": "Seconds to wait.",
                                                   "schema": {"type": "integer", "minimum": 1}}}
        spec.components.response(HTTPStatus(status).name, response)


class ApiBlueprint(Blueprint):
    """A blueprint of the admin API: every operation documents the errors it can answer."""

    def errors(self, *statuses: int) -> Decorator:
        """Document the errors a view answers beyond those every operation can (see the module)."""

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            for status in statuses:
                view = self.alt_response(status, response=HTTPStatus(status).name)(view)
            return view

        return decorator

    def creates(self, parameter: str, *operations: tuple[str, str]) -> Decorator:
        """Document, as OpenAPI links, that the ``id`` a creation answers (201) is the ``parameter``
        of each ``(method, path)`` of ``operations``: clients and schemathesis follow them."""
        links = {
            f"{method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}": {
                "operationRef": f"#/paths/{path.replace('~', '~0').replace('/', '~1')}/{method.lower()}",
                "parameters": {parameter: "$response.body#/id"},
            } for method, path in operations}
        return self.doc(responses={201: {"links": links}})

    @staticmethod
    def _prepare_response_doc(doc: dict[str, Any], doc_info: dict[str, Any], *, api: Any, spec: Any,
                              **kwargs: Any) -> dict[str, Any]:
        statuses = [401, 404, 429]
        if kwargs.get("method") != "get":
            statuses.append(403)          # a viewer token changes nothing
        if "requestBody" in doc:
            statuses.append(400)          # a body that is not JSON
        responses = doc_info.setdefault("response", {}).setdefault("responses", {})
        for status in statuses:
            if not any(int(code) == status for code in responses):
                responses[status] = [HTTPStatus(status).name]
        doc = Blueprint._prepare_response_doc(doc, doc_info, api=api, spec=spec, **kwargs)
        doc.setdefault("parameters", []).append(WORKSPACE_HEADER)
        return doc
