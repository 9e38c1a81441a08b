"""A connection's secrets as an admin writes them: write-only values, the placeholder (or masked URL)
that keeps a stored one, the secrets a plugin requires, and the checks of what the core itself uses
on the outbound side: the Standard Webhooks signing secret (the core signs) and the mutual-TLS
client certificate and key (the core connects)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from hub.delivery.signing import decode_secret
from hub.outbound.mtls import KEY_FIELD, client_certificate_problems
from hub.runtime.views import SecretStore

SECRET_PLACEHOLDER = "********"  # noqa: S105 - the masked value, not a secret


def mask_url(url: str) -> str:
    """``https://hooks.slack.com/…AbCd``: the host and the last 4 characters, never the token."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return SECRET_PLACEHOLDER
    if not parts.scheme or not parts.netloc:
        return SECRET_PLACEHOLDER
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}/…{url[-4:]}" if len(url) > 12 else f"{parts.scheme}://{host}/…"


def apply_secrets(incoming: Mapping[str, Any], store: SecretStore, allowed: Collection[str],
                  required: Mapping[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    """Write ``incoming`` into ``store``: a value replaces the stored one, ``None`` or ``""`` removes
    it, the placeholder (or the masked URL) keeps it. ``required`` maps each required secret to the
    plugin that requires it. Returns the names that changed and the problems by secret name."""
    changed: list[str] = []
    problems: dict[str, list[str]] = {}
    for name, value in incoming.items():
        if name not in allowed:
            problems[name] = [f"not a secret of this connection; expected one of: "
                              f"{', '.join(sorted(allowed)) or 'none'}"]
            continue
        if value is None or value == "":
            if store.current.pop(name, None) is not None:
                changed.append(name)
            continue
        if not isinstance(value, str):
            problems[name] = ["must be a string"]
            continue
        if value == SECRET_PLACEHOLDER or (value.startswith(("http://", "https://")) and "/…" in value):
            continue  # the placeholder (or the masked URL) came back: keep the stored value
        if store.current.get(name) != value:
            store.current[name] = value
            changed.append(name)
    for name, plugin in required.items():
        if not store.current.get(name) and name not in problems:
            problems[name] = [f"required by {plugin!r}"]
    return changed, problems


def outbound_problems(channel_config: Mapping[str, Any], secrets: Mapping[str, str],
                      *, mtls: bool) -> dict[str, dict[str, list[str]]]:
    """What the core's own sending needs of a channel connection: a ``signing_secret`` that decodes
    and, when ``mtls``, a ``client_cert`` / ``client_key`` pair that opens mutual TLS (both or
    neither, PEM, matching, not expired). As ``{"secrets": {…}, "channel_config": {…}}``, empty when
    all is well."""
    problems: dict[str, dict[str, list[str]]] = {}
    signing_secret = secrets.get("signing_secret")
    if signing_secret:
        try:
            decode_secret(signing_secret)
        except ValueError as exc:
            problems.setdefault("secrets", {})["signing_secret"] = [str(exc)]
    if mtls:
        found = client_certificate_problems(channel_config.get("client_cert"), secrets.get(KEY_FIELD))
        for name, problem in found.items():
            problems.setdefault("secrets" if name == KEY_FIELD else "channel_config", {})[name] = [problem]
    return problems
