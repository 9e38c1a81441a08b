"""Client certificates for mutual TLS, written once to private files (``ssl`` loads them only from
paths) and removed with the sender."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading


class ClientCertFiles:
    """Client certificates written once to private files (ssl loads them only from paths)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir: str | None = None
        self._paths: dict[str, tuple[str, str]] = {}

    def paths(self, cert_pem: str, key_pem: str) -> tuple[str, str]:
        digest = hashlib.sha256(f"{cert_pem}\0{key_pem}".encode()).hexdigest()
        with self._lock:
            if digest not in self._paths:
                if self._dir is None:
                    self._dir = tempfile.mkdtemp(prefix="hookhub-mtls-")  # mode 0700
                    atexit.register(shutil.rmtree, self._dir, True)
                pair = (os.path.join(self._dir, f"{digest}.crt"), os.path.join(self._dir, f"{digest}.key"))
                for path, text in zip(pair, (cert_pem, key_pem), strict=True):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                    with os.fdopen(fd, "w") as handle:
                        handle.write(text)
                self._paths[digest] = pair
            return self._paths[digest]

    def remove(self) -> None:
        with self._lock:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
            self._dir, self._paths = None, {}
