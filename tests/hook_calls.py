"""A pytest plugin of the suite (``-p tests.hook_calls``): records, through pluggy's hook-call
monitoring, which ``hub_*`` hooks the core called while the tests ran. The meta-test
``test_every_hook_is_called_by_a_test`` reads the record at the end of the session (under
pytest-xdist, the controller reads every worker's: :mod:`tests.whole_suite`)."""

from __future__ import annotations

from collections import Counter

import pytest

from hub.plugin import hookspecs

#: hook name → how many times the core called it in this process.
CALLED: Counter[str] = Counter()
#: Every hook of the plugin API.
HOOKS = sorted(name for name, fn in vars(hookspecs).items()
               if name.startswith("hub_") and callable(fn) and hasattr(fn, "hookhub_spec"))


def uncalled(called: Counter[str]) -> list[str]:
    """The hooks of the plugin API that ``called`` never saw the core call."""
    return [name for name in HOOKS if called[name] <= 0]


def _record(hook_name: str, _impls: object, _kwargs: object) -> None:
    CALLED[hook_name] += 1


def _ignore(*_args: object) -> None:
    pass


@pytest.hookimpl
def pytest_configure(config: pytest.Config) -> None:
    from hub.runtime.plugin_host import PluginHost

    original = PluginHost.__init__

    def monitored_init(self: PluginHost, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        self.pm.add_hookcall_monitoring(_record, _ignore)

    PluginHost.__init__ = monitored_init  # type: ignore[method-assign]
    config.add_cleanup(lambda: setattr(PluginHost, "__init__", original))


@pytest.hookimpl
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``after_all_others`` run last: they read what the others did."""
    last = [item for item in items if item.get_closest_marker("after_all_others")]
    items[:] = [item for item in items if item not in last] + last
