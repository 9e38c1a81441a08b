"""The console's blueprint, its templates and static files (inside the package: no external
assets), and the few template filters its pages share."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Blueprint
from markupsafe import Markup, escape

from hub.web.console.schema_form import secret_placeholder

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")
bp.add_app_template_global(secret_placeholder)


@bp.app_template_filter("console_time")
def console_time(value: datetime | None, empty: str = "never") -> Markup:
    """A UTC time as ``<time datetime="…">2024-05-01 12:00:05 UTC</time>``."""
    if value is None:
        return escape(empty)
    return Markup('<time datetime="{}">{} UTC</time>').format(value.isoformat(), value.strftime("%Y-%m-%d %H:%M:%S"))


@bp.app_template_filter("pretty_json")
def pretty_json(value: Any) -> str:
    """A JSON value indented for reading (keys in their stored order)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@bp.app_template_filter("duration")
def duration(seconds: float | None, empty: str = "—") -> str:
    """``0.0123`` → ``12 ms``, ``1.5`` → ``1.5 s``, ``125`` → ``2 min 5 s``."""
    if seconds is None:
        return empty
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


@bp.app_template_filter("compact_json")
def compact_json(value: Any) -> str:
    """A JSON value on one line."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
