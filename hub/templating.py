"""Route target templates: a JSON value whose string leaves are sandboxed Jinja templates.

Admins (or whoever holds an admin token) write templates and workers run them on every event,
so a template is untrusted code kept inside three fences:

* **No way out.** Jinja's ``ImmutableSandboxedEnvironment`` refuses ``_`` attributes, Python
  internals and mutation; on top of it ``str.format``/``format_map`` and the ``str`` methods that
  pad or multiply text are refused, and ``include``/``extends``/``import`` fail at save time.
  Globals kept: ``range`` (bounded) and ``dict``. Removed: ``lipsum``, ``cycler``, ``joiner``
  and ``namespace`` (the only way to carry a growing value from one loop iteration to the next).
* **Bounded time.** A render stops after ``max_seconds`` (0.5 s). The deadline is checked on each
  output chunk, loop iteration, call, filter and operator: no threads, no signals.
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
* ``fromjson(value)``: parse JSON text (a value that is not text is returned as it is).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as daytime
from types import MappingProxyType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_DEPTH, MAX_LEAVES, MAX_ITEMS, MAX_INT_BITS = 32, 2000, 10_000, 8192
_MARKERS = ("{{", "{%", "{#")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_TEXT, _SEQUENCES = (str, bytes), (list, tuple, Set)
_AMPLIFYING_STR_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "join", "replace",
                                     "translate", "format", "format_map", "encode"})


class TemplateError(Exception):
    """A template that cannot be compiled or rendered. ``str()`` is a message for an admin that
    names the place in the JSON (``text``, ``blocks[0].text``, ``(root)``)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path or "(root)", reason
        super().__init__(f'template at "{self.path}": {reason}')


class _LimitExceeded(Exception):
    """A bound was hit. Not a LookupError or TypeError, which Jinja would swallow."""


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


class _Budget:
    """What one render may spend. Found through a context variable, so that renders running on
    many threads at once never share one."""

    __slots__ = ("max_seconds", "deadline", "max_output", "max_work", "output", "work")

    def __init__(self, max_seconds: float, max_output: int) -> None:
        self.max_seconds, self.deadline = max_seconds, time.monotonic() + max_seconds
        self.max_output, self.max_work, self.output, self.work = max_output, 16 * max_output, 0, 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise _LimitExceeded(f"rendering took longer than {self.max_seconds:g} s")

    def charge_output(self, size: int) -> None:
        self.output += size
        if self.output > self.max_output:
            raise _LimitExceeded(f"the rendered message is larger than {self.max_output} characters")

    def charge_work(self, size: int) -> None:
        self.work += size
        if self.work > self.max_work:
            raise _LimitExceeded(f"the template builds more than {self.max_work} characters of text")

    def expect(self, size: int, what: str) -> None:
        if size > self.max_work:
            raise _LimitExceeded(f"{what} would build about {size} characters, more than {self.max_work}")

    def weigh(self, value: Any) -> int:
        """About ``len(str(value))``, counting a shared reference each time it occurs; gives up
        as soon as that passes the bound, so it is cheap even for a huge nested value."""
        total, seen, stack, limit = 0, 0, [value], self.max_work
        while stack:
            item = stack.pop()
            kind = type(item)  # exact types first: this loop may see a million items
            if kind is int or kind is bool:
                total += item.bit_length() // 3 + 1
            elif kind is str or isinstance(item, _TEXT):
                total += len(item) + 2
            elif kind is list or kind is tuple or isinstance(item, _SEQUENCES):
                total += 2 + 2 * len(item)
                stack.extend(item)
            elif isinstance(item, Mapping):
                total += 2 + 4 * len(item)
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                total += item.bit_length() // 3 + 1 if isinstance(item, int) else 8
            if total > limit:
                self.expect(total, "this value")
            seen += 1
            if not seen & 1023:
                self.tick()
        return total

    def produced(self, result: Any, inputs: Iterable[Any]) -> Any:
        """Pay for what a call, filter or operator made; handing back an input costs nothing."""
        if not any(result is item for item in inputs):
            if isinstance(result, str):
                self.charge_work(len(result))
            elif isinstance(result, Mapping | list | tuple | Set):
                self.weigh(result)
        return result


_CURRENT: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("hookhub_template_budget", default=None)


def _budget() -> _Budget:
    return _CURRENT.get() or _Budget(0.5, 256 * 1024)


def _check_printf(budget: _Budget, fmt: str, args: Any) -> None:
    total = len(fmt) + budget.weigh(args)
    for width in (part for match in _PRINTF.finditer(fmt) for part in match.group(1, 2) if part):
        if width == "*":
            raise _LimitExceeded("'*' widths are not supported in templates")
        total += int(width) if len(width) < 10 else 10**10
    budget.expect(total, "this formatting")


def _check_at_most(name: str, limit: int) -> Callable[[_Budget, dict[str, Any]], None]:
    def check(budget: _Budget, args: dict[str, Any]) -> None:
        value = args.get(name)
        if isinstance(value, int) and value > limit or isinstance(value, str) and len(value) > limit:
            raise _LimitExceeded(f"{name} must be at most {limit}")
    return check


def _check_join(budget: _Budget, args: dict[str, Any]) -> None:
    items = args["value"] = list(args["value"])
    budget.expect(len(str(args.get("d", ""))) * len(items) + budget.weigh(items), "this join")


def _check_replace(budget: _Budget, args: dict[str, Any]) -> None:
    text, old, new, count = str(args["s"]), str(args["old"]), str(args["new"]), args.get("count")
    hits = text.count(old) if old else len(text) + 1
    hits = min(hits, count) if isinstance(count, int) and count >= 0 else hits
    budget.expect(len(text) + hits * max(0, len(new) - len(old)), "this replace")


def _check_indent(budget: _Budget, args: dict[str, Any]) -> None:
    text, width = str(args["s"]), args.get("width", 4)
    per_line = len(width) if isinstance(width, str) else int(width)
    budget.expect(len(text) + (text.count("\n") + 1) * per_line, "this indent")


def _check_wordwrap(budget: _Budget, args: dict[str, Any]) -> None:
    text, width = str(args["s"]), max(int(args.get("width", 79)), 1)
    lines = len(text) // width + text.count("\n") + 1
    budget.expect(len(text) + lines * len(args.get("wrapstring") or "\n"), "this wordwrap")


def _check_sum(budget: _Budget, args: dict[str, Any]) -> None:
    if not isinstance(args.get("start", 0), int | float):
        raise _LimitExceeded("sum only adds numbers in templates")  # adding lists is quadratic


_PRECHECKS: dict[str, Callable[[_Budget, dict[str, Any]], None]] = {
    "center": lambda budget, args: budget.expect(int(args.get("width", 80)), "this center"),
    "format": lambda budget, args: _check_printf(budget, str(args["value"]), args.get("kwargs") or args.get("args")),
    "batch": _check_at_most("linecount", MAX_ITEMS), "slice": _check_at_most("slices", MAX_ITEMS),
    "tojson": _check_at_most("indent", 16), "join": _check_join, "replace": _check_replace,
    "indent": _check_indent, "wordwrap": _check_wordwrap, "sum": _check_sum,
}


def _guarded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the deadline, refuses amplifying arguments and pays for its result.
    It takes the context, which also stops Jinja from running it at compile time."""
    wants = getattr(getattr(fn, "jinja_pass_arg", None), "name", "")
    precheck, signature = _PRECHECKS.get(name), inspect.signature(fn)

    @jinja2.pass_context
    def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.tick()
        lead = {"context": (context,), "eval_context": (context.eval_ctx,),
                "environment": (context.environment,)}.get(wants, ())
        if precheck is not None:
            bound = signature.bind(*lead, *args, **kwargs)
            precheck(budget, bound.arguments)  # may replace an iterator it had to read
            lead, args, kwargs = (), bound.args, bound.kwargs
        return budget.produced(fn(*lead, *args, **kwargs), (*args, *kwargs.values()))
    guarded.__name__ = guarded.__qualname__ = name
    return guarded


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


def fromjson(value: Any) -> Any:
    """Parse JSON text; a value that is not text was parsed already and is returned as it is."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _bounded_range(*args: int) -> range:
    _budget().tick()
    numbers = range(*args)
    if len(numbers) > MAX_ITEMS:
        raise _LimitExceeded(f"range() may produce at most {MAX_ITEMS} items")
    return numbers


@jinja2.pass_context
def _iterate(context: Context, iterable: Any) -> Iterator[Any]:
    """Every ``{% for %}`` loops through this, so nested loops over anything meet the deadline."""
    budget = _budget()
    for item in iterable:
        budget.tick()
        yield item


@jinja2.pass_context
def _text(context: Context, value: Any) -> str:
    """Every piece of output passes here, also what macros and ``{% set %}`` blocks capture,
    which the per-chunk check of a render never sees. (The value was weighed when it was built.)"""
    budget = _budget()
    budget.tick()
    text = value if isinstance(value, str) else str(value)  # Markup stays Markup: no double escaping
    budget.charge_work(len(text))
    return text


@jinja2.pass_context
def _concat(context: Context, values: list[Any]) -> str:
    """``a ~ b`` cannot be intercepted, and doubling a string forty times is a short template."""
    _budget().weigh(values)
    return _text(context, "".join(str(value) for value in values))


@jinja2.pass_context
def _literal(context: Context, value: Any) -> Any:
    """List, tuple and dict literals: ``[b, b, b, b]`` nested twenty times is a short template."""
    _budget().weigh(value)
    return value


class _HubSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})  # also keeps Jinja from folding them at compile time

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _AMPLIFYING_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # JSON first: payload.items is a webhook's "items" key, not dict.items (Jinja prefers the method)
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # cycler.__init__ with cycler undefined: report "'cycler' is undefined"
        return obj if isinstance(obj, jinja2.Undefined) else super().unsafe_undefined(obj, attribute)

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format is refused by is_safe_attribute: '{:>999999999}' allocates

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.tick()
        ints = isinstance(left, int) and isinstance(right, int)
        if ints and (operator == "*" and left.bit_length() + right.bit_length() > MAX_INT_BITS or operator == "**"
                     and right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS):
            raise _LimitExceeded(f"numbers are limited to {MAX_INT_BITS} bits")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and times > 1:
                    budget.expect(budget.weigh(seq) * times, "this repetition")
        elif operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            budget.expect(budget.weigh(left) * 2 if left is right else budget.weigh(left) + budget.weigh(right),
                          "this concatenation")
        elif operator == "%" and isinstance(left, str):
            _check_printf(budget, left, right)
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str) and result is not left and result is not right:
            budget.charge_work(len(result))  # lists and tuples were weighed before they were built
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.tick()  # macros, caller(), loop() and methods: recursion meets the deadline
        return budget.produced(super().call(context, obj, *args, **kwargs), (obj, *args, *kwargs.values()))


@functools.cache
def _environment() -> _HubSandbox:
    """Built on first use, not at import."""
    env = _HubSandbox(autoescape=False, undefined=_Undefined, keep_trailing_newline=True, cache_size=0)
    env.globals.clear()
    env.globals.update(range=_bounded_range, dict=dict)
    filters = {name: fn for name, fn in env.filters.items() if name != "urlize"}
    filters.update(datetimeformat=datetimeformat, iso8601=iso8601, fromjson=fromjson)
    env.filters = {name: _guarded(name, fn) for name, fn in filters.items()}
    env.filters.update(hookhub_iter=_iterate, hookhub_text=_text, hookhub_concat=_concat, hookhub_literal=_literal)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": str}
    return env


def _harden(node: nodes.Node, env: _HubSandbox) -> nodes.Node:
    """Rewrite a parsed template so that loops, output, ``~`` and literals go through the checks
    above, and refuse now what would otherwise only fail when an event comes."""
    for name, value in node.iter_fields():
        if isinstance(value, list):
            setattr(node, name, [_harden(item, env) if isinstance(item, nodes.Node) else item for item in value])
        elif isinstance(value, nodes.Node):
            setattr(node, name, _harden(value, env))

    def wrap(filter_name: str, expr: nodes.Expr) -> nodes.Filter:
        return nodes.Filter(expr, filter_name, [], [], None, None, lineno=node.lineno)

    if isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
        raise jinja2.TemplateAssertionError("extends, include and import are not available", node.lineno)
    if isinstance(node, nodes.Filter | nodes.Test):  # Jinja would wait for render time inside {% if %}
        kind, known = ("filter", env.filters) if isinstance(node, nodes.Filter) else ("test", env.tests)
        if node.name not in known:
            raise jinja2.TemplateAssertionError(f"No {kind} named {node.name!r}.", node.lineno)
    if isinstance(node, nodes.For):
        node.iter = wrap("hookhub_iter", node.iter)
    elif isinstance(node, nodes.Output):
        node.nodes = [wrap("hookhub_text", nodes.MarkSafe(nodes.Const(part.data), lineno=part.lineno)
                           if isinstance(part, nodes.TemplateData) else part) for part in node.nodes]
    elif isinstance(node, nodes.Concat):
        return wrap("hookhub_concat", nodes.List(node.nodes, lineno=node.lineno))
    elif isinstance(node, nodes.List | nodes.Dict) or isinstance(node, nodes.Tuple) and node.ctx == "load":
        return wrap("hookhub_literal", node)
    return node


@dataclass(frozen=True, slots=True)
class _Leaf:
    path: str
    template: jinja2.Template
    native: bool  # a lone {{ expression }}, which keeps its JSON type


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return (f"{path}.{key}" if path else key) if _IDENTIFIER.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _compile_leaf(env: _HubSandbox, source: str, path: str) -> _Leaf:
    try:
        tree = env.parse(source)
        body = tree.body[0].nodes if len(tree.body) == 1 and isinstance(tree.body[0], nodes.Output) else []
        parts = [part for part in body if not (isinstance(part, nodes.TemplateData) and not part.data.strip())]
        native = len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData)
        if native:  # what compile_expression does, but through _harden
            tree = nodes.Template([nodes.Assign(nodes.Name("result", "store"), parts[0], lineno=1)], lineno=1)
        tree = _harden(tree, env)
        tree.set_environment(env)
        return _Leaf(path, env.from_string(tree), native)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(path, f"{exc.message} (line {exc.lineno})") from None
    except RecursionError:
        raise TemplateError(path, "the expression is nested too deeply") from None


def _compile_node(env: _HubSandbox, value: Any, path: str, depth: int, leaves: list[int]) -> Any:
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


def _to_json(value: Any, budget: _Budget) -> Any:
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


def _render(plan: Any, context: dict[str, Any], budget: _Budget) -> Any:
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
        reason = str(exc) if isinstance(exc, jinja2.TemplateError | _LimitExceeded) else type(exc).__name__
        raise TemplateError(plan.path, reason if reason == str(exc) or not str(exc) else f"{reason}: {exc}") from None


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
        token = _CURRENT.set(budget := _Budget(self.max_seconds, self.max_output))
        try:
            return _render(self.plan, dict(context), budget)
        except _LimitExceeded as exc:  # literal leaves alone outgrew max_output: no one leaf to blame
            raise TemplateError("", str(exc)) from None
        finally:
            _CURRENT.reset(token)


def compile_template(template: Any, *, max_seconds: float = 0.5, max_output: int = 256 * 1024) -> CompiledTemplate:
    """Compile a JSON value whose string leaves are templates. Raises :class:`TemplateError`, naming
    the place, for syntax errors, unknown filters or tests, values that are not JSON, nesting
    deeper than 32 containers or more than 2000 leaf values."""
    return CompiledTemplate(_compile_node(_environment(), template, "", 0, [0]), max_seconds, max_output)
