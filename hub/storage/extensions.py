"""Per-app objects made on first use (a sender, a thread pool, a rate limiter), once even when
threads race for them, and kept in ``app.extensions``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

_lock = threading.Lock()


def app_object(app: Flask, key: str, make: Callable[[], Any]) -> Any:
    """``app.extensions[key]``, made by ``make()`` the first time it is asked for."""
    found = app.extensions.get(key)
    if found is None:
        with _lock:
            found = app.extensions.get(key)
            if found is None:
                found = app.extensions[key] = make()
    return found
