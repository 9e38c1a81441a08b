"""The files of one hub instance live in its instance folder, so that two hubs on one host (two
instance folders) share nothing: the SQLite database, the key, the embedded Redis and its socket,
gunicorn's control socket."""

from __future__ import annotations

import hashlib
import os
import tempfile

#: Unix socket paths longer than this do not fit in sockaddr_un (108 bytes with the final NUL).
MAX_SOCKET_PATH = 100


def instance_socket_path(instance_path: str, name: str) -> str:
    """``<instance>/<name>``, or a path in the temporary folder named after the instance folder when
    that one is too long for a Unix socket (still one per instance)."""
    path = os.path.join(instance_path, name)
    if len(path) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.path.abspath(instance_path).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"hookhub-{digest}-{name}")
