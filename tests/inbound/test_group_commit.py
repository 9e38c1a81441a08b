"""The group commit's contract (hub.storage.group_commit), through the hook endpoint, on SQLite and on
PostgreSQL: concurrent requests of one process share a transaction, a request answered 200 is
committed, a duplicate inside one batch is answered ``duplicate`` with the first one's id, and when
the commit of a batch fails every request in it is answered 503 and none of its events is stored.
Each holds whether the request's thread waits for the commit (any WSGI server) or the answer is given
later (the hub's gunicorn worker offers it: hub.web.answer_later), and for a mix of both.

Batches are formed without timing: the test holds the process's writes (on SQLite its write gate,
where a batch's leader waits before taking the work; on PostgreSQL a SHARE lock on the events table,
where the leader waits at its own insert), waits until the requests are queued, then lets go. The
commit is made to fail by the database itself: a deferred constraint, checked at COMMIT, that the
events of one marked request violate."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder

from hub.storage.db import get_database
from hub.storage.group_commit import GroupCommit
from hub.storage.models import Event, Failure
from hub.web.answer_later import OFFER, AnswerLater
from tests.waiting import wait_until

FAIL_MARK = "fail-commit"


@pytest.fixture
def app(app_on_each_database):
    return app_on_each_database


@pytest.fixture(params=["waiting", "later"])
def answering(request) -> str:
    """How the requests are answered: their threads wait for the commit, or the answer comes later."""
    return request.param


@pytest.fixture
def inbound(app, id_source):
    created = id_source
    # Its settings in the process's memory: while the test holds the writes, a request reads nothing
    # (on SQLite a read waits at the same gate as the writes).
    cache = app.extensions["hookhub.hook_endpoint"].gateway.cache
    wait_until(lambda: cache.get(created["id"]) is not None and cache.holds(created["id"]), "the connection cache")
    return created["inbound_url"].replace("http://hub.test", "")


def commits(app):
    return app.extensions["hookhub.hook_endpoint"].gateway.events.commits


def dialect(app) -> str:
    return get_database(app).engine.dialect.name


@contextmanager
def writes_held(app) -> Iterator[None]:
    db = get_database(app)
    if db.write_gate is not None:
        with db.write_gate.held():
            yield
        return
    with db.engine.connect() as conn:
        conn.exec_driver_sql("LOCK TABLE events IN SHARE MODE")
        try:
            yield
        finally:
            conn.rollback()


def blocked_on_postgres(app) -> int:
    with get_database(app).engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE NOT granted").scalar()


def post(app, path: str, payload: dict, *, later: bool) -> tuple[int, dict]:
    """One request through the app's WSGI callable, as a server calls it; with ``later`` the server
    offers to take the answer later, and this waits for it as the hub's worker would send it."""
    environ = EnvironBuilder(path=path, method="POST", json=payload).get_environ()
    started: list[str] = []
    sent = threading.Event()
    result: list = []

    def start_response(status: str, headers: list, exc_info=None) -> None:
        started.append(status)

    def send(answer) -> None:
        result.append(b"".join(answer()))
        sent.set()

    if later:
        environ[OFFER] = offer = AnswerLater(send)
    iterable = app(environ, start_response)
    if later:
        assert iterable is offer, "the endpoint did not take the offer"
        assert sent.wait(60), "the answer was never given"
    else:
        assert not isinstance(iterable, AnswerLater)
        send(lambda: iterable)
    return int(started[0].split()[0]), json.loads(result[0])


class Posts:
    """Requests posted on threads of this process (as gunicorn's threads would), answers kept in order."""

    def __init__(self, app, path: str, answering: str = "waiting") -> None:
        self.app, self.path, self.answering = app, path, answering
        self.threads: list[threading.Thread] = []
        self.answers: dict[int, tuple[int, dict]] = {}

    def post(self, n: int, event_id: str, *, later: bool | None = None) -> None:
        later = self.answering == "later" if later is None else later

        def run() -> None:
            self.answers[n] = post(self.app, self.path, {"id": event_id, "n": n}, later=later)

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()

    def join(self) -> dict[int, tuple[int, dict]]:
        for thread in self.threads:
            thread.join(60)
            assert not thread.is_alive(), "a request never got its answer"
        return self.answers


def queue_batch(app, inbound: str, event_ids: list[str], answering: str = "waiting") -> Posts:
    """Post ``event_ids`` so that all but the first (PostgreSQL) or all (SQLite) share one batch;
    returns once that batch has run."""
    group = commits(app)
    posts = Posts(app, inbound, answering)
    with writes_held(app):
        posts.post(0, event_ids[0])
        if dialect(app) == "postgresql":      # the leader, alone in its batch, waits at its insert
            wait_until(lambda: blocked_on_postgres(app) >= 1, "the first request to wait for the lock")
            expected = len(event_ids) - 1
        else:                                 # the leader waits at the gate, its work still queued
            expected = len(event_ids)
        for n, event_id in enumerate(event_ids[1:], start=1):
            posts.post(n, event_id)
        wait_until(lambda: group.waiting() == expected, f"{expected} requests to queue")
    posts.join()
    return posts


def stored_ids(app) -> dict[str, str]:
    with get_database(app).session() as s:
        return dict(s.execute(sa.select(Event.id, Event.event_id)).all())


def test_requests_of_one_batch_are_all_committed_and_a_duplicate_inside_it_names_the_first(
        app, inbound, answering):
    before, before_bulk = commits(app).batches, commits(app).in_bulk
    posts = queue_batch(app, inbound, ["lead", "a", "b", "a", "c", "b", "a"], answering)
    answers = posts.join()
    # All queued shared one INSERT, a transaction of its own, which stored the four firsts; the three
    # duplicates then looked for their holders together, in one more (on PostgreSQL the leader,
    # alone, had a batch before).
    assert commits(app).batches - before == (2 if dialect(app) == "sqlite" else 3)
    assert commits(app).in_bulk - before_bulk == 4
    assert all(status == 200 for status, _ in answers.values()), answers
    by_event: dict[str, set[str]] = {}
    for n, event_id in enumerate(["lead", "a", "b", "a", "c", "b", "a"]):
        by_event.setdefault(event_id, set()).add(answers[n][1]["id"])
    assert all(len(ids) == 1 for ids in by_event.values()), by_event     # a duplicate answers the first's id
    statuses = sorted(answer["status"] for _, answer in answers.values())
    assert statuses == ["accepted"] * 4 + ["duplicate"] * 3
    stored = stored_ids(app)
    assert sorted(stored.values()) == ["a", "b", "c", "lead"]            # each answered 200 is committed
    assert {next(iter(ids)) for ids in by_event.values()} == set(stored)


def test_a_batch_of_duplicates_only_stores_nothing_and_names_each_holder(app, inbound, answering):
    # The batch's INSERT stores none of its rows: each then finds its holder on its own.
    holders = {event_id: post(app, inbound, {"id": event_id, "n": n}, later=False)[1]["id"]
               for n, event_id in enumerate(["a", "b"])}
    answers = queue_batch(app, inbound, ["a", "b", "a"], answering).join()
    assert [answers[n][0] for n in range(3)] == [200] * 3
    assert [answers[n][1]["status"] for n in range(3)] == ["duplicate"] * 3
    assert [answers[n][1]["id"] for n in range(3)] == [holders["a"], holders["b"], holders["a"]]
    assert stored_ids(app) == {holders["a"]: "a", holders["b"]: "b"}


@pytest.fixture
def failing_commit(app):
    """A deferred constraint that fails the COMMIT of any transaction holding a marked event."""
    db = get_database(app)
    if dialect(app) == "sqlite":
        statements = [
            "CREATE TABLE gc_parent (id TEXT PRIMARY KEY)",
            "CREATE TABLE gc_child (parent TEXT REFERENCES gc_parent(id) DEFERRABLE INITIALLY DEFERRED)",
            f"CREATE TRIGGER gc_fail AFTER INSERT ON events WHEN NEW.event_id LIKE '{FAIL_MARK}%' "
            "BEGIN INSERT INTO gc_child VALUES ('missing'); END",
        ]
    else:
        statements = [
            "CREATE FUNCTION gc_fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'integrity_constraint_violation'; END $$",
            "CREATE CONSTRAINT TRIGGER gc_fail AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED "
            f"FOR EACH ROW WHEN (starts_with(NEW.event_id, '{FAIL_MARK}')) EXECUTE FUNCTION gc_fail()",
        ]
    with db.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def test_when_the_commit_of_a_batch_fails_every_request_in_it_gets_503_and_none_is_stored(
        app, inbound, failing_commit, answering):
    event_ids = ["lead", "x-1", "x-2", f"{FAIL_MARK}-1", "x-3"]
    answers = queue_batch(app, inbound, event_ids, answering).join()
    in_batch = range(len(event_ids)) if dialect(app) == "sqlite" else range(1, len(event_ids))
    for n in in_batch:
        status, body = answers[n]
        assert (status, body["error"]["code"]) == (503, "unavailable"), (event_ids[n], answers[n])
    stored = stored_ids(app)
    assert not {event_ids[n] for n in in_batch} & set(stored.values())     # nothing of the batch is stored
    if dialect(app) == "postgresql":                                        # the leader's own batch committed
        assert answers[0][0] == 200 and stored == {answers[0][1]["id"]: "lead"}
    with get_database(app).session() as s:                                  # each 503 is recorded
        assert s.scalar(sa.select(sa.func.count()).select_from(Failure).where(Failure.status == 503)) == len(in_batch)

    # The connection is usable again: the next request, alone, is committed.
    r = app.test_client().post(inbound, json={"id": "after"})
    assert r.status_code == 200 and r.json["status"] == "accepted"
    assert "after" in stored_ids(app).values()


@pytest.fixture
def refusing_row(app):
    """The database refuses the insert of a marked event (on PostgreSQL as a value error)."""
    if dialect(app) == "sqlite":
        statements = ["CREATE TRIGGER gc_refuse BEFORE INSERT ON events WHEN NEW.event_id LIKE 'refuse%' "
                      "BEGIN SELECT RAISE(ABORT, 'refused'); END"]
    else:
        statements = [
            "CREATE FUNCTION gc_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = 'invalid_parameter_value'; END $$",
            "CREATE TRIGGER gc_refuse BEFORE INSERT ON events FOR EACH ROW "
            "WHEN (starts_with(NEW.event_id, 'refuse')) EXECUTE FUNCTION gc_refuse()",
        ]
    with get_database(app).engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def test_a_row_the_database_refuses_fails_alone_and_its_batch_mates_are_committed(
        app, inbound, refusing_row, answering):
    """One request's row refused is that request's error, not its batch's: the others are committed."""
    event_ids = ["lead", "ok-1", "refuse-1", "ok-2"]
    answers = queue_batch(app, inbound, event_ids, answering).join()
    refused = answers[2]
    # PostgreSQL's value error is the payload's fault (400); SQLite's trigger abort reads as storage (503).
    assert (refused[0], refused[1]["error"]["code"]) == (
        (400, "invalid_payload") if dialect(app) == "postgresql" else (503, "unavailable"))
    assert [answers[n][0] for n in (0, 1, 3)] == [200, 200, 200]
    assert sorted(stored_ids(app).values()) == ["lead", "ok-1", "ok-2"]


def test_answers_given_later_and_waiting_threads_share_batches_and_pass_the_lead(app, inbound):
    """A batch led by a request whose answer comes later, then by a waiting thread, then by that
    thread again for the work handed over after it: one row a batch, every one committed once."""
    group = commits(app)
    group.max_rows = 1
    before = group.batches
    posts = Posts(app, inbound)
    with writes_held(app):
        posts.post(0, "later-lead", later=True)
        if dialect(app) == "postgresql":
            wait_until(lambda: blocked_on_postgres(app) >= 1, "the first request to wait for the lock")
        posts.post(1, "waiting", later=False)
        wait_until(lambda: group.waiting() >= 1 + (dialect(app) == "sqlite"), "the waiting request to queue")
        posts.post(2, "later-after", later=True)
        wait_until(lambda: group.waiting() == 2 + (dialect(app) == "sqlite"), "the third request to queue")
    answers = posts.join()
    assert [answers[n][0] for n in range(3)] == [200, 200, 200], answers
    assert [answers[n][1]["status"] for n in range(3)] == ["accepted"] * 3
    assert group.batches - before == 3
    assert sorted(stored_ids(app).values()) == ["later-after", "later-lead", "waiting"]


def test_a_commit_waits_for_the_rows_of_requests_in_progress_up_to_its_bound(app):
    """A request announces its row as it comes in (GroupCommit.expecting): a leader about to commit
    waits for it, and the two share one batch; a request that ends without a row frees the leader."""
    group = GroupCommit(get_database(app).fast, gather=60.0)          # fill 1: only announced work is awaited
    announced, parsed = threading.Event(), threading.Event()
    results: list[str] = []

    def request_in_progress(row: bool) -> None:
        with group.expecting():
            announced.set()
            assert parsed.wait(30)
            if row:
                results.append(group.run(lambda cursor: "in progress"))

    for row in (True, False):
        announced.clear()
        parsed.clear()
        before = group.batches
        slow = threading.Thread(target=request_in_progress, args=(row,))
        slow.start()
        assert announced.wait(30)
        leader = threading.Thread(target=lambda: results.append(group.run(lambda cursor: "leader")))
        leader.start()
        wait_until(lambda: group.gathering, "the leader to wait for the announced row")
        parsed.set()
        slow.join(30)
        leader.join(30)         # within the test's patience, not the 60 s bound: the leader was freed
        assert not leader.is_alive() and not group.gathering
        assert group.batches - before == 1
    assert sorted(results) == ["in progress", "leader", "leader"]


def test_a_commit_waits_for_its_fill_of_rows_up_to_its_bound(app):
    """Before a batch the leader waits, within its bound, until ``fill`` pieces of work are waiting —
    from threads that announced nothing — and then runs them as one batch; with fewer it commits
    what it has once the bound has passed."""
    group = GroupCommit(get_database(app).fast, gather=60.0, fill=3)
    results: list[str] = []
    threads = [threading.Thread(target=lambda n=n: results.append(group.run(lambda cursor, n=n: f"row {n}")))
               for n in range(3)]
    threads[0].start()
    wait_until(lambda: group.gathering, "the leader to wait for its fill")
    threads[1].start()
    wait_until(lambda: group.waiting() == 2, "a second row to queue")
    assert group.gathering and group.batches == 0       # two of three: still waiting
    threads[2].start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    assert group.batches == 1 and sorted(results) == ["row 0", "row 1", "row 2"]

    short = GroupCommit(get_database(app).fast, gather=0.05, fill=3)
    assert short.run(lambda cursor: "alone") == "alone"   # the bound passed: committed without its fill
    assert short.batches == 1
