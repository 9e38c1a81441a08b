"""The inbound pipeline after the HTTP layer has read the request: key, handshake, signature,
parse, envelope, durable storage with dedupe by a unique index (the worker's hand-off pump then
enqueues the routing job). Nothing here imports Flask."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DataError, SQLAlchemyError

from hub.core.addresses import parse_networks, within
from hub.core.digests import body_sha256, headers_sha256
from hub.core.errors import (
    Forbidden,
    HookhubError,
    InvalidPayload,
    NotFound,
    PluginError,
    RateLimited,
    SignatureInvalid,
    TimestampOutOfWindow,
    Unauthorized,
    Unavailable,
)
from hub.core.field_map import DEFAULT_FIELD_MAP
from hub.core.ids import new_id
from hub.core.statuses import EventStatus
from hub.core.times import utcnow
from hub.inbound import callbacks, replies
from hub.inbound.cache import ConnectionCache, ConnectionRuntime
from hub.inbound.envelope import FieldMap, build_envelope
from hub.inbound.event_store import EventStore
from hub.inbound.failures import FailureRecorder
from hub.plugin import InboundRequest, ParsedEvent, PluginResponse
from hub.runtime.params import ParamValues
from hub.runtime.plugin_host import PluginHost
from hub.runtime.views import SecretStore, connection_view
from hub.storage.db import Database
from hub.storage.models import Connection, Workspace
from hub.storage.vault import Vault

log = logging.getLogger(__name__)
CONNECTION_ID = re.compile(r"con_[0-9A-Za-z]{1,36}")   # what new_id makes, with room; never NUL or spaces


def _setting(config: dict[str, Any], name: str, default: Any) -> Any:
    """A connection's setting, or the hub's default when unset (0 is a setting, not "unset")."""
    value = config.get(name)
    return default if value is None else value


class ProviderMismatch(HookhubError):
    code = "provider_mismatch"
    status = 400


class MethodNotAllowed(HookhubError):
    code = "method_not_allowed"
    status = 405


@dataclass
class Outcome:
    """What to answer: the hub's JSON (accepted / duplicate) or a provider's own reply."""

    status: str = "accepted"
    id: str | None = None
    event_id: str | None = None
    reply: PluginResponse | None = None
    envelope: dict[str, Any] | None = None      # of the stored event (for a duplicate: with the first's id)

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "id": self.id, "event_id": self.event_id}


#: How an answer given later is delivered: ``later(outcome, None)`` or ``later(None, error)``.
Later = Callable[["Outcome | None", "BaseException | None"], None]


class Gateway:
    """One per app: holds the connection cache and the handles the pipeline needs."""

    def __init__(self, *, database: Database, redis_client: Any, host: PluginHost, vault: Vault,
                 config: dict[str, Any], rate_limiter: Any = None, app: Any = None) -> None:
        self.app = app                      # for correlated callbacks, which decide and dispatch
        self.db = database
        self.host = host
        self.vault = vault
        self.config = config
        self.rate_limiter = rate_limiter    # a callable returning a RateLimiter (lazy), or None
        self.cache = ConnectionCache(self._load, redis_client)   # redis_client: a callable (lazy)
        self.failures = FailureRecorder(database, redis_client, config)
        self.events = EventStore(database, max_rows=int(config.get("HOOKHUB_GROUP_COMMIT_ROWS") or 64),
                                 gather=float(config.get("HOOKHUB_GROUP_COMMIT_WAIT_MS") or 0) / 1000)

    # ------------------------------------------------------------------ lookup

    def connection(self, connection_id: str) -> ConnectionRuntime:
        """The active connection for this URL, or 404 (unknown or inactive)."""
        try:
            runtime = self.cache.get(connection_id)
        except SQLAlchemyError as exc:
            log.error("database unavailable while looking up %s: %s", connection_id, exc)
            raise Unavailable("storage is unavailable; retry later") from None
        if runtime is None or not runtime.active or runtime.provider is None:
            error = NotFound("no active inbound connection at this URL")
            error.runtime = runtime  # type: ignore[attr-defined]  # the failure record names a known connection
            raise error
        return runtime

    def admit(self, rt: ConnectionRuntime, client: str) -> None:
        """Whether ``client`` may call at all, before anything else is looked at: the connection's
        allowlist (403), then the client's recent failed authentications (429) — a flood of bad
        keys is refused here, for the price of one Redis read (none for a client that has not
        failed lately: :mod:`hub.inbound.clean_clients`)."""
        if rt.allowed_ips and not within(client, rt.allowed_ips):
            raise Forbidden(f"{client} is not allowed to call this connection (see its allowed_ips)")
        limit = self.config.get("HOOKHUB_AUTH_FAILURE_LIMIT")
        if limit and self.rate_limiter is not None:
            clean = self.cache.clean_clients          # no failure anywhere lately: Redis need not be asked
            if clean.known(client):
                return
            generation = clean.generation()
            wait = self.rate_limiter().exhausted(f"authfail:{client}", limit)
            if wait:
                raise RateLimited(f"too many failed authentications from {client} (at most {limit}); retry in "
                                  f"{wait:.0f} s", retry_after=wait)
            clean.remember(client, generation)

    def authenticate(self, rt: ConnectionRuntime, *, provider: str, client: str, key: str | None) -> None:
        """The key (401, counted against the client), and only then the provider segment of the URL
        (400): an unauthenticated caller never learns which provider a connection uses."""
        try:
            self._check_key(rt, key)
        except Unauthorized:
            self.authentication_failed(client)
            raise
        if rt.provider_name != provider:
            raise ProviderMismatch(f"this connection uses the {rt.provider_name!r} provider: "
                                   f"post to /hooks/{rt.provider_name}/{rt.id}")

    def authentication_failed(self, client: str) -> None:
        """Count a wrong key or signature from ``client`` toward HOOKHUB_AUTH_FAILURE_LIMIT."""
        limit = self.config.get("HOOKHUB_AUTH_FAILURE_LIMIT")
        if limit and self.rate_limiter is not None:
            self.rate_limiter().count(f"authfail:{client}", limit)
            self.cache.announce_failure(client)

    def _load(self, connection_id: str) -> ConnectionRuntime | None:
        if not CONNECTION_ID.fullmatch(connection_id):   # not an id: no query (PostgreSQL refuses NUL)
            return None
        with self.db.session() as session:
            conn = session.get(Connection, connection_id)
            if conn is None or not conn.provider:
                return None
            workspace = session.get(Workspace, conn.workspace_id)
            store = SecretStore.of(self.vault, conn)
            provider = self.host.providers.get(conn.provider) if conn.provider in self.host.providers else None
            config = conn.provider_config or {}
            return ConnectionRuntime(
                id=conn.id, workspace=conn.workspace_id, name=conn.name, provider_name=conn.provider,
                provider=provider, active=conn.active, key_hash=conn.api_key_hash,
                view=connection_view(conn, self.vault, ParamValues(session, self.vault, conn.workspace_id,
                                                                   self.config.get("HOOKHUB_ENV_REFERENCES", ())),
                                     store),
                field_map=FieldMap({**DEFAULT_FIELD_MAP, **(conn.field_map or {})}),
                default_channel=conn.default_channel,
                max_body=int(_setting(config, "max_body_bytes", self.config["HOOKHUB_MAX_BODY_BYTES"])),
                dedupe_window=int(_setting(config, "dedupe_window", self.config["HOOKHUB_DEDUPE_WINDOW"])),
                rate_limit=config.get("rate_limit") or self.config.get("HOOKHUB_INBOUND_RATE_LIMIT"),
                workspace_rate_limit=workspace.inbound_rate_limit if workspace is not None else None,
                allowed_ips=parse_networks(conn.allowed_ips or ()),
                correlation=conn.correlation or None, reply=replies.compiled(conn.reply),
                valid_until=store.next_expiry(utcnow()))

    # ------------------------------------------------------------------ the pipeline

    def receive(self, rt: ConnectionRuntime, request: InboundRequest, later: Later | None = None) -> Outcome | None:
        """The rest of the pipeline, for a request that :meth:`admit` let in and whose body is read.

        With ``later``, an event that needs nothing after its commit but the hub's own answer (no
        correlation, no reply) is handed to the group commit without waiting for it: None is
        returned at once, and ``later(outcome, None)`` — or ``later(None, error)`` with the error
        this method would raise — is called once its batch has committed or failed, from the thread
        that ran the batch."""
        self._check_rate(f"inbound:{rt.id}", rt.rate_limit, "this connection")
        self._check_rate(f"inbound-workspace:{rt.workspace}", rt.workspace_rate_limit, "this workspace's connections")
        provider = rt.provider
        assert provider is not None
        if request.method == "GET":
            reply = provider.handshake(request, rt.view)
            if reply is None:
                raise MethodNotAllowed(f"the {rt.provider_name!r} provider takes POST requests only")
            return Outcome(status="handshake", reply=reply)
        try:
            provider.verify(request, rt.view)
        except (SignatureInvalid, TimestampOutOfWindow):
            self.authentication_failed(request.remote_addr)
            raise
        except HookhubError:
            raise
        except Exception:  # a plugin bug must refuse the request, not accept it or answer 500
            log.exception("provider %s crashed in verify", rt.provider_name)
            raise SignatureInvalid("the signature could not be verified") from None
        try:
            parsed = provider.parse(request, rt.view)
        except HookhubError:
            raise
        except Exception:
            log.exception("provider %s crashed in parse", rt.provider_name)
            raise InvalidPayload("the body could not be parsed") from None
        if not isinstance(parsed, ParsedEvent):
            raise PluginError(f"provider {rt.provider_name!r} returned {type(parsed).__name__} from parse")
        if not parsed.store:
            return Outcome(status="handshake", reply=parsed.reply)
        envelope = build_envelope(hub_id=new_id("evt"), workspace=rt.workspace, connection_name=rt.name,
                                  provider=rt.provider_name or "", default_channel=rt.default_channel,
                                  field_map=rt.field_map, parsed=parsed, request=request)
        callback = callbacks.read(rt.correlation, rt.workspace, envelope, self.app) if rt.correlation else None
        if later is not None and callback is None and parsed.reply is None and rt.reply is None:
            self._submit(rt, request, envelope, later)
            return None
        outcome = self._store(rt, request, envelope, parsed.reply)
        if callback is not None and outcome.status == "accepted":
            callbacks.apply(callback, rt.id, self.app)
        if rt.reply is not None and outcome.reply is None:     # a provider's own answer keeps priority
            outcome.reply = self._reply(rt, outcome)
        return outcome

    def _reply(self, rt: ConnectionRuntime, outcome: Outcome) -> PluginResponse | None:
        """The connection's reply for the stored event; when it cannot be rendered for this one,
        the hub's own answer (the event is stored) and the connection is flagged with why."""
        try:
            return rt.reply.render(outcome.envelope or {})
        except replies.TemplateError as exc:
            reason = f"the reply could not be rendered for {outcome.id}: {exc}"[:500]
            log.warning("connection %s: %s", rt.id, reason)
            try:
                with self.db.session() as session:
                    session.execute(sa.update(Connection).where(Connection.id == rt.id).values(flag=reason))
            except SQLAlchemyError as db_exc:
                log.warning("could not flag %s: %s", rt.id, db_exc)
            return None

    def _check_rate(self, key: str, limit: str | None, what: str) -> None:
        if limit and self.rate_limiter is not None:
            wait = self.rate_limiter().check(key, limit)
            if wait:
                raise RateLimited(f"more than {limit} requests to {what}; retry in {wait:.1f} s", retry_after=wait)

    @staticmethod
    def _check_key(rt: ConnectionRuntime, key: str | None) -> None:
        if not key:
            raise Unauthorized("missing inbound key: add ?key=… to the URL or send the X-Hookhub-Key header")
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        if not rt.key_hash or not hmac.compare_digest(digest, rt.key_hash):
            raise Unauthorized("the inbound key is not valid for this connection")

    def _store(self, rt: ConnectionRuntime, request: InboundRequest, envelope: dict[str, Any],
               reply: PluginResponse | None) -> Outcome:
        try:
            original = self.events.insert(self._row(rt, request, envelope), window=rt.dedupe_window)
        except Exception as exc:  # noqa: BLE001 - what the client is told (exc itself when not the database's)
            raise _storage_error(rt, exc) from None
        return _outcome(envelope, reply, original)

    def _submit(self, rt: ConnectionRuntime, request: InboundRequest, envelope: dict[str, Any], later: Later) -> None:
        def then(original: str | None, error: BaseException | None) -> None:
            if error is None:
                later(_outcome(envelope, None, original), None)
            else:
                later(None, _storage_error(rt, error))

        self.events.submit(self._row(rt, request, envelope), then, window=rt.dedupe_window)

    @staticmethod
    def _row(rt: ConnectionRuntime, request: InboundRequest, envelope: dict[str, Any]) -> dict[str, Any]:
        event_id = envelope["event_id"]
        return dict(id=envelope["id"], workspace_id=rt.workspace, connection_id=rt.id, provider=rt.provider_name,
                    event_id=event_id, dedupe_key=event_id if rt.dedupe_window > 0 else None,
                    status=EventStatus.ACCEPTED,
                    envelope=envelope, raw_body=request.body,
                    content_type=_column_text(request.headers.get("Content-Type"), 255),
                    remote_addr=request.remote_addr, received_at=request.received_at,
                    # The audit of exchanges rides on this insert: the digests of what was received and
                    # the time from receipt to here (the insert's own commit cannot be in its row).
                    headers_sha256=headers_sha256(request.headers.items_multi()),
                    body_sha256=body_sha256(request.body),
                    duration_ms=max(0.0, round((utcnow() - request.received_at).total_seconds() * 1000, 3)),
                    routed_at=None, enqueued_at=None)

def _storage_error(rt: ConnectionRuntime, error: BaseException) -> BaseException:
    """What a failed insert is answered with: the database refused this payload (a retry would fail
    the same way), storage is unavailable, or any other error as it is."""
    if isinstance(error, DataError):
        log.warning("event for %s refused by the database: %s", rt.id, error.orig)
        return InvalidPayload("the payload cannot be stored (the database refused a value in it)")
    if isinstance(error, SQLAlchemyError):
        log.error("could not store event for %s: %s", rt.id, error)
        return Unavailable("storage is unavailable; the event was not accepted, retry later")
    return error


def _outcome(envelope: dict[str, Any], reply: PluginResponse | None, original: str | None) -> Outcome:
    """The stored event's outcome: accepted, or a duplicate of ``original`` (the holder of its key)."""
    hub_id, event_id = envelope["id"], envelope["event_id"]
    if original is not None:
        return Outcome(status="duplicate", id=original, event_id=event_id, reply=reply,
                       envelope={**envelope, "id": original})
    return Outcome(status="accepted", id=hub_id, event_id=event_id, reply=reply, envelope=envelope)


def _column_text(value: str | None, limit: int) -> str | None:
    """A header cut to fit its column (PostgreSQL refuses longer text; the envelope keeps it whole)."""
    return value[:limit] if value is not None else None
