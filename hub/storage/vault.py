"""Secrets at rest: values encrypted with MultiFernet (newest key first), never stored in clear."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from hub.storage.config import ConfigError

KEY_FILE = "secret.key"


class Vault:
    """Encrypts with the first key; decrypts with any of them (so keys can be rotated)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError("at least one secret key is needed")
        fernets = []
        for n, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.encode() if isinstance(key, str) else key))
            except (ValueError, TypeError):
                raise ConfigError(
                    f"HOOKHUB_SECRET_KEYS: key {n} is not a Fernet key (32 url-safe base64 bytes); "
                    "make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'") from None
        self._fernet = MultiFernet(fernets)
        self._keys = list(keys)

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ConfigError("a stored secret cannot be decrypted with the configured "
                              "HOOKHUB_SECRET_KEYS (was its key removed?)") from None

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":")))

    def decrypt_json(self, token: str | None, default: Any = None) -> Any:
        if not token:
            return default
        return json.loads(self.decrypt(token))

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` with the newest key (the first of HOOKHUB_SECRET_KEYS)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise ConfigError("a stored secret cannot be decrypted with the configured "
                              "HOOKHUB_SECRET_KEYS (was its key removed?)") from None

    def newest(self) -> Vault:
        """A vault with only the newest key: what remains once the older keys are dropped."""
        return Vault(self._keys[:1])


def load_keys(configured: tuple[str, ...] | list[str], instance_path: str) -> list[str]:
    """The configured keys, or the instance folder's key file, created (mode 0600) if absent."""
    if configured:
        return list(configured)
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, KEY_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process may be writing it right now: wait briefly for the content.
        for _ in range(50):
            with open(path, encoding="ascii") as fh:
                keys = [line.strip() for line in fh if line.strip()]
            if keys:
                return keys
            time.sleep(0.05)
        raise ConfigError(f"{path} is empty: delete it or set HOOKHUB_SECRET_KEYS") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(Fernet.generate_key().decode("ascii") + "\n")
    with open(path, encoding="ascii") as fh:
        return [fh.read().strip()]


def init_app(app: Flask) -> None:
    keys = load_keys(app.config["HOOKHUB_SECRET_KEYS"], app.config["HOOKHUB_INSTANCE_PATH"])
    app.extensions["hookhub.vault"] = Vault(keys)


def get_vault(app: Flask | None = None) -> Vault:
    return (app or current_app).extensions["hookhub.vault"]
