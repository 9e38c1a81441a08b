"""The house rules a machine can check: one-way imports, and a documented, tested plugin API."""

import ast
import inspect
from pathlib import Path

import pytest

import hub.plugin as plugin_api

ROOT = Path(__file__).resolve().parent.parent
WEB_MODULES = ("flask_smorest", "hub.web.api", "hub.web.hook_endpoint", "hub.console")


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", python_files("plugins"), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_public_plugin_api(path):
    bad = [name for name in imports_of(path)
           if (name == "hub" or name.startswith("hub.")) and not name.startswith("hub.plugin")]
    assert bad == [], f"{path.relative_to(ROOT)} reaches into hub internals: {bad}"


LOWER_LAYERS = [p for p in python_files("hub")
                if not any(part in ("api", "console") for part in p.relative_to(ROOT).parts)
                and p.name not in ("routes.py", "app.py", "cli.py", "serve.py", "__main__.py")]


@pytest.mark.parametrize("path", LOWER_LAYERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_below_the_web_layer_imports_it(path):
    bad = [name for name in imports_of(path) if name.startswith(WEB_MODULES)]
    assert bad == [], f"{path.relative_to(ROOT)} imports the web layer: {bad}"


HOOKS = sorted(name for name, fn in vars(plugin_api).items()
               if name.startswith("hub_") and callable(fn) and hasattr(fn, "hookhub_spec"))


def test_the_plugin_api_has_the_designed_hooks():
    assert set(HOOKS) >= {"hub_register_providers", "hub_register_channels", "hub_event_received",
                          "hub_before_delivery", "hub_decide_approval", "hub_delivery_finished",
                          "hub_register_commands", "hub_register_blueprints"}


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_with_each_parameter(name):
    fn = getattr(plugin_api, name)
    doc = inspect.getdoc(fn) or ""
    assert ".. versionadded::" in doc
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name} does not document {param}"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_exercised_by_a_test(name):
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_architecture.py")
    assert f"def {name}(" in tests, f"no test implements {name}"


def test_every_public_name_of_the_plugin_api_has_a_docstring():
    missing = [name for name in plugin_api.__all__
               if inspect.isclass(getattr(plugin_api, name)) or inspect.isfunction(getattr(plugin_api, name))
               if not inspect.getdoc(getattr(plugin_api, name))]
    assert missing == []
