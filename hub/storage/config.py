"""Configuration classes: defaults, overridden by ``HOOKHUB_*`` environment variables.

Every setting is a Flask config key with the same name as its environment variable."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

import limits

from hub.storage.redis_urls import redis_target, sentinel_url

DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_BIND = "127.0.0.1:8000"


class ConfigError(ValueError):
    """A ``HOOKHUB_*`` variable has a value the hub cannot use."""


class Config:
    """Production defaults. Read with :meth:`load`."""

    HOOKHUB_DATABASE_URL: str | None = None          # default: SQLite in the instance folder
    HOOKHUB_REDIS_URL: str | None = None             # default: embedded Redis in the instance folder
    HOOKHUB_REDIS_SENTINELS: tuple[str, ...] = ()    # host:port of Redis Sentinels (with HOOKHUB_REDIS_MASTER)
    HOOKHUB_REDIS_MASTER: str | None = None          # the master name those Sentinels monitor
    HOOKHUB_INSTANCE_PATH: str | None = None         # default: ./instance
    HOOKHUB_SECRET_KEYS: tuple[str, ...] = ()        # default: a key generated into the instance folder
    HOOKHUB_BOOTSTRAP_TOKEN: str | None = None
    HOOKHUB_ALLOW_PRIVATE_NETWORKS: tuple[Any, ...] = ()
    HOOKHUB_BIND: str = DEFAULT_BIND                 # where `hookhub serve` listens (host:port)
    HOOKHUB_PUBLIC_URL: str | None = None            # default: http:// and the bind address
    HOOKHUB_DISABLE_PLUGINS: tuple[str, ...] = ()
    HOOKHUB_LOAD_PLUGINS: tuple[str, ...] | None = None   # None: every installed plugin
    HOOKHUB_MAX_BODY_BYTES: int = 1024 * 1024
    HOOKHUB_DEDUPE_WINDOW: int = 86400
    HOOKHUB_INBOUND_RATE_LIMIT: str | None = None    # per connection, e.g. "100/second"; unset: no limit
    HOOKHUB_AUTH_FAILURE_LIMIT: str = "30/minute"    # failed authentications per client address, then 429
    HOOKHUB_CONSOLE_SESSION_SECONDS: int = 8 * 3600  # a console sign-in lasts this long at most
    HOOKHUB_TRUSTED_PROXIES: tuple[Any, ...] = ()    # peers whose X-Forwarded-For names the client
    HOOKHUB_ENV_REFERENCES: tuple[str, ...] = ()     # env var names (globs) settings may name as ${env.NAME}
    HOOKHUB_ROTATION_GRACE: int = 86400
    HOOKHUB_RETRY_SCHEDULE: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    HOOKHUB_OUTBOUND_TIMEOUT: float = 10.0
    HOOKHUB_CONCURRENCY_LEASE_GRACE: float = 10.0    # a max_concurrency slot is leased for the send timeout + this
    HOOKHUB_CA_BUNDLE: str | None = None             # PEM file of CAs outbound TLS trusts (default: certifi's)
    HOOKHUB_MIN_DELAY_AFTER_429: float = 60.0        # seconds: never retry sooner after a 429
    HOOKHUB_DISABLE_AFTER_FAILURES: int = 20         # consecutive failed deliveries …
    HOOKHUB_DISABLE_AFTER_SECONDS: int = 86400       # … over at least this long disable a connection
    HOOKHUB_APPROVAL_TIMEOUT: int = 7 * 86400        # seconds a delivery waits for a decision (0: forever)
    HOOKHUB_WORKER_CONCURRENCY: int = 32             # jobs each worker process runs at once (threads)
    HOOKHUB_SEND_CONCURRENCY: int = 64               # outbound requests each worker process has in flight
    HOOKHUB_FAILURES_PER_MINUTE: int = 600           # stored rejections per minute, beyond which they are counted only
    HOOKHUB_SWEEP_INTERVAL: int = 15                 # seconds between sweeps for events/deliveries no job holds
    HOOKHUB_WEB_WORKERS: int = 2
    HOOKHUB_WEB_PIN_CPUS: bool = True                # each web process bound to one CPU (hub.web.cpus)
    HOOKHUB_DATABASE_CONNECTIONS: int = 40           # most PostgreSQL connections each process opens
    HOOKHUB_GROUP_COMMIT_ROWS: int = 64              # most events one inbound commit holds (1: a commit each)
    HOOKHUB_GROUP_COMMIT_WAIT_MS: float = 2.0        # most a commit waits for more rows (in progress, or to 4)
    HOOKHUB_LOG_LEVEL: str = "INFO"
    HOOKHUB_LOG_FORMAT: str = "text"                 # or "json": one object per line, with request and job ids
    HOOKHUB_METRICS_TOKEN: str | None = None         # set: /metrics takes Authorization: Bearer <this>
    TESTING: bool = False

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The settings of this class, each overridden by its environment variable."""
        environ = os.environ if environ is None else environ
        settings = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        for key, default in list(settings.items()):
            if key in environ:
                settings[key] = _parse(key, environ[key], default)
        return settings


class TestConfig(Config):
    """For the suite: fast schedules, no pacing surprises. Paths come from the fixtures."""

    TESTING = True
    HOOKHUB_RETRY_SCHEDULE = (0.2, 0.4, 0.8)
    HOOKHUB_AUTH_FAILURE_LIMIT = "1000/minute"      # tests of refusals make many; the limit's own tests lower it
    HOOKHUB_SWEEP_INTERVAL = 2
    HOOKHUB_LOG_LEVEL = "INFO"          # what production logs: the suite checks no line carries a secret


def _parse(key: str, raw: str, default: Any) -> Any:
    raw = raw.strip()
    try:
        if key in ("HOOKHUB_ALLOW_PRIVATE_NETWORKS", "HOOKHUB_TRUSTED_PROXIES"):
            return tuple(ipaddress.ip_network(part, strict=False) for part in _split(raw))
        if key in ("HOOKHUB_AUTH_FAILURE_LIMIT", "HOOKHUB_INBOUND_RATE_LIMIT") and raw:
            limits.parse(raw)      # refused at start, not at the first request
        if key == "HOOKHUB_LOAD_PLUGINS":
            return tuple(_split(raw))
        if key == "HOOKHUB_RETRY_SCHEDULE":
            values = tuple(float(part) for part in _split(raw))
            if any(v < 0 for v in values):
                raise ValueError("negative delay")
            return values
        if isinstance(default, bool) or key == "TESTING":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError("expected true or false")
        if key == "HOOKHUB_DATABASE_CONNECTIONS" and int(raw) < 1:
            raise ValueError("at least 1")
        if key == "HOOKHUB_CONCURRENCY_LEASE_GRACE" and float(raw) < 0:
            raise ValueError("negative")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(_split(raw))
        if key == "HOOKHUB_PUBLIC_URL":
            return raw.rstrip("/") or None
        if key == "HOOKHUB_BIND":
            host, port = parse_bind(raw or DEFAULT_BIND)
            return format_bind(host, port)
        if key == "HOOKHUB_REDIS_URL" and raw:
            redis_target(raw)          # refused at start, not at the first Redis command
        if key == "HOOKHUB_LOG_FORMAT":
            if raw.lower() not in ("text", "json", ""):
                raise ValueError("expected text or json")
            return raw.lower() or "text"
        return raw or None
    except ValueError as exc:
        raise ConfigError(f"{key}={raw!r} is not valid: {exc}") from None


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def resolve(config: Any = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings for ``create_app``: a Config class/instance, or a mapping of overrides applied on
    top of :class:`Config` and the environment."""
    if isinstance(config, type) and issubclass(config, Config):
        settings = config.load(environ)
    elif isinstance(config, Config):
        settings = type(config).load(environ)
    else:
        settings = Config.load(environ)
        if config is not None:
            settings.update(dict(config))
    instance = settings.get("HOOKHUB_INSTANCE_PATH") or os.path.join(os.getcwd(), "instance")
    settings["HOOKHUB_INSTANCE_PATH"] = os.path.abspath(instance)
    if not settings.get("HOOKHUB_DATABASE_URL"):
        db_file = os.path.join(settings["HOOKHUB_INSTANCE_PATH"], "hookhub.db")
        settings["HOOKHUB_DATABASE_URL"] = f"sqlite:///{db_file}"
    settings["HOOKHUB_DATABASE_URL"] = normalise_database_url(settings["HOOKHUB_DATABASE_URL"])
    settings["HOOKHUB_REDIS_URL"] = combined_redis_url(settings)
    if not settings.get("HOOKHUB_PUBLIC_URL"):
        settings["HOOKHUB_PUBLIC_URL"] = public_url_for_bind(settings.get("HOOKHUB_BIND") or DEFAULT_BIND)
    return settings


def parse_bind(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8000"``, ``"[::1]:8000"``, ``"0.0.0.0:80"`` → (host, port); ValueError otherwise."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8000 or [::1]:8000")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("an IPv6 address goes in brackets, e.g. [::1]:8000")
    return host, int(port_text)


def format_bind(host: str, port: int) -> str:
    """The inverse of :func:`parse_bind` (brackets around an IPv6 address)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def public_url_for_bind(bind: str) -> str:
    """The base URL a hub listening on ``bind`` is reached at from this host. A wildcard address
    names no host a sender could use: the loopback stands in, and ``hookhub serve`` warns."""
    host, port = parse_bind(bind)
    if is_wildcard(host):
        host = "::1" if ":" in host else "127.0.0.1"
    return f"http://{format_bind(host, port)}"


def is_wildcard(host: str) -> bool:
    """True for an address that means "every interface" (0.0.0.0, ::)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def combined_redis_url(settings: Mapping[str, Any]) -> str | None:
    """HOOKHUB_REDIS_URL, or the Sentinel URL that HOOKHUB_REDIS_SENTINELS and HOOKHUB_REDIS_MASTER
    spell (one URL from here on, for every process and every Redis user)."""
    url, sentinels, master = (settings.get("HOOKHUB_REDIS_URL"), settings.get("HOOKHUB_REDIS_SENTINELS"),
                              settings.get("HOOKHUB_REDIS_MASTER"))
    if not sentinels and not master:
        return url
    if url:
        raise ConfigError("HOOKHUB_REDIS_URL and HOOKHUB_REDIS_SENTINELS are both set: set one of them "
                          "(the URL form is redis+sentinel://host:26379,host2:26379/mymaster/0)")
    if not sentinels or not master:
        raise ConfigError("HOOKHUB_REDIS_SENTINELS and HOOKHUB_REDIS_MASTER go together: the Sentinels' "
                          "host:port list and the name of the master they monitor")
    combined = sentinel_url(sentinels, master) + "/0"
    try:
        redis_target(combined)
    except ValueError as exc:
        raise ConfigError(f"HOOKHUB_REDIS_SENTINELS={','.join(sentinels)!r} is not valid: {exc}") from None
    return combined


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in their common short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
