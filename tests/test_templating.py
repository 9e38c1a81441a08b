"""Route target templates: JSON types kept, errors that say where, a sandbox that holds, and
bounds on time and size that trip in well under a second of CPU time, also on a busy worker."""

import dataclasses
import functools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest

from hub.core.templating import MAX_DEPTH, MAX_LEAVES, CompiledTemplate, TemplateError, compile_template
from hub.core.templating import budget as budget_module

ENVELOPE = {
    "id": "evt_1", "workspace": "default", "connection": "crm-deals", "provider": "hmac",
    "received_at": "2026-03-23T15:30:00Z", "event_id": "ext-1", "channel": "#ops", "message_id": "m-1",
    "event_ts": "2026-03-23T15:29:58Z", "text": "Ticket escalated",
    "payload": {"action": "escalated", "count": 3, "ratio": 0.25, "urgent": True, "closed": False, "assignee": None,
                "ticket": {"id": 42, "priority": "high", "tags": ["billing", "vip"]},
                "numbers": list(range(5000)), "blob": "x" * 1000},
    "headers": {"Content-Type": ["application/json"]}, "query": {"key": "k"},
}
CONTEXT = {**ENVELOPE, "event": dict(ENVELOPE)}


def render(template, context=CONTEXT, **limits):
    return compile_template(template, **limits).render(context)


def refused(template, context=CONTEXT, **limits) -> TemplateError:
    """The TemplateError a template raises, whether when it is saved or when it renders."""
    with pytest.raises(TemplateError) as caught:
        render(template, context, **limits)
    return caught.value


# --- types and structure ----------------------------------------------------------------------

@pytest.mark.parametrize(("template", "expected"), [
    ("{{ payload.count }}", 3),
    ("{{ payload.ratio }}", 0.25),
    ("{{ payload.urgent }}", True),
    ("{{ payload.closed }}", False),
    ("{{ payload.assignee }}", None),
    ("{{ none }}", None),
    ("{{ payload.ticket }}", {"id": 42, "priority": "high", "tags": ["billing", "vip"]}),
    ("{{ payload.ticket.tags }}", ["billing", "vip"]),
    ("  {{ payload.count }}\n", 3),
    ("{{ payload.count + 1 }}", 4),
    ("{{ payload.ticket.tags | map('upper') }}", ["BILLING", "VIP"]),
    ("#{{ payload.count }}", "#3"),
    ("{{ payload.count }} tickets", "3 tickets"),
    ("{{ payload.count }}{{ payload.count }}", "33"),
    ("{{ payload.urgent }}!", "True!"),
    ("{{ text }}", "Ticket escalated"),
])
def test_a_lone_expression_keeps_its_json_type_and_anything_else_is_a_string(template, expected):
    result = render(template)
    assert result == expected
    assert type(result) is type(expected)


def test_every_templated_leaf_of_a_nested_structure_renders_and_keys_stay_literal():
    template = {
        "channel": "{{ channel }}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*#{{ payload.ticket.id }}* {{ text }}"}},
                   {"type": "context", "elements": ["{{ payload.ticket.tags }}", 7, None, True, 1.5]}],
        "{{ not_a_template }}": "{{ payload.ticket.priority | upper }}",
        "empty": {"list": [], "object": {}},
    }
    assert render(template) == {
        "channel": "#ops",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*#42* Ticket escalated"}},
                   {"type": "context", "elements": [["billing", "vip"], 7, None, True, 1.5]}],
        "{{ not_a_template }}": "HIGH",
        "empty": {"list": [], "object": {}},
    }


@pytest.mark.parametrize("literal", ["plain text", "100% done } {x} {", "", 0, -1.5, True, None, [], {}])
def test_values_without_template_markers_come_back_unchanged(literal):
    assert render({"v": literal}) == {"v": literal}


def test_the_compiled_template_is_immutable_and_each_render_is_a_fresh_value():
    compiled = compile_template({"tags": "{{ payload.ticket.tags }}", "list": [1]})
    assert isinstance(compiled, CompiledTemplate)
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.max_seconds = 100  # type: ignore[misc]
    first = compiled.render(CONTEXT)
    first["tags"].append("mutated")
    first["list"].append(2)
    assert compiled.render(CONTEXT) == {"tags": ["billing", "vip"], "list": [1]}
    assert CONTEXT["payload"]["ticket"]["tags"] == ["billing", "vip"]


def test_it_renders_the_context_the_delivery_engine_builds():
    from hub.delivery.render import template_context

    template = {"text": "{{ event.connection }}/{{ payload.action }}", "id": "{{ event.payload.ticket.id }}"}
    assert compile_template(template).render(template_context(ENVELOPE)) == {"text": "crm-deals/escalated", "id": 42}


def test_a_payload_key_wins_over_a_dict_method_of_the_same_name():
    context = {"payload": {"items": [{"sku": "A"}, {"sku": "B"}], "keys": "k", "get": 1}, "plain": {"a": 1}}
    template = {"count": "{{ payload.items | length }}", "first": "{{ payload.items[0].sku }}",
                "keys": "{{ payload.keys }}", "get": "{{ payload.get }}", "method": "{{ plain.items() | list }}"}
    assert render(template, context) == {"count": 2, "first": "A", "keys": "k", "get": 1, "method": [["a", 1]]}


def test_autoescape_blocks_escape_values_but_not_the_template_text():
    assert render("{% autoescape true %}<b>{{ '<' }}</b>{{ '<' | e }}{% endautoescape %}") == "<b>&lt;</b>&lt;"


# --- errors that say where ---------------------------------------------------------------------

def test_a_missing_value_at_render_time_names_it_and_its_json_path():
    error = refused({"blocks": [{"text": "Owner: {{ payload.ticket.owner }}"}]})
    assert error.path == "blocks[0].text"
    assert 'template at "blocks[0].text"' in str(error)
    assert "owner" in str(error)


@pytest.mark.parametrize(("template", "path", "name"), [
    ("{{ ticket }}", "(root)", "'ticket' is undefined"),
    ({"text": "{{ payload.missing.deeper.still }}"}, "text", "'missing'"),
    ({"a b": ["{{ payload.nope }}"]}, '["a b"][0]', "'nope'"),
    ({"if": "{% if payload.nope %}yes{% endif %}"}, "if", "'nope'"),
    ({"loop": "{% for x in payload.nope %}{% endfor %}"}, "loop", "'nope'"),
])
def test_using_something_missing_is_an_error_that_names_it(template, path, name):
    error = refused(template)
    assert error.path == path
    assert name in str(error)


def test_a_missing_value_can_be_tested_or_defaulted_even_deep_down():
    template = {"a": "{{ payload.missing | default('n/a') }}", "b": "{{ payload.x.y.z | default(0) }}",
                "c": "{{ payload.missing is defined }}", "d": "{{ payload.count | default(0) }}"}
    assert render(template) == {"a": "n/a", "b": 0, "c": False, "d": 3}


@pytest.mark.parametrize(("template", "path", "fragment"), [
    ({"blocks": [{"text": {"text": "{{ payload.ticket.id }"}}]}, "blocks[0].text.text", "(line 1)"),
    ({"text": "ok\n{% for x in payload %}"}, "text", "(line 2)"),
    ("{{ payload. }}", "(root)", "(line 1)"),
    ({"x": "{% endif %}"}, "x", "endif"),
])
def test_a_syntax_error_is_refused_at_compile_time_with_its_place(template, path, fragment):
    with pytest.raises(TemplateError) as caught:
        compile_template(template)
    assert caught.value.path == path
    assert f'template at "{path}"' in str(caught.value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(("source", "message"), [
    ("{{ payload | no_such_filter }}", "No filter named 'no_such_filter'"),
    ("{% if payload.count %}{{ payload | no_such_filter }}{% endif %}", "No filter named 'no_such_filter'"),
    ("{{ payload is no_such_test }}", "No test named 'no_such_test'"),
    ("{{ 'x' | urlize }}", "No filter named 'urlize'"),
    ("{% include 'other' %}", "not available"),
    ("{% extends 'base' %}", "not available"),
    ("{% import 'macros' as m %}", "not available"),
])
def test_unknown_filters_and_loaders_are_refused_at_compile_time(source, message):
    with pytest.raises(TemplateError) as caught:
        compile_template({"body": {"text": source}})
    assert caught.value.path == "body.text"
    assert message in str(caught.value)


def test_an_exception_inside_a_render_comes_out_as_a_template_error():
    error = refused({"n": "{{ payload.count / 0 }}"})
    assert error.path == "n"
    assert "division by zero" in str(error)


# --- filters -------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("2026-03-23T15:30:00Z", "2026-03-23T15:30:00Z"),
    ("2026-03-23T17:30:00+02:00", "2026-03-23T15:30:00Z"),
    ("2026-03-23T15:30:00.123456", "2026-03-23T15:30:00Z"),
    ("2026-03-23", "2026-03-23T00:00:00Z"),
    (1774279800, "2026-03-23T15:30:00Z"),
    ("1774279800", "2026-03-23T15:30:00Z"),
    (1774279800.9, "2026-03-23T15:30:00Z"),
    (1774279800000, "2026-03-23T15:30:00Z"),
    ("1774279800000", "2026-03-23T15:30:00Z"),
    (datetime(2026, 3, 23, 15, 30, tzinfo=UTC), "2026-03-23T15:30:00Z"),
    (date(2026, 3, 23), "2026-03-23T00:00:00Z"),
])
def test_iso8601_and_datetimeformat_read_iso_text_seconds_milliseconds_and_datetimes(value, expected):
    context = {"when": value}
    assert render("{{ when | iso8601 }}", context) == expected
    assert render("{{ when | datetimeformat }}", context) == expected[:10] + " " + expected[11:16]
    assert render("{{ when | datetimeformat('%d/%m/%Y %H:%M:%S') }}", context) == (
        f"{expected[8:10]}/{expected[5:7]}/{expected[:4]} {expected[11:19]}")


@pytest.mark.parametrize("value", ["tomorrow", "", [1], True, 10**30])
def test_date_filters_refuse_what_is_not_a_date(value):
    assert "cannot read" in str(refused("{{ when | iso8601 }}", {"when": value}))


def test_mrkdwn_escapes_what_slack_would_read_as_mentions_and_links():
    context = {"text": "<!channel> R&D: see <https://evil.example|your bank>"}
    assert render("{{ text | mrkdwn }}", context) == (
        "&lt;!channel&gt; R&amp;D: see &lt;https://evil.example|your bank&gt;")
    assert render("*{{ n | mrkdwn }}*", {"n": 42}) == "*42*"


def test_fromjson_parses_text_and_passes_parsed_values_through():
    context = {"raw": '{"a": [1, 2, {"b": null}]}', "parsed": {"a": 1}}
    assert render("{{ (raw | fromjson).a }}", context) == [1, 2, {"b": None}]
    assert render("{{ parsed | fromjson }}", context) == {"a": 1}
    assert "JSONDecodeError" in str(refused("{{ 'not json' | fromjson }}"))


def test_default_tojson_and_other_builtin_filters():
    template = {
        "default": "{{ payload.missing | default('none given') }}",
        "json": "{{ payload.ticket | tojson }}",
        "truncate": "{{ payload.blob | truncate(10) }}",
        "join": "{{ payload.ticket.tags | join(', ') }}",
        "sorted": "{{ payload.numbers[:3] | sort(reverse=true) | list }}",
        "replace": "{{ text | replace('Ticket', 'Case') }}",
        "format": "{{ '%s-%04d' | format(payload.action, payload.count) }}",
    }
    result = render(template)
    assert json.loads(result.pop("json")) == CONTEXT["payload"]["ticket"]
    assert result == {"default": "none given", "truncate": "xxxxxxx...", "join": "billing, vip",
                      "sorted": [2, 1, 0], "replace": "Case escalated", "format": "escalated-0003"}


# --- the sandbox ----------------------------------------------------------------------------

SSTI_PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ request }}",
    "{{ request.application.__globals__.__builtins__ }}",
    "{{ namespace.__init__ }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ ().__class__ }}",
    "{{ {}.__class__ }}",
    "{{ payload.__class__ }}",
    "{{ payload.items.__self__ }}",
    "{{ range.__globals__ }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ dict.mro() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ ''|attr('__class__') }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ payload|attr('__class__') }}",
    "{{ '{0.__class__}'.format(payload) }}",
    "{{ '{0.__class__.__mro__}'.format_map(payload) }}",
    "{{ '%s'.format }}",
    "{{ self._TemplateReference__context }}",
    "{{ payload.ticket.tags.append('x') }}",
    "{{ payload.ticket.update({'id': 1}) }}",
    "{{ (payload.ticket.tags | map('upper')).gi_frame }}",
    "{{ (payload.ticket.tags | map('upper')).gi_frame.f_globals }}",
]


@pytest.mark.parametrize("payload", SSTI_PAYLOADS)
def test_the_sandbox_refuses_classic_template_injection(payload):
    before = json.dumps(CONTEXT, sort_keys=True)
    refused({"text": payload})
    assert json.dumps(CONTEXT, sort_keys=True) == before


@pytest.mark.parametrize("name", ["cycler", "joiner", "lipsum", "namespace"])
def test_jinjas_other_default_globals_are_gone(name):
    assert str(refused(f"{{{{ {name}.__init__.__globals__ }}}}")).endswith(f"'{name}' is undefined")


def test_range_and_dict_are_the_globals_kept():
    assert render("{{ range(2) }} {{ dict(a=1) }}") == "range(0, 2) {'a': 1}"


@pytest.mark.parametrize("payload", [
    "{{ cycler.__init__.__globals__.os.popen('touch TARGET').read() }}",
    "{{ lipsum.__globals__.os.popen('touch TARGET').read() }}",
    "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch TARGET') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__()[0].__init__.__globals__.os.system('touch TARGET') }}",
    "{% for c in ''.__class__.__base__.__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c(['touch', 'TARGET']) }}{% endif %}{% endfor %}",
    "{{ payload | attr('__class__') | attr('__base__') | attr('__subclasses__') }}",
])
def test_an_injected_command_never_runs(payload, tmp_path):
    target = tmp_path / "pwned"
    refused({"text": payload.replace("TARGET", str(target))})
    assert not target.exists()


# --- bounds ---------------------------------------------------------------------------------

def timed_refusal(template, context=CONTEXT, **limits) -> tuple[str, float]:
    """The message of a refusal and the CPU time this thread spent on it: what the time bound
    counts, and unlike wall-clock time it does not grow with what else the machine is running."""
    started = time.thread_time()
    error = refused(template, context, **limits)
    return str(error), time.thread_time() - started


@pytest.mark.parametrize("template", [
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{% for i in payload.numbers %}{% for j in payload.numbers %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{{ range(10000) | map('string') | map('length') | map('string') | map('length') | list | length }}"
    "{% for i in range(10000) %}{% for j in range(10000) %}{{ '' }}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{% set a = f(n - 1) %}{% set b = f(n - 1) %}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% for x in range(50) recursive %}{% if loop.depth < 30 %}{{ loop(range(50)) }}{% endif %}{% endfor %}",
])
def test_a_render_that_would_run_for_minutes_stops_at_the_time_bound(template):
    started = time.monotonic()
    message, cpu = timed_refusal(template, max_seconds=0.2)
    assert "took longer than 0.2 s" in message
    # Stopped at the bound, not minutes later; the margin is for a busy machine (0.69 s seen under the suite).
    assert 0.2 <= cpu < 0.2 * 5
    assert time.monotonic() - started < 20 * 0.2 + 2  # the wall-clock cap, however busy the machine is


def test_the_default_time_bound_is_half_a_second():
    message, cpu = timed_refusal("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
    assert "took longer than 0.5 s" in message
    assert 0.5 <= cpu < 0.5 * 5          # stopped at the bound, with a busy machine's margin


def test_deep_recursion_is_refused_as_a_template_error():
    message, cpu = timed_refusal("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
    assert "RecursionError" in message
    assert cpu < 0.5


@pytest.mark.parametrize(("template", "limits"), [
    ("{% for i in range(10000) %}{{ payload.blob }}{% endfor %}", {}),
    (["{{ payload.blob * 100 }}"] * 3, {}),
    ({"whole": "{{ payload }}"}, {"max_output": 10_000}),
    ({"a": "{{ payload.blob }}", "b": "{{ payload.blob }}"}, {"max_output": 1500}),
    ({"literal": "y" * 2000}, {"max_output": 1000}),
])
def test_a_render_larger_than_the_output_bound_is_refused(template, limits):
    message, cpu = timed_refusal(template, **limits)
    assert "the rendered message is larger than" in message
    assert cpu < 0.5


def test_the_output_bound_allows_what_fits():
    assert len(render("{% for i in range(256) %}{{ payload.blob }}{% endfor %}")) == 256_000


@pytest.mark.parametrize("template", [
    "{% set x %}{% for i in range(10000) %}{{ payload.blob }}{% endfor %}{% endset %}{{ x | length }}",
    "{% macro m() %}{% for i in range(10000) %}{{ payload.blob }}{% endfor %}{% endmacro %}{{ m() | length }}",
    "{% filter length %}{% for i in range(10000) %}{{ payload.blob }}{% endfor %}{% endfilter %}",
    "{% set a = payload.blob * 100 %}" + "{% set a = a ~ a %}" * 40 + "{{ a | length }}",
    "{% set a = payload.blob * 100 %}" + "{% set a = a + a %}" * 40 + "{{ a | length }}",
    "{% set b = [payload.blob] * 4 %}" + "{% set b = [b, b, b, b] %}" * 30 + "{{ b | length }}",
    "{% set b = [payload.blob] * 4 %}" + "{% set b = {'k': b, 'l': b} %}" * 30 + "{{ b | length }}",
    "{{ range(10000) | map('string') | map('replace', '0', payload.blob * 100) | list | length }}",
    "{{ (range(10000) | map(attribute='x', default=payload.blob * 100) | list) | length }}",
])
def test_text_and_values_built_on_the_way_are_bounded_too(template):
    message, cpu = timed_refusal(template)
    assert "more than" in message
    assert cpu < 0.5


@pytest.mark.parametrize("template", [
    "{{ range(10001) | length }}",
    "{{ range(10 ** 12) | length }}",
    "{{ range(0, 10 ** 18, 2) | list }}",
    "{% for i in range(10 ** 9) %}{% endfor %}",
])
def test_range_gives_at_most_ten_thousand_items(template):
    message, cpu = timed_refusal(template)
    assert "range() may produce at most 10000 items" in message
    assert cpu < 0.2


def test_range_within_its_bound_works():
    assert render("{{ range(10000) | length }}") == 10000
    assert render("{{ range(3) }}") == [0, 1, 2]


@pytest.mark.parametrize("template", [
    "{{ 'a' * 10 ** 9 }}",
    "{{ 10 ** 9 * 'a' }}",
    "{{ [1] * 10 ** 9 }}",
    "{{ (1, 2) * 10 ** 9 }}",
    "{{ 10 ** (10 ** 10) }}",
    "{{ (10 ** 100) ** 1000 }}",
    "{{ (2 ** 8000) * (2 ** 8000) }}",
    "{% set s = 'x' * 4000000 %}{{ s + s }}",
    "{% set l = [0] * 300000 %}{{ l + l }}",
    "{% set l = [payload.blob] * 1000 %}{{ l + l + l + l + l }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '%.999999999f' % 1.5 }}",
    "{{ '%*d' % (10 ** 9, 1) }}",
    "{{ '%0*d' | format(10 ** 9, 1) }}",
    "{{ '%999999999s' | format('x') }}",
    "{{ 'x' | center(10 ** 9) }}",
    "{{ 'x' | indent(10 ** 9) }}",
    "{{ (payload.blob * 1000) | indent(payload.blob) }}",
    "{{ (payload.blob * 1000) | wordwrap(1, wrapstring=payload.blob) }}",
    "{{ (payload.blob * 200) | replace('', payload.blob * 200) }}",
    "{{ ([payload.blob * 100] * 10) | join(payload.blob * 1000) }}",
    "{{ [1] | batch(10 ** 9, 0) | list }}",
    "{{ [1] | slice(10 ** 9, 0) | list }}",
    "{{ payload.ticket | tojson(10 ** 9) }}",
    "{{ ([[0]] * 100000) | sum(start=[]) }}",
    "{{ 'x'.ljust(10 ** 9) }}",
    "{{ 'x'.center(10 ** 9) }}",
    "{{ 'x'.zfill(10 ** 9) }}",
    "{{ '\t'.expandtabs(10 ** 9) }}",
    "{{ payload.blob.join(payload.blob * 1000) }}",
    "{{ '{:>999999999}'.format(1) }}",
])
def test_operations_that_would_allocate_gigabytes_are_refused_before_they_do(template):
    _, cpu = timed_refusal(template)
    assert cpu < 0.5


# --- the time bound on a busy worker -----------------------------------------------------------
# A worker renders in many threads at once: the bound counts a render's own CPU time, so that time
# spent waiting for the GIL is not held against it, and 20 times the bound of wall-clock time.

RUNAWAY = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
BOUNDED_WORK = "{% for i in range(payload.n) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"


@functools.cache
def bounded_work(cpu_seconds: float) -> dict:
    """A context for BOUNDED_WORK that makes it spend about ``cpu_seconds`` of CPU time here."""
    compiled, n = compile_template(BOUNDED_WORK, max_seconds=60), 10
    while True:
        started = time.thread_time()
        compiled.render({"payload": {"n": n}})
        spent = time.thread_time() - started
        if spent > 0.05 or n >= 10_000:
            return {"payload": {"n": max(1, min(10_000, round(n * cpu_seconds / max(spent, 1e-6))))}}
        n *= 4


def cpu_paced_clock(times: float):
    """A wall clock for a render that gets 1/times of a CPU: ``times`` seconds pass for each
    second of this thread's CPU time, whatever the machine is doing."""
    origin = time.thread_time()
    return lambda: times * (time.thread_time() - origin)


def test_a_render_waiting_for_the_cpu_is_not_cut_off_for_time_it_never_had(monkeypatch):
    monkeypatch.setattr(budget_module, "monotonic", cpu_paced_clock(4))
    context = bounded_work(0.1)  # 0.4 s on that clock: past the wall-clock deadline, not the bound
    assert compile_template(BOUNDED_WORK, max_seconds=0.25).render(context) == ""


def test_a_render_waiting_for_the_cpu_still_stops_when_it_used_its_cpu_time(monkeypatch):
    monkeypatch.setattr(budget_module, "monotonic", cpu_paced_clock(4))
    message, cpu = timed_refusal(RUNAWAY, max_seconds=0.25)
    assert "took longer than 0.25 s" in message
    assert 0.25 <= cpu < 0.75


def test_a_render_that_never_gets_its_cpu_time_stops_at_twenty_times_the_bound(monkeypatch):
    monkeypatch.setattr(budget_module, "monotonic", cpu_paced_clock(50))  # 5 s of wall clock at 0.1 s of CPU
    message, cpu = timed_refusal(RUNAWAY, max_seconds=0.25)
    assert "took longer than 5 s of wall-clock time" in message
    assert cpu < 0.25


def test_only_a_starved_render_is_transient(monkeypatch):
    assert refused(RUNAWAY, max_seconds=0.05).transient is False          # it used its CPU time: the template
    monkeypatch.setattr(budget_module, "monotonic", cpu_paced_clock(50))
    assert refused(RUNAWAY, max_seconds=0.05).transient is True           # the busy worker: a retry may do
    assert refused("{{ payload.missing.deeper }}").transient is False


@pytest.fixture
def busy_threads():
    """Three threads burning CPU in pure Python, as other jobs of a worker do: they hold the GIL
    most of the time, so a render in this thread takes about four times its CPU time."""
    stop = threading.Event()

    def burn() -> None:
        while not stop.is_set():
            for _ in range(1000):
                pass

    threads = [threading.Thread(target=burn, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    yield
    stop.set()
    for thread in threads:
        thread.join()


def test_busy_threads_do_not_make_a_render_that_fits_its_bound_fail(busy_threads):
    compiled, context = compile_template(BOUNDED_WORK), bounded_work(0.25)  # half the default bound
    started = time.monotonic()
    assert compiled.render(context) == ""
    if time.monotonic() - started <= 0.5:
        pytest.skip("the busy threads did not slow the render past its bound: nothing was tested")


def test_busy_threads_do_not_keep_a_runaway_render_from_stopping(busy_threads):
    started = time.monotonic()
    message, _ = timed_refusal(RUNAWAY, max_seconds=0.1)
    assert "took longer than" in message  # 0.1 s of CPU time, or 2 s of wall-clock time
    assert time.monotonic() - started < 20 * 0.1 + 2


def test_pow_chains_left_to_right_as_in_jinja():
    assert render("{{ 10 ** 10 ** 10 }}") == 10**100  # (10 ** 10) ** 10, harmless
    assert render("{{ 2 ** 100 }}") == 2**100


# --- limits on the template itself ------------------------------------------------------------

def nested(depth: int):
    value = "{{ payload.count }}"
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_is_limited_to_32_levels():
    result = render(nested(MAX_DEPTH))
    for _ in range(MAX_DEPTH):
        result = result[0]
    assert result == 3
    with pytest.raises(TemplateError) as caught:
        compile_template(nested(MAX_DEPTH + 1))
    assert "deeper than 32" in str(caught.value)
    assert caught.value.path.endswith("[0]" * (MAX_DEPTH + 1))


def test_leaves_are_limited_to_2000():
    assert render(["{{ payload.count }}"] * 10 + [0] * (MAX_LEAVES - 10)) == [3] * 10 + [0] * (MAX_LEAVES - 10)
    with pytest.raises(TemplateError) as caught:
        compile_template({"items": [1] * (MAX_LEAVES + 1)})
    assert caught.value.path == f"items[{MAX_LEAVES}]"
    assert "more than 2000" in str(caught.value)


@pytest.mark.parametrize(("template", "path"), [
    ({"a": {1, 2}}, "a"),
    ({"a": [object()]}, "a[0]"),
    ({"a": b"bytes"}, "a"),
    ({"a": {1: "x"}}, "a"),
])
def test_only_json_values_compile(template, path):
    with pytest.raises(TemplateError) as caught:
        compile_template(template)
    assert caught.value.path == path


# --- JSON out, threads ----------------------------------------------------------------------

class Opaque:
    def __str__(self) -> str:
        return "opaque"


@pytest.mark.parametrize(("template", "context", "expected"), [
    ("{{ (1, 2) }}", {}, [1, 2]),
    ("{{ when }}", {"when": datetime(2026, 3, 23, 15, 30, tzinfo=UTC)}, "2026-03-23T15:30:00+00:00"),
    ("{{ day }}", {"day": date(2026, 3, 23)}, "2026-03-23"),
    ("{{ raw }}", {"raw": b"caf\xc3\xa9"}, "café"),
    ("{{ thing }}", {"thing": Opaque()}, "opaque"),
    ("{{ {1: (2, 3)} }}", {}, {"1": [2, 3]}),
    ("{{ [1, 1, 2] | unique }}", {}, [1, 2]),
    ("{{ data.items() }}", {"data": {"a": 1}}, [["a", 1]]),
    ("{{ range(2) }}", {}, [0, 1]),
    ("{{ 'nan' | float }}", {}, "nan"),
    ("{{ 'inf' | float }}", {}, "inf"),
    ("{{ dict }}", {}, "<class 'dict'>"),
    ("{{ [when] }}", {"when": datetime(2026, 1, 1)}, ["2026-01-01T00:00:00"]),
])
def test_whatever_an_expression_returns_the_result_is_json(template, context, expected):
    result = render({"v": template}, context)
    assert result == {"v": expected}
    json.dumps(result, allow_nan=False)


def test_an_undefined_value_inside_a_result_is_an_error_not_a_silent_null():
    assert "'nope'" in str(refused("{{ [payload.count, payload.nope] }}"))


def test_concurrent_renders_from_many_threads_each_get_their_own_result_and_budget():
    compiled = compile_template({"n": "{{ payload.n }}", "text": "{% for i in range(payload.n) %}{{ i }}{% endfor %}"})
    runaway = compile_template("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
                               max_seconds=0.05)
    stop = threading.Event()

    def render_one(n: int) -> bool:
        return compiled.render({"payload": {"n": n}}) == {"n": n, "text": "".join(str(i) for i in range(n))}

    def keep_timing_out() -> int:  # its deadlines must never leak into the other renders
        count = 0
        while not stop.is_set() or count == 0:
            with pytest.raises(TemplateError, match="took longer"):
                runaway.render({})
            count += 1
        return count

    with ThreadPoolExecutor(max_workers=8) as pool:
        spoiler = pool.submit(keep_timing_out)
        results = list(pool.map(render_one, [n % 50 for n in range(400)]))
        stop.set()
        assert spoiler.result() >= 1
    assert results == [True] * 400


def test_a_budget_is_per_render_so_a_template_may_run_again_and_again():
    compiled = compile_template("{% for i in range(200) %}{{ payload.blob }}{% endfor %}")
    for _ in range(20):
        assert len(compiled.render(CONTEXT)) == 200_000


def test_a_compiled_template_renders_the_same_many_times():
    compiled = compile_template({"text": "*{{ payload.ticket.priority | upper }}* #{{ payload.ticket.id }}",
                                 "when": "{{ received_at | datetimeformat }}", "tags": "{{ payload.ticket.tags }}"})
    first = compiled.render(CONTEXT)
    assert all(compiled.render(CONTEXT) == first for _ in range(200))   # no state leaks between renders
