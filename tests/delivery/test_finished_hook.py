"""``hub_delivery_finished`` tells a plugin the channel's verdict and the hub's fate of each attempt:
a retryable failure with no retry left is ``dead``, not ``retry``; an implementation written
before ``fate`` existed (``delivery, result``) is still called."""

from __future__ import annotations

from hub.plugin import hookimpl
from hub.runtime.plugin_host import get_host
from hub.testing import Reply, settle
from tests.delivery.conftest import all_settled, make_route, make_source, make_target


class Observer:
    def __init__(self) -> None:
        self.seen: list[tuple[int, str, str]] = []

    @hookimpl
    def hub_delivery_finished(self, delivery, result, fate):
        self.seen.append((delivery.attempt, result.outcome, fate))


class OldObserver:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def hub_delivery_finished(self, delivery, result):
        self.seen.append(result.outcome)


def test_the_last_retryable_failure_is_reported_dead_and_an_old_implementation_still_runs(app, api, client, receiver):
    new, old = Observer(), OldObserver()
    get_host(app).register(new, "observer")
    get_host(app).register(old, "old observer")
    receiver.default = Reply(503)
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook", retry_schedule=[0.1])])
    assert client.post(inbound, json={"event_id": "e1"}).status_code == 200
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "dead"
    assert new.seen == [(1, "retry", "retry"), (2, "retry", "dead")]
    assert old.seen == ["retry", "retry"]
