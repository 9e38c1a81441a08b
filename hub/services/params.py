"""Config params: named values of a workspace that connection settings and secrets refer to as
``${param.NAME}``. Values are encrypted at rest; a secret param's value is never shown again. A
change reaches every connection naming the param at once (every process's cache is told); a param
that a connection names cannot be deleted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.errors import Conflict, NotFound, invalid
from hub.runtime.changes import ConnectionChanges
from hub.runtime.params import PARAM_NAME, PARAM_NAME_RULE, find_references
from hub.runtime.views import SecretStore
from hub.storage import audit
from hub.storage.models import Connection, Param
from hub.storage.vault import Vault

MAX_VALUE = 64 * 1024


class ParamService:
    def __init__(self, session: Session, vault: Vault, actor: str, changes: ConnectionChanges | None = None) -> None:
        self.session, self.vault, self.actor, self.changes = session, vault, actor, changes

    def list(self, workspace: str) -> list[Param]:
        return list(self.session.scalars(sa.select(Param).where(Param.workspace_id == workspace)
                                         .order_by(Param.name)))

    def get(self, workspace: str, name: str) -> Param:
        param = self.session.scalar(sa.select(Param).where(Param.workspace_id == workspace, Param.name == name))
        if param is None:
            raise NotFound(f"no param {name!r}")
        return param

    def value(self, param: Param) -> str | None:
        """The value to show: ``None`` for a secret param."""
        return None if param.secret else self.vault.decrypt(param.value_encrypted)

    def create(self, workspace: str, data: Mapping[str, Any]) -> Param:
        name, value = data.get("name"), data.get("value")
        errors = _check(name, value)
        if not errors and self.session.scalar(sa.select(Param.id).where(Param.workspace_id == workspace,
                                                                      Param.name == name)):
            raise Conflict(f"a param named {name!r} already exists; change its value with PATCH")
        if errors:
            raise invalid(errors)
        param = Param(workspace_id=workspace, name=name, value_encrypted=self.vault.encrypt(value),
                      secret=bool(data.get("secret", True)))
        self.session.add(param)
        self.session.flush()
        self._audit(param, "param.created", {"secret": param.secret})
        return param

    def update(self, param: Param, data: Mapping[str, Any]) -> Param:
        """A new value and/or secrecy. A secret param cannot be made non-secret (its value would show)."""
        errors = _check(param.name, data["value"]) if "value" in data else {}
        if data.get("secret") is False and param.secret:
            errors["secret"] = ["a secret param stays secret; delete it and create a new one to show its value"]
        if errors:
            raise invalid(errors)
        if "value" in data:
            param.value_encrypted = self.vault.encrypt(data["value"])
        if data.get("secret"):
            param.secret = True
        self.session.flush()
        self._audit(param, "param.updated", {"value_changed": "value" in data, "secret": param.secret})
        return param

    def delete(self, param: Param) -> None:
        users = self.users(param)
        if users:
            raise Conflict(f"{param.name} is used by {', '.join(users)}: change them first")
        self._audit(param, "param.deleted", {})
        self.session.delete(param)
        self.session.flush()

    def users(self, param: Param) -> list[str]:
        """The connections (``name (id)``) whose settings or secrets name ``param``."""
        named = []
        for conn in self.session.scalars(sa.select(Connection).where(Connection.workspace_id == param.workspace_id)):
            values = [conn.provider_config, conn.channel_config, SecretStore.of(self.vault, conn).current]
            if any(ref.kind == "param" and ref.name == param.name for v in values for ref in find_references(v)):
                named.append(f"{conn.name} ({conn.id})")
        return named

    def _audit(self, param: Param, action: str, details: dict[str, Any]) -> None:
        if self.changes is not None:
            self.changes.after_commit(self.session)       # connections naming it use the new value at once
        audit.record(self.session, actor=self.actor, action=action, workspace=param.workspace_id,
                     object_type="param", object_id=param.id, details={"name": param.name, **details})


def _check(name: Any, value: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not PARAM_NAME.match(name):
        errors["name"] = [f"must be {PARAM_NAME_RULE}"]
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE:
        errors["value"] = [f"a non-empty string of at most {MAX_VALUE} characters"]
    return errors
