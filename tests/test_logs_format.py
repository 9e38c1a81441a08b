"""The pieces of JSON logs and shared metrics that work without a server: the JSON line, the
request id a request gets, the setting, and which metric files a starting process cleans away."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from hub.core.logs import REQUEST_ID, ContextFilter, JsonFormatter
from hub.runtime import metrics
from hub.storage.config import Config, ConfigError
from hub.web.request_ids import request_id


def record(message: str, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("hub.test", logging.WARNING, __file__, 1, message, (), None)
    rec.__dict__.update(extra)
    return rec


def test_a_json_line_carries_the_request_and_the_job():
    token = REQUEST_ID.set("req_abc")
    try:
        rec = record("sent %s")
        rec.args = ("dlv_1",)
        ContextFilter(lambda: "job-9").filter(rec)
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(JsonFormatter().format(rec))
    assert line["message"] == "sent dlv_1" and line["level"] == "WARNING" and line["logger"] == "hub.test"
    assert (line["request_id"], line["job_id"]) == ("req_abc", "job-9")
    assert line["time"].endswith("+00:00")


def test_a_json_line_outside_a_request_says_null_and_keeps_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("hub.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    ContextFilter().filter(rec)
    line = json.loads(JsonFormatter().format(rec))
    assert line["request_id"] is None and line["job_id"] is None
    assert "ValueError: boom" in line["exception"] and "\n" not in JsonFormatter().format(rec)


@pytest.mark.parametrize("offered, kept", [
    ("abc-123", True), ("4bf92f3577b34da6a3ce929d0e0e4736", True), ("", False), ("a b", False),
    ("x" * 129, False), ("evil\r\nSet-Cookie: a=b", False), (None, False),
])
def test_a_request_keeps_a_sane_offered_id_only(offered, kept):
    rid = request_id(offered)
    assert (rid == offered) is kept
    if not kept:
        assert rid.startswith("req_") and len(rid) == 20


def test_the_log_format_setting():
    assert Config.load({})["HOOKHUB_LOG_FORMAT"] == "text"
    assert Config.load({"HOOKHUB_LOG_FORMAT": "JSON"})["HOOKHUB_LOG_FORMAT"] == "json"
    with pytest.raises(ConfigError, match="HOOKHUB_LOG_FORMAT"):
        Config.load({"HOOKHUB_LOG_FORMAT": "xml"})


def test_a_starting_worker_removes_only_dead_processes_metric_files(tmp_path):
    folder = metrics.folder(str(tmp_path), "worker")
    os.makedirs(folder)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live, gone = os.getpid(), int(dead.stdout)
    for name in (f"counter_{live}.db", f"histogram_{live}.db", f"counter_{gone}.db", "counter_x.db"):
        (tmp_path / "metrics" / "worker" / name).write_bytes(b"")
    # prepare() runs in a fresh interpreter: this one has imported prometheus-client without files.
    code = f"from hub.runtime import metrics; metrics.prepare({str(tmp_path)!r}, 'worker')"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert sorted(os.listdir(folder)) == [f"counter_{live}.db", f"histogram_{live}.db"]
    code = f"from hub.runtime import metrics; metrics.prepare({str(tmp_path)!r}, 'worker', empty=True)"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert os.listdir(folder) == []


def test_prepare_refuses_once_prometheus_client_chose_in_process_counters(tmp_path):
    import prometheus_client  # noqa: F401 - what a late prepare() must detect

    with pytest.raises(RuntimeError, match="before the metrics folder"):
        metrics.prepare(str(tmp_path), "web")
    assert not metrics.shared()
