"""A param change reaches a running hub: real gunicorn with two worker processes, each holding the
connection in its cache, and the change announced through Redis to both."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
import requests

from hub.testing import github_headers
from tests.conftest import free_port
from tests.e2e.processes import VENV_BIN, RedisServer, clean_env, wait_http

pytestmark = pytest.mark.e2e
TOKEN = "params-live-admin-token"


def test_a_param_change_reaches_every_web_process_at_once(tmp_path):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    env = clean_env(HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"), HOOKHUB_REDIS_URL=f"unix://{redis_server.sock}",
                    HOOKHUB_BOOTSTRAP_TOKEN=TOKEN, HOOKHUB_LOG_LEVEL="WARNING")
    subprocess.run([str(VENV_BIN / "hookhub"), "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    log = open(tmp_path / "web.log", "wb")
    web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "hub.app:create_app()"],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        wait_http(f"{base}/readyz")
        requests.post(f"{base}/api/v1/params", headers=auth, timeout=5,
                      json={"name": "GH_SECRET", "value": "before"}).raise_for_status()
        conn = requests.post(f"{base}/api/v1/connections", headers=auth, timeout=5, json={
            "name": "gh repo", "provider": "hmac", "provider_config": {"preset": "github"},
            "secrets": {"secret": "${param.GH_SECRET}"}}).json()
        url = conn["inbound_url"].replace("http://127.0.0.1:8000", base)

        def send(secret: str, n: int) -> int:
            body = json.dumps({"n": n}).encode()   # a new TCP connection each: the two processes share them
            return requests.post(url, data=body, headers=github_headers(secret, body), timeout=5).status_code

        assert [send("before", n) for n in range(20)] == [200] * 20          # both processes cache "before"
        requests.patch(f"{base}/api/v1/params/GH_SECRET", headers=auth, timeout=5,
                       json={"value": "after"}).raise_for_status()
        assert [send("after", n) for n in range(20, 40)] == [200] * 20
        assert [send("before", n) for n in range(40, 50)] == [401] * 10
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(20)
        redis_server.stop()
