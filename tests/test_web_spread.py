"""The table of web processes' connection counts (hub.web.spread) and the rule that lets a crowded
process's connections go: shared across fork, slots given and freed by gunicorn's master through
the hub's settings (hub.web.gunicorn_conf), a connection let go only while its process has two or
more than the least busy sibling, counting those already leaving."""

import os
from types import SimpleNamespace

from hub.web import gunicorn_conf
from hub.web.spread import Spreader, Table


def test_counts_written_by_a_forked_process_are_read_by_its_parent():
    table = Table()
    slot = table.take([])
    pid = os.fork()
    if pid == 0:                                     # the child: a web process
        try:
            table.publish(slot, 7)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    other = table.take([slot])
    assert table.least_elsewhere(other) == 7


def test_slots_are_the_lowest_free_ones_and_a_freed_slot_is_no_sibling():
    table = Table(capacity=3)
    first, second = table.take([]), table.take([1])
    assert (first, second) == (1, 2)
    assert table.least_elsewhere(first) == 0         # a new process holds no connection yet
    table.free(second)
    assert table.least_elsewhere(first) is None
    assert table.take([1]) == 2
    assert table.take([1, 2, 3]) is None             # every slot held


def test_a_process_lets_go_only_while_it_holds_two_more_than_the_least_busy_sibling():
    table = Table()
    crowded, other, idle_sibling = table.take([]), table.take([1]), table.take([1, 2])
    table.publish(other, 5)
    table.publish(idle_sibling, 9)
    spreader = Spreader(table, crowded)

    assert not spreader.let_go(6)                    # one more than the least busy: even enough
    assert spreader.let_go(7)                        # two more: this connection goes
    assert spreader.leaving == 1
    assert table.least_elsewhere(other) == 6         # published without the one leaving
    assert not spreader.let_go(7)                    # 7 - 1 leaving: no second one for the same excess
    assert spreader.let_go(8)

    spreader.gone(7)                                 # one of them closed: 7 open, one still leaving
    assert spreader.leaving == 1
    assert table.least_elsewhere(other) == 6


def test_a_process_without_siblings_keeps_its_connections():
    table = Table()
    spreader = Spreader(table, table.take([]))
    assert not spreader.let_go(1000)


def test_gunicorns_master_gives_each_web_process_a_slot_and_frees_it_when_it_exits(monkeypatch):
    table = Table()
    monkeypatch.setattr(gunicorn_conf, "_connections", table)
    server = SimpleNamespace(WORKERS={})
    first, second = SimpleNamespace(), SimpleNamespace()
    for pid, worker in ((101, first), (102, second)):
        gunicorn_conf.pre_fork(server, worker)
        server.WORKERS[pid] = worker
    assert (first.hub_slot, second.hub_slot) == (1, 2)
    assert first.hub_connections is table

    del server.WORKERS[101]
    gunicorn_conf.child_exit(server, first)
    assert table.least_elsewhere(second.hub_slot) is None
    replacement = SimpleNamespace()
    gunicorn_conf.pre_fork(server, replacement)
    assert replacement.hub_slot == 1
