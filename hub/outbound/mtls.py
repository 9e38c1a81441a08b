"""Client certificates for mutual TLS: checked when a connection is saved, written once to private
files (``ssl`` loads them only from paths) and removed with the sender."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from hub.core.times import iso, utcnow

CERT_FIELD, KEY_FIELD = "client_cert", "client_key"


def client_certificate_problems(cert_pem: str | None, key_pem: str | None,
                                now: datetime | None = None) -> dict[str, str]:
    """Why ``cert_pem`` (a channel setting) and ``key_pem`` (a secret) cannot open a mutual-TLS
    connection, keyed by ``client_cert`` / ``client_key``; empty when they can, or when neither is
    given. A problem found at save time would otherwise be a TLS failure on every send."""
    if not cert_pem and not key_pem:
        return {}
    if not key_pem:
        return {KEY_FIELD: "required with channel_config.client_cert: give the certificate's PEM private key"}
    if not cert_pem:
        return {CERT_FIELD: "required with the client_key secret: give the PEM certificate of that key"}
    problems: dict[str, str] = {}
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        cert = None
        problems[CERT_FIELD] = "is not a PEM certificate (-----BEGIN CERTIFICATE----- …)"
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:          # the key is encrypted: ssl would ask for a passphrase nobody can type
        return {**problems, KEY_FIELD: "is encrypted with a passphrase; give it unencrypted (secrets are "
                                       "encrypted at rest by the hub)"}
    except (ValueError, UnsupportedAlgorithm):
        return {**problems, KEY_FIELD: "is not a PEM private key (-----BEGIN PRIVATE KEY----- …)"}
    if cert is None:
        return problems
    now = now or utcnow()
    if cert.not_valid_after_utc < now:
        problems[CERT_FIELD] = f"expired on {iso(cert.not_valid_after_utc)}; give a current certificate"
    elif cert.not_valid_before_utc > now:
        problems[CERT_FIELD] = f"is not valid before {iso(cert.not_valid_before_utc)}"
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        problems[KEY_FIELD] = "does not belong to channel_config.client_cert (its public key is another one)"
    return problems


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
