"""Plugin discovery: built-ins through setup.cfg, a fake third-party distribution found by
importlib.metadata on sys.path (nothing installed), the env switches, and loud failures."""

import importlib.metadata as md
import sys
import textwrap
from contextlib import closing

import pytest

from hub.plugin import Channel, PluginError, Provider, ProviderRegistry
from hub.runtime.plugin_host import PluginHost, build_host

BUILTINS = {"provider_generic"}


def make_distribution(root, name, module_source, entry_name="acme", module="hookhub_acme_plugin"):
    """A real dist-info folder + module on sys.path: importlib.metadata discovers it for real."""
    (root / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[hookhub]\n{entry_name} = {module}\n")
    return module


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    created = []

    def add(source, entry_name="acme", module="hookhub_acme_plugin", dist="hookhub-acme"):
        created.append(make_distribution(tmp_path, dist, source, entry_name, module))
        return module

    yield add
    for module in created:
        sys.modules.pop(module, None)


ACME = """
from hub.plugin import Channel, HttpRequest, hookimpl

class AcmeChannel(Channel):
    name = "acme"
    title = "Acme pager"

    def build(self, message, conn):
        return HttpRequest("POST", "https://acme.example/page")

seen = []

@hookimpl
def hub_register_channels(registry):
    registry.add(AcmeChannel)

@hookimpl
def hub_event_received(event):
    seen.append(event.id)
"""


def test_builtins_load_through_their_entry_points():
    host = PluginHost().load()
    assert BUILTINS <= set(host.info)
    assert all(host.info[name].builtin and host.info[name].distribution == "hookhub" for name in BUILTINS)
    assert "generic" in host.providers
    assert host.providers.origin("generic") == "provider_generic"
    assert host.info["provider_generic"].kind == "provider"
    assert host.info["provider_generic"].hooks == ["hub_register_providers"]


def test_third_party_distribution_is_discovered_and_its_hooks_called(third_party):
    third_party(ACME)
    host = PluginHost().load()
    info = host.info["acme"]
    assert (info.distribution, info.version, info.builtin, info.kind) == ("hookhub-acme", "1.2.3", False, "channel")
    assert info.hooks == ["hub_event_received", "hub_register_channels"]
    assert isinstance(host.channels.get("acme"), Channel)
    host.hook.hub_event_received(event=type("E", (), {"id": "evt_1"})())
    assert sys.modules["hookhub_acme_plugin"].seen == ["evt_1"]


def test_disable_switch_skips_a_plugin_builtin_or_not(third_party):
    third_party(ACME)
    host = build_host({"HOOKHUB_DISABLE_PLUGINS": ("acme", "provider_generic")})
    assert "acme" not in host.info and "acme" not in host.channels
    assert "generic" not in host.providers


def test_load_switch_restricts_third_party_plugins_but_keeps_builtins(third_party):
    third_party(ACME)
    only_none = build_host({"HOOKHUB_LOAD_PLUGINS": ()})
    assert "acme" not in only_none.info
    assert "generic" in only_none.providers
    only_acme = build_host({"HOOKHUB_LOAD_PLUGINS": ("acme",)})
    assert "acme" in only_acme.channels


def test_misspelt_hook_fails_loudly(third_party):
    third_party("""
        from hub.plugin import hookimpl

        @hookimpl
        def hub_regster_providers(registry):
            pass
    """, entry_name="typo", module="hookhub_typo_plugin", dist="hookhub-typo")
    with pytest.raises(PluginError, match="hub_regster_providers"):
        PluginHost().load()


def test_hook_with_an_unknown_argument_is_refused(third_party):
    third_party("""
        from hub.plugin import hookimpl

        @hookimpl
        def hub_register_providers(registry, colour):
            pass
    """, entry_name="badarg", module="hookhub_badarg_plugin", dist="hookhub-badarg")
    with pytest.raises(PluginError, match="badarg"):
        PluginHost().load()


def test_two_plugins_registering_the_same_name_fail_naming_both(third_party):
    third_party("""
        from hub.plugin import Provider, hookimpl

        class Clash(Provider):
            name = "generic"

        @hookimpl
        def hub_register_providers(registry):
            registry.add(Clash)
    """, entry_name="clash", module="hookhub_clash_plugin", dist="hookhub-clash")
    names = "'(clash|provider_generic)'"
    with pytest.raises(PluginError, match=f"registered twice: by {names} and {names}"):
        PluginHost().load()


def test_missing_builtins_give_an_install_hint():
    foreign = [md.EntryPoint(name="other", value="json", group="hookhub")]  # not from our distribution
    with pytest.raises(PluginError, match="not installed.*make install"):
        PluginHost(entry_points=foreign).load()


def test_load_can_run_twice_without_double_registration():
    host = PluginHost()
    host.load()
    host.load()
    assert list(host.providers).count("generic") == 1


def test_registry_refuses_bad_names_and_non_plugin_classes():
    registry = ProviderRegistry()

    class Bad(Provider):
        name = "Has Spaces"

    with pytest.raises(PluginError, match="slug"):
        registry.add(Bad)
    with pytest.raises(PluginError, match="subclass of Provider"):
        registry.add(Channel)


EXTENDER = """
import click
from flask import Blueprint, jsonify
from hub.plugin import hookimpl

bp = Blueprint("acme_extra", __name__)

@bp.get("/acme/ping")
def ping():
    return jsonify({"pong": True})

@click.command("acme-hello")
def hello():
    click.echo("hello from acme")

@hookimpl
def hub_register_commands(cli):
    cli.add_command(hello)

@hookimpl
def hub_register_blueprints(register):
    register(bp)
"""


def test_plugins_add_cli_commands_and_blueprints(third_party, tmp_path, redis_url, redis_client, settings):
    from click.testing import CliRunner

    from hub.cli.main import build_cli
    from hub.testing import make_app

    third_party(EXTENDER, entry_name="extender", module="hookhub_extender_plugin", dist="hookhub-extender")
    result = CliRunner().invoke(build_cli(), ["acme-hello"])
    assert result.exit_code == 0 and result.output.strip() == "hello from acme"
    with closing(make_app(tmp_path / "instance", redis_url, **settings)) as app:
        assert app.test_client().get("/acme/ping").json == {"pong": True}
