"""``hookhub plugins new``: the package it writes builds offline, is discovered through its entry
point like any third-party plugin, and its own tests pass against a whole hub (hub.testing)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli.main import build_cli


def new(*args: str):
    return CliRunner().invoke(build_cli(), ["plugins", "new", *args], catch_exceptions=False)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKHUB_", "PYTEST_"))}
    return {**env, **extra}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """Both kinds scaffolded, then built and installed into a folder of their own (not our venv)."""
    parent = tmp_path_factory.mktemp("scaffold")
    for name, kind in (("acme_crm", "provider"), ("pager", "channel")):
        result = new(name, "--kind", kind, "--directory", str(parent))
        assert result.exit_code == 0 and f"created {parent / ('hookhub-' + name.replace('_', '-'))}" in result.output
    site = parent / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                            "--no-index", "--target", str(site), str(parent / "hookhub-acme-crm"),
                            str(parent / "hookhub-pager")], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return parent, site


def test_the_plugins_import_only_the_public_api(installed):
    parent, _ = installed
    for module in (parent / "hookhub-acme-crm/hookhub_acme_crm/__init__.py",
                   parent / "hookhub-pager/hookhub_pager/__init__.py"):
        tree = ast.parse(module.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert {name for name in imported if name.startswith("hub")} == {"hub.plugin"}, imported


def test_the_installed_plugins_are_discovered_through_their_entry_points(installed):
    _, site = installed
    listed = subprocess.run([sys.executable, "-m", "hub", "plugins", "list"], capture_output=True, text=True,
                            env=clean_env(PYTHONPATH=str(site)), timeout=120)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    acme = next(i for i, line in enumerate(lines) if line.startswith("acme_crm "))
    assert "provider" in lines[acme] and "hookhub-acme-crm" in lines[acme] and "0.1.0" in lines[acme]
    assert "registers: acme_crm" in lines[acme + 2]
    pager = next(i for i, line in enumerate(lines) if line.startswith("pager "))
    assert "channel" in lines[pager] and "registers: pager" in lines[pager + 2]


@pytest.mark.parametrize("package, passed", [("hookhub-acme-crm", 3), ("hookhub-pager", 2)])
def test_the_generated_tests_pass_against_a_whole_hub(installed, package, passed):
    parent, site = installed
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=parent / package,
                         capture_output=True, text=True, env=clean_env(PYTHONPATH=str(site)), timeout=300)
    assert run.returncode == 0 and f"{passed} passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]


def test_bad_names_kinds_and_existing_folders_are_clean_errors(tmp_path):
    for name in ("Acme", "a", "acme-crm", "1acme"):
        result = new(name, "--kind", "provider", "--directory", str(tmp_path))
        assert result.exit_code == 1 and "is not a plugin name" in result.output, result.output
    assert new("acme", "--kind", "sink", "--directory", str(tmp_path)).exit_code == 2
    assert new("acme", "--kind", "channel", "--directory", str(tmp_path)).exit_code == 0
    again = new("acme", "--kind", "channel", "--directory", str(tmp_path))
    assert again.exit_code == 1 and "exists already" in again.output


@pytest.mark.parametrize("name, kind, taken_by", [
    ("slack", "channel", ["the provider 'slack' of the plugin 'provider_slack'",
                          "the channel 'slack' of the plugin 'channel_slack'"]),
    ("webhook", "provider", ["the channel 'webhook' of the plugin 'channel_webhook'"]),   # whatever the kind
    ("provider_hmac", "provider", ["the entry point of the installed plugin 'plugins.providers.custom_hmac'"]),
])
def test_a_name_an_installed_plugin_uses_is_refused_with_another_suggested(tmp_path, name, kind, taken_by):
    result = new(name, "--kind", kind, "--directory", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert f"{name!r} is already taken by" in result.output and all(what in result.output for what in taken_by)
    assert f"choose another name, e.g. '{name}_custom'" in result.output
    assert list(tmp_path.iterdir()) == []                         # nothing written
    assert new(f"{name}_custom", "--kind", kind, "--directory", str(tmp_path)).exit_code == 0
