"""The hook specifications: the marker plugins decorate their functions with, and each hook with
its exact signature. A plugin implements any subset; the core calls them (see docs/plugins.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from hub.plugin.base import ChannelRegistry, ProviderRegistry
from hub.plugin.types import Decision, DeliveryView, EventView, SendResult, Veto

if TYPE_CHECKING:  # pragma: no cover
    import click

PROJECT = "hookhub"
_hookspec = pluggy.HookspecMarker(PROJECT)
#: Marker for plugin hook implementations: ``@hookimpl`` or ``@hookimpl(trylast=True)``.
hookimpl = pluggy.HookimplMarker(PROJECT)


@_hookspec
def hub_register_providers(registry: ProviderRegistry) -> None:
    """Register provider classes with ``registry.add(cls)``.

    :param registry: the app's provider registry.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_register_channels(registry: ChannelRegistry) -> None:
    """Register channel classes with ``registry.add(cls)``.

    :param registry: the app's channel registry.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_event_received(event: EventView) -> None:
    """Observe every accepted event, once, in the worker (never in the request).

    :param event: the stored event with its envelope.
    :return: ignored. An exception is logged and does not stop routing.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_before_delivery(delivery: DeliveryView) -> Veto | None:
    """Inspect a delivery before it is sent; amend ``delivery.body`` / ``delivery.headers`` in
    place, or return a :class:`Veto` to stop it (the delivery ends as ``rejected``).

    :param delivery: the delivery about to be sent.
    :return: ``None`` to let it go, or a :class:`Veto`.

    .. versionadded:: 0.1
    """


@_hookspec(firstresult=True)
def hub_decide_approval(delivery: DeliveryView) -> Decision | None:
    """Decide a delivery held for approval by policy; the first non-``None`` answer wins.

    :param delivery: the delivery waiting for approval.
    :return: a :class:`Decision`, or ``None`` to leave it to an admin.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_delivery_finished(delivery: DeliveryView, result: SendResult, fate: str) -> None:
    """Observe the outcome of every attempt (delivered, retried or failed).

    :param delivery: the delivery that was attempted.
    :param result: the channel's verdict.
    :param fate: what the hub made of it: ``delivered``, ``retry``, ``failed``, or ``dead`` when the
        channel said ``retry`` but no retry is left. An implementation may leave it out of its
        parameters (pluggy passes only those it names).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``fate``.
    """


@_hookspec
def hub_register_commands(cli: click.Group) -> None:
    """Add commands to the ``hookhub`` CLI: ``cli.add_command(my_command)``.

    :param cli: the top-level click group.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_register_blueprints(register: Callable[..., None]) -> None:
    """Add Flask blueprints to the web app: ``register(blueprint, url_prefix="/acme")``.

    :param register: a callable with the signature of ``Flask.register_blueprint``.

    .. versionadded:: 0.1
    """
