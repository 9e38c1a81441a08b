"""A ``max_concurrency`` slot is a lease: a worker SIGKILLed in the middle of a paced send holds its
slot only until the lease ends (the send's timeout plus HOOKHUB_CONCURRENCY_LEASE_GRACE), even
though the next delivery keeps asking for it meanwhile — not for five idle minutes, as a counter
whose expiry every paced retry refreshed did."""

import os
import signal
import subprocess
import time

import pytest
import redis

from hub.delivery.pacing import SLOTS_KEY
from hub.storage.embedded_redis import EmbeddedRedis
from hub.testing import AdminClient, Receiver, Reply, make_app
from tests.e2e.processes import VENV_BIN, clean_env, stop_or_kill
from tests.e2e.redis_topology import wait_for

pytestmark = pytest.mark.e2e
SEND_TIMEOUT = 4          # seconds, the target's channel_config.timeout
GRACE = 1                 # HOOKHUB_CONCURRENCY_LEASE_GRACE


def test_a_slot_held_by_a_killed_worker_frees_when_its_lease_ends(tmp_path):
    server = EmbeddedRedis(str(tmp_path / "redis"))
    redis_url = server.start()
    app = make_app(tmp_path / "instance", redis_url, HOOKHUB_CONCURRENCY_LEASE_GRACE=GRACE)
    receiver = Receiver(default=Reply(204)).start()
    receiver.reply(Reply(204, delay=60))            # the first send hangs: the worker dies during it
    env = clean_env(HOOKHUB_INSTANCE_PATH=app.config["HOOKHUB_INSTANCE_PATH"], HOOKHUB_REDIS_URL=redis_url,
                    HOOKHUB_SECRET_KEYS=app.config["HOOKHUB_SECRET_KEYS"][0], HOOKHUB_SWEEP_INTERVAL="1",
                    HOOKHUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8", HOOKHUB_CONCURRENCY_LEASE_GRACE=str(GRACE))
    log = open(tmp_path / "worker.log", "wb")

    def start_worker():
        return subprocess.Popen([str(VENV_BIN / "hookhub"), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)

    worker = start_worker()
    client = redis.Redis.from_url(redis_url)
    try:
        admin = AdminClient(app)
        source = admin.create_connection(name="source", provider="generic")
        target = admin.create_connection(name="capped", channel="webhook", channel_config={
            "url": receiver.url + "/hook", "max_concurrency": 1, "timeout": SEND_TIMEOUT})
        assert admin.post("/routes", json={"name": "all", "source": source["id"],
                                           "targets": [{"connection": target["id"]}]}).status_code == 201
        inbound = app.test_client()
        assert inbound.post(source["inbound_path"], json={"event_id": "first"}).status_code == 200
        receiver.wait_for(1, timeout=60)            # the first send is on the wire, holding the only slot
        slots = SLOTS_KEY.format(target["id"])
        [(holder, deadline_ms)] = client.zrange(slots, 0, -1, withscores=True)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        seconds, micros = client.time()
        lease_ends = time.monotonic() + (deadline_ms - (seconds * 1000 + micros / 1000)) / 1000
        assert lease_ends - time.monotonic() > 1.0, "the lease should still run for a while after the kill"

        worker = start_worker()
        assert inbound.post(source["inbound_path"], json={"event_id": "second"}).status_code == 200
        second = wait_for(lambda: next((r for r in receiver.requests if r.json()["event_id"] == "second"), None),
                          "the second delivery to be sent", timeout=30)
        waited_past_lease = second.at - lease_ends
        print(f"\nthe second send went out {waited_past_lease:+.2f} s after the killed worker's lease ended")
        assert waited_past_lease > -0.3, "the cap was not kept: the second send went out while the slot was held"
        assert waited_past_lease < 10, "the slot was not freed when its lease ended"

        # The killed worker's delivery is not lost either: the sweeper finds its dead worker and sends it again.
        wait_for(lambda: [r for r in receiver.requests if r.json()["event_id"] == "first"][1:],
                 "the killed worker's delivery to be sent again", timeout=60)
    finally:
        try:
            stop_or_kill(worker)
        finally:
            receiver.stop()
            app.close()
            server.stop()
