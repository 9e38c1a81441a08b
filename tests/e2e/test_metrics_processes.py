"""``/metrics`` and JSON logs through the real process tree: gunicorn with the hub's settings and 2
web processes, 2 ``hookhub worker`` processes, redis-server, SQLite and a receiver on 127.0.0.1.

Each web process counts the requests it answered and each worker the attempts it made; a scrape,
whichever web process answers it, must add up all of them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from urllib.parse import urlsplit

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from hub.testing import Receiver, Reply
from tests.conftest import free_port
from tests.e2e.processes import VENV_BIN, AdminApi, RedisServer, hub_environment, wait_http
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e
TOKEN = "metrics-e2e-admin-token"
METRICS_TOKEN = "metrics-e2e-scrape-token"


class Tree:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.redis = RedisServer(tmp_path)
        self.redis.start()
        self.env = hub_environment(tmp_path, self.redis.sock, TOKEN, HOOKHUB_LOG_FORMAT="json",
                                   HOOKHUB_METRICS_TOKEN=METRICS_TOKEN, HOOKHUB_SWEEP_INTERVAL="1")
        self.logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("web", "worker-1", "worker-2")}
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.procs = [subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf",
                                        "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                                       env=self.env, stdout=self.logs["web"], stderr=subprocess.STDOUT)]
        for name in ("worker-1", "worker-2"):
            self.procs.append(subprocess.Popen([str(VENV_BIN / "hookhub"), "worker"], env=self.env,
                                               stdout=self.logs[name], stderr=subprocess.STDOUT))
        wait_http(f"{self.base}/readyz")
        self.api = AdminApi(self.base, TOKEN)

    def scrape(self) -> dict[tuple[str, tuple], float]:
        r = requests.get(f"{self.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
        assert r.status_code == 200, r.text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(r.text) for s in family.samples}

    def log_lines(self, name: str) -> list[str]:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace").splitlines()

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.wait(30)
        self.redis.stop()


@pytest.fixture
def tree(tmp_path):
    tree = Tree(tmp_path)
    yield tree
    tree.close()


def counted(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_add_up_across_web_and_worker_processes_and_every_log_line_is_json(tree):
    with Receiver() as receiver, Receiver(default=Reply(400, b"no such hook")) as refuser:
        source = tree.api("POST", "/connections", json={"name": "source", "provider": "generic"})
        target = tree.api("POST", "/connections", json={"name": "target", "channel": "webhook",
                                                         "channel_config": {"url": receiver.url + "/hook"}})
        tree.api("POST", "/routes", json={"name": "all", "source": source["id"],
                                          "targets": [{"connection": target["id"]}]})
        # A target that refuses: its failed attempts are counted, and logged by the job that made them.
        refusing = tree.api("POST", "/connections", json={"name": "refusing", "channel": "webhook",
                                                           "channel_config": {"url": refuser.url + "/hook"}})
        tree.api("POST", "/routes", json={"name": "refused", "source": source["id"],
                                          "targets": [{"connection": refusing["id"]}]})
        inbound = source["inbound_url"].replace("http://127.0.0.1:8000", tree.base)

        # One web process is held reading a slow request; every other request meets the other one.
        url = urlsplit(inbound)
        body = b'{"event_id": "slow-1"}'
        slow = socket.create_connection((url.hostname, url.port), timeout=30)
        slow.sendall(f"POST {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: "
                     f"application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body[:5])
        answers = [requests.post(inbound, json={"event_id": f"fast-{n}"}, timeout=10) for n in range(10)]
        assert [a.json()["status"] for a in answers] == ["accepted"] * 10
        rid = answers[0].headers["X-Request-Id"]
        assert counted(tree.scrape(), "hookhub_inbound_requests_total", outcome="accepted") == 10
        slow.sendall(body[5:])
        answer = b""
        while chunk := slow.recv(65536):       # Connection: close — read to the end
            answer += chunk
        slow.close()
        assert b'"status":"accepted"' in answer

        # 11 accepted: one process counted 1, the other 10; any scrape must say 11.
        for _ in range(6):
            assert counted(tree.scrape(), "hookhub_inbound_requests_total", outcome="accepted") == 11
        receiver.wait_for(11, timeout=60)
        refuser.wait_for(1, timeout=60)

        def attempts_counted():
            samples = tree.scrape()
            done = (counted(samples, "hookhub_deliveries_total", outcome="delivered") >= 11
                    and counted(samples, "hookhub_deliveries_total", outcome="failed"))
            return samples if done else None

        samples = wait_until(attempts_counted, "the workers' attempts to reach /metrics", timeout=30, every=0.2)
        assert counted(samples, "hookhub_deliveries_total", outcome="delivered") == 11
        assert counted(samples, "hookhub_delivery_seconds_count") == 11
        assert counted(samples, "hookhub_workers_alive") == 2
        assert requests.get(f"{tree.base}/metrics", timeout=10).status_code == 401

    web = [json.loads(line) for line in tree.log_lines("web")]              # every line is one JSON object
    workers = [json.loads(line) for name in ("worker-1", "worker-2") for line in tree.log_lines(name)]
    assert any(rid in line["message"] for line in web if line["logger"] == "gunicorn.access")
    refused = [line for line in workers if line["logger"] == "hub.delivery.attempt" and "400" in line["message"]]
    assert refused and all(line["level"] == "WARNING" and line["job_id"].startswith("deliver-") for line in refused)
    assert all({"time", "level", "logger", "message", "request_id", "job_id"} <= set(line) for line in web + workers)
