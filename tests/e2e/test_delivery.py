"""Deliveries through the real process tree: gunicorn, a `hookhub worker` process, redis-server,
SQLite, and a receiver on 127.0.0.1 — including a worker SIGKILLed in the middle of a send."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from hub.testing import Receiver, Reply
from tests.conftest import free_port
from tests.e2e.processes import VENV_BIN, AdminApi, RedisServer, alive, descendants, hub_environment, wait_http
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e
TOKEN = "delivery-e2e-admin-token"


class Hub:
    """gunicorn + worker processes sharing one redis-server and one SQLite database."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.redis = RedisServer(tmp_path)
        self.redis.start()
        self.env = hub_environment(tmp_path, self.redis.sock, TOKEN, HOOKHUB_SWEEP_INTERVAL="1",
                                   HOOKHUB_LOG_LEVEL="INFO", HOOKHUB_RETRY_SCHEDULE="0.5,1,2")
        self.log = open(tmp_path / "processes.log", "wb")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                                     "hub.app:create_app()"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.worker = self.start_worker()
        wait_http(f"{self.base}/readyz")
        self.api = AdminApi(self.base, TOKEN)

    def start_worker(self):
        return subprocess.Popen([str(VENV_BIN / "hookhub"), "worker"], env=self.env, stdout=self.log,
                                stderr=subprocess.STDOUT)

    def wait_deliveries(self, predicate, timeout=60.0, **filters):
        seen: list = []

        def settled():
            seen[:] = self.api("GET", "/deliveries", params=filters)["items"]
            return list(seen) if predicate(seen) else None

        try:
            return wait_until(settled, "deliveries to settle", timeout, every=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {seen}\n" + self.log_text()[-3000:]) from None

    def log_text(self):
        return (self.tmp_path / "processes.log").read_text(errors="replace")

    def close(self):
        for proc in (self.web, self.worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
        self.redis.stop()


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path)
    yield hub
    hub.close()


def setup_route(hub, receiver, *paths):
    source = hub.api("POST", "/connections", json={"name": "source", "provider": "generic"})
    targets = [hub.api("POST", "/connections", json={"name": f"target {p.strip('/')}", "channel": "webhook",
                                                     "channel_config": {"url": receiver.url + p}})["id"]
               for p in paths]
    hub.api("POST", "/routes", json={"name": "all", "source": source["id"],
                                     "targets": [{"connection": t} for t in targets]})
    return source["inbound_url"].replace("http://127.0.0.1:8000", hub.base)


def test_fan_out_and_retry_through_the_real_process_tree(hub):
    with Receiver() as receiver:
        receiver.reply(Reply(503), Reply(200))          # the first send fails, its retry succeeds
        inbound = setup_route(hub, receiver, "/a", "/b")
        accepted = requests.post(inbound, json={"event_id": "e2e-1", "text": "hello"}, timeout=10).json()
        assert accepted["status"] == "accepted"
        items = hub.wait_deliveries(lambda items: len(items) == 2 and all(d["status"] == "delivered" for d in items))
        assert sorted(len(d["attempts"]) for d in items) == [1, 2]
        got = receiver.wait_for(3)
        assert {r.json()["id"] for r in got} == {accepted["id"]}
        assert {r.headers["webhook-id"] for r in got} == {d["webhook_id"] for d in items}


def test_a_worker_killed_mid_send_loses_nothing_and_keeps_the_webhook_id(hub):
    with Receiver() as receiver:
        receiver.reply(Reply(200, delay=5))             # hold the first send open …
        inbound = setup_route(hub, receiver, "/hook")
        requests.post(inbound, json={"event_id": "kill-1"}, timeout=10)
        first = receiver.wait_for(1, timeout=30)[0]
        os.kill(hub.worker.pid, signal.SIGKILL)          # … and kill the worker while it waits
        hub.worker.wait()
        killed_at = time.monotonic()
        hub.worker = hub.start_worker()
        [item] = hub.wait_deliveries(lambda items: items and items[0]["status"] == "delivered", timeout=90)
        assert time.monotonic() - killed_at < 60, "the killed send was recovered within a minute"
        second = receiver.requests[1]
        assert second.headers["webhook-id"] == first.headers["webhook-id"] == item["webhook_id"]
        assert second.body == first.body


def test_retries_survive_the_scheduler_process_dying_and_a_killed_worker_leaves_no_scheduler(hub):
    """RQ's scheduler process (it moves due retries onto the queue) exits on a Redis error and RQ
    would start it again only after minutes: the worker restarts it within seconds. And when the
    worker is SIGKILLed, its scheduler goes with it instead of running on as an orphan."""
    schedulers = wait_until(lambda: descendants(hub.worker.pid), "the worker's scheduler process", timeout=20)
    assert len(schedulers) == 1, f"expected the worker's scheduler process, found {schedulers}"
    [scheduler] = schedulers
    os.kill(scheduler, signal.SIGKILL)
    with Receiver() as receiver:
        receiver.reply(Reply(503), Reply(200))           # the retry needs a scheduler to run at all
        inbound = setup_route(hub, receiver, "/hook")
        requests.post(inbound, json={"event_id": "needs-a-scheduler"}, timeout=10)
        [item] = hub.wait_deliveries(lambda items: items and items[0]["status"] == "delivered", timeout=45)
        assert [a["status_code"] for a in item["attempts"]] == [503, 200]
    assert "the RQ scheduler process had stopped" in hub.log_text()
    [restarted] = descendants(hub.worker.pid)
    assert restarted != scheduler
    os.kill(hub.worker.pid, signal.SIGKILL)
    hub.worker.wait()
    wait_until(lambda: not alive(restarted), "the scheduler to end with its SIGKILLed worker", timeout=10)
