"""The state tables of events, deliveries and approvals, and the models that enforce them."""

from __future__ import annotations

import pytest

from hub.core.statuses import (
    APPROVAL,
    DELIVERY,
    EVENT,
    RETRYABLE_DELIVERY,
    ApprovalStatus,
    DeliveryStatus,
    EventStatus,
    InvalidTransition,
)
from hub.storage.models import Approval, Delivery, Event

D, A = DeliveryStatus, ApprovalStatus


@pytest.mark.parametrize("old, new", [
    (None, D.QUEUED), (None, D.PENDING_APPROVAL),
    (D.PENDING_APPROVAL, D.QUEUED), (D.PENDING_APPROVAL, D.REJECTED),
    (D.QUEUED, D.SENDING), (D.QUEUED, D.FAILED), (D.QUEUED, D.REJECTED), (D.QUEUED, D.DEAD),
    (D.SENDING, D.DELIVERED), (D.SENDING, D.QUEUED), (D.SENDING, D.FAILED), (D.SENDING, D.DEAD),
    (D.DELIVERED, D.QUEUED), (D.DEAD, D.QUEUED), (D.FAILED, D.QUEUED), (D.REJECTED, D.QUEUED),
    (D.SENDING, D.SENDING), (D.QUEUED, D.QUEUED),
])
def test_a_delivery_may_make_these_moves(old, new):
    assert DELIVERY.allows(old, new)
    assert DELIVERY.check(old, new) == new


@pytest.mark.parametrize("old, new", [
    (None, D.SENDING), (None, D.DELIVERED),                     # a delivery starts queued or held
    (D.PENDING_APPROVAL, D.SENDING), (D.PENDING_APPROVAL, D.DELIVERED),   # never sent without a decision
    (D.QUEUED, D.DELIVERED),                                    # only a send delivers
    (D.DELIVERED, D.FAILED), (D.DEAD, D.DELIVERED), (D.REJECTED, D.SENDING),
    (D.QUEUED, D.PENDING_APPROVAL),
])
def test_a_delivery_may_not_make_these(old, new):
    assert not DELIVERY.allows(old, new)
    with pytest.raises(InvalidTransition, match=f"cannot move to '{new}'"):
        DELIVERY.check(old, new)


def test_approvals_are_decided_once():
    assert APPROVAL.sources(A.EXPIRED) == {A.PENDING}
    assert APPROVAL.terminal() == {A.APPROVED, A.REJECTED, A.EXPIRED}
    assert APPROVAL.allows(None, A.APPROVED)          # a policy may decide before anyone waits
    for decided in APPROVAL.terminal():
        for other in set(ApprovalStatus) - {decided}:
            assert not APPROVAL.allows(decided, other)


def test_events_are_routed_once():
    assert EVENT.sources(EventStatus.ROUTED) == {EventStatus.ACCEPTED}
    assert not EVENT.allows(EventStatus.ROUTED, EventStatus.ACCEPTED)


def test_an_admin_may_retry_what_has_ended_or_waits():
    assert RETRYABLE_DELIVERY == {D.DEAD, D.FAILED, D.REJECTED, D.DELIVERED, D.QUEUED}
    assert all(DELIVERY.allows(status, D.QUEUED) for status in RETRYABLE_DELIVERY)


def test_every_state_has_a_row_in_its_table():
    for machine, enum in ((DELIVERY, DeliveryStatus), (APPROVAL, ApprovalStatus), (EVENT, EventStatus)):
        assert set(machine.moves) == set(enum)
        assert all(target in set(enum) for targets in machine.moves.values() for target in targets)


def test_the_models_refuse_a_move_that_is_not_in_the_table():
    delivery = Delivery(status=D.QUEUED)
    delivery.status = D.SENDING
    delivery.status = D.DELIVERED
    with pytest.raises(InvalidTransition):
        delivery.status = D.FAILED
    assert delivery.status == D.DELIVERED
    with pytest.raises(InvalidTransition):
        Delivery(status=D.SENDING)
    approval = Approval(status=A.PENDING)
    approval.status = A.EXPIRED
    with pytest.raises(InvalidTransition):
        approval.status = A.APPROVED
    event = Event(status=EventStatus.ACCEPTED)
    event.status = EventStatus.ROUTED
    with pytest.raises(InvalidTransition):
        event.status = EventStatus.ACCEPTED


def test_statuses_are_stored_as_their_plain_values():
    assert str(D.PENDING_APPROVAL) == "pending_approval"
    assert D.DEAD == "dead" and "dead" in RETRYABLE_DELIVERY
