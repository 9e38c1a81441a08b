"""The ``generic`` provider: the inbound API key is the only check; any body is accepted."""

from hub.plugin import Provider, hookimpl


class GenericProvider(Provider):
    name = "generic"
    title = "Generic (API key)"
    description = "Accepts any request that carries the connection's inbound key; no signature."


@hookimpl
def hub_register_providers(registry):
    registry.add(GenericProvider)
