"""Where Redis is, as ``HOOKHUB_REDIS_URL`` says: a server (``redis://``, ``rediss://`` for TLS,
``unix://``) or a master found through Redis Sentinel::

    redis+sentinel://[user:password@]host:26379,host2:26379/mymaster[/db][?option=value…]
    rediss+sentinel://…        (TLS to the master and to the Sentinels)

The user and password are the master's; ``sentinel_username`` and ``sentinel_password`` in the
query authenticate to the Sentinels; any other query option is redis-py's own (``socket_timeout``,
``ssl_ca_certs``, …). This module only reads URLs; :mod:`hub.storage.redis` connects."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SENTINEL_PORT = 26379
SENTINEL_AUTH_OPTIONS = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True)
class SentinelTarget:
    """A master named ``master``, found through ``sentinels`` ((host, port) pairs)."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    tls: bool = False
    options: dict[str, Any] = field(default_factory=dict, compare=False)            # for the master
    sentinel_options: dict[str, Any] = field(default_factory=dict, compare=False)   # for the Sentinels


def redis_target(url: str) -> str | SentinelTarget:
    """``url`` itself for a server URL, a :class:`SentinelTarget` for a Sentinel URL; ValueError
    with a readable message when it is neither."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("expected a URL such as redis://host:6379/0 or redis+sentinel://host:26379/mymaster/0")
    scheme = scheme.lower()
    if scheme in PLAIN_SCHEMES:
        return url
    if scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"unknown scheme {scheme}://; use one of "
                         + ", ".join(f"{s}://" for s in PLAIN_SCHEMES + SENTINEL_SCHEMES))
    rest, _, query = rest.partition("?")
    location, _, path = rest.partition("/")
    userinfo, _, hosts = location.rpartition("@")
    sentinels = tuple(_host_port(part) for part in hosts.split(",") if part.strip())
    if not sentinels:
        raise ValueError("no Sentinel address: redis+sentinel://host:26379,host2:26379/mymaster/0")
    master, _, db_text = path.strip("/").partition("/")
    if not master:
        raise ValueError("no master name: redis+sentinel://host:26379/mymaster/0")
    if db_text and not db_text.isdigit():
        raise ValueError(f"the database must be a number, not {db_text!r}")
    options, sentinel_options = _query_options(query)
    if userinfo:
        username, _, password = userinfo.partition(":")
        options.update({k: unquote(v) for k, v in (("username", username), ("password", password)) if v})
    return SentinelTarget(sentinels, unquote(master), int(db_text or options.pop("db", 0)),
                          tls=scheme == "rediss+sentinel", options=options, sentinel_options=sentinel_options)


def sentinel_url(sentinels: Iterable[str], master: str) -> str:
    """The URL of HOOKHUB_REDIS_SENTINELS (``host:port`` strings) and HOOKHUB_REDIS_MASTER, without a database."""
    return f"redis+sentinel://{','.join(s.strip() for s in sentinels)}/{quote(master, safe='')}"


def _host_port(text: str) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):                       # [::1]:26379
        host, _, port = text[1:].partition("]")
        port = port.lstrip(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:
        raise ValueError(f"{text!r}: an IPv6 address goes in brackets, e.g. [::1]:26379")
    else:
        host, port = text, ""
    if not host or (port and not port.isdigit()):
        raise ValueError(f"{text!r} is not a Sentinel address (host:port)")
    return host, int(port or SENTINEL_PORT)


def _query_options(query: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """redis-py's own parsing of URL options (types included), split between master and Sentinels."""
    from redis.connection import parse_url

    pairs = parse_qsl(query, keep_blank_values=False)
    sentinel_options = {name.removeprefix("sentinel_"): value for name, value in pairs if name in SENTINEL_AUTH_OPTIONS}
    rest = "&".join(f"{quote(name)}={quote(value)}" for name, value in pairs if name not in SENTINEL_AUTH_OPTIONS)
    options = parse_url(f"redis://localhost/?{rest}")
    options.pop("host", None)
    return options, sentinel_options
