"""Which CPU a web process runs on, when the hub binds each web process to one
(``HOOKHUB_WEB_PIN_CPUS``, applied by :mod:`hub.web.gunicorn_conf`).

A web process runs Python on one core at a time (the GIL), with several threads taking turns: its
main thread reading connections and sending answers, the pool's threads running requests, the
group commit's leader. Left to the scheduler, those threads wake on whichever core is free, and
every hand-over of the GIL between threads on two cores costs a cross-core wake-up; a process
bound to one core hands the GIL over on that core. Measured on 2 cores (docs/performance.md):
a third fewer context switches, the idle share of the CPUs under load from ~11 % to ~1 %, +16-23 %
requests/s on the hook endpoint (bare Flask gains about as much).

The CPUs are those this process may use (``sched_getaffinity``: a container's cpuset, taskset);
each new web process takes one that the fewest live web processes hold, so a process that is
restarted takes the CPU its predecessor freed, and more processes than CPUs share them evenly."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable


def usable() -> list[int]:
    """The CPUs this process may run on, in order; empty where the system cannot bind processes."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


def pick(cpus: list[int], taken: Iterable[int | None]) -> int | None:
    """The CPU of ``cpus`` that the fewest of ``taken`` (the live processes' CPUs) hold, the first
    of them on a tie; None when there is nothing to choose from (fewer than two CPUs)."""
    if len(cpus) < 2:
        return None
    held = Counter(cpu for cpu in taken if cpu is not None)
    return min(cpus, key=lambda cpu: held[cpu])     # min() keeps the first of equals


def bind(cpu: int) -> str | None:
    """Bind the calling thread — and the threads it starts from now on — to ``cpu``; None once
    done, else why not (the CPU is gone from the allowed set since it was picked …)."""
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
