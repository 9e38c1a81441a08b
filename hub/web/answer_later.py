"""A WSGI extension between the hub's web process and its app: answering a request after the
app's call has returned, from another thread, without a thread waiting for it.

A server that can do this (the hub's gunicorn worker, :mod:`hub.web.worker`) puts an
:class:`AnswerLater` under :data:`OFFER` in the environ, made with what to do when the answer is
there (send it). An app that takes the offer returns that object instead of an iterable of bytes,
and calls :meth:`AnswerLater.give` once it knows the answer — with a function that calls
``start_response`` and returns the body, as a WSGI app would. The answer goes out when it is given,
whether or not the app's call has returned: the thread that hands a webhook's row to the group
commit may be the one that runs the commits of the rows after it, and its own request must not wait
for those. An app that does not take the offer answers as usual and never calls ``give`` (the
server withdraws the offer when the app's call returns anything else: a ``give`` after that is
refused, and one before it makes the server drop what the call returned — one answer a request).
Any other server never offers.

What it is for: a webhook is answered 200 only once its row is committed, and the group commit
(:mod:`hub.storage.group_commit`) shares one commit among the rows that arrive while the previous
one runs. With a thread waiting on each row, a batch is never larger than the threads a process
has; with the answer given later, the threads go back to reading requests, and the batch holds
every row that arrived meanwhile."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: The environ key under which a server offers an :class:`AnswerLater`.
OFFER = "hookhub.answer_later"

#: The answer: called with nothing, it calls the request's ``start_response`` and returns the body.
Answer = Callable[[], Iterable[bytes]]


class AnswerLater:
    """What an app returns for a request it will answer later; iterating it yields nothing (a
    server that iterates it anyway sends no body, and should not have offered)."""

    __slots__ = ("_send",)

    def __init__(self, send: Callable[[Answer], Any]) -> None:
        self._send = send        # the server's: what to do with the answer once it is known

    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def give(self, answer: Answer) -> None:
        """The app: the answer is known. Once only, and not after the app's call returned anything
        but this object: a second answer would be written on the connection after the first, and
        read by the client as the answer to its next request. RuntimeError then, nothing sent."""
        send, self._send = self._send, None
        if send is None:
            raise RuntimeError("this request has been answered already")
        send(answer)

    def withdraw(self) -> bool:
        """The server, when the app's call returned an answer of its own: a later :meth:`give` is
        refused. False when the app had given one already (the server then sends only that)."""
        send, self._send = self._send, None
        return send is not None


def offered(environ: dict[str, Any]) -> AnswerLater | None:
    """The app's side of the offer: the server's :class:`AnswerLater`, or None when it did not offer."""
    offer = environ.get(OFFER)
    return offer if isinstance(offer, AnswerLater) else None
