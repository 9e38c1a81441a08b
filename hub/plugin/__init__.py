"""The public plugin API of Hookhub: everything a provider or channel plugin imports.

A plugin is a module (or object) with ``@hookimpl`` functions, exposed through an entry point
of group ``hookhub``::

    [options.entry_points]
    hookhub =
        acme = hookhub_acme.plugin

Registration hooks hand classes to the core::

    @hookimpl
    def hub_register_channels(registry):
        registry.add(AcmeChannel)

Behaviour hooks observe or steer the pipeline (``hub_event_received``,
``hub_before_delivery``, ``hub_decide_approval``, ``hub_delivery_finished``, …).

Plugins import only this package; it re-exports everything they need, so that nothing else in
``hub`` is public: the hook marker and specifications (:mod:`hub.plugin.hookspecs`), the data types
(:mod:`hub.plugin.types`), the base classes, schemas and registries (:mod:`hub.plugin.base`), the
errors a plugin raises (defined in :mod:`hub.core.errors`) and the helpers (:mod:`hub.plugin.helpers`).
"""

from hub.core.errors import (
    ConfigInvalid,
    HookhubError,
    InvalidPayload,
    PayloadTooLarge,
    PermanentFailure,
    PluginError,
    RateLimited,
    SignatureInvalid,
    TimestampOutOfWindow,
)
from hub.core.payloads import parse_body
from hub.plugin.base import (
    Channel,
    ChannelConfigSchema,
    ChannelRegistry,
    EmptySchema,
    Provider,
    ProviderConfigSchema,
    ProviderRegistry,
    WebhookUrlChannel,
    interpret_status,
)
from hub.plugin.helpers import (
    check_timestamp_age,
    dict_or_empty,
    hex_sha256_signature,
    hmac_sha256_matches,
    http_url_problem,
    parse_retry_after,
    required_header,
    secret_field,
    secure_compare,
    text_or_none,
    truncate,
    unix_time_iso,
    utf16_units,
)
from hub.plugin.hookspecs import (  # noqa: F401 - the specs stay importable from here, as before the split
    PROJECT,
    hookimpl,
    hub_before_delivery,
    hub_decide_approval,
    hub_delivery_finished,
    hub_event_received,
    hub_register_blueprints,
    hub_register_channels,
    hub_register_commands,
    hub_register_providers,
)
from hub.plugin.types import (
    ConnectionView,
    Decision,
    DeliveryView,
    EventSummary,
    EventView,
    Headers,
    HttpRequest,
    HttpResponse,
    InboundRequest,
    OutboundMessage,
    ParsedEvent,
    PluginResponse,
    SendResult,
    Veto,
)

__all__ = [
    "hookimpl", "Provider", "Channel", "ProviderRegistry", "ChannelRegistry",
    "Headers", "InboundRequest", "ConnectionView", "ParsedEvent", "PluginResponse",
    "EventView", "DeliveryView", "OutboundMessage", "HttpRequest", "HttpResponse", "SendResult",
    "Decision", "Veto", "ProviderConfigSchema", "ChannelConfigSchema", "EmptySchema",
    "HookhubError", "PluginError", "SignatureInvalid", "TimestampOutOfWindow", "InvalidPayload",
    "PayloadTooLarge", "RateLimited", "PermanentFailure", "ConfigInvalid",
    "parse_body", "secure_compare", "parse_retry_after", "secret_field",
    "interpret_status", "http_url_problem", "WebhookUrlChannel", "EventSummary",
    # added with the package split
    "truncate", "utf16_units", "required_header", "hex_sha256_signature", "hmac_sha256_matches",
    "check_timestamp_age", "unix_time_iso", "dict_or_empty", "text_or_none",
]
