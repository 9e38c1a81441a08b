"""The process's one outbound Sender (a shared, thread-safe requests session with SSRF checks)."""

from __future__ import annotations

import threading

from flask import Flask

from hub.outbound.http import Sender
from hub.outbound.ssrf import AddressPolicy

_lock = threading.Lock()


def get_sender(app: Flask) -> Sender:
    sender = app.extensions.get("hookhub.sender")
    if sender is None:
        with _lock:
            sender = app.extensions.get("hookhub.sender")
            if sender is None:
                policy = AddressPolicy(allow=app.config["HOOKHUB_ALLOW_PRIVATE_NETWORKS"])
                sender = app.extensions["hookhub.sender"] = Sender(
                    policy, pool_maxsize=int(app.config.get("HOOKHUB_SEND_CONCURRENCY", 64)),
                    ca_bundle=app.config.get("HOOKHUB_CA_BUNDLE"))
    return sender
