"""Inbound throughput: Hookhub's hook endpoint on SQLite and on PostgreSQL next to a bare Flask app
and adnanh/webhook, in interleaved rounds on this machine, so the ratios mean something (absolute
figures do not travel, and the machine is shared: only ratios measured in one round are compared).

    .venv/bin/python bench/inbound.py [--rounds 5] [--seconds 5] [--connections 16,64]

wrk drives every server with the same requests (bench/signed_load.lua): each one a distinct
GitHub-style JSON body with its own HMAC-SHA256 signature and delivery id, so the hub verifies and
stores every one of them (none is answered from dedupe):
- bare Flask: reads the body, answers 200 JSON — the ceiling for any Flask app; served by gunicorn
  with the hub's own settings (hub.web.gunicorn_conf: worker class, threads), like the hub;
- adnanh/webhook 2.8 (Go): checks the HMAC-SHA256 signature and runs /bin/true;
- Hookhub on SQLite and Hookhub on PostgreSQL (a throw-away local cluster with its default
  durability, fsync on), the `hmac` provider with the GitHub preset, Redis up, no worker running.

Each round runs every server once per connection count, in an order that rotates between rounds;
the summary gives the median of each figure and the median of the per-round ratios. After each
run the hub's database is read: every event id a 200 named must be stored (lost = 0), and the
stored count is shown next to the 200s (a few more can be stored: answers wrk did not wait for at
the end of a run). After each run of the hub on PostgreSQL, pgbench gives the database's own floor:
the same commits a second, each of as many of the run's rows, from one client per web process, with
the hub idle — every 200 waits for a commit, so the hub's latency cannot be below its database's.
`--root` measures another checkout of the hub (its code and its gunicorn settings) with the same
load, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa
from common import BIN, Postgres, free_port, percentile, settle, stop

HERE = Path(__file__).resolve().parent
SECRET = "s3cret"
TOKEN = "bench-inbound-token-0123456789"
BARE_APP = textwrap.dedent("""
    from flask import Flask, jsonify, request
    app = Flask(__name__)

    @app.post("/hooks/bare")
    def hook():
        request.get_data()
        return jsonify({"status": "accepted"})
""")


@dataclass
class Server:
    name: str
    url: str                                  # where wrk posts; a hub gets a new connection per run
    proc: subprocess.Popen
    hub: str | None = None                    # the hub's base URL
    database: str | None = None               # the hub's database URL
    postgres: Postgres | None = None          # the server of that database, when it is PostgreSQL
    runs: list[dict] = field(default_factory=list)
    floors: list[dict] = field(default_factory=list)   # PostgreSQL alone at this hub's commits (floor())

    def target(self) -> tuple[str, str | None]:
        """The URL of this run and, for the hub, the connection it stores into (a fresh one)."""
        if self.hub is None:
            return self.url, None
        auth = {"Authorization": f"Bearer {TOKEN}"}
        conn = requests.post(f"{self.hub}/api/v1/connections", headers=auth, timeout=30, json={
            "name": f"bench {uuid.uuid4().hex[:12]}", "provider": "hmac",
            "provider_config": {"preset": "github"}, "secrets": {"secret": SECRET}}).json()
        path = conn["inbound_url"].split("/hooks/", 1)[1]
        return f"{self.hub}/hooks/{path}", conn["id"]

    def stored(self, connection_id: str) -> set[str]:
        engine = sa.create_engine(self.database)
        try:
            with engine.connect() as c:
                return set(c.execute(sa.text("SELECT id FROM events WHERE connection_id = :c"),
                                     {"c": connection_id}).scalars())
        finally:
            engine.dispose()


def database_counts(database: str) -> tuple[int, int]:
    """PostgreSQL's count of committed transactions and of inserted rows in ``database`` so far."""
    engine = sa.create_engine(database)
    try:
        with engine.connect() as c:
            return tuple(c.execute(sa.text("SELECT xact_commit, tup_inserted FROM pg_stat_database "
                                           "WHERE datname = current_database()")).one())
    finally:
        engine.dispose()


def cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by the processes of process group ``group``."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:          # pgrp; utime and stime are fields 14 and 15 of stat
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_for(url: str, method: str = "GET", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.request(method, url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def gunicorn(app: str, args: argparse.Namespace, bind: str, flags: str = "") -> list[str]:
    """The hub's gunicorn settings (its config module, then the command-line flags hookhub serve
    and the systemd unit give) for any app."""
    return [str(BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf", "--workers", str(args.workers),
            "--bind", bind, *args.gunicorn.split(), *flags.split(), app]


def wrk(url: str, seconds: int, connections: int, work: Path) -> dict:
    out = work / f"wrk-{uuid.uuid4().hex}.txt"
    env = dict(os.environ, LOAD_SECRET=SECRET, LOAD_NONCE=uuid.uuid4().hex[:10], LOAD_OUT=str(out))
    text = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
                           "-s", str(HERE / "signed_load.lua"), url], env=env, capture_output=True, text=True,
                          check=True).stdout
    statuses: dict[int, int] = {}
    ids: list[str] = []
    for line in out.read_text().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "status":
            status, count = rest.split()
            statuses[int(status)] = statuses.get(int(status), 0) + int(count)
        elif kind == "id":
            ids.append(rest)
    out.unlink()
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "p50": _ms(re.search(r"\s50%\s+([\d.]+\w+)", text).group(1)),
            "p99": _ms(re.search(r"\s99%\s+([\d.]+\w+)", text).group(1)),
            "ok": statuses.get(200, 0), "other": sum(n for s, n in statuses.items() if s != 200),
            "errors": sum(int(n) for n in errors.groups()) if errors else 0, "ids": ids}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def measure(server: Server, seconds: int, connections: int, work: Path) -> dict:
    url, connection_id = server.target()
    settle()
    counts = database_counts(server.database) if server.postgres else None
    cpu = cpu_seconds(server.proc.pid)
    db_cpu = server.postgres.cpu_seconds() if server.postgres else 0.0
    result = wrk(url, seconds, connections, work)
    answered = max(1, result["ok"] + result["other"])
    result["cpu_us"] = (cpu_seconds(server.proc.pid) - cpu) * 1e6 / answered
    result["db_cpu_us"] = (server.postgres.cpu_seconds() - db_cpu) * 1e6 / answered if server.postgres else None
    result["connections"] = connections
    ids = result.pop("ids")
    if connection_id is not None:
        stored = server.stored(connection_id)
        result.update(stored=len(stored), lost=len(set(ids) - stored))
        if len(ids) != result["ok"]:        # a 200 without an event id: not an accepted event
            result["lost"] += result["ok"] - len(ids)
    if counts is not None:
        result["connection_id"] = connection_id
        result["commits"], result["inserted"] = _counted_since(server.database, counts, result["stored"])
    server.runs.append(result)
    return result


def _counted_since(database: str, before: tuple[int, int], stored: int) -> tuple[int, int]:
    """The commits and inserted rows PostgreSQL counted since ``before``, once its statistics hold the
    ``stored`` rows of the run (a backend reports them within about a second of going idle)."""
    deadline = time.monotonic() + 15
    while True:
        commits, rows = database_counts(database)
        if rows - before[1] >= stored or time.monotonic() > deadline:
            return commits - before[0], rows - before[1]
        time.sleep(0.2)


#: The rows a floor() transaction inserts: rows of the hub's run, with a new id and dedupe key each.
FLOOR_ROWS = sa.text("""
    SELECT format('(md5(random()::text), %L, %L, %L, md5(random()::text), md5(random()::text), %L, %L::jsonb, '
                  '%L::bytea, %L, %L, now(), %L, %L, %L)', workspace_id, connection_id, provider, status,
                  envelope, raw_body, content_type, remote_addr, headers_sha256, body_sha256, duration_ms)
    FROM events WHERE connection_id = :connection LIMIT :n""")


def floor(server: Server, run: dict, seconds: int, clients: int) -> dict | None:
    """PostgreSQL alone at the commits of the hub's ``run``: pgbench, one client per web process,
    inserting the same number of the run's rows per transaction, as many transactions a second, into
    a copy of the events table (its indexes, not its foreign key) — with the hub idle. The hub's
    answers each wait for a commit: its latency cannot be below what its database gives here."""
    if not run.get("commits"):
        return None
    per = max(1, round(run["inserted"] / run["commits"]))
    engine = sa.create_engine(server.database)
    try:
        with engine.begin() as c:
            c.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_floor (LIKE events INCLUDING ALL)"))
            rows = list(c.execute(FLOOR_ROWS, {"connection": run["connection_id"], "n": per}).scalars())
    finally:
        engine.dispose()
    script = ("INSERT INTO bench_floor (id, workspace_id, connection_id, provider, event_id, dedupe_key, status, "
              "envelope, raw_body, content_type, remote_addr, received_at, headers_sha256, body_sha256, "
              "duration_ms) VALUES " + ", ".join(rows) + " ON CONFLICT DO NOTHING;\n")
    settle()
    latencies = server.postgres.pgbench(server.database.rsplit("/", 1)[1], script, clients=clients,
                                        seconds=seconds, rate=run["commits"] / seconds)
    if not latencies:
        return None
    result = {"connections": run["connections"], "commits_s": len(latencies) / seconds, "per": per,
              "p50": percentile(latencies, 0.50), "p99": percentile(latencies, 0.99),
              "hub_commits_s": run["commits"] / seconds}
    server.floors.append(result)
    return result


def start_bare(args: argparse.Namespace, work: Path, root: Path, label: str = "", flags: str = "",
               extra_env: dict[str, str] | None = None) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKHUB_")}
    env.update(HOOKHUB_INSTANCE_PATH=str(work / "bare-instance"), PYTHONPATH=f"{work}:{root}", **(extra_env or {}))
    (work / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    proc = start(gunicorn("bare_app:app", args, f"127.0.0.1:{port}", flags), env, work, work / f"bare{label}.log")
    return Server("bare Flask" + (f" [{label}]" if label else ""), f"http://127.0.0.1:{port}/hooks/bare", proc)


def start_webhook(work: Path) -> Server:
    hooks = [{"id": "ingest", "execute-command": "/bin/true", "trigger-rule-mismatch-http-response-code": 401,
              "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": SECRET,
                                         "parameter": {"source": "header", "name": "X-Signature"}}}}]
    (work / "hooks.json").write_text(json.dumps(hooks))
    port = free_port()
    proc = start(["webhook", "-hooks", str(work / "hooks.json"), "-ip", "127.0.0.1", "-port", str(port)],
                 dict(os.environ), work, work / "webhook.log")
    return Server("adnanh/webhook", f"http://127.0.0.1:{port}/hooks/ingest", proc)


def start_hub(args: argparse.Namespace, work: Path, root: Path, redis_sock: Path, postgres: Postgres | None,
              label: str = "", flags: str = "", extra_env: dict[str, str] | None = None) -> Server:
    """The hub on SQLite (``postgres`` None: a new file) or on a new database of ``postgres``."""
    database = postgres.url if postgres else None
    name = f"Hookhub, {'PostgreSQL' if database else 'SQLite'}" + (f" [{label}]" if label else "")
    instance = work / f"hub-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKHUB_")}
    env.update(PYTHONPATH=str(root), HOOKHUB_INSTANCE_PATH=str(instance), HOOKHUB_REDIS_URL=f"unix://{redis_sock}",
               HOOKHUB_BOOTSTRAP_TOKEN=TOKEN, HOOKHUB_LOG_LEVEL="WARNING", **(extra_env or {}))
    if database:
        name_in_server = f"hookhub_{instance.name.split('-')[1]}"
        engine = sa.create_engine(database, isolation_level="AUTOCOMMIT")
        with engine.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name_in_server}"'))
        engine.dispose()
        database = database.rsplit("/", 1)[0] + f"/{name_in_server}"
        env["HOOKHUB_DATABASE_URL"] = database
    subprocess.run([sys.executable, "-m", "hub", "db", "upgrade"], env=env, cwd=root, check=True, capture_output=True)
    port = free_port()
    proc = start(gunicorn("hub.app:create_app()", args, f"127.0.0.1:{port}", flags), env, root,
                 work / f"{instance.name}.log")
    return Server(name, "", proc, hub=f"http://127.0.0.1:{port}",
                  database=database or f"sqlite:///{instance / 'hookhub.db'}", postgres=postgres)


def start_servers(args: argparse.Namespace, work: Path, postgres: Postgres | None, redis_sock: Path) -> list[Server]:
    root = args.root.resolve()
    servers = [start_bare(args, work, root), start_webhook(work), start_hub(args, work, root, redis_sock, None)]
    if postgres:
        servers.append(start_hub(args, work, root, redis_sock, postgres))
    for spec in args.variant:        # label: root=PATH; flags=…; db=sqlite|pg; env=K=V,K=V; bare=yes
        label, _, rest = spec.partition(":")
        opts = dict(item.strip().split("=", 1) for item in rest.split(";") if item.strip())
        vroot = Path(opts.get("root", root)).resolve()
        env = dict(kv.split("=", 1) for kv in opts.get("env", "").split(",") if kv)
        if opts.get("bare") == "yes":
            servers.append(start_bare(args, work, vroot, label, opts.get("flags", ""), env))
        for db in opts.get("db", "sqlite").split(","):
            servers.append(start_hub(args, work, vroot, redis_sock, postgres if db == "pg" else None, label,
                                     opts.get("flags", ""), env))
    for server in servers:
        wait_for(server.hub + "/healthz" if server.hub else server.url, "GET" if server.hub else "POST")
    return servers


def report(servers: list[Server], args: argparse.Namespace) -> bool:
    """The table (medians, and medians of per-round ratios); True when the acceptance holds."""
    by_name = {s.name: s for s in servers}
    print(f"\ninbound benchmark: {args.rounds} rounds of {args.seconds:g} s per server and connection count, "
          f"{os.cpu_count()} cores, gunicorn -c python:hub.web.gunicorn_conf --workers {args.workers} {args.gunicorn}")
    print(f"{'server':<30} {'conns':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'vs bare':>8} {'vs webhook':>10} "
          f"{'200s':>8} {'stored':>8} {'lost':>5} {'other':>6} {'errors':>6} {'CPU µs/req':>10} {'+ DB µs/req':>11}")
    ok = True
    for connections in args.connections:
        for server in servers:
            runs = [r for r in server.runs if r["connections"] == connections]
            bare = [r for r in by_name["bare Flask"].runs if r["connections"] == connections]
            peer = [r for r in by_name["adnanh/webhook"].runs if r["connections"] == connections]
            vs_bare = statistics.median(r["rps"] / b["rps"] for r, b in zip(runs, bare, strict=True))
            vs_peer = statistics.median(r["rps"] / p["rps"] for r, p in zip(runs, peer, strict=True))
            p99 = statistics.median(r["p99"] for r in runs)
            stored = sum(r["stored"] for r in runs) if server.hub else None
            lost = sum(r["lost"] for r in runs) if server.hub else None
            print(f"{server.name:<30} {connections:>5} {statistics.median(r['rps'] for r in runs):>7.0f} "
                  f"{statistics.median(r['p50'] for r in runs):>7.1f} {p99:>7.1f} {vs_bare:>8.2f} {vs_peer:>10.2f} "
                  f"{sum(r['ok'] for r in runs):>8} {'' if stored is None else stored:>8} "
                  f"{'' if lost is None else lost:>5} {sum(r['other'] for r in runs):>6} "
                  f"{sum(r['errors'] for r in runs):>6} {statistics.median(r['cpu_us'] for r in runs):>10.0f} "
                  + (f"{statistics.median(r['db_cpu_us'] for r in runs):>11.0f}" if server.postgres else ""))
            if server.hub and "[" not in server.name:
                ok &= vs_bare >= 0.6 and lost == 0 and (connections < 64 or p99 < 50)
    floors = [f for s in servers for f in s.floors]
    if floors:
        print("\nPostgreSQL alone at the hub's commits (pgbench on the same cluster after each of the hub's runs, one "
              f"client per web process, the same commits a second of as many of the run's rows, into a copy of "
              f"the events table; the hub idle):\n{'conns':>5} {'hub commits/s':>13} {'rows/commit':>11} "
              f"{'commits/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
        for connections in args.connections:
            runs = [f for f in floors if f["connections"] == connections]
            if runs:
                print(f"{connections:>5} {statistics.median(f['hub_commits_s'] for f in runs):>13.0f} "
                      f"{statistics.median(f['per'] for f in runs):>11.0f} "
                      f"{statistics.median(f['commits_s'] for f in runs):>9.0f} "
                      f"{statistics.median(f['p50'] for f in runs):>7.1f} "
                      f"{statistics.median(f['p99'] for f in runs):>7.1f}")
        print("Each 200 waits for its commit: the hub's p99 on PostgreSQL cannot be below its database's own here.")
    print("\nacceptance (each hub: ≥ 0.6 × bare Flask in req/s, p99 < 50 ms at 64 connections, lost = 0): "
          + ("met" if ok else "NOT met"))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", default="16,64", help="comma-separated connection counts")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes (HOOKHUB_WEB_WORKERS)")
    parser.add_argument("--gunicorn", default="", help="more gunicorn flags for every Python server, "
                        "e.g. '-k sync' or '--threads 16' to compare settings")
    parser.add_argument("--root", type=Path, default=HERE.parent, help="the hub checkout to measure")
    parser.add_argument("--no-postgres", action="store_true", help="the hub on SQLite only")
    parser.add_argument("--variant", action="append", default=[], help="another hub to measure beside: "
                        "'LABEL: root=PATH; flags=GUNICORN FLAGS; db=sqlite,pg; env=K=V,K=V; bare=yes' (any of them)")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    for tool in ("wrk", "webhook", "redis-server"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed: run `make bench` (it installs wrk, webhook and the servers)")
    work = Path(tempfile.mkdtemp(prefix="hookhub-bench-in-"))
    redis_sock = work / "redis.sock"
    redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(redis_sock), "--save", "",
                              "--dir", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    postgres = None
    servers: list[Server] = []
    try:
        postgres = None if args.no_postgres else Postgres()
        servers = start_servers(args, work, postgres, redis_sock)
        for connections in args.connections:          # warm-up: imports, caches, connections (not counted)
            for server in servers:
                measure(server, 2, connections, work)
                server.runs.clear()
        for round_no in range(args.rounds):
            for connections in args.connections:
                shift = round_no % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    r = measure(server, args.seconds, connections, work)
                    print(f"round {round_no + 1} {server.name:<30} c{connections:<3} {r['rps']:>7.0f} req/s "
                          f"p99 {r['p99']:>6.1f} ms", flush=True)
                    if server.postgres and "[" not in server.name and (f := floor(server, r, args.seconds,
                                                                                   args.workers)):
                        print(f"round {round_no + 1} {'  PostgreSQL alone, pgbench':<30} c{connections:<3} "
                              f"{f['commits_s']:>7.0f} commits/s of {f['per']} rows, p99 {f['p99']:>6.1f} ms",
                              flush=True)
    finally:
        for server in servers:
            stop(server.proc)
        if postgres is not None:
            postgres.stop()
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    report(servers, args)


if __name__ == "__main__":
    main()
