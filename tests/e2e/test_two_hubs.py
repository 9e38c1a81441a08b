"""Two hubs on one host, each with its own instance folder and HOOKHUB_BIND: they run side by side,
share no file or socket (gunicorn's control socket included, which by default every gunicorn of a
user shares in ~/.gunicorn), and one stops without disturbing the other."""

import json
import re
import signal
import subprocess

import pytest
import requests

from tests.conftest import free_port
from tests.e2e.processes import (
    VENV_BIN,
    alive,
    clean_env,
    command_line,
    descendants,
    start_serve,
    stop,
    stop_or_kill,
    wait_http,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def control_socket_pid(socket_path) -> int:
    """The pid of the gunicorn arbiter answering on ``socket_path`` (gunicorn's own client)."""
    done = subprocess.run([str(VENV_BIN / "gunicornc"), "-s", str(socket_path), "-c", "show stats", "-j"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr or done.stdout
    return int(json.loads(done.stdout)["pid"])


def test_two_hubs_with_their_own_instance_folders_and_binds_run_and_stop_independently(tmp_path):
    home = tmp_path / "home"                     # where gunicorn's default control socket would go
    home.mkdir()
    hubs = {}
    for name, host in (("a", "127.0.0.1"), ("b", "127.0.0.2")):
        folder = tmp_path / name
        folder.mkdir()
        bind = f"{host}:{free_port()}"
        env = clean_env(HOME=str(home), HOOKHUB_BIND=bind, HOOKHUB_BOOTSTRAP_TOKEN=f"token-{name}")
        env.pop("XDG_RUNTIME_DIR", None)
        # No --host/--port: HOOKHUB_BIND alone says where each listens.
        hubs[name] = {"folder": folder, "base": f"http://{bind}", "token": f"token-{name}",
                      "proc": start_serve(folder, None, env)}
    try:
        for hub in hubs.values():
            wait_http(f"{hub['base']}/readyz", timeout=90)
        for name, hub in hubs.items():
            instance = hub["folder"] / "instance"
            hub["instance"] = instance
            assert (instance / "gunicorn.ctl").is_socket(), f"hub {name} has no control socket of its own"
            assert (instance / "redis.sock").is_socket() and (instance / "hookhub.db").exists()
            hub["arbiter"] = control_socket_pid(instance / "gunicorn.ctl")
            assert hub["arbiter"] in descendants(hub["proc"].pid)      # its own gunicorn answers there
        assert not (home / ".gunicorn").exists(), "a hub used the user-wide control socket"

        # The public URL follows the bind; each hub has its own database.
        auth = {name: {"Authorization": f"Bearer {hub['token']}"} for name, hub in hubs.items()}
        created = requests.post(f"{hubs['a']['base']}/api/v1/connections", headers=auth["a"], timeout=5,
                                json={"name": "crm", "provider": "generic"}).json()
        assert created["inbound_url"].startswith(hubs["a"]["base"] + "/hooks/generic/con_")
        accepted = requests.post(created["inbound_url"], json={"event_id": "e1"}, timeout=5).json()
        assert accepted["status"] == "accepted"
        assert requests.get(f"{hubs['b']['base']}/api/v1/connections", headers=auth["b"],
                            timeout=5).json()["items"] == []
        assert requests.get(f"{hubs['a']['base']}/api/v1/connections", headers=auth["b"],
                            timeout=5).status_code == 401          # b's token means nothing to a

        # Stopping a leaves b whole: its processes, its sockets, its answers.
        a_tree = descendants(hubs["a"]["proc"].pid)
        b_tree = descendants(hubs["b"]["proc"].pid)
        assert stop(hubs["a"]["proc"], signal.SIGINT) == 0
        wait_until(lambda: not any(alive(p) for p in a_tree), "hub a's processes to end", timeout=10)
        assert [command_line(p) for p in a_tree if alive(p)] == []
        assert not (hubs["a"]["instance"] / "gunicorn.ctl").exists()
        assert all(alive(p) for p in b_tree), "stopping hub a touched hub b's processes"
        assert (hubs["b"]["instance"] / "gunicorn.ctl").is_socket()
        assert (hubs["b"]["instance"] / "redis.sock").is_socket()
        assert control_socket_pid(hubs["b"]["instance"] / "gunicorn.ctl") == hubs["b"]["arbiter"]
        assert requests.get(f"{hubs['b']['base']}/readyz", timeout=5).status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{hubs['a']['base']}/healthz", timeout=2)
    finally:
        codes = {name: stop(hub["proc"], signal.SIGINT) for name, hub in hubs.items()}
    assert codes["b"] == 0
    assert not (hubs["b"]["instance"] / "gunicorn.ctl").exists()


def listeners(port: int) -> set[int]:
    """The pids of the processes listening on 127.0.0.1:``port``, one per listening socket."""
    out = subprocess.run(["ss", "-H", "-ltnp", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return {int(pid) for pid in re.findall(r"pid=(\d+)", out)}


def gunicorn(folder, port: int, redis_url: str) -> subprocess.Popen:
    env = clean_env(HOOKHUB_INSTANCE_PATH=str(folder), HOOKHUB_REDIS_URL=redis_url)
    folder.mkdir()
    return subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf", "--workers", "2",
                             "--bind", f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_each_web_process_listens_on_its_own_socket_and_a_second_hub_on_the_port_refuses_to_start(
        tmp_path, redis_url):
    """SO_REUSEPORT spreads connections evenly over the web processes; it would also let a second hub
    bind a port in use without a word, so the hub checks at start that the port is free."""
    port = free_port()
    first = gunicorn(tmp_path / "first", port, redis_url)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=90)
        workers = descendants(first.pid)
        wait_until(lambda: len(listeners(port)) == 2, "two listening sockets")
        assert listeners(port) == workers and len(workers) == 2     # one socket per web process
        second = gunicorn(tmp_path / "second", port, redis_url)
        try:
            out, _ = second.communicate(timeout=60)
        finally:
            stop_or_kill(second)
        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}: another process listens there" in out, out
        assert listeners(port) == workers                          # the first hub's sockets, untouched
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        stop_or_kill(first)
