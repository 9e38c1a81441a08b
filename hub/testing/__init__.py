"""Test helpers for Hookhub and its plugin authors, and a pytest plugin.

Enable the fixtures with ``pytest_plugins = ["hub.testing"]`` in your ``conftest.py``:

- ``hookhub_app`` — a whole hub (fresh SQLite, embedded Redis, every installed plugin, yours
  included once your package is installed); ``hookhub_admin`` — its admin API
  (:class:`AdminClient`); :func:`run_jobs` runs the queued jobs on a real RQ worker, and
  :func:`settle` runs them until a condition holds. :func:`make_app` builds another hub, with
  other settings (``app.close()`` releases it), and :class:`AdminClient` is the admin API of any app.
- ``receiver`` — a capturing HTTP server on 127.0.0.1 (:class:`Receiver`) to deliver to.
- Signers for inbound tests: :func:`github_headers`, :func:`slack_headers`, :func:`meta_headers`,
  :func:`standard_webhooks_headers`, :func:`hmac_hex`.

A provider test, end to end::

    def test_my_provider(hookhub_app, hookhub_admin):
        conn = hookhub_admin.create_connection(name="crm", provider="acme", secrets={"token": "s3cret"})
        r = hookhub_app.test_client().post(conn["inbound_path"], json={"id": 1},
                                           headers={"X-Acme-Token": "s3cret"})
        assert r.json["status"] == "accepted"
"""

from hub.testing.app import (
    ADMIN_TOKEN,
    AdminClient,
    hookhub_admin,
    hookhub_app,
    hookhub_redis_url,
    make_app,
    make_token,
    run_jobs,
    settle,
)
from hub.testing.receiver import Captured, Receiver, Reply, receiver
from hub.testing.signers import (
    github_headers,
    hmac_hex,
    meta_headers,
    slack_headers,
    standard_webhooks_headers,
)

__all__ = [
    "ADMIN_TOKEN", "AdminClient", "Captured", "Receiver", "Reply", "github_headers", "hmac_hex",
    "hookhub_admin", "hookhub_app", "hookhub_redis_url", "make_app", "make_token", "meta_headers", "receiver",
    "run_jobs", "settle", "slack_headers", "standard_webhooks_headers",
]
