"""A Redis restart while a worker is busy is routine: the work is committed in the database and
recovers by itself. The worker says so in one WARNING (and one INFO line when Redis is back), with
no ERROR line and no traceback — an operator reading ERROR should have something to do."""

import subprocess

import pytest
import sqlalchemy as sa

from hub.storage.db import get_database
from hub.testing import AdminClient, Receiver, Reply, make_app
from tests.e2e.processes import VENV_BIN, RedisServer, clean_env, descendants, stop_or_kill
from tests.e2e.redis_topology import wait_for

pytestmark = pytest.mark.e2e
EVENTS = 60


def test_a_redis_restart_during_work_logs_one_warning_and_no_error(tmp_path):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    redis_url = f"unix://{redis_server.sock}"
    app = make_app(tmp_path / "instance", redis_url)
    receiver = Receiver(default=Reply(204, delay=0.3)).start()      # slow: sends are in flight at the restart
    env = clean_env(HOOKHUB_INSTANCE_PATH=app.config["HOOKHUB_INSTANCE_PATH"], HOOKHUB_REDIS_URL=redis_url,
                    HOOKHUB_SECRET_KEYS=app.config["HOOKHUB_SECRET_KEYS"][0], HOOKHUB_SWEEP_INTERVAL="1",
                    HOOKHUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8", HOOKHUB_WORKER_CONCURRENCY="4",
                    HOOKHUB_LOG_LEVEL="INFO")
    log_path = tmp_path / "worker.log"
    worker = subprocess.Popen([str(VENV_BIN / "hookhub"), "worker"], env=env, stdout=open(log_path, "wb"),
                              stderr=subprocess.STDOUT)
    engine = get_database(app).engine

    def delivered() -> int:
        with engine.connect() as c:
            return c.execute(sa.text("SELECT count(*) FROM deliveries WHERE status = 'delivered'")).scalar()

    def attempts() -> int:
        with engine.connect() as c:
            return c.execute(sa.text("SELECT count(*) FROM delivery_attempts")).scalar()

    try:
        admin = AdminClient(app)
        source = admin.create_connection(name="source", provider="generic")
        target = admin.create_connection(name="slow", channel="webhook", channel_config={"url": receiver.url + "/h"})
        assert admin.post("/routes", json={"name": "all", "source": source["id"],
                                           "targets": [{"connection": target["id"]}]}).status_code == 201
        inbound = app.test_client()
        for n in range(EVENTS):
            assert inbound.post(source["inbound_path"], json={"event_id": f"e{n}"}).status_code == 200
        wait_for(lambda: len(receiver) >= 5, "sends to be under way", timeout=60)
        assert descendants(worker.pid), "the worker runs RQ's scheduler in a child process"
        redis_server.stop()
        at_stop = attempts()
        wait_for(lambda: b"Redis is unreachable" in log_path.read_bytes(), "the worker to notice", timeout=60)
        # Keep Redis away until jobs have recorded sends without it (the receiver answers in 0.3 s: the
        # sends in flight at the stop end after it) and the scheduler has given up.
        wait_for(lambda: attempts() > at_stop, "a send to be recorded while Redis is away", timeout=30)
        wait_for(lambda: not descendants(worker.pid), "RQ's scheduler to stop for want of Redis", timeout=30)
        redis_server.start()
        wait_for(lambda: delivered() == EVENTS, f"all {EVENTS} deliveries after the restart", timeout=120, every=0.5)
        wait_for(lambda: b"Redis answers again" in log_path.read_bytes(), "the worker to say Redis is back",
                 timeout=60)
        lines = log_path.read_text().splitlines()
        loud = [line for line in lines if " ERROR " in line or " CRITICAL " in line or "Traceback" in line]
        assert loud == [], "\n".join(loud[:20])
        warnings = [line for line in lines if "Redis is unreachable" in line]
        assert len(warnings) == 1 and " WARNING " in warnings[0], warnings
        assert "Nothing is lost" in warnings[0] and "sweeper" in warnings[0]   # what happened, what recovers it
    finally:
        try:
            stop_or_kill(worker)
        finally:
            receiver.stop()
            app.close()
            if redis_server.proc.poll() is None:
                redis_server.stop()
