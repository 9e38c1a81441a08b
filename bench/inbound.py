"""Inbound throughput: Hookhub's webhook route next to a bare Flask app and adnanh/webhook, measured
in one run on this machine with wrk, so the ratios mean something (absolute figures do not travel).

    .venv/bin/python bench/inbound.py [--seconds 10] [--connections 32]

Every server gets the same signed JSON body over loopback:
- bare Flask (gunicorn -w 2): reads the body, answers 200 JSON — the ceiling for any Flask app;
- adnanh/webhook: checks an HMAC-SHA256 signature and runs /bin/true;
- Hookhub (gunicorn -w 2, SQLite, Redis), GitHub-style HMAC verification, in two modes:
  "store" (dedupe off: every request verified, stored and enqueued) and "duplicate" (the same
  event_id each time: verified and answered from the dedupe check, nothing stored).
No worker runs during the measurement, so routing jobs do not compete for the two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "s3cret"
BODY = json.dumps({"action": "opened", "number": 42, "repository": {"full_name": "acme/widgets"},
                   "sender": {"login": "octocat"}, "text": "Pull request opened"}).encode()
SIGNATURE = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()

BARE_APP = textwrap.dedent("""
    from flask import Flask, jsonify, request
    app = Flask(__name__)

    @app.post("/hooks/bare")
    def hook():
        request.get_data()
        return jsonify({"status": "accepted"})
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, method: str = "GET", timeout: float = 30, **kw) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.request(method, url, timeout=2, **kw)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int, workdir: Path) -> dict[str, float]:
    script = workdir / "post.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(BODY.decode())}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    lat = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99")}
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "non2xx": int(non2xx.group(1)) if non2xx else 0}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def start(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for tool in ("wrk", "webhook"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed: run `make bench` (it installs wrk and webhook)")
    work = Path(tempfile.mkdtemp(prefix="hookhub-bench-"))
    procs: list[subprocess.Popen] = []
    results: dict[str, dict[str, float]] = {}
    try:
        # bare Flask
        (work / "bare_app.py").write_text(BARE_APP)
        port = free_port()
        procs.append(start([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "bare_app:app"], cwd=work))
        wait_for(f"http://127.0.0.1:{port}/hooks/bare", "POST")
        results["bare Flask (gunicorn -w 2)"] = wrk(f"http://127.0.0.1:{port}/hooks/bare",
                                                     {"Content-Type": "application/json"}, args.seconds,
                                                     args.connections, work)
        stop(procs.pop())

        # adnanh/webhook with an HMAC rule
        hooks = [{"id": "ingest", "execute-command": "/bin/true", "trigger-rule": {"match": {
            "type": "payload-hmac-sha256", "secret": SECRET,
            "parameter": {"source": "header", "name": "X-Signature"}}}}]
        (work / "hooks.json").write_text(json.dumps(hooks))
        port = free_port()
        procs.append(start(["webhook", "-hooks", str(work / "hooks.json"), "-ip", "127.0.0.1", "-port", str(port)]))
        wait_for(f"http://127.0.0.1:{port}/hooks/ingest", "POST")
        results["adnanh/webhook (HMAC)"] = wrk(f"http://127.0.0.1:{port}/hooks/ingest",
                                               {"Content-Type": "application/json", "X-Signature": SIGNATURE},
                                               args.seconds, args.connections, work)
        stop(procs.pop())

        # Hookhub
        instance = work / "instance"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKHUB_")}
        env.update(HOOKHUB_INSTANCE_PATH=str(instance), HOOKHUB_BOOTSTRAP_TOKEN="bench-token",
                   HOOKHUB_LOG_LEVEL="WARNING", HOOKHUB_FAILURES_PER_MINUTE="100")
        sys.path.insert(0, str(ROOT))
        from hub.storage.embedded_redis import EmbeddedRedis

        redis_server = EmbeddedRedis(str(instance))
        env["HOOKHUB_REDIS_URL"] = redis_server.start()
        try:
            subprocess.run([str(BIN / "hookhub"), "db", "upgrade"], env=env, check=True, capture_output=True)
            port = free_port()
            procs.append(start([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                                "hub.app:create_app()"], env=env, cwd=ROOT))
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/healthz")
            auth = {"Authorization": "Bearer bench-token"}
            for mode, window in (("store", 0), ("duplicate", 86400)):
                conn = requests.post(f"{base}/api/v1/connections", headers=auth, timeout=10, json={
                    "name": f"bench {mode}", "provider": "hmac",
                    "provider_config": {"preset": "github", "dedupe_window": window},
                    "secrets": {"secret": SECRET}}).json()
                url = conn["inbound_url"].replace("http://127.0.0.1:8000", base)
                headers = {"Content-Type": "application/json", "X-Hub-Signature-256": SIGNATURE,
                           "X-GitHub-Delivery": "bench-delivery-1", "X-GitHub-Event": "pull_request"}
                first = requests.post(url, data=BODY, headers=headers, timeout=10)
                assert first.status_code == 200, first.text
                results[f"Hookhub, {mode}"] = wrk(url, headers, args.seconds, args.connections, work)
        finally:
            for p in procs:
                stop(p)
            procs.clear()
            redis_server.stop()
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)

    bare = results["bare Flask (gunicorn -w 2)"]["rps"]
    peer = results["adnanh/webhook (HMAC)"]["rps"]
    print(f"\ninbound benchmark: {args.seconds} s per server, {args.connections} connections, {os.cpu_count()} cores")
    print(f"{'server':<30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} {'vs webhook':>10} {'non-2xx':>8}")
    for name, r in results.items():
        print(f"{name:<30} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['rps'] / bare:>8.2f} "
              f"{r['rps'] / peer:>10.2f} {r['non2xx']:>8}")


if __name__ == "__main__":
    main()
