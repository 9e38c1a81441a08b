"""Web processes bound to CPUs (hub.web.cpus, HOOKHUB_WEB_PIN_CPUS) in real gunicorn with the hub's
settings: each web process on a CPU of its own, a restarted one on the CPU its predecessor freed,
none bound when the setting is off."""

import os
import signal
import subprocess

import pytest

from hub.web import cpus
from tests.conftest import free_port
from tests.e2e.processes import VENV_BIN, alive, clean_env, descendants, stop_or_kill
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(len(cpus.usable()) < 2, reason="binding web processes to CPUs needs two CPUs")]


@pytest.fixture
def start_web(tmp_path):
    started = []

    def start(**settings: str) -> subprocess.Popen:
        env = clean_env(HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"), HOOKHUB_LOG_LEVEL="WARNING",
                        HOOKHUB_REDIS_URL=f"unix://{tmp_path / 'no-redis.sock'}", **settings)
        log = open(tmp_path / "web.log", "ab")
        web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf", "-w", "2",
                                "-b", f"127.0.0.1:{free_port()}"], env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((web, log))
        return web

    yield start
    for web, log in started:
        stop_or_kill(web)
        log.close()


def bound(master: subprocess.Popen, *, pinned: bool, count: int = 2) -> dict[int, set[int]]:
    """The CPUs each of the master's ``count`` web processes may run on, once it has them all (and,
    when ``pinned``, each has bound itself: a process exists a moment before its post_fork runs)."""
    def processes() -> dict[int, set[int]] | None:
        assert master.poll() is None, "gunicorn exited"
        found = {}
        for pid in descendants(master.pid):
            try:
                found[pid] = os.sched_getaffinity(pid)
            except OSError:          # gone meanwhile
                continue
        if len(found) != count or (pinned and any(len(cpus_of) != 1 for cpus_of in found.values())):
            return None
        return found

    return wait_until(processes, f"{count} web processes" + (", each bound to one CPU" if pinned else ""))


def test_each_web_process_runs_on_a_cpu_of_its_own_and_a_restarted_one_takes_the_freed_cpu(start_web):
    master = start_web()
    first = bound(master, pinned=True)
    assert sorted(map(sorted, first.values())) == [[cpu] for cpu in cpus.usable()[:2]]

    killed, kept = first
    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: not alive(killed), "the killed web process to be gone")

    def replaced() -> dict[int, set[int]] | None:
        found = bound(master, pinned=True)
        return found if killed not in found else None

    after = wait_until(replaced, "gunicorn to start a web process in place of the killed one")
    (new,) = set(after) - {kept}
    assert after[kept] == first[kept]
    assert after[new] == first[killed]       # the freed CPU, not a second process on the kept one's


def test_with_pinning_off_web_processes_run_on_every_cpu(start_web):
    master = start_web(HOOKHUB_WEB_PIN_CPUS="false")
    assert list(bound(master, pinned=False).values()) == [set(cpus.usable())] * 2
