"""Browser tests of the console: ONE headless Chromium for the whole session (Debian's
``/usr/bin/chromium``, driven by Playwright; ``make test`` installs it — never ``playwright
install``), a fresh browser context per test, and per test the suite's ``app`` served over real HTTP
by a werkzeug server thread on 127.0.0.1 (Playwright cannot use Flask's test client).

The server records every console page it answers (:class:`Recorder`), so a test can prove that no
page but the few allowed ones ever contained a secret or an inbound key."""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
HERE = Path(__file__).resolve().parent
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class Answered:
    method: str
    path: str
    status: int
    body: str


@dataclass
class Recorder:
    """WSGI middleware keeping each console HTML page the server sent, with the request that asked."""

    app: Any
    pages: list[Answered] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        seen: dict[str, Any] = {}

        def keep_status(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.update(status=int(status.split()[0]), html=any(
                k.lower() == "content-type" and v.startswith("text/html") for k, v in headers))
            return start_response(status, headers, exc_info)

        chunks = list(self.app(environ, keep_status))
        path = environ.get("PATH_INFO", "")
        if path.startswith("/console") and seen.get("html"):
            self.pages.append(Answered(environ["REQUEST_METHOD"], path, seen["status"],
                                       b"".join(chunks).decode("utf-8", "replace")))
        return chunks

    def showing(self, text: str) -> list[tuple[str, str]]:
        """(method, path) of every page that contained ``text``."""
        return [(page.method, page.path) for page in self.pages if text in page.body]


class QuietHandler(WSGIRequestHandler):
    """No access log: inbound URLs carry their key in the query string (tests/test_logs.py)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class LiveServer:
    url: str
    recorder: Recorder


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test``), the console's tests all go to one worker
    (``--dist loadgroup``): one Chromium for the session, as above."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing; `make test` installs it")
        pytest.skip("Debian's chromium is not installed here (run `make test`, or apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The suite's settings, with 127.0.0.1 reachable for Test (a receiver on loopback)."""
    return {**settings, "HOOKHUB_ALLOW_PRIVATE_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),)}


@pytest.fixture
def live(app: Any) -> Iterator[LiveServer]:
    """``app`` on a real WSGI server, 127.0.0.1 on a free port, a thread per request."""
    recorder = Recorder(app)
    server = make_server("127.0.0.1", 0, recorder, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="console-live-server", daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.port}", recorder)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def new_page(browser: Any, live: LiveServer) -> Iterator[Any]:
    """``new_page()``: a page in a fresh browser context (its own cookies) on the live server."""
    contexts = []

    def make(viewport: dict[str, int] = LAPTOP) -> Any:
        context = browser.new_context(base_url=live.url, viewport=viewport,
                                      permissions=["clipboard-read", "clipboard-write"])
        context.set_default_timeout(5000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()
