"""Reading one object of a workspace by id: an object of another workspace is not found, exactly
like one that does not exist (a tenant never learns what another one has)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from hub.core.errors import NotFound

T = TypeVar("T")


def in_workspace(session: Session, model: type[T], workspace: str, object_id: Any, what: str) -> T:
    """The ``model`` row with this id in ``workspace``, or :class:`NotFound` ("no <what> '<id>'")."""
    found = session.get(model, object_id) if object_id else None
    if found is None or found.workspace_id != workspace:  # type: ignore[attr-defined]
        raise NotFound(f"no {what} {object_id!r}")
    return found
