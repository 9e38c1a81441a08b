"""A WSGI app for tests/e2e/test_hub_worker_guard.py, broken on purpose: at ``/late`` it takes
the server's offer to answer later (hub.web.answer_later) yet answers at once, and gives its later
answer too once ``/release?late=/late`` is asked (``/late-raise``: the same, but it raises instead
of answering); ``/status?late=…`` says what that give did. At ``/both`` it gives its answer and
then returns a body of its own as well (``/give-raise``: raises instead)."""

import threading
from collections import defaultdict

from hub.web.answer_later import offered

released: defaultdict[str, threading.Event] = defaultdict(threading.Event)
outcome: dict[str, str] = {}


def _text(start_response, body: str):
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def _give_when_released(path: str, later, start_response) -> None:
    released[path].wait(60)
    try:
        later.give(lambda: _text(start_response, "given"))
        outcome[path] = "sent"
    except RuntimeError:
        outcome[path] = "refused"


def app(environ, start_response):
    path = environ["PATH_INFO"]
    late = environ.get("QUERY_STRING", "").removeprefix("late=")
    if path in ("/late", "/late-raise"):
        later = offered(environ)
        threading.Thread(target=_give_when_released, args=(path, later, start_response), daemon=True).start()
        if path == "/late-raise":
            raise RuntimeError("broken on purpose")
        return _text(start_response, "returned")
    if path == "/give-raise":
        offered(environ).give(lambda: _text(start_response, "given"))
        raise RuntimeError("broken on purpose")
    if path == "/both":
        offered(environ).give(lambda: _text(start_response, "given"))
        return [b"returned"]
    if path == "/release":
        released[late].set()
        return _text(start_response, "released")
    if path == "/status":
        return _text(start_response, outcome.get(late, ""))
    return _text(start_response, path.strip("/"))
