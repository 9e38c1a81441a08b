"""The message of a delivery: its route target's template rendered against the event, or the
channel's default rendering when the target has no template."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from hub.core.templating import CompiledTemplate, TemplateError, compile_template, template_context
from hub.plugin import Channel, ConnectionView
from hub.storage.models import Delivery


class RenderError(Exception):
    """The template cannot produce a message for this event: a permanent failure, unless
    ``transient`` (the worker was too busy to finish the render; a retry may succeed)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@lru_cache(maxsize=512)
def _compiled(template_json: str) -> CompiledTemplate:
    return compile_template(json.loads(template_json))


def render_body(delivery: Delivery, channel: Channel, envelope: Mapping[str, Any], view: ConnectionView) -> Any:
    if delivery.purpose == "approval_request":     # made whole when the approval was asked for
        return delivery.body
    if delivery.template is None:
        return channel.default_body(envelope, view)
    try:
        compiled = _compiled(json.dumps(delivery.template))   # keys in the order the admin wrote them
        return compiled.render(template_context(envelope))
    except TemplateError as exc:
        raise RenderError(f"the template cannot be rendered for this event: {exc}", transient=exc.transient) from None
