"""Route target templates: JSON values whose string leaves are Jinja templates, compiled once and
rendered for each event inside a sandbox and bounds, because a template is untrusted code.

Admins (or whoever holds an admin token) write templates and workers run them on every event,
so each one is kept inside three fences:

* **No way out.** Jinja's ``ImmutableSandboxedEnvironment`` refuses ``_`` attributes, Python
  internals and mutation; on top of it ``str.format``/``format_map`` and the ``str`` methods that
  pad or multiply text are refused, and ``include``/``extends``/``import`` fail at save time.
  Globals kept: ``range`` (bounded) and ``dict``. Removed: ``lipsum``, ``cycler``, ``joiner``
  and ``namespace`` (the only way to carry a growing value from one loop iteration to the next).
* **Bounded time.** A render stops once it has used ``max_seconds`` (0.5 s) of its thread's CPU
  time, so that a render waiting for the GIL in a busy worker is not cut off, and in any case
  after 20 times that in wall-clock time. A deadline is checked on each output chunk, loop
  iteration, call, filter and operator: no threads, no signals.
* **Bounded memory.** One render outputs at most ``max_output`` characters (256 Ki) across all
  leaves (a ``{{ expr }}`` leaf counts its JSON size). Text and values built on the way (``~``,
  ``{% set %}`` blocks, macros, filters, literals) are capped at 16 times that. Operations whose
  result can dwarf their inputs (``'a' * n``, ``x ** n``, ``'%9999d' % x``, ``|center``,
  ``|indent``, ``|replace``, ``|join``, ``|batch``…) are refused *before* they allocate;
  ``range`` gives at most 10 000 items and integers stay under 8192 bits.

A leaf that is one ``{{ expression }}`` (whitespace around it allowed) keeps the expression's JSON
type; other templated leaves render to strings; object keys and non-string leaves are kept as they
are. ``payload.items`` means the key ``items`` when there is one, not the ``dict`` method.
Using a missing value is an error, but a lookup chain may be tested or defaulted:
``{{ payload.a.b | default("-") }}`` works when ``payload.a`` is absent.

Filters: Jinja's builtins except ``urlize``, plus

* ``datetimeformat(value, fmt="%Y-%m-%d %H:%M")``: ISO 8601 text, Unix seconds or milliseconds
  (numbers or numeric text; milliseconds when ≥ 10¹¹) or a datetime, formatted in UTC;
* ``iso8601(value)``: the same inputs as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC);
* ``fromjson(value)``: parse JSON text (a value that is not text is returned as it is);
* ``mrkdwn(value)``: text with ``&``, ``<`` and ``>`` escaped the way Slack's mrkdwn wants, so a
  relayed value cannot ping ``<!channel>``, mention someone or forge a link.

This module holds the public API (:func:`compile_template`, :class:`CompiledTemplate`,
:class:`TemplateError`), the environment and its filters, and the walk over the JSON value;
:mod:`hub.core.templating.budget` counts what a render spends and :mod:`hub.core.templating.guards`
makes it pay.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as daytime
from types import MappingProxyType
from typing import Any

import jinja2
from jinja2 import nodes

from hub.core.templating.budget import CURRENT, Budget, LimitExceeded, Starved
from hub.core.templating.guards import (
    HOOK_FILTERS,
    MAX_INT_BITS,
    MAX_ITEMS,
    HubSandbox,
    bounded_range,
    guarded,
    harden,
)

__all__ = ["CompiledTemplate", "TemplateError", "compile_template", "datetimeformat", "fromjson", "iso8601",
           "MAX_DEPTH", "MAX_INT_BITS", "MAX_ITEMS", "MAX_LEAVES"]

MAX_DEPTH, MAX_LEAVES = 32, 2000
_MARKERS = ("{{", "{%", "{#")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")


class TemplateError(Exception):
    """A template that cannot be compiled or rendered. ``str()`` is a message for an admin that
    names the place in the JSON (``text``, ``blocks[0].text``, ``(root)``). ``transient``: the
    worker was too busy to finish the render in time, and trying again later may succeed."""

    def __init__(self, path: str, reason: str, *, transient: bool = False) -> None:
        self.path, self.reason, self.transient = path or "(root)", reason, transient
        super().__init__(f'template at "{self.path}": {reason}')


class _Undefined(jinja2.StrictUndefined):
    """Strict when used (printed, tested, iterated, called), chainable when looked into, so that
    ``payload.a.b | default(x)`` works and errors name the first missing key."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)  # keep Python's protocol probing working
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


def _to_datetime(value: Any) -> datetime:
    try:
        if isinstance(value, datetime | date):
            moment = value if isinstance(value, datetime) else datetime.combine(value, daytime())
        elif isinstance(value, int | float) and not isinstance(value, bool) or (
                isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
            seconds = float(value)
            moment = datetime.fromtimestamp(seconds / 1000 if abs(seconds) >= 1e11 else seconds, tz=UTC)
        else:
            moment = datetime.fromisoformat(str(value).strip())
    except (ValueError, TypeError, OverflowError, OSError):
        raise ValueError(f"cannot read {str(value)[:60]!r} as a date and time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def datetimeformat(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format ISO 8601 text, Unix seconds or milliseconds, or a datetime, in UTC."""
    return _to_datetime(value).strftime(fmt)


def iso8601(value: Any) -> str:
    """The inputs of :func:`datetimeformat` as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return _to_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def mrkdwn(value: Any) -> str:
    """Slack's escaping of ``&``, ``<`` and ``>``: the value shows as typed, never as a mention or link."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fromjson(value: Any) -> Any:
    """Parse JSON text; a value that is not text was parsed already and is returned as it is."""
    return json.loads(value) if isinstance(value, str | bytes) else value


@functools.cache
def _environment() -> HubSandbox:
    """Built on first use, not at import."""
    env = HubSandbox(autoescape=False, undefined=_Undefined, keep_trailing_newline=True, cache_size=0)
    env.globals.clear()
    env.globals.update(range=bounded_range, dict=dict)
    filters = {name: fn for name, fn in env.filters.items() if name != "urlize"}
    filters.update(datetimeformat=datetimeformat, iso8601=iso8601, fromjson=fromjson, mrkdwn=mrkdwn)
    env.filters = {name: guarded(name, fn) for name, fn in filters.items()}
    env.filters.update(HOOK_FILTERS)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": str}
    return env


@dataclass(frozen=True, slots=True)
class _Leaf:
    path: str
    template: jinja2.Template
    native: bool  # a lone {{ expression }}, which keeps its JSON type


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return (f"{path}.{key}" if path else key) if _IDENTIFIER.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _compile_leaf(env: HubSandbox, source: str, path: str) -> _Leaf:
    try:
        tree = env.parse(source)
        body = tree.body[0].nodes if len(tree.body) == 1 and isinstance(tree.body[0], nodes.Output) else []
        parts = [part for part in body if not (isinstance(part, nodes.TemplateData) and not part.data.strip())]
        native = len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData)
        if native:  # what compile_expression does, but through harden()
            tree = nodes.Template([nodes.Assign(nodes.Name("result", "store"), parts[0], lineno=1)], lineno=1)
        tree = harden(tree, env)
        tree.set_environment(env)
        return _Leaf(path, env.from_string(tree), native)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(path, f"{exc.message} (line {exc.lineno})") from None
    except RecursionError:
        raise TemplateError(path, "the expression is nested too deeply") from None


def _compile_node(env: HubSandbox, value: Any, path: str, depth: int, leaves: list[int]) -> Any:
    """The plan of a JSON value: read-only mappings and tuples of plans, _Leaf or literal leaves."""
    if depth > MAX_DEPTH:
        raise TemplateError(path, f"the template is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list) and value:
        return tuple(_compile_node(env, item, _child_path(path, i), depth + 1, leaves) for i, item in enumerate(value))
    if isinstance(value, dict) and value:
        if not all(isinstance(key, str) for key in value):
            raise TemplateError(path, "object keys must be strings")
        return MappingProxyType({key: _compile_node(env, item, _child_path(path, key), depth + 1, leaves)
                                 for key, item in value.items()})
    leaves[0] += 1
    if leaves[0] > MAX_LEAVES:
        raise TemplateError(path, f"the template has more than {MAX_LEAVES} values")
    if isinstance(value, str) and any(marker in value for marker in _MARKERS):
        return _compile_leaf(env, value, path)
    if isinstance(value, list | dict):
        return MappingProxyType({}) if isinstance(value, dict) else ()
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise TemplateError(path, f"a {type(value).__name__} is not a JSON value")


def _to_json(value: Any, budget: Budget) -> Any:
    """JSON for what an expression returned, paying for its (unescaped) JSON size as output."""
    budget.tick()
    if isinstance(value, jinja2.Undefined):
        str(value)  # raises the UndefinedError that names what is missing
    if value is None or isinstance(value, bool | int | float):
        value = value if not isinstance(value, float) or math.isfinite(value) else str(value)  # no NaN in JSON
        budget.charge_output(len(str(value)))
        return value
    if isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            key = key if isinstance(key, str) else str(key)
            budget.charge_output(len(key) + 4)
            converted[key] = _to_json(item, budget)
        return converted
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        budget.charge_output(2)
        return [_to_json(item, budget) for item in value]
    if isinstance(value, datetime | date | daytime):
        value = value.isoformat()
    value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    budget.charge_output(len(value) + 2)
    return value


def _render(plan: Any, context: dict[str, Any], budget: Budget) -> Any:
    if isinstance(plan, Mapping):
        return {key: _render(item, context, budget) for key, item in plan.items()}
    if isinstance(plan, tuple):
        return [_render(item, context, budget) for item in plan]
    if not isinstance(plan, _Leaf):
        budget.charge_output(len(plan) if isinstance(plan, str) else 0)
        return plan
    try:
        if plan.native:
            jinja_context = plan.template.new_context(context)
            for _ in plan.template.root_render_func(jinja_context):
                budget.tick()
            return _to_json(jinja_context.vars["result"], budget)
        chunks = []
        for chunk in plan.template.generate(context):
            budget.tick()
            budget.charge_output(len(chunk))
            chunks.append(chunk)
        return "".join(chunks)
    except Exception as exc:  # whatever a template does, callers only ever see TemplateError
        reason = str(exc) if isinstance(exc, jinja2.TemplateError | LimitExceeded) else type(exc).__name__
        raise TemplateError(plan.path, reason if reason == str(exc) or not str(exc) else f"{reason}: {exc}",
                            transient=isinstance(exc, Starved)) from None


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A compiled route target template: immutable, and safe to render from many threads at once
    (each render has its own Jinja context and its own budget)."""

    plan: Any = field(repr=False)
    max_seconds: float = 0.5
    max_output: int = 256 * 1024

    def render(self, context: Mapping[str, Any]) -> Any:
        """A fresh JSON value for an event context (``hub.delivery.render.template_context``);
        raises :class:`TemplateError` whatever goes wrong."""
        token = CURRENT.set(budget := Budget(self.max_seconds, self.max_output))
        try:
            return _render(self.plan, dict(context), budget)
        except LimitExceeded as exc:  # literal leaves alone outgrew max_output: no one leaf to blame
            raise TemplateError("", str(exc), transient=isinstance(exc, Starved)) from None
        finally:
            CURRENT.reset(token)


def compile_template(template: Any, *, max_seconds: float = 0.5, max_output: int = 256 * 1024) -> CompiledTemplate:
    """Compile a JSON value whose string leaves are templates. Raises :class:`TemplateError`, naming
    the place, for syntax errors, unknown filters or tests, values that are not JSON, nesting
    deeper than 32 containers or more than 2000 leaf values."""
    return CompiledTemplate(_compile_node(_environment(), template, "", 0, [0]), max_seconds, max_output)


def template_context(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """What a template sees: the envelope's keys (``payload``, ``text``, …) and ``event`` for all of it."""
    context = dict(envelope)
    context["event"] = dict(envelope)
    return context
