"""A WSGI app for tests/e2e/test_hub_worker_guard.py, broken on purpose: at ``/late`` it takes
the server's offer to answer later (hub.web.answer_later) yet answers at once, and gives its later
answer too once ``/release`` is asked; ``/status`` says what that give did. At ``/both`` it gives
its answer and then returns a body of its own as well."""

import threading

from hub.web.answer_later import offered

released = threading.Event()
outcome: list[str] = []


def _text(start_response, body: str):
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def _give_when_released(later, start_response) -> None:
    released.wait(60)
    try:
        later.give(lambda: _text(start_response, "given"))
        outcome.append("sent")
    except RuntimeError:
        outcome.append("refused")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/late":
        later = offered(environ)
        threading.Thread(target=_give_when_released, args=(later, start_response), daemon=True).start()
        return _text(start_response, "returned")
    if path == "/both":
        offered(environ).give(lambda: _text(start_response, "given"))
        return [b"returned"]
    if path == "/release":
        released.set()
        return _text(start_response, "released")
    if path == "/status":
        return _text(start_response, outcome[0] if outcome else "")
    return _text(start_response, path.strip("/"))
