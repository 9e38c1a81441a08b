"""Redis behind Sentinel: a real master, replica and Sentinel (redis-server --sentinel); the hub
(gunicorn web processes and a worker) finds the master through the Sentinel; a forced failover in
the middle of a stream of deliveries loses nothing — every accepted event is delivered — and RQ,
the rate limits, pacing and the connection cache all end up on the new master."""

import signal
import subprocess
import threading
from collections import Counter

import pytest
import redis
import requests
import sqlalchemy as sa

from hub.runtime.changes import CHANNEL
from hub.testing import Receiver, Reply
from tests.conftest import free_port
from tests.e2e.processes import VENV_BIN, clean_env, wait_http
from tests.e2e.redis_topology import MASTER_NAME, SentinelSetup, wait_for

pytestmark = pytest.mark.e2e
TOKEN = "sentinel-admin-token"


def test_a_sentinel_failover_during_a_stream_of_deliveries_loses_nothing(tmp_path):
    topology = SentinelSetup(tmp_path).start()
    receiver = Receiver(default=Reply(204, delay=0.05)).start()
    common = dict(HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"), HOOKHUB_BOOTSTRAP_TOKEN=TOKEN,
                  HOOKHUB_SWEEP_INTERVAL="1", HOOKHUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8",
                  HOOKHUB_INBOUND_RATE_LIMIT="1000000/hour")          # every request counts in Redis
    # The web processes get the URL form, the worker the two-variable form: both name the same master.
    web_env = clean_env(**common, HOOKHUB_REDIS_URL=topology.url)
    worker_env = clean_env(**common, HOOKHUB_REDIS_SENTINELS=f"127.0.0.1:{topology.ports['sentinel']}",
                           HOOKHUB_REDIS_MASTER=MASTER_NAME)
    subprocess.run([str(VENV_BIN / "hookhub"), "db", "upgrade"], env=web_env, check=True, capture_output=True)
    port = free_port()
    log = open(tmp_path / "processes.log", "wb")
    web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf", "-w", "2",
                            "-b", f"127.0.0.1:{port}"], env=web_env, stdout=log, stderr=subprocess.STDOUT)
    worker = subprocess.Popen([str(VENV_BIN / "hookhub"), "worker"], env=worker_env, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/readyz", timeout=60)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        source = requests.post(f"{base}/api/v1/connections", headers=auth, timeout=5,
                               json={"name": "source", "provider": "generic"}).json()
        url = source["inbound_url"].replace("http://127.0.0.1:8000", base)
        target = requests.post(f"{base}/api/v1/connections", headers=auth, timeout=5, json={
            "name": "receiver", "channel": "webhook", "channel_config": {
                "url": receiver.url + "/hook", "max_concurrency": 16, "rate_limit": "1000/second"}}).json()
        requests.post(f"{base}/api/v1/routes", headers=auth, timeout=5, json={
            "name": "all", "source": source["id"], "targets": [{"connection": target["id"]}]}).raise_for_status()

        answers: list[tuple[int, dict]] = []
        done = threading.Event()

        def stream():
            session = requests.Session()
            n = 0
            while not done.is_set() and n < 3000:
                try:
                    # A connection each (gthread keeps them alive): both web processes take requests.
                    r = session.post(url, json={"event_id": f"e{n}", "n": n}, timeout=10,
                                     headers={"Connection": "close"})
                    answers.append((r.status_code, r.json()))
                except requests.RequestException as exc:
                    answers.append((0, {"error": str(exc)}))
                n += 1
                done.wait(0.01)      # about 100 events/s: the 3,000 last through the failover

        sender = threading.Thread(target=stream)
        sender.start()
        wait_for(lambda: len(receiver) >= 50, "deliveries to flow before the failover", timeout=60)
        old_port = topology.master_port()
        new_port = topology.failover()
        after_failover = len(answers)
        new_master = redis.Redis(port=new_port, socket_timeout=2)
        inbound_limit = f"LIMITS:LIMITER/inbound:{source['id']}/1000000/1/hour"
        counted_at_failover = int(new_master.get(inbound_limit) or 0)
        slots = f"hookhub:slots:{target['id']}"
        holders_at_failover = set(new_master.zrange(slots, 0, -1))
        wait_for(lambda: set(new_master.zrange(slots, 0, -1)) - holders_at_failover,
                 "pacing to take concurrency slots on the new master", timeout=60, every=0.01)
        wait_for(lambda: len(answers) >= after_failover + 100, "the stream to go on after the failover", timeout=60)
        done.set()
        sender.join(30)

        accepted = {a[1]["id"] for a in answers if a[0] == 200 and a[1].get("status") == "accepted"}
        others = Counter(a[0] for a in answers if a[0] != 200)
        print(f"\n{len(answers)} requests, {len(accepted)} accepted, others {dict(others)}; "
              f"master moved from port {old_port} to {new_port}")
        assert not others, f"answers other than 200 during the failover: {others}"

        engine = sa.create_engine(f"sqlite:///{tmp_path / 'instance' / 'hookhub.db'}")

        def all_delivered():
            with engine.connect() as c:
                statuses = Counter(c.execute(sa.text("SELECT status FROM deliveries")).scalars())
            return statuses == {"delivered": len(accepted)}

        try:
            wait_for(all_delivered, "every accepted event to be delivered", timeout=120, every=0.5)
        finally:
            with engine.connect() as c:
                final = Counter(c.execute(sa.text("SELECT status FROM deliveries")).scalars())
            engine.dispose()
        assert final == {"delivered": len(accepted)}, final
        assert {r.json()["id"] for r in receiver.requests} == accepted, "every accepted event reached the receiver"

        # Everything that uses Redis followed the Sentinel to the new master.
        assert new_master.info("replication")["role"] == "master"
        wait_for(lambda: new_master.smembers("rq:workers"), "the worker to register on the new master")
        wait_for(lambda: new_master.pubsub_numsub(CHANNEL)[0][1] >= 2,
                 "both web processes' connection caches to listen on the new master")
        # The 100 answers after the failover were each counted on the new master — but the one request
        # in flight while the answers and the count were read may be in both (one sender, one at a time).
        assert int(new_master.get(inbound_limit) or 0) >= counted_at_failover + 99, \
            "the inbound rate limit counts on the new master"
        log_text = (tmp_path / "processes.log").read_text()
        assert " ERROR " not in log_text and "Traceback" not in log_text, \
            [line for line in log_text.splitlines() if " ERROR " in line or "Traceback" in line][:10]
        # An idle worker stops promptly on SIGTERM (redis-py's Sentinel connections kept a cut-short read).
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    except BaseException:
        print(topology.logs())
        raise
    finally:
        for proc in (web, worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        try:
            for proc in (web, worker):
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise
        finally:
            topology.stop()
            receiver.stop()
