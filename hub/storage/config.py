"""Configuration classes: defaults, overridden by ``HOOKHUB_*`` environment variables.

Every setting is a Flask config key with the same name as its environment variable."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

import limits

DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


class ConfigError(ValueError):
    """A ``HOOKHUB_*`` variable has a value the hub cannot use."""


class Config:
    """Production defaults. Read with :meth:`load`."""

    HOOKHUB_DATABASE_URL: str | None = None          # default: SQLite in the instance folder
    HOOKHUB_REDIS_URL: str | None = None             # default: embedded Redis in the instance folder
    HOOKHUB_INSTANCE_PATH: str | None = None         # default: ./instance
    HOOKHUB_SECRET_KEYS: tuple[str, ...] = ()        # default: a key generated into the instance folder
    HOOKHUB_BOOTSTRAP_TOKEN: str | None = None
    HOOKHUB_ALLOW_PRIVATE_NETWORKS: tuple[Any, ...] = ()
    HOOKHUB_PUBLIC_URL: str = "http://127.0.0.1:8000"
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
    HOOKHUB_DATABASE_CONNECTIONS: int = 40           # most PostgreSQL connections each process opens
    HOOKHUB_LOG_LEVEL: str = "INFO"
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
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(_split(raw))
        if key == "HOOKHUB_PUBLIC_URL":
            return raw.rstrip("/")
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
    return settings


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in their common short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
