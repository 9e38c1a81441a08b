"""``hookhub events tail`` and ``hookhub deliveries retry`` against the app's real storage; the
follow mode as a real process that an admin stops with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from queue import Empty, Queue

from hub.testing import Reply
from tests.delivery.conftest import all_settled, deliveries, make_route, make_source, make_target, settle


def test_tail_prints_the_latest_events_oldest_first(app, api, client, run):
    source, inbound = make_source(api)
    other, other_inbound = make_source(api, "other source")
    for n in range(3):
        client.post(inbound, json={"event_id": f"e-{n}", "text": f"event number {n}"})
    client.post(other_inbound, json={"event_id": "x-1", "text": "elsewhere"})
    lines = run("events", "tail", "-n", "2", "--connection", source).output.splitlines()
    assert [line.split()[4] for line in lines] == ["e-1", "e-2"]
    assert lines[0].split()[2] == source and lines[0].split()[3] == "accepted"
    assert lines[1].endswith("event number 2")
    everything = [json.loads(line) for line in run("events", "tail", "--json").output.splitlines()]
    assert [e["event_id"] for e in everything] == ["e-0", "e-1", "e-2", "x-1"]
    assert everything[-1]["connection_id"] == other and everything[-1]["payload"]["text"] == "elsewhere"
    assert run("events", "tail", "--workspace", "nobody").output == ""


def test_tail_follow_prints_new_events_until_ctrl_c(app, api, client, cli_env):
    _, inbound = make_source(api)
    client.post(inbound, json={"event_id": "before"})                    # not asked for: -n 0
    proc = subprocess.Popen([sys.executable, "-m", "hub", "events", "tail", "-f", "-n", "0", "--interval", "0.1"],
                            env={**os.environ, **cli_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: Queue[str] = Queue()
    stderr: list[str] = []
    following = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            stderr.append(line)
            if "following new events" in line:
                following.set()

    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    stderr_reader = threading.Thread(target=read_stderr, daemon=True)
    stderr_reader.start()

    def next_line() -> str:
        try:
            return lines.get(timeout=20)
        except Empty:
            proc.kill()
            raise AssertionError(f"no line from events tail -f; stderr: {stderr}") from None

    try:
        assert following.wait(20), stderr                 # started: what comes next is new
        for n in range(3):
            client.post(inbound, json={"event_id": f"live-{n}"})
        assert [next_line().split()[4] for _ in range(3)] == ["live-0", "live-1", "live-2"]
        # Further polls print nothing twice: the line after them is the next new event's.
        client.post(inbound, json={"event_id": "live-3"})
        assert next_line().split()[4] == "live-3"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    stderr_reader.join(timeout=20)                       # the process is gone: its pipe ends
    assert proc.returncode == 0 and "Traceback" not in "".join(stderr), stderr


def test_retry_by_id_and_every_dead_one_of_a_connection(app, api, client, receiver, run):
    receiver.default = Reply(500, "down")
    source, inbound = make_source(api)
    target = make_target(api, receiver.url + "/hook")
    make_route(api, source, [target])
    for n in range(2):
        client.post(inbound, json={"n": n})
    first, second = settle(app, all_settled(api, 2))
    assert {first["status"], second["status"]} == {"dead"}
    receiver.default = Reply(200)
    out = run("deliveries", "retry", first["id"]).output
    assert out.strip() == f"{first['id']}: queued again (was dead)"
    settle(app, lambda: sorted(d["status"] for d in deliveries(api)) == ["dead", "delivered"])
    again = run("deliveries", "retry", "--dead-of", target).output.strip()
    assert again == f"1 dead delivery of {target} queued again"
    settle(app, lambda: [d["status"] for d in deliveries(api)] == ["delivered", "delivered"])
    assert run("deliveries", "retry", "--dead-of", target).output.strip() == f"no dead deliveries for {target}"


def test_retry_errors_are_clean(app, run):
    unknown = run("deliveries", "retry", "dlv_nope", ok=False)
    assert unknown.exit_code == 1 and "no delivery 'dlv_nope'" in unknown.output and "Traceback" not in unknown.output
    bare = run("deliveries", "retry", ok=False)
    assert bare.exit_code == 2 and "give delivery ids, or --dead-of" in bare.output
