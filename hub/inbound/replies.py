"""Replies to senders: an inbound connection's ``reply`` (status, headers and a JSON body template)
is what an accepted request — or its duplicate — gets back instead of the hub's JSON. A Teams
outgoing webhook shows it as the bot's answer; a Slack slash command shows its ``text``. The body
is rendered from the event's envelope by the route templates' engine (sandboxed, time-bounded)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hub.core.templating import CompiledTemplate, TemplateError, compile_template, template_context
from hub.plugin import PluginResponse


class Reply:
    """A connection's reply, its template compiled once (when the connection is loaded)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.status = int(config.get("status") or 200)
        self.headers = dict(config.get("headers") or {})
        body = config.get("body")
        self.template: CompiledTemplate | None = compile_template(body, max_seconds=0.5) if body is not None else None

    def render(self, envelope: Mapping[str, Any]) -> PluginResponse:
        """The answer for an event; raises TemplateError when the body cannot be rendered for it."""
        if self.template is None:
            return PluginResponse(self.status, b"", headers=self.headers)
        body = self.template.render(template_context(envelope))
        if isinstance(body, str):
            return PluginResponse(self.status, body.encode("utf-8"), content_type="text/plain; charset=utf-8",
                                  headers=self.headers)
        return PluginResponse(self.status, json.dumps(body, ensure_ascii=False).encode("utf-8"),
                              content_type="application/json", headers=self.headers)


def compiled(config: Mapping[str, Any] | None) -> Reply | None:
    """The reply of a connection's settings, or None (none set, or a template that no longer compiles)."""
    if not config:
        return None
    try:
        return Reply(config)
    except TemplateError:
        return None


__all__ = ["Reply", "TemplateError", "compiled"]
