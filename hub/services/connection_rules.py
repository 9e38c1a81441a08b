"""A connection's settings that belong to the hub rather than to its plugins, checked when it is
saved: the inbound allowlist, the approval mode and its approver, the correlation that lets an
inbound callback decide approvals, and the reply a sender gets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from hub.core.addresses import parse_networks
from hub.core.paths import PathError, compile_path
from hub.core.templating import TemplateError, compile_template
from hub.storage.models import Connection

APPROVAL_MODES = ("none", "manual", "policy", "external")
CORRELATION_KEYS = ("path", "decision_path", "reason_path")
REPLY_KEYS = ("status", "headers", "body")


def allowed_ips(values: Any) -> tuple[list[str], list[str]]:
    """The allowlist as normalised networks (``203.0.113.7`` → ``203.0.113.7/32``), and problems."""
    try:
        return [str(network) for network in parse_networks(values or [])], []
    except ValueError as exc:
        return [], [str(exc)]


def approval(session: Session, conn: Connection, mode: Any, config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The approval settings, and problems by field: ``external`` needs ``approval_config.approver``,
    another connection of the workspace with an outbound channel."""
    problems: dict[str, Any] = {}
    if mode not in APPROVAL_MODES:
        problems["approval"] = [f"must be one of {', '.join(APPROVAL_MODES)}"]
    config = dict(config or {})
    if set(config) - {"approver"}:
        problems["approval_config"] = {"_schema": ["only 'approver' can be set"]}
    elif mode == "external":
        approver = session.get(Connection, config.get("approver") or "")
        if approver is None or approver.workspace_id != conn.workspace_id or approver.system:
            problems["approval_config"] = {"approver": [f"no connection {config.get('approver')!r} in this workspace"]}
        elif not approver.channel:
            problems["approval_config"] = {"approver": [f"{approver.name!r} has no outbound channel to ask through"]}
        elif approver.id == conn.id:
            problems["approval_config"] = {"approver": ["a connection cannot approve its own deliveries"]}
    elif config:
        problems["approval_config"] = {"approver": ["an approver is for approval 'external'"]}
    return config, problems


def correlation(value: Any, has_provider: bool) -> tuple[dict[str, Any] | None, list[str] | dict[str, Any]]:
    """``{"path", "decision_path", "reason_path"?}`` (dotted paths or JSONPath into the payload)."""
    if value is None:
        return None, []
    if not has_provider:
        return None, ["a correlation is for the inbound side: this connection has no provider"]
    if not isinstance(value, Mapping) or set(value) - set(CORRELATION_KEYS):
        return None, [f"an object with {', '.join(CORRELATION_KEYS)}"]
    problems: dict[str, list[str]] = {}
    for key in CORRELATION_KEYS:
        path = value.get(key)
        if path is None and key == "reason_path":
            continue
        try:
            compile_path(path)
        except PathError as exc:
            problems[key] = [str(exc) if path else "required"]
    return ({k: v for k, v in value.items() if v is not None} if not problems else None), problems


def reply(value: Any, has_provider: bool) -> tuple[dict[str, Any] | None, list[str] | dict[str, Any]]:
    """``{"status": 200, "headers": {…}, "body": <JSON template>}``: what a sender gets back."""
    if value is None:
        return None, []
    if not has_provider:
        return None, ["a reply is for the inbound side: this connection has no provider"]
    if not isinstance(value, Mapping) or set(value) - set(REPLY_KEYS):
        return None, [f"an object with {', '.join(REPLY_KEYS)}"]
    problems: dict[str, list[str]] = {}
    status = value.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 299:
        problems["status"] = ["a 2xx status (the request was accepted)"]
    headers = value.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str) and "\n" not in k + v
                                                   for k, v in headers.items()):
        problems["headers"] = ["an object of header names and text values"]
    if "body" in value and value["body"] is not None:
        try:
            compile_template(value["body"])
        except TemplateError as exc:
            problems["body"] = [str(exc)]
    return (None if problems else {"status": status, "headers": dict(headers), "body": value.get("body")}), problems
