"""The web process's gunicorn worker (hub.web.worker) in real gunicorn with the hub's settings: a
webhook's thread hands its row to the group commit and goes back to reading requests, the answer
is sent once the commit is done, on the same kept-alive connection, with its request id and its
access log line."""

import http.client
import json
import re
import socket
import struct
import subprocess
import threading

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import free_port, fresh_postgres_database
from tests.e2e.processes import VENV_BIN, RedisServer, clean_env, stop_or_kill, wait_http
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
TOKEN = "worker-admin-token"


@pytest.fixture
def hub(tmp_path, postgres_url):
    """One web process of two threads, the hub's settings and worker class, on PostgreSQL (whose
    reads a test's table lock does not hold up); its inbound path."""
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    database = fresh_postgres_database(postgres_url)
    env = clean_env(HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"), HOOKHUB_REDIS_URL=f"unix://{redis_server.sock}",
                    HOOKHUB_DATABASE_URL=database, HOOKHUB_BOOTSTRAP_TOKEN=TOKEN, HOOKHUB_LOG_LEVEL="WARNING")
    subprocess.run([str(VENV_BIN / "hookhub"), "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    log = open(tmp_path / "web.log", "wb")
    web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf", "-w", "1",
                            "--threads", "2", "-b", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/readyz")
        created = requests.post(f"{base}/api/v1/connections", headers={"Authorization": f"Bearer {TOKEN}"},
                                json={"name": "crm", "provider": "generic"}, timeout=5).json()
        path = created["inbound_url"].split("127.0.0.1:8000", 1)[1]
        yield {"port": port, "path": path, "log": tmp_path / "web.log", "database": database}
    finally:
        stop_or_kill(web)
        log.close()
        redis_server.stop()


def post(conn: http.client.HTTPConnection, path: str, event_id: str, request_id: str | None = None):
    headers = {"Content-Type": "application/json"}
    if request_id:
        headers["X-Request-Id"] = request_id
    conn.request("POST", path, body=json.dumps({"event_id": event_id}), headers=headers)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), json.loads(response.read())


def test_answers_come_on_the_kept_alive_connection_with_their_request_id_and_log_line(hub):
    conn = http.client.HTTPConnection("127.0.0.1", hub["port"], timeout=10)
    conn.connect()
    sock = conn.sock
    answers = [post(conn, hub["path"], f"ka-{n}", f"rid-{n}") for n in range(3)]
    duplicate = post(conn, hub["path"], "ka-0")
    assert conn.sock is sock, "the connection was not kept alive"     # http.client reconnects otherwise
    conn.close()
    for n, (status, headers, body) in enumerate(answers):
        assert (status, body["status"], headers["X-Request-Id"]) == (200, "accepted", f"rid-{n}")
        assert headers["Content-Type"] == "application/json"
    assert duplicate[0] == 200 and duplicate[2] == {"status": "duplicate", "id": answers[0][2]["id"],
                                                    "event_id": "ka-0"}
    lines = hub["log"].read_text()
    for n in range(3):       # gunicorn's access line, as for any request (and without the key)
        assert re.search(rf'"POST /hooks/generic/con_\w+" 200 \d+ \d+ms req=rid-{n}', lines), lines[-2000:]
    assert "key=" not in lines


def server_queues(port: int) -> list[int]:
    """The receive queue of each of the server's established connections (bytes not read yet)."""
    out = subprocess.run(["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if line.strip()]


def test_while_a_commit_waits_the_threads_go_on_reading_requests(hub):
    """Inserts held (the test locks the events table): the first webhook's thread leads the batch
    and waits at its insert; the other thread still reads the next three (with a thread waiting for
    each commit it would be stuck on the first of them). Released, all four are committed."""
    answers: dict[int, tuple] = {}

    def send(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", hub["port"], timeout=30)
        answers[n] = post(conn, hub["path"], f"held-{n}")
        conn.close()

    engine = sa.create_engine(hub["database"])
    try:
        with engine.connect() as lock:
            lock.exec_driver_sql("LOCK TABLE events IN SHARE MODE")
            senders = [threading.Thread(target=send, args=(n,)) for n in range(4)]
            senders[0].start()
            wait_until(lambda: waiting_for_locks(engine) == 1, "the first insert to wait for the lock")
            for sender in senders[1:]:
                sender.start()
            wait_until(lambda: len(server_queues(hub["port"])) == 4 and not any(server_queues(hub["port"])),
                       "every request to be read while the inserts are held")
            assert answers == {}, "a webhook was answered before its commit"
            lock.rollback()
        for sender in senders:
            sender.join(30)
        assert sorted(answers) == [0, 1, 2, 3]
        assert all(status == 200 and body["status"] == "accepted" for status, _, body in answers.values()), answers
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT event_id FROM events WHERE starts_with(event_id, 'held-')").scalars()
            assert sorted(stored) == [f"held-{n}" for n in range(4)]
    finally:
        engine.dispose()


def test_the_answer_of_a_request_whose_thread_goes_on_committing_is_sent_when_its_own_commit_is_done(hub):
    """A webhook's thread that hands its row over while no commit runs leads the batch, and then
    the batches of the rows that came meanwhile. Its own answer goes out when its batch has
    committed, not when its thread is done committing the others'. Held here: A's insert waits for
    an uncommitted row holding A's key, B arrives meanwhile; A's key freed, A commits and B's batch
    waits the same way on B's key — A must be answered then, while its thread waits for B's."""
    engine = sa.create_engine(hub["database"])
    connection_id = hub["path"].split("/")[3].split("?")[0]
    answers: dict[str, tuple] = {}

    def send(event_id: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", hub["port"], timeout=30)
        answers[event_id] = post(conn, hub["path"], event_id)
        conn.close()

    def hold(key: str):
        """A transaction of the test holding ``key`` with a row it has not committed."""
        tx = engine.connect()
        tx.exec_driver_sql(
            "INSERT INTO events (id, workspace_id, connection_id, provider, event_id, dedupe_key, status, envelope, "
            "raw_body, received_at) SELECT %(id)s, workspace_id, id, 'generic', %(key)s, %(key)s, 'accepted', "
            "'{}', '', now() FROM connections WHERE id = %(connection)s",
            {"id": f"evt_hold_{key}", "key": key, "connection": connection_id})
        return tx

    holding_a, holding_b = hold("lead-a"), hold("lead-b")
    try:
        first = threading.Thread(target=send, args=("lead-a",))
        first.start()
        wait_until(lambda: waiting_for_locks(engine) == 1, "A's insert to wait for A's key")
        second = threading.Thread(target=send, args=("lead-b",))
        second.start()
        wait_until(lambda: len(server_queues(hub["port"])) == 2 and not any(server_queues(hub["port"])),
                   "B to be read while A's commit is held")
        holding_a.rollback()          # A's key is free: A commits, and its thread takes B's batch
        wait_until(lambda: waiting_for_locks(engine) == 1 and "lead-a" in answers or None,
                   "A's answer while its thread waits for B's commit", timeout=15)
        assert "lead-b" not in answers, "B was answered before its commit"
        holding_b.rollback()
        first.join(30)
        second.join(30)
        assert {event_id: (status, body["status"]) for event_id, (status, _, body) in answers.items()} == {
            "lead-a": (200, "accepted"), "lead-b": (200, "accepted")}
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT id FROM events WHERE starts_with(event_id, 'lead-')").scalars()
            assert sorted(stored) == sorted(body["id"] for _, _, body in answers.values())
    finally:
        holding_a.close()
        holding_b.close()
        engine.dispose()


def waiting_for_locks(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE NOT granted").scalar()


def test_a_sender_gone_before_its_answer_leaves_the_worker_serving(hub):
    """The sender hangs up while its event waits for the commit: the event is still committed (the
    sender's retry is answered duplicate), the answer that cannot be sent is logged quietly, and the
    worker goes on serving."""
    engine = sa.create_engine(hub["database"])
    try:
        with engine.connect() as lock:
            lock.exec_driver_sql("LOCK TABLE events IN SHARE MODE")
            gone = socket.create_connection(("127.0.0.1", hub["port"]), timeout=10)
            body = json.dumps({"event_id": "hung-up"}).encode()
            gone.sendall(f"POST {hub['path']} HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            wait_until(lambda: waiting_for_locks(engine) == 1, "the insert to wait for the lock")
            gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            gone.close()                                  # a reset, not a polite close
            lock.rollback()
        with engine.connect() as conn:
            wait_until(lambda: conn.exec_driver_sql(
                "SELECT count(*) FROM events WHERE event_id = 'hung-up'").scalar() == 1, "the event to be committed")
        retry = http.client.HTTPConnection("127.0.0.1", hub["port"], timeout=10)
        status, _, answer = post(retry, hub["path"], "hung-up")
        retry.close()
        assert (status, answer["status"]) == (200, "duplicate")
        log = hub["log"].read_text()
        assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    finally:
        engine.dispose()
