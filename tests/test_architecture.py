"""The house rules a machine can check: the import contracts (one-way layers, plugins on the public
API, no cycles), a plugin API that is documented to the letter, and hooks that the tests exercise."""

from __future__ import annotations

import configparser
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from importlinter import configuration
from importlinter.application import use_cases
from importlinter.application.app_config import settings

import hub.plugin as plugin_api
from hub.plugin import hookspecs
from tests.hook_calls import CALLED, HOOKS, uncalled
from tests.whole_suite import covers_every_test_file

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "setup.cfg")


# --------------------------------------------------------------------------- import contracts

def test_lint_imports_keeps_every_contract():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", CONFIG, "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(_contract_names())} kept, 0 broken" in result.stdout


class _GraphWith:
    """The real import graph plus one import the code does not have."""

    def __init__(self, builder, importer: str, imported: str) -> None:
        self.builder, self.importer, self.imported = builder, importer, imported

    def build(self, **options):
        graph = self.builder.build(**options)
        graph.add_import(importer=self.importer, imported=self.imported, line_number=1,
                         line_contents=f"import {self.imported}")
        return graph


@pytest.mark.parametrize("importer, imported, broken", [
    # Reaching up a layer; the target imports its way back down, so the packages form a cycle too.
    ("hub.core.ids", "hub.web.app", {"layers", "acyclic", "core"}),    # (and the web brings Flask into the core)
    ("hub.storage.models", "hub.runtime.views", {"layers", "acyclic"}),
    ("hub.delivery.engine", "hub.inbound.gateway", {"layers", "acyclic"}),
    ("hub.services.routes", "hub.web.api.auth", {"layers", "acyclic"}),
    ("hub.services.routes", "hub.worker.sweeper", {"layers"}),          # independent siblings stay independent
    ("plugins.channels.slack", "hub.storage.db", {"plugins"}),          # a plugin past the public API
    ("plugins.providers.meta", "hub.core.errors", {"plugins"}),         # … even to what hub.plugin re-exports
    ("hub.delivery.dispatch", "hub.delivery.engine", {"acyclic"}),      # engine → attempt → dispatch → engine
    ("hub.core.matching", "sqlalchemy", {"core"}),                      # the domain core touching storage
])
def test_a_forbidden_import_breaks_its_contract(capsys, importer, imported, broken):
    configuration.configure()
    builder = settings.GRAPH_BUILDER
    settings.configure(GRAPH_BUILDER=_GraphWith(builder, importer, imported))
    try:
        passed = use_cases.lint_imports(CONFIG, cache_dir=None, no_logo=True)
    finally:
        settings.configure(GRAPH_BUILDER=builder)
    output = capsys.readouterr().out
    assert passed is False
    for key, name in _contract_names().items():
        verdict = "BROKEN" if key in broken else "KEPT"
        assert re.search(rf"{re.escape(name)}\s+{verdict}", output), f"{name} should be {verdict}:\n{output}"


def _contract_names() -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return {section.rsplit(":", 1)[1]: parser[section]["name"] for section in parser.sections()
            if section.startswith("importlinter:contract:")}


def test_the_plugins_contract_forbids_every_hub_package_but_the_plugin_api():
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    forbidden = set(parser["importlinter:contract:plugins"]["forbidden_modules"].split())
    children = {f"hub.{p.stem}" for p in (ROOT / "hub").glob("*.py") if p.stem not in ("__init__", "__main__")}
    children |= {f"hub.{p.parent.name}" for p in (ROOT / "hub").glob("*/__init__.py")}
    assert forbidden == children - {"hub.plugin"}


# --------------------------------------------------------------------------- the plugin API

PUBLIC_BEFORE_THE_SPLIT = [
    "hookimpl", "Provider", "Channel", "ProviderRegistry", "ChannelRegistry", "Headers", "InboundRequest",
    "ConnectionView", "ParsedEvent", "PluginResponse", "EventView", "DeliveryView", "OutboundMessage",
    "HttpRequest", "HttpResponse", "SendResult", "Decision", "Veto", "ProviderConfigSchema",
    "ChannelConfigSchema", "EmptySchema", "HookhubError", "PluginError", "SignatureInvalid",
    "TimestampOutOfWindow", "InvalidPayload", "PayloadTooLarge", "RateLimited", "PermanentFailure",
    "ConfigInvalid", "parse_body", "secure_compare", "parse_retry_after", "secret_field", "interpret_status",
    "http_url_problem", "WebhookUrlChannel", "EventSummary", "PROJECT", *HOOKS,
]


def test_every_name_plugins_imported_from_hub_plugin_is_still_there():
    missing = [name for name in PUBLIC_BEFORE_THE_SPLIT if not hasattr(plugin_api, name)]
    assert missing == []
    assert set(PUBLIC_BEFORE_THE_SPLIT) - set(HOOKS) - {"PROJECT"} <= set(plugin_api.__all__)


def test_the_plugin_api_has_the_designed_hooks():
    assert set(HOOKS) >= {"hub_register_providers", "hub_register_channels", "hub_event_received",
                          "hub_before_delivery", "hub_decide_approval", "hub_delivery_finished",
                          "hub_register_commands", "hub_register_blueprints"}


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_with_each_parameter(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    assert ".. versionadded::" in doc
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name} does not document {param}"


def hook_signature(name: str) -> str:
    """``hub_x(a: A, b: B) -> R`` as the annotations are written in hub/plugin/hookspecs.py."""
    fn = getattr(hookspecs, name)
    annotations = dict(fn.__annotations__)
    returns = annotations.pop("return")
    params = ", ".join(f"{param}: {annotations[param]}" for param in inspect.signature(fn).parameters)
    return f"{name}({params}) -> {returns}"


@pytest.mark.parametrize("name", HOOKS)
def test_docs_plugins_lists_every_hook_with_its_exact_signature(name):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    headings = re.findall(r"^### `(hub_[^`]+)`", docs, flags=re.M)
    assert hook_signature(name) in headings, f"docs/plugins.md has no heading '### `{hook_signature(name)}`'"
    assert len(headings) == len(HOOKS), "docs/plugins.md documents a hook that does not exist"


def test_every_public_name_of_the_plugin_api_has_a_docstring():
    missing = [name for name in plugin_api.__all__
               if inspect.isclass(getattr(plugin_api, name)) or inspect.isfunction(getattr(plugin_api, name))
               if not inspect.getdoc(getattr(plugin_api, name))]
    assert missing == []


@pytest.mark.after_all_others
@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_called_by_a_test(request, name):
    """Datasette's meta-test, by observation: pluggy's hook-call monitoring (tests/hook_calls.py)
    saw the core call the hook while the other tests of this session ran."""
    if not covers_every_test_file(item.path for item in request.session.items):
        pytest.skip("this meta-test reads what the whole suite did; run it with the whole suite")
    assert name not in uncalled(CALLED), f"no test made the core call {name}"
