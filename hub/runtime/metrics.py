"""The hub's Prometheus counters and histogram, and how the processes of one instance share them.

Every process adds to its own samples; ``/metrics`` adds them up. Under gunicorn and ``hookhub
worker`` that is prometheus-client's multiprocess mode: each process writes memory-mapped files
under ``<instance>/metrics/<role>`` (``web`` or ``worker``), chosen by :func:`prepare` before the
first sample, and a scrape merges the files of both roles. Without :func:`prepare` (the Werkzeug
server, the test suite) samples stay in the process and the default registry serves them.

Cleaned on start: gunicorn's master empties ``web`` (every web process is its child); a worker
removes the files of worker processes no longer running, and leaves its live siblings' alone.
A removed file's counts leave the totals, which Prometheus reads as a counter reset."""

from __future__ import annotations

import glob
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

ROLES = ("web", "worker")
FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds from an event's acceptance to its delivery.
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)


def folder(instance_path: str, role: str) -> str:
    return os.path.join(instance_path, "metrics", role)


def prepare(instance_path: str, role: str, *, empty: bool = False) -> str:
    """Make this process (and the processes it forks) write its samples under the ``role``'s
    folder; ``empty`` removes every file there first, else only those of processes no longer
    running. Call it before the first sample: prometheus-client picks its mode once, when it is
    first imported."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError("prometheus_client was imported before the metrics folder was chosen")
    path = folder(instance_path, role)
    os.makedirs(path, exist_ok=True)
    for name in glob.glob(os.path.join(path, "*.db")):
        if empty or not _running(_pid_of(name)):
            _remove(name)
    os.environ[FOLDER_VARIABLE] = path
    return path


def shared() -> bool:
    """True when this process writes its samples to files (multiprocess mode)."""
    return bool(os.environ.get(FOLDER_VARIABLE))


def registry(instance_path: str) -> CollectorRegistry:
    """Where a scrape reads the counters: the merged files of every role in multiprocess mode,
    else this process's own default registry."""
    import prometheus_client

    if not shared():
        return prometheus_client.REGISTRY
    merged = prometheus_client.CollectorRegistry()
    merged.register(_MergedFolders([folder(instance_path, role) for role in ROLES]))
    return merged


def inbound(outcome: str) -> None:
    """One inbound request answered: ``accepted``, ``duplicate``, or the error code."""
    counter = _inbound.get(outcome)
    if counter is None:        # labels() costs more than the increment: kept per outcome (a few codes)
        counter = _inbound[outcome] = _metrics()["inbound"].labels(outcome=outcome)
    counter.inc()


def delivery(outcome: str, seconds: float | None = None) -> None:
    """One delivery attempt settled: ``delivered``, ``retry``, ``failed`` or ``dead``; a delivered
    one with the seconds since its event was accepted."""
    found = _metrics()
    found["deliveries"].labels(outcome=outcome).inc()
    if seconds is not None:
        found["delivery_seconds"].observe(max(0.0, seconds))


_created: dict[str, Any] | None = None
_inbound: dict[str, Any] = {}          # the inbound counter by outcome
_creating = threading.Lock()


def _metrics() -> dict[str, Any]:
    """The metric objects, created once by the first caller (concurrent first calls in a worker's
    threads would register them twice, which prometheus-client refuses)."""
    global _created
    if _created is None:
        with _creating:
            if _created is None:
                _created = _make()
    return _created


def _make() -> dict[str, Any]:
    # Imported here, on first use, so a worker's prepare() runs before prometheus-client chooses its mode.
    from prometheus_client import Counter, Histogram

    return {
        "inbound": Counter("hookhub_inbound_requests", "Inbound requests by outcome: accepted, duplicate, "
                           "or the error code.", ["outcome"]),
        "deliveries": Counter("hookhub_deliveries", "Delivery attempts by outcome: delivered, retry, failed, dead.",
                              ["outcome"]),
        "delivery_seconds": Histogram("hookhub_delivery_seconds", "Seconds from an event's acceptance to its "
                                      "delivery.", buckets=DELIVERY_BUCKETS),
    }


class _MergedFolders:
    """prometheus-client's multiprocess collector over several folders at once."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def collect(self) -> Any:
        from prometheus_client.multiprocess import MultiProcessCollector

        files = [name for path in self.paths for name in glob.glob(os.path.join(path, "*.db")) if _initialised(name)]
        return MultiProcessCollector.merge(files, accumulate=True)


def _initialised(name: str) -> bool:
    """A process creates its file empty and then sizes it: a scrape in between must skip it (its
    reader would fail on the empty file; the process has counted nothing yet)."""
    try:
        return os.path.getsize(name) > 0
    except FileNotFoundError:       # removed meanwhile (a dead worker's file, cleaned)
        return False


def _pid_of(name: str) -> int | None:
    stem = os.path.basename(name).rsplit(".", 1)[0]
    tail = stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(name: str) -> None:
    try:
        os.remove(name)
    except FileNotFoundError:
        pass
