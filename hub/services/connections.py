"""Connections: validation against the plugins' schemas, write-only secrets, the inbound key."""

from __future__ import annotations

import hashlib
import re
import secrets as pysecrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from hub.core.errors import ConfigInvalid, Conflict, NotFound, invalid
from hub.core.field_map import check_field_map
from hub.core.times import utcnow
from hub.delivery.dispatch import resume_connection
from hub.plugin import Channel, ConnectionView, Provider
from hub.runtime import lifecycle
from hub.runtime.changes import ConnectionChanges, get_changes
from hub.runtime.connection_state import apply_active, bump_version, set_active
from hub.runtime.params import ParamValues, find_references, substitute
from hub.runtime.plugin_host import PluginHost, get_host
from hub.runtime.views import SecretStore, connection_view
from hub.services import connection_rules as rules
from hub.services.connection_secrets import SECRET_PLACEHOLDER, apply_secrets, mask_url, outbound_problems
from hub.storage import audit
from hub.storage.lookup import in_workspace
from hub.storage.models import Connection, Route
from hub.storage.vault import Vault, get_vault

NAME_PATTERN = re.compile(r"^[A-Za-z0-9 \[\]().\-_]{3,50}$")
NAME_RULE = "3 to 50 characters: letters, digits, space and [ ] ( ) . - _"
APPROVAL_MODES = rules.APPROVAL_MODES
MAX_ROTATION_GRACE = 7 * 86400


def new_api_key() -> str:
    """32 random bytes, base64url without padding."""
    return pysecrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def merge_config(stored: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH of a plugin configuration: each key given replaces that key (a whole value, even a
    dict such as ``headers``), a key given as ``None`` is removed (its default applies again), and
    keys not given stay."""
    merged = dict(stored or {})
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class ConnectionService:
    """Create, change and read connections for one workspace session."""

    def __init__(self, session: Session, host: PluginHost, vault: Vault, *, public_url: str,
                 actor: str = "system", changes: ConnectionChanges | None = None, app: Flask | None = None) -> None:
        self.session = session
        self.host = host
        self.vault = vault
        self.public_url = public_url.rstrip("/")
        self.actor = actor
        self.changes = changes          # told after each committed change (None: nobody caches)
        self.app = app                  # for re-activation, which dispatches held deliveries
        self.default_rotation_grace = 86400
        self.env_patterns: tuple[str, ...] = ()   # HOOKHUB_ENV_REFERENCES

    # ------------------------------------------------------------------ reading

    def get(self, workspace: str, connection_id: str) -> Connection:
        """A connection of the workspace (the hub's own lifecycle source is not one an admin edits)."""
        conn = in_workspace(self.session, Connection, workspace, connection_id, "connection")
        if conn.system:
            raise NotFound(f"no connection {connection_id!r}")
        return conn

    def list(self, workspace: str) -> list[Connection]:
        return list(self.session.scalars(sa.select(Connection).where(
            Connection.workspace_id == workspace, Connection.system.is_(False)).order_by(Connection.id.desc())))

    def secrets_of(self, conn: Connection) -> SecretStore:
        return SecretStore.of(self.vault, conn)

    def values(self, workspace: str) -> ParamValues:
        """What ``${param.…}`` and ``${env.…}`` stand for in ``workspace`` now."""
        return ParamValues(self.session, self.vault, workspace, self.env_patterns)

    def view(self, conn: Connection) -> ConnectionView:
        """What plugins see of ``conn`` (see :func:`hub.runtime.views.connection_view`)."""
        return connection_view(conn, self.vault, self.values(conn.workspace_id))

    def masked_secrets(self, conn: Connection) -> dict[str, str]:
        store = self.secrets_of(conn)
        url_secret = self._channel(conn).url_secret if conn.channel in self.host.channels else None
        return {name: (mask_url(value) if name == url_secret else SECRET_PLACEHOLDER)
                for name, value in sorted(store.current.items()) if value}

    def inbound_url(self, conn: Connection, key: str | None = None) -> str | None:
        if not conn.provider:
            return None
        url = f"{self.public_url}/hooks/{conn.provider}/{conn.id}"
        return f"{url}?key={key}" if key else url

    def reveal_key(self, conn: Connection) -> str:
        if not conn.provider or not conn.api_key_encrypted:
            raise NotFound("this connection has no inbound side, so it has no inbound URL")
        self._audit(conn, "connection.url_revealed")
        return self.vault.decrypt(conn.api_key_encrypted)

    # ------------------------------------------------------------------ writing

    def create(self, workspace: str, data: Mapping[str, Any]) -> tuple[Connection, str | None]:
        """A new connection; returns it and its inbound key (shown once) when it has a provider."""
        errors: dict[str, Any] = {}
        name = data.get("name")
        self._check_name(workspace, name, None, errors)
        provider, channel = data.get("provider"), data.get("channel")
        if not provider and not channel:
            errors["_schema"] = ["a connection needs a provider (inbound), a channel (outbound), or both"]
        conn = Connection(workspace_id=workspace, name=name, provider=provider, channel=channel,
                          default_channel=data.get("default_channel"),
                          approval=data.get("approval") or "none", active=data.get("active", True))
        conn.field_map = self._check_field_map(data.get("field_map"), errors)
        self._apply_rules(conn, {**data, "approval": conn.approval}, errors)
        store = SecretStore({}, {})
        self._apply_config(conn, data, store, errors, creating=True)
        if errors:
            raise invalid(errors)
        key = None
        if provider:
            key = new_api_key()
            conn.api_key_hash = hash_key(key)
            conn.api_key_encrypted = self.vault.encrypt(key)
        conn.secrets_encrypted = store.encrypted(self.vault)
        self.session.add(conn)
        self.session.flush()
        self._audit(conn, "connection.created", {"provider": provider, "channel": channel,
                                                 "secrets": sorted(store.current)})
        return conn, key

    def update(self, conn: Connection, data: Mapping[str, Any]) -> Connection:
        """Apply the fields present in ``data`` (PATCH semantics); secrets sent back as the
        placeholder keep their stored value, ``null`` or ``""`` removes them. ``provider_config`` and
        ``channel_config`` are merged the same way into the stored ones (see :func:`merge_config`),
        unless the channel changes with this call: the new channel's configuration is then whole."""
        channel_changes = "channel" in data and data["channel"] != conn.channel
        data = {**data, **{key: merge_config(getattr(conn, key), data[key])
                           for key in ("provider_config", "channel_config")
                           if isinstance(data.get(key), Mapping) and not (key == "channel_config" and channel_changes)}}
        errors: dict[str, Any] = {}
        if "name" in data:
            self._check_name(conn.workspace_id, data["name"], conn.id, errors)
        if "provider" in data and data["provider"] != conn.provider:
            errors["provider"] = ["the provider of a saved connection cannot change; create a new connection"]
        if "channel" in data and data["channel"] != conn.channel:
            conn.channel = data["channel"]
            if "channel_config" not in data:
                errors["channel_config"] = ["give the new channel's configuration with the new channel"]
        if not conn.provider and not conn.channel:
            errors["channel"] = ["a connection without a provider needs a channel"]
        if "field_map" in data:
            conn.field_map = self._check_field_map(data["field_map"], errors)
        self._apply_rules(conn, data, errors)
        store = self.secrets_of(conn)
        changed_secrets = self._apply_config(conn, data, store, errors, creating=False)
        if errors:
            raise invalid(errors)  # the caller's transaction is rolled back, undoing the partial changes
        if "name" in data:
            conn.name = data["name"]
        if "default_channel" in data:
            conn.default_channel = data["default_channel"]
        if "active" in data and data["active"] != conn.active:
            apply_active(conn, bool(data["active"]))
        conn.secrets_encrypted = store.encrypted(self.vault)
        bump_version(conn)
        self.session.flush()
        self._audit(conn, "connection.updated", {"fields": sorted(k for k in data if k != "secrets"),
                                                 "secrets_changed": changed_secrets})
        return conn

    def delete(self, conn: Connection) -> None:
        """Delete ``conn``; the routes it is the source of go with it (the database cascades), but
        a connection that another route sends to is refused until that target is removed."""
        targeted_by = [route for route in self.session.scalars(
            sa.select(Route).where(Route.workspace_id == conn.workspace_id, Route.source_id != conn.id)
            .order_by(Route.id)) if any(t.get("connection") == conn.id for t in route.targets or [])]
        if targeted_by:
            names = ", ".join(f"{route.name!r} ({route.id})" for route in targeted_by)
            raise Conflict(f"connection {conn.name!r} is a target of route{'s' if len(targeted_by) > 1 else ''} "
                           f"{names}; remove it from their targets (or delete the routes) first")
        self._audit(conn, "connection.deleted", {"name": conn.name})
        self.session.delete(conn)
        self.session.flush()

    def set_active(self, conn: Connection, active: bool, reason: str | None = None) -> Connection:
        set_active(self.session, conn, active, actor=self.actor, changes=self.changes, reason=reason)
        return conn

    def activate(self, conn: Connection) -> int:
        """Activate ``conn`` and commit; its held deliveries are dispatched again. Returns how many."""
        self.set_active(conn, True)
        self.session.commit()
        if self.app is None:
            raise RuntimeError("activate() needs the service built with its app (for_app)")
        return resume_connection(self.app, self.session, conn.id)

    def reset_key(self, conn: Connection) -> str:
        """A new inbound key; the old one stops working at once."""
        if not conn.provider:
            raise NotFound("this connection has no inbound side, so it has no key to reset")
        key = new_api_key()
        conn.api_key_hash = hash_key(key)
        conn.api_key_encrypted = self.vault.encrypt(key)
        bump_version(conn)
        self.session.flush()
        self._audit(conn, "connection.key_reset")
        return key

    def rotate_secret(self, conn: Connection, name: str, value: str, grace_seconds: int | None = None) -> datetime:
        """Make ``value`` the current ``name``; the old value keeps working for the grace period."""
        allowed = self._secret_fields(conn)
        if name not in allowed:
            raise invalid({"name": [f"this connection has no secret {name!r}; it has: {', '.join(sorted(allowed))}"]})
        if not value or value == SECRET_PLACEHOLDER:
            raise invalid({"secret": ["give the new secret value"]})
        if grace_seconds is None:
            configured = (conn.provider_config or {}).get("rotation_grace")
            grace_seconds = int(configured if configured is not None else self.default_rotation_grace)
        if not 0 <= grace_seconds <= MAX_ROTATION_GRACE:
            raise invalid({"grace_seconds": [f"must be between 0 and {MAX_ROTATION_GRACE} (7 days)"]})
        now = utcnow()
        store = self.secrets_of(conn)
        store.prune(now)
        expires = now + timedelta(seconds=grace_seconds)
        old = store.current.get(name)
        if old and old != value and grace_seconds > 0:
            store.previous.setdefault(name, []).append({"value": old, "expires_at": expires.isoformat()})
        store.current[name] = value
        conn.secrets_encrypted = store.encrypted(self.vault)
        bump_version(conn)
        self.session.flush()
        self._audit(conn, "connection.secret_rotated", {"secret": name, "previous_valid_until": expires.isoformat()})
        return expires

    # ------------------------------------------------------------------ helpers

    def _provider(self, conn: Connection) -> Provider:
        return self.host.providers.get(conn.provider)

    def _channel(self, conn: Connection) -> Channel:
        return self.host.channels.get(conn.channel)

    def _secret_fields(self, conn: Connection) -> set[str]:
        names: set[str] = set()
        if conn.provider in self.host.providers:
            names |= set(self._provider(conn).secrets_schema().fields)
        if conn.channel in self.host.channels:
            names |= set(self._channel(conn).secrets_schema().fields)
        return names

    def _check_name(self, workspace: str, name: Any, own_id: str | None, errors: dict[str, Any]) -> None:
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            errors["name"] = [f"must be {NAME_RULE}"]
            return
        clash = self.session.scalar(sa.select(Connection.id).where(
            Connection.workspace_id == workspace, Connection.name == name))
        if clash and clash != own_id:
            errors["name"] = [f"a connection named {name!r} already exists in workspace {workspace!r}"]

    def _check_field_map(self, field_map: Any, errors: dict[str, Any]) -> dict[str, Any]:
        merged, problems = check_field_map(field_map)
        if problems:
            errors["field_map"] = problems
        return merged

    def _apply_rules(self, conn: Connection, data: Mapping[str, Any], errors: dict[str, Any]) -> None:
        """The hub's own settings present in ``data`` (see :mod:`hub.services.connection_rules`)."""
        if "allowed_ips" in data:
            conn.allowed_ips, problems = rules.allowed_ips(data["allowed_ips"])
            if conn.allowed_ips and not conn.provider:
                problems = ["an allowlist is for the inbound side: this connection has no provider"]
            if problems:
                errors["allowed_ips"] = problems
        if "approval" in data or "approval_config" in data:
            mode = data.get("approval", conn.approval)
            config, problems = rules.approval(self.session, conn, mode,
                                              data.get("approval_config", conn.approval_config))
            errors.update(problems)
            if not problems:
                conn.approval, conn.approval_config = mode, config
        for key in ("correlation", "reply"):
            if key in data:
                value, problems = getattr(rules, key)(data[key], bool(conn.provider))
                if problems:
                    errors[key] = problems
                else:
                    setattr(conn, key, value)

    def _apply_config(self, conn: Connection, data: Mapping[str, Any], store: SecretStore,
                      errors: dict[str, Any], *, creating: bool) -> list[str]:
        """Validate plugin config and secrets into ``conn`` / ``store``; returns changed secret names."""
        provider = channel = None
        if conn.provider:
            if conn.provider not in self.host.providers:
                errors["provider"] = [f"no provider {conn.provider!r} is installed; installed: "
                                      f"{', '.join(self.host.providers) or 'none'}"]
            else:
                provider = self._provider(conn)
        if conn.channel:
            if conn.channel not in self.host.channels:
                errors["channel"] = [f"no channel {conn.channel!r} is installed; installed: "
                                     f"{', '.join(self.host.channels) or 'none'}"]
            else:
                channel = self._channel(conn)
        # ${param.…} / ${env.…} references: each must stand for something now; the plugins check
        # the values they stand for, and the references themselves are stored (the current value
        # is always used).
        values = self.values(conn.workspace_id)
        for where, problems in values.problems(*((key, data.get(key)) for key in (
                "provider_config", "channel_config", "secrets") if data.get(key))).items():
            errors.setdefault(where, {}).update(problems)
        for plugin, key in ((provider, "provider_config"), (channel, "channel_config")):
            if plugin is None:
                if data.get(key) and creating:
                    errors[key] = [f"given without a {key.split('_')[0]}"]
                continue
            if (key in data or creating) and key not in errors:
                raw = data.get(key) or {}
                try:
                    loaded = plugin.config_schema().load(substitute(raw, values))
                except ValidationError as exc:
                    errors[key] = exc.messages
                    continue
                setattr(conn, key, {k: (raw[k] if any(find_references(raw.get(k))) else v)
                                    for k, v in loaded.items() if v is not None})
        allowed: dict[str, Any] = {}
        for plugin in (provider, channel):
            if plugin is not None:
                allowed.update(plugin.secrets_schema().fields)
        required = {name: plugin.name for plugin in (provider, channel) if plugin is not None
                    for name in plugin.required_secrets}
        changed, secret_errors = apply_secrets(data.get("secrets") or {}, store, allowed, required)
        resolved_secrets = substitute(store.current, values)
        if channel is not None:
            # the client pair is checked when the request gives settings or secrets (an expired
            # certificate does not block, say, a rename)
            mtls = "channel_config" not in errors and (creating or bool({"channel_config", "secrets"} & set(data)))
            for where, problems in outbound_problems(substitute(conn.channel_config or {}, values), resolved_secrets,
                                                     mtls=mtls).items():
                for name, problem in problems.items():
                    (secret_errors if where == "secrets" else errors.setdefault(where, {})).setdefault(name, problem)
        if secret_errors:
            errors.setdefault("secrets", {}).update(secret_errors)
        if errors:
            return changed
        for plugin, key in ((provider, "provider_config"), (channel, "channel_config")):
            if plugin is None:
                continue
            try:
                plugin.validate_config(substitute(getattr(conn, key) or {}, values), resolved_secrets)
            except ConfigInvalid as exc:
                fields = exc.fields or {"_schema": [exc.message]}
                for name, problem in fields.items():   # a bad secret is reported under "secrets"
                    errors.setdefault("secrets" if name in allowed else key, {})[name] = problem
            except ValidationError as exc:
                errors[key] = exc.messages
        return changed

    def _audit(self, conn: Connection, action: str, details: dict[str, Any] | None = None) -> None:
        if self.changes is not None and not action.endswith("url_revealed"):
            self.changes.after_commit(self.session)
        lifecycle.connection_changed(self.session, conn, action,
                                     **({"secret": details["secret"]} if details and "secret" in details else {}))
        audit.record(self.session, actor=self.actor, action=action, workspace=conn.workspace_id,
                     object_type="connection", object_id=conn.id, details=details or {})


def for_app(session: Session, actor: str, app: Flask | None = None) -> ConnectionService:
    """A service wired to the app (the current one by default): its plugins, vault, public URL,
    and the announcement of changes to every process's connection cache."""
    app = app or current_app._get_current_object()
    service = ConnectionService(session, get_host(app), get_vault(app), public_url=app.config["HOOKHUB_PUBLIC_URL"],
                                actor=actor, changes=get_changes(app), app=app)
    service.default_rotation_grace = int(app.config["HOOKHUB_ROTATION_GRACE"])
    service.env_patterns = tuple(app.config.get("HOOKHUB_ENV_REFERENCES", ()))
    return service
