"""The states of events, deliveries and approvals, and the one table per kind of the moves allowed
between them. The storage models check every assignment against these tables, and conditional
updates take their ``WHERE status IN (…)`` from :meth:`StateMachine.sources`, so a move that is
not in a table cannot happen unnoticed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar


class EventStatus(StrEnum):
    """An accepted inbound event: ``accepted`` (stored), then ``routed`` (its deliveries exist)."""

    ACCEPTED = "accepted"
    ROUTED = "routed"
    FAILED = "failed"       # kept for the API's status filter; no code path sets it today


class DeliveryStatus(StrEnum):
    """One outbound message to one target."""

    PENDING_APPROVAL = "pending_approval"   # held for a decision (approval manual or policy)
    QUEUED = "queued"                       # waiting for its job (now, or at next_attempt_at)
    SENDING = "sending"                     # handed to the sender by a job
    DELIVERED = "delivered"
    FAILED = "failed"                       # permanently refused, or the hub could not build it
    DEAD = "dead"                           # every retry spent: a dead letter, replayable
    REJECTED = "rejected"                   # rejected by an approver, a veto, or an expired approval


class ApprovalStatus(StrEnum):
    """A delivery held for a decision."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


S = TypeVar("S", bound=StrEnum)


class InvalidTransition(ValueError):
    """A state change that its table does not allow: a bug in the caller, never a client's doing."""


class StateMachine(Generic[S]):
    """The states an object may start in and the moves between them. Staying in the same state is
    not a move and is always allowed."""

    def __init__(self, kind: str, initial: Iterable[S], moves: Mapping[S, Iterable[S]]) -> None:
        self.kind = kind
        self.initial = frozenset(initial)
        self.moves = {state: frozenset(targets) for state, targets in moves.items()}

    def allows(self, old: str | None, new: str) -> bool:
        if old is None:
            return new in self.initial
        return old == new or new in self.moves.get(old, frozenset())  # type: ignore[call-overload]

    def check(self, old: str | None, new: str) -> str:
        """``new`` when the move from ``old`` (``None``: a new object) is allowed; else InvalidTransition."""
        if not self.allows(old, new):
            start = f"from {str(old)!r}" if old is not None else "as the first state"
            raise InvalidTransition(f"a {self.kind} cannot move to {str(new)!r} {start}")
        return str(new)      # the plain value: what the database stores and reads back

    def sources(self, new: S) -> frozenset[S]:
        """The states that may move to ``new``: the guard of a conditional ``UPDATE``."""
        return frozenset(state for state, targets in self.moves.items() if new in targets)

    def terminal(self) -> frozenset[S]:
        """States with no move out of them."""
        return frozenset(state for state, targets in self.moves.items() if not targets)


D = DeliveryStatus
DELIVERY = StateMachine[DeliveryStatus]("delivery", initial=(D.PENDING_APPROVAL, D.QUEUED), moves={
    D.PENDING_APPROVAL: (D.QUEUED, D.REJECTED),            # approved; rejected or expired
    # From queued as well as sending: a render or build failure, or a veto, ends a delivery before its send.
    D.QUEUED: (D.SENDING, D.FAILED, D.DEAD, D.REJECTED),
    D.SENDING: (D.DELIVERED, D.QUEUED, D.FAILED, D.DEAD, D.REJECTED),   # queued: retry later, or held
    D.DELIVERED: (D.QUEUED,),                               # an admin's retry or bulk retry
    D.FAILED: (D.QUEUED,),
    D.DEAD: (D.QUEUED,),
    D.REJECTED: (D.QUEUED,),
})

A = ApprovalStatus
APPROVAL = StateMachine[ApprovalStatus]("approval", initial=(A.PENDING, A.APPROVED, A.REJECTED), moves={
    A.PENDING: (A.APPROVED, A.REJECTED, A.EXPIRED),         # a policy may decide before anyone waits
    A.APPROVED: (),
    A.REJECTED: (),
    A.EXPIRED: (),
})

E = EventStatus
EVENT = StateMachine[EventStatus]("event", initial=(E.ACCEPTED,), moves={
    E.ACCEPTED: (E.ROUTED, E.FAILED),
    E.ROUTED: (),
    E.FAILED: (),
})

#: Deliveries a job may still work on.
ACTIVE_DELIVERY = frozenset({D.QUEUED, D.SENDING})
#: Deliveries an admin may send again (a queued one starts a fresh retry schedule at once).
RETRYABLE_DELIVERY = frozenset({D.DEAD, D.FAILED, D.REJECTED, D.DELIVERED, D.QUEUED})

del D, A, E
