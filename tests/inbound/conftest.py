"""Fixtures of the inbound tests."""

from __future__ import annotations

import pytest

from hub.testing import AdminClient


@pytest.fixture
def id_source(app) -> dict:
    """A generic source connection whose events take their id from the payload's ``id``; its
    ``inbound_path`` is the URL's path and query, for the app's test client."""
    created = AdminClient(app).post("/connections", json={"name": "id source", "provider": "generic",
                                                          "field_map": {"event_id": "id"}}).json
    return {**created, "inbound_path": created["inbound_url"].replace("http://hub.test", "")}
