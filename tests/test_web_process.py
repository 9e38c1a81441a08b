"""What a web process does once its app is loaded (hub.web.gunicorn_conf.post_worker_init), run in a
child process as gunicorn runs it: the loaded app's objects are frozen out of the garbage
collector's full collections; the CPU a new web process is bound to."""

import subprocess
import sys

from hub.web import cpus
from tests.e2e.processes import clean_env

CHILD = """
import gc
from hub.app import create_app
app = create_app()
from hub.web import gunicorn_conf
before = gc.get_freeze_count()
gunicorn_conf.post_worker_init(None)
print(before, gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_the_loaded_app_is_frozen_out_of_full_collections(tmp_path):
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
                          env=clean_env(HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"),
                                        HOOKHUB_REDIS_URL=f"unix://{tmp_path / 'no-redis.sock'}"))
    assert done.returncode == 0, done.stderr
    before, frozen, tracked = map(int, done.stdout.split())
    assert before == 0
    assert frozen > 50_000 and tracked < frozen / 10, (frozen, tracked)   # the app's objects, not a few


def test_gunicorn_with_the_hubs_settings_starts_hookhub_web_workers_processes(tmp_path):
    done = subprocess.run([sys.executable, "-c", "from hub.web import gunicorn_conf as c; print(c.workers, c.threads)"],
                          capture_output=True, text=True, timeout=60,
                          env=clean_env(HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"), HOOKHUB_WEB_WORKERS="3"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "4"]


def test_a_new_web_process_takes_the_cpu_fewest_live_ones_hold():
    assert cpus.pick([0, 1], []) == 0
    assert cpus.pick([0, 1], [0]) == 1
    assert cpus.pick([0, 1], [1]) == 0                  # a restarted process: the CPU its predecessor freed
    assert cpus.pick([0, 1], [0, 1, 0]) == 1            # more processes than CPUs: spread evenly
    assert cpus.pick([2, 5], [None, 7, 2]) == 5         # unbound processes and CPUs no longer usable count for nothing
    assert cpus.pick([3], []) is None                   # one CPU: nothing to choose, nothing bound
    assert cpus.pick([], []) is None
