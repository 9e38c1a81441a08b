"""Nothing acknowledged is lost: streams of webhooks through real gunicorn (the hub's settings and
worker class, answers given after the group commit) + RQ worker + redis-server,
routed to a slow receiver, while the worker is SIGKILLed mid-send and Redis is stopped. Afterwards
every 200 `accepted` is one stored event, every event is routed and reaches the receiver, and
duplicates were processed once."""

import contextlib
import os
import re
import signal
import subprocess
import threading
from collections import Counter

import pytest
import requests
import sqlalchemy as sa

from hub.testing import Receiver, Reply
from tests.conftest import free_port
from tests.e2e.processes import VENV_BIN, RedisServer, clean_env, wait_http
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e
TOKEN = "durability-admin-token"


def post_mortem(redis_server, pending) -> list[dict]:
    """What Redis knows of the stuck events' jobs, to say why they were not routed."""
    import redis

    client = redis.Redis(unix_socket_path=str(redis_server.sock))
    return [{"event": r.id, "job": {k.decode(): v.decode(errors="replace")[:200] for k, v in
                                    client.hgetall(f"rq:job:{r.route_job}").items()
                                    if k in (b"status", b"worker_name", b"ended_at", b"exc_info", b"started_at")}}
            for r in pending[:3]]


def alive_workers(redis_server) -> set[bytes]:
    """The heartbeat keys of the workers that beat in the last few seconds (hub.worker.liveness)."""
    import redis

    return set(redis.Redis(unix_socket_path=str(redis_server.sock)).keys("hookhub:alive:*"))


def test_no_acknowledged_event_is_lost_when_the_worker_dies_and_redis_stops(tmp_path):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    receiver = Receiver(default=Reply(204, delay=0.3)).start()     # slow: sends are in flight when the worker dies
    env = clean_env(HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"), HOOKHUB_REDIS_URL=f"unix://{redis_server.sock}",
                    HOOKHUB_BOOTSTRAP_TOKEN=TOKEN, HOOKHUB_SWEEP_INTERVAL="1", HOOKHUB_LOG_LEVEL="WARNING",
                    HOOKHUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8")
    subprocess.run([str(VENV_BIN / "hookhub"), "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    log = open(tmp_path / "processes.log", "wb")
    web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf", "-w", "2",
                            "-b", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT)

    def start_worker():
        return subprocess.Popen([str(VENV_BIN / "hookhub"), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)

    worker = start_worker()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/readyz")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        conn = requests.post(f"{base}/api/v1/connections", headers=auth, timeout=5,
                             json={"name": "durable", "provider": "generic"}).json()
        url = conn["inbound_url"].replace("http://127.0.0.1:8000", base)
        target = requests.post(f"{base}/api/v1/connections", headers=auth, timeout=5, json={
            "name": "slow receiver", "channel": "webhook", "channel_config": {"url": receiver.url + "/hook"}}).json()
        requests.post(f"{base}/api/v1/routes", headers=auth, timeout=5, json={
            "name": "all", "source": conn["id"], "targets": [{"connection": target["id"]}]}).raise_for_status()

        answers: list[tuple[str, int, dict]] = []
        done = threading.Event()

        def stream(sender: int):
            session = requests.Session()
            n = 0
            while not done.is_set() and n < 1000:
                event_id = f"s{sender}e{n}"
                if n % 10 == 9:
                    event_id = f"s{sender}e{n - 5}"      # a duplicate of an earlier event
                try:
                    r = session.post(url, json={"event_id": event_id, "n": n}, timeout=10)
                    answers.append((event_id, r.status_code, r.json()))
                except requests.RequestException as exc:
                    answers.append((event_id, 0, {"error": str(exc)}))
                n += 1

        senders = [threading.Thread(target=stream, args=(k,)) for k in range(3)]   # concurrent: batches form
        for sender in senders:
            sender.start()
        # The kill must strand a send: it waits for one in flight at the receiver (0.3 s each), not
        # only for the stream — killed before its first deliver job, the worker left nothing stranded.
        wait_until(lambda: len(answers) >= 100 and receiver.in_flight > 0, "the stream to be under way and a "
                   "send in flight", every=0.01)
        before = alive_workers(redis_server)
        os.kill(worker.pid, signal.SIGKILL)             # the worker dies mid-stream, mid-send
        worker.wait()
        worker = start_worker()
        wait_until(lambda: alive_workers(redis_server) - before, "the new worker to heartbeat")
        redis_server.stop()                              # Redis goes away while events keep arriving …
        wait_until(lambda: b"handoff pump waiting for Redis" in (tmp_path / "processes.log").read_bytes(),
                   "the hand-off pump to meet the outage")
        redis_server.start()                             # … and comes back
        seen = len(answers)
        wait_until(lambda: len(answers) >= min(seen + 100, 3000), "the streams to go on after the outage")
        done.set()
        for sender in senders:
            sender.join(30)

        accepted = {a[2]["id"]: a[0] for a in answers if a[1] == 200 and a[2].get("status") == "accepted"}
        duplicates = [a for a in answers if a[1] == 200 and a[2].get("status") == "duplicate"]
        others = Counter(a[1] for a in answers if a[1] != 200)
        print(f"\n{len(answers)} requests: {len(accepted)} accepted, {len(duplicates)} duplicates, "
              f"others {dict(others)}")
        assert len(accepted) > 100 and duplicates
        assert set(others) <= {503}, f"unexpected answers: {others}"   # 503 = retry later, never lost

        engine = sa.create_engine(f"sqlite:///{tmp_path / 'instance' / 'hookhub.db'}")
        rows: list = []

        def all_routed() -> bool:
            with engine.connect() as c:
                rows[:] = c.execute(sa.text("SELECT id, event_id, status, route_job FROM events")).all()
            return all(r.status == "routed" for r in rows)

        with contextlib.suppress(AssertionError):          # what is left unrouted is asserted below, with a post-mortem
            wait_until(all_routed, "every event to be routed", timeout=90, every=0.5)
        pending = [r for r in rows if r.status != "routed"]
        stored = {r.id: r.event_id for r in rows}
        assert stored == accepted, "every 200 'accepted' is exactly one stored event"
        assert pending == [], f"{len(pending)} events never routed: {post_mortem(redis_server, pending)}"
        per_event_id = Counter(stored.values())
        assert max(per_event_id.values()) == 1, "a duplicate was stored twice"
        statuses: Counter = Counter()

        def all_delivered() -> bool:
            with engine.connect() as c:
                statuses.clear()
                statuses.update(c.execute(sa.text("SELECT status FROM deliveries")).scalars())
            return statuses == {"delivered": len(accepted)}

        with contextlib.suppress(AssertionError):          # the statuses left are asserted below
            wait_until(all_delivered, "every delivery to be delivered", timeout=120, every=0.5)
        engine.dispose()
        assert statuses == {"delivered": len(accepted)}, statuses
        unreadable = [r.body[:200] for r in receiver.requests if not r.body.startswith(b"{")]
        assert not unreadable, f"the receiver got bodies that are not the envelope: {unreadable[:3]}"
        assert {r.json()["id"] for r in receiver.requests} == set(accepted), "every event reached the receiver"
        log_text = (tmp_path / "processes.log").read_text()
        assert "Using worker: hub.web.worker.HubWorker" in log_text
        recovered = [int(n) for n in re.findall(r"sweeper re-enqueued .*'deliveries_requeued': (\d+)", log_text)]
        assert sum(recovered) > 0, "the kill stranded no send, so the sweeper had nothing to prove"
        # Routine faults, routine logs: the Redis restart is one WARNING, never an ERROR or a traceback.
        loud = [line for line in log_text.splitlines() if " ERROR " in line or "Traceback" in line]
        assert loud == [], "\n".join(loud[:20])
        assert "Redis is unreachable" in log_text
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGUSR1)         # its thread stacks, into the log, for a post-mortem
            with contextlib.suppress(AssertionError):
                wait_until(lambda: b"most recent call first" in (tmp_path / "processes.log").read_bytes(),
                           "the worker's thread stacks", timeout=5)
        for proc in (web, worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
        if redis_server.proc.poll() is None:
            redis_server.stop()
        receiver.stop()
