"""`hookhub serve` as a user runs it: the README tour, a clean Ctrl-C, and external Redis/PostgreSQL."""

import os
import shutil
import signal
import subprocess
import time

import pytest
import redis
import requests
import sqlalchemy as sa

from tests.conftest import free_port, fresh_postgres_database
from tests.e2e.processes import VENV_BIN, alive, clean_env, command_line, descendants, start_serve, stop, wait_http
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def test_serve_with_no_environment_runs_the_tour_and_stops_cleanly(tmp_path):
    port = free_port()
    started = time.monotonic()
    proc = start_serve(tmp_path, port, clean_env())
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        print(f"healthz answered {time.monotonic() - started:.1f} s after start")
        ready = wait_http(f"http://127.0.0.1:{port}/readyz").json()
        assert ready["checks"] == {"database": "ok", "schema": "ok", "redis": "ok"}
        tree = descendants(proc.pid)
        commands = " | ".join(command_line(p) for p in tree)
        assert "gunicorn" in commands and "hub worker" in commands and "redis-server" in commands
        assert (tmp_path / "instance" / "hookhub.db").exists()
        assert (tmp_path / "instance" / "secret.key").exists()

        # The README's five-minute tour.
        token = subprocess.run([str(VENV_BIN / "hookhub"), "tokens", "create"], cwd=tmp_path, env=clean_env(),
                               capture_output=True, text=True, check=True).stdout.strip()
        auth = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}"
        conn = requests.post(f"{base}/api/v1/connections", headers=auth,
                             json={"name": "my-crm", "provider": "generic"}, timeout=5).json()
        inbound = conn["inbound_url"].replace("http://127.0.0.1:8000", base)
        accepted = requests.post(inbound, json={"event_id": "deal-1", "text": "Deal won"}, timeout=5).json()
        assert accepted["status"] == "accepted"
        def routed() -> dict | None:
            event = requests.get(f"{base}/api/v1/events/{accepted['id']}", headers=auth, timeout=5).json()
            return event if event["status"] == "routed" else None

        event = wait_until(routed, "the tour's event to be routed", every=0.2)
        assert event["text"] == "Deal won"
    finally:
        tree = descendants(proc.pid)
        code = stop(proc, signal.SIGINT)
    assert code == 0

    def leftovers() -> list[str]:
        return [command_line(p) for p in tree if alive(p)]

    try:       # serve has exited; its children end with it, within their own shutdown
        wait_until(lambda: not leftovers(), "serve's processes to exit after Ctrl-C", timeout=10)
    except AssertionError:
        raise AssertionError(f"orphans after Ctrl-C: {leftovers()}") from None
    log = (tmp_path / "serve.log").read_text()
    assert "key=" not in log, "the inbound key must not reach the access log"


def test_serve_restarts_a_killed_worker(tmp_path):
    port = free_port()
    proc = start_serve(tmp_path, port, clean_env())
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        first = min(p for p in descendants(proc.pid) if "hub worker" in command_line(p))  # not its scheduler
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: [p for p in descendants(proc.pid) if "hub worker" in command_line(p) and p != first],
                   "serve to restart the killed worker", timeout=20, every=0.2)
        assert proc.poll() is None
    finally:
        stop(proc)


@pytest.mark.postgres
def test_serve_uses_configured_redis_and_postgresql(tmp_path, postgres_url):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: `make test` installs it")
    sock = tmp_path / "r.sock"
    redis_proc = subprocess.Popen([server, "--port", "0", "--unixsocket", str(sock), "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL)
    db_url = fresh_postgres_database(postgres_url)
    port = free_port()
    try:
        wait_until(sock.exists, "the redis-server's socket", timeout=10)
        proc = start_serve(tmp_path, port, clean_env(HOOKHUB_REDIS_URL=f"unix://{sock}",
                                                     HOOKHUB_DATABASE_URL=db_url,
                                                     HOOKHUB_BOOTSTRAP_TOKEN="boot-token"))
        try:
            wait_http(f"http://127.0.0.1:{port}/readyz")
            assert not any("redis-server" in command_line(p) for p in descendants(proc.pid))
            r = requests.post(f"http://127.0.0.1:{port}/api/v1/connections",
                              headers={"Authorization": "Bearer boot-token"},
                              json={"name": "pg-check", "provider": "generic"}, timeout=5)
            assert r.status_code == 201
            engine = sa.create_engine(db_url)
            with engine.connect() as c:
                assert c.execute(sa.text("SELECT name FROM connections")).scalar() == "pg-check"
            engine.dispose()
            client = redis.Redis(unix_socket_path=str(sock))
            wait_until(lambda: client.smembers("rq:workers"), "the worker to register in the configured Redis",
                       timeout=15, every=0.2)
            assert not (tmp_path / "instance" / "hookhub.db").exists()
        finally:
            assert stop(proc) == 0
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
