"""The hub's gunicorn worker (hub.web.worker) guards a kept-alive connection against an app that
answers a request twice, on return and through the offer to answer later (hub.web.answer_later):
only the first answer is sent, so the next request on the connection gets its own answer, not a
stray one. Real gunicorn with the hub's worker class, one process."""

import http.client
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.processes import VENV_BIN, clean_env, stop_or_kill, wait_http
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def get(conn: http.client.HTTPConnection, path: str) -> str:
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    return response.read().decode()


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """One server for the module: the app keeps what each path did apart."""
    port = free_port()
    folder = tmp_path_factory.mktemp("guard")
    with open(folder / "web.log", "wb") as log:
        server = subprocess.Popen([str(VENV_BIN / "gunicorn"), "--chdir", str(ROOT), "-k", "hub.web.worker.HubWorker",
                                   "--threads", "2", "-w", "1", "--no-control-socket", "-b", f"127.0.0.1:{port}",
                                   "tests.e2e.late_answer_app:app"],
                                  env=clean_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/ping")
            yield port, folder / "web.log"
        finally:
            stop_or_kill(server)


@pytest.mark.parametrize(("path", "status", "first"), [("/late", 200, "returned"), ("/late-raise", 500, None)],
                         ids=["returned", "raised"])
def test_a_later_answer_after_the_app_answered_is_refused_and_never_reaches_the_connection(web, path, status, first):
    port, _ = web
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read().decode()
    assert response.status == status and (first is None or body == first)
    if response.will_close:                     # gunicorn closes after its error page
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    other = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert get(other, f"/release?late={path}") == "released"
    assert wait_until(lambda: get(other, f"/status?late={path}"), "the app's later answer to be given") == "refused"
    assert get(conn, "/next") == "next"         # the kept-alive connection carries only its own answers
    conn.close()
    other.close()


@pytest.mark.parametrize(("path", "logged"), [
    ("/both", "GET /both: the app gave an answer later and also returned one; only the first is sent"),
    ("/give-raise", "GET /give-raise: the app raised after giving its answer"),
], ids=["returned", "raised"])
def test_the_answer_given_is_the_one_sent_when_the_app_then_returns_or_raises(web, path, logged):
    port, log = web
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert get(conn, path) == "given"
    assert get(conn, "/next") == "next"
    conn.close()
    wait_until(lambda: logged in log.read_text(), f"the line {logged!r} in the web log")  # written after the answer
