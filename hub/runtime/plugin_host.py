"""The plugin manager of one app or worker: loads every ``hookhub`` entry point, built-ins
included, and fills the provider and channel registries."""

from __future__ import annotations

import importlib.metadata as md
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy
from flask import Flask, current_app

from hub.core.errors import PluginError
from hub.plugin import ChannelRegistry, ProviderRegistry, hookspecs

log = logging.getLogger(__name__)

GROUP = "hookhub"
BUILTIN_DISTRIBUTION = "hookhub"


@dataclass
class PluginInfo:
    """What ``hookhub plugins list`` and ``GET /api/v1/plugins`` show of one plugin."""

    name: str
    distribution: str
    version: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        kinds = (["provider"] if self.providers else []) + (["channel"] if self.channels else [])
        return "+".join(kinds) or "hooks"


class PluginHost:
    """One pluggy manager and its registries. :meth:`load` may be called more than once."""

    def __init__(self, *, disable: Iterable[str] = (), load_only: Iterable[str] | None = None,
                 entry_points: Iterable[md.EntryPoint] | None = None) -> None:
        self.disable = set(disable)
        self.load_only = None if load_only is None else set(load_only)
        self._entry_points = entry_points
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.providers = ProviderRegistry()
        self.channels = ChannelRegistry()
        self.info: dict[str, PluginInfo] = {}
        self._loaded = False

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def load(self) -> PluginHost:
        if self._loaded:
            return self
        eps = list(self._entry_points if self._entry_points is not None else md.entry_points(group=GROUP))
        if not any(_dist_name(ep) == BUILTIN_DISTRIBUTION for ep in eps):
            raise PluginError(
                "Hookhub's built-in plugins were not found: the 'hookhub' package is not installed, "
                "so its entry points are missing. Install it with `make install` or `pip install -e .`.")
        for ep in eps:
            builtin = _dist_name(ep) == BUILTIN_DISTRIBUTION
            if ep.name in self.disable:
                log.info("plugin %s disabled by HOOKHUB_DISABLE_PLUGINS", ep.name)
                continue
            if not builtin and self.load_only is not None and ep.name not in self.load_only:
                log.info("plugin %s not in HOOKHUB_LOAD_PLUGINS; skipped", ep.name)
                continue
            if self.pm.has_plugin(ep.name):
                continue
            self.register(ep.load(), ep.name, distribution=_dist_name(ep) or "?",
                          version=_dist_version(ep), builtin=builtin)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {exc.plugin!r} implements a hook that does not exist "
                              f"(misspelt?): {exc}") from None
        self._fill_registries()
        self._loaded = True
        return self

    def register(self, plugin: object, name: str, *, distribution: str = "?", version: str = "",
                 builtin: bool = False) -> None:
        """Register one plugin object (a module or an instance with ``@hookimpl`` functions)."""
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} is invalid: {exc}") from None
        except ValueError as exc:
            raise PluginError(f"plugin {name!r} cannot be registered: {exc}") from None
        hooks = sorted(impl_name for impl_name, caller in vars(self.pm.hook).items()
                       if isinstance(caller, pluggy.HookCaller)
                       and any(i.plugin_name == name for i in caller.get_hookimpls()))
        self.info[name] = PluginInfo(name, distribution, version, builtin, hooks)

    def _fill_registries(self) -> None:
        for hook_name, registry, attr in (("hub_register_providers", self.providers, "providers"),
                                          ("hub_register_channels", self.channels, "channels")):
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                registry.current_plugin = impl.plugin_name
                before = set(registry)
                # One plugin at a time, so that each class is attributed to the plugin that added it;
                # through pluggy, so that hook-call monitoring and tracing see the call.
                others = [plugin for _name, plugin in self.pm.list_name_plugin() if plugin is not impl.plugin]
                try:
                    self.pm.subset_hook_caller(hook_name, remove_plugins=others)(registry=registry)
                except PluginError:
                    raise
                except Exception as exc:
                    raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc!r}") from exc
                added = sorted(set(registry) - before)
                info = self.info.get(impl.plugin_name)
                if info is not None:
                    getattr(info, attr).extend(added)


def _dist_name(ep: md.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"].lower() if dist is not None else None


def _dist_version(ep: md.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else ""


def build_host(config: dict[str, Any]) -> PluginHost:
    return PluginHost(disable=config.get("HOOKHUB_DISABLE_PLUGINS", ()),
                      load_only=config.get("HOOKHUB_LOAD_PLUGINS")).load()


def init_app(app: Flask) -> None:
    app.extensions["hookhub.plugins"] = build_host(app.config)


def get_host(app: Flask | None = None) -> PluginHost:
    return (app or current_app).extensions["hookhub.plugins"]
