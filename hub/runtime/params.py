"""References in connection settings: a whole string value ``${param.NAME}`` stands for the
workspace's param NAME, and ``${env.NAME}`` for the environment variable NAME, always with their
current values. Env references are refused unless the operator allows the name with
``HOOKHUB_ENV_REFERENCES`` (glob patterns): otherwise any admin could copy the hub's own
environment (its database password, its keys) into a webhook they control."""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.storage.models import Param
from hub.storage.vault import Vault

log = logging.getLogger(__name__)
REFERENCE = re.compile(r"\$\{(param|env)\.([A-Za-z_][A-Za-z0-9_]{0,63})\}")
PARAM_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
PARAM_NAME_RULE = "1 to 64 characters: upper-case letters, digits and _, starting with a letter"


@dataclass(frozen=True)
class Reference:
    """One reference found in a setting: where (``channel_config.url``, ``secrets.token``), and to what."""

    field: str
    kind: str          # "param" or "env"
    name: str


def find_references(value: Any, field: str = "") -> Iterator[Reference]:
    """Every whole-string reference in a JSON value, with the dotted path of its field."""
    if isinstance(value, str):
        match = REFERENCE.fullmatch(value.strip())
        if match:
            yield Reference(field, match.group(1), match.group(2))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from find_references(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_references(item, f"{field}.{index}")


def substitute(value: Any, lookup: Callable[[str, str], str | None]) -> Any:
    """``value`` with each whole-string reference replaced by ``lookup(kind, name)``; a reference
    that finds nothing becomes "" (a secret that is not set: the plugin refuses, it never guesses)."""
    if isinstance(value, str):
        match = REFERENCE.fullmatch(value.strip())
        if not match:
            return value
        found = lookup(match.group(1), match.group(2))
        if found is None:
            log.warning("%s refers to nothing now; using an empty value", match.group(0))
        return found or ""
    if isinstance(value, Mapping):
        return {key: substitute(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, lookup) for item in value]
    return value


def env_allowed(name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


class ParamValues:
    """The current values a workspace's references stand for, read once per use (one query)."""

    def __init__(self, session: Session, vault: Vault, workspace: str,
                 env_patterns: tuple[str, ...] | list[str] = ()) -> None:
        self.session, self.vault, self.workspace = session, vault, workspace
        self.env_patterns = tuple(env_patterns)
        self._params: dict[str, str] | None = None

    def params(self) -> dict[str, str]:
        if self._params is None:
            rows = self.session.execute(sa.select(Param.name, Param.value_encrypted)
                                        .where(Param.workspace_id == self.workspace)).all()
            self._params = {name: self.vault.decrypt(token) for name, token in rows}
        return self._params

    def __call__(self, kind: str, name: str) -> str | None:
        if kind == "param":
            return self.params().get(name)
        return os.environ.get(name) if env_allowed(name, self.env_patterns) else None

    def problems(self, *values: tuple[str, Any]) -> dict[str, dict[str, list[str]]]:
        """For each ``(top-level field, value)``: the references in it that stand for nothing, by
        field path — what a save refuses."""
        found: dict[str, dict[str, list[str]]] = {}
        for top, value in values:
            for ref in find_references(value):
                if ref.kind == "env" and not env_allowed(ref.name, self.env_patterns):
                    why = (f"${{env.{ref.name}}} is not allowed: the operator allows environment references "
                           "by name with HOOKHUB_ENV_REFERENCES")
                elif self(ref.kind, ref.name) is None:
                    why = (f"no param {ref.name!r} in this workspace" if ref.kind == "param"
                           else f"the environment variable {ref.name} is not set")
                else:
                    continue
                found.setdefault(top, {})[ref.field] = [why]
        return found
