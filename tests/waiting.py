"""Waiting for a state in tests: the one polling loop the suite uses (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 30.0, every: float = 0.05,
               ignoring: tuple[type[BaseException], ...] = ()) -> Any:
    """Call ``condition`` until it returns something true, every ``every`` seconds, and return that;
    raise AssertionError naming ``what`` after ``timeout`` seconds. Exceptions of the ``ignoring``
    types count as "not yet" (a server still starting, Redis failing over)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except ignoring:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
