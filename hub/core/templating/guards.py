"""The checks that make a render pay its budget: the sandbox's attribute policy and guarded
operators and calls, filters that refuse amplifying arguments, a bounded ``range``, and the
rewrite of a parsed template that routes its loops, output, ``~`` and literals through them,
because Jinja alone would let a short template run for minutes or allocate gigabytes."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hub.core.templating.budget import Budget, LimitExceeded, current

MAX_ITEMS, MAX_INT_BITS = 10_000, 8192
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_AMPLIFYING_STR_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "join", "replace",
                                     "translate", "format", "format_map", "encode"})


def _check_printf(budget: Budget, fmt: str, args: Any) -> None:
    total = len(fmt) + budget.weigh(args)
    for width in (part for match in _PRINTF.finditer(fmt) for part in match.group(1, 2) if part):
        if width == "*":
            raise LimitExceeded("'*' widths are not supported in templates")
        total += int(width) if len(width) < 10 else 10**10
    budget.expect(total, "this formatting")


def _check_at_most(name: str, limit: int) -> Callable[[Budget, dict[str, Any]], None]:
    def check(budget: Budget, args: dict[str, Any]) -> None:
        value = args.get(name)
        if isinstance(value, int) and value > limit or isinstance(value, str) and len(value) > limit:
            raise LimitExceeded(f"{name} must be at most {limit}")
    return check


def _check_join(budget: Budget, args: dict[str, Any]) -> None:
    items = args["value"] = list(args["value"])
    budget.expect(len(str(args.get("d", ""))) * len(items) + budget.weigh(items), "this join")


def _check_replace(budget: Budget, args: dict[str, Any]) -> None:
    text, old, new, count = str(args["s"]), str(args["old"]), str(args["new"]), args.get("count")
    hits = text.count(old) if old else len(text) + 1
    hits = min(hits, count) if isinstance(count, int) and count >= 0 else hits
    budget.expect(len(text) + hits * max(0, len(new) - len(old)), "this replace")


def _check_indent(budget: Budget, args: dict[str, Any]) -> None:
    text, width = str(args["s"]), args.get("width", 4)
    per_line = len(width) if isinstance(width, str) else int(width)
    budget.expect(len(text) + (text.count("\n") + 1) * per_line, "this indent")


def _check_wordwrap(budget: Budget, args: dict[str, Any]) -> None:
    text, width = str(args["s"]), max(int(args.get("width", 79)), 1)
    lines = len(text) // width + text.count("\n") + 1
    budget.expect(len(text) + lines * len(args.get("wrapstring") or "\n"), "this wordwrap")


def _check_sum(budget: Budget, args: dict[str, Any]) -> None:
    if not isinstance(args.get("start", 0), int | float):
        raise LimitExceeded("sum only adds numbers in templates")  # adding lists is quadratic


_PRECHECKS: dict[str, Callable[[Budget, dict[str, Any]], None]] = {
    "center": lambda budget, args: budget.expect(int(args.get("width", 80)), "this center"),
    "format": lambda budget, args: _check_printf(budget, str(args["value"]), args.get("kwargs") or args.get("args")),
    "batch": _check_at_most("linecount", MAX_ITEMS), "slice": _check_at_most("slices", MAX_ITEMS),
    "tojson": _check_at_most("indent", 16), "join": _check_join, "replace": _check_replace,
    "indent": _check_indent, "wordwrap": _check_wordwrap, "sum": _check_sum,
}


def guarded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the deadline, refuses amplifying arguments and pays for its result.
    It takes the context, which also stops Jinja from running it at compile time."""
    wants = getattr(getattr(fn, "jinja_pass_arg", None), "name", "")
    precheck, signature = _PRECHECKS.get(name), inspect.signature(fn)

    @jinja2.pass_context
    def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
        budget = current()
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


def bounded_range(*args: int) -> range:
    """The ``range`` global: at most :data:`MAX_ITEMS` items."""
    current().tick()
    numbers = range(*args)
    if len(numbers) > MAX_ITEMS:
        raise LimitExceeded(f"range() may produce at most {MAX_ITEMS} items")
    return numbers


class HubSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox without ``str.format`` and the ``str`` methods that pad or multiply
    text, with JSON keys before methods, and with operators and calls that pay their budget."""

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
        budget = current()
        budget.tick()
        ints = isinstance(left, int) and isinstance(right, int)
        if ints and (operator == "*" and left.bit_length() + right.bit_length() > MAX_INT_BITS or operator == "**"
                     and right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS):
            raise LimitExceeded(f"numbers are limited to {MAX_INT_BITS} bits")
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
        budget = current()
        budget.tick()  # macros, caller(), loop() and methods: recursion meets the deadline
        return budget.produced(super().call(context, obj, *args, **kwargs), (obj, *args, *kwargs.values()))


@jinja2.pass_context
def _iterate(context: Context, iterable: Any) -> Iterator[Any]:
    """Every ``{% for %}`` loops through this, so nested loops over anything meet the deadline."""
    budget = current()
    for item in iterable:
        budget.tick()
        yield item


@jinja2.pass_context
def _text(context: Context, value: Any) -> str:
    """Every piece of output passes here, also what macros and ``{% set %}`` blocks capture,
    which the per-chunk check of a render never sees. (The value was weighed when it was built.)"""
    budget = current()
    budget.tick()
    text = value if isinstance(value, str) else str(value)  # Markup stays Markup: no double escaping
    budget.charge_work(len(text))
    return text


@jinja2.pass_context
def _concat(context: Context, values: list[Any]) -> str:
    """``a ~ b`` cannot be intercepted, and doubling a string forty times is a short template."""
    current().weigh(values)
    return _text(context, "".join(str(value) for value in values))


@jinja2.pass_context
def _literal(context: Context, value: Any) -> Any:
    """List, tuple and dict literals: ``[b, b, b, b]`` nested twenty times is a short template."""
    current().weigh(value)
    return value


HOOK_FILTERS = {"hookhub_iter": _iterate, "hookhub_text": _text, "hookhub_concat": _concat,
                "hookhub_literal": _literal}  # what harden() wraps nodes in: register them with the environment


def harden(node: nodes.Node, env: jinja2.Environment) -> nodes.Node:
    """Rewrite a parsed template so that loops, output, ``~`` and literals go through the checks
    above, and refuse now what would otherwise only fail when an event comes."""
    for name, value in node.iter_fields():
        if isinstance(value, list):
            setattr(node, name, [harden(item, env) if isinstance(item, nodes.Node) else item for item in value])
        elif isinstance(value, nodes.Node):
            setattr(node, name, harden(value, env))

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
