"""The web process's gunicorn worker: gunicorn's threaded worker (gthread), which also takes
answers given later (:mod:`hub.web.answer_later`).

A thread runs the app as gthread does. When the app answers later (a webhook handed to the group
commit), the thread goes back to the pool at once; the answer, once the commit is done, is sent by
the worker's main thread — the one that already accepts connections and keeps them alive — which
then puts the connection back among the kept-alive ones, exactly as gthread does after a request.
A process with two or more kept-alive connections than the least busy of its siblings closes the
connection of its next answer, so that the client's new connection may land on another
(:mod:`hub.web.spread`). Everything else is gthread's: the same settings (``threads``,
``keepalive`` …), the same access log line, ``pre_request`` and ``post_request`` hooks (after the
answer is sent), ``max_requests``.

Set by ``worker_class`` in :mod:`hub.web.gunicorn_conf`; ``-k gthread`` gives plain gthread,
whose threads then wait for each commit themselves."""

from __future__ import annotations

from concurrent import futures
from datetime import datetime
from typing import Any

from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker

from hub.web.answer_later import OFFER, Answer, AnswerLater
from hub.web.spread import Spreader

#: What a pool thread's request returns while its answer is to come.
LATER = object()


class HubWorker(ThreadWorker):
    """gthread, plus answers given later and connections spread evenly (see the module's text)."""

    spreader: Spreader | None = None

    def init_process(self) -> None:
        table, slot = getattr(self, "hub_connections", None), getattr(self, "hub_slot", None)
        if table is not None and slot is not None:     # set by hub.web.gunicorn_conf's pre_fork
            self.spreader = Spreader(table, slot)
        super().init_process()

    def murder_pending(self) -> None:
        """gthread's, at the end of each turn of the main loop — where the connections this turn
        accepted and closed are counted: the count goes to the siblings (hub.web.spread)."""
        super().murder_pending()
        if self.spreader is not None:
            self.spreader.publish(self.nr_conns)

    def finish_request(self, conn: Any, fs: Any) -> None:
        super().finish_request(conn, fs)
        if getattr(conn, "hub_leaving", False) and self.spreader is not None:
            conn.hub_leaving = False
            self.spreader.gone(self.nr_conns)

    def handle_request(self, req: Any, conn: Any) -> Any:
        """gunicorn 27's ``ThreadWorker.handle_request`` (HTTP/1), offering to answer later."""
        environ: dict[str, Any] = {}
        resp = None
        offer: AnswerLater | None = None
        later = False
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(req, conn.sock, conn.client, conn.server, self.cfg)
            environ["wsgi.multithread"] = True
            # The answer goes out as soon as it is given, even while the app's call goes on: this
            # thread may be running the group commit's next batches (hub.web.answer_later).
            offer = AnswerLater(lambda answer: self.method_queue.defer(
                self._send_later, answer, req, conn, resp, environ, request_start))
            environ[OFFER] = offer
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                resp.force_close()

            if not self.alive or not self.cfg.keepalive or len(self.keepalived_conns) >= self.max_keepalived:
                resp.force_close()
            elif self.spreader is not None and self.spreader.let_go(self.nr_conns):
                conn.hub_leaving = True      # this process has more than its share (hub.web.spread)
                resp.force_close()

            respiter = self.wsgi(environ, resp.start_response)
            if respiter is offer:
                later = True
                return LATER
            if not offer.withdraw():     # the app gave an answer and returned another: only one goes out
                self.log.error("%s %s: the app gave an answer later and also returned one; only the first "
                               "is sent", req.method, req.path)
                if hasattr(respiter, "close"):
                    respiter.close()
                later = True
                return LATER
            offer = None                 # withdrawn: what the call returned is the answer
            self._send(respiter, req, resp, environ, request_start)
            if resp.should_close():
                self.log.debug("Closing connection.")
                return False
        except (Exception, SystemExit) as exc:
            if offer is not None and not offer.withdraw():   # the app raised after giving: that answer goes out
                self.log.exception("%s %s: the app raised after giving its answer", req.method, req.path)
                later = True
                return LATER
            if isinstance(exc, OSError) or not (resp and resp.headers_sent):
                raise
            self.log.exception("Error handling request")
            util.close_graceful(conn.sock)
            raise StopIteration() from None
        finally:
            if not later:
                self._post_request(req, environ, resp)
        return True

    def _keepalive_after(self, conn: Any, keepalive: Any) -> Any:
        return LATER if keepalive is LATER else super()._keepalive_after(conn, keepalive)

    def enqueue_req(self, conn: Any) -> None:
        """gthread's: the pool runs the request, then the main thread finishes it — except one
        answered later, which _send_later finishes (no wake-up of the main thread for nothing)."""
        fs = self.tpool.submit(self.handle, conn)
        fs.add_done_callback(lambda fut: None if _answered_later(fut) else
                             self.method_queue.defer(self.finish_request, conn, fut))

    def _send_later(self, answer: Answer, req: Any, conn: Any, resp: Any, environ: dict[str, Any],
                    request_start: datetime) -> None:
        """On the main thread: send the answer given later, then keep the connection or close it,
        as gthread does after a request."""
        keepalive = False
        try:
            self._send(answer(), req, resp, environ, request_start)
            keepalive = not resp.should_close() and super()._keepalive_after(conn, True)
        except OSError as exc:
            self.log.debug("Could not send the answer: %s", exc)
        except Exception:
            self.log.exception("Error sending an answer given later")
        finally:
            self._post_request(req, environ, resp)
        done: futures.Future[bool] = futures.Future()    # as the pool's future of a request would end
        done.set_result(keepalive)
        self.finish_request(conn, done)

    def _send(self, respiter: Any, req: Any, resp: Any, environ: dict[str, Any], request_start: datetime) -> None:
        """Write the app's body (or file), then the access log line, as gthread does."""
        try:
            if isinstance(respiter, environ["wsgi.file_wrapper"]):
                resp.write_file(respiter)
            else:
                for item in respiter:
                    resp.write(item)
            resp.close()
        finally:
            self.log.access(resp, req, environ, datetime.now() - request_start)
            if hasattr(respiter, "close"):
                respiter.close()

    def _post_request(self, req: Any, environ: dict[str, Any], resp: Any) -> None:
        try:
            self.cfg.post_request(self, req, environ, resp)
        except Exception:
            self.log.exception("Exception in post_request hook")


def _answered_later(fs: futures.Future[Any]) -> bool:
    return not fs.cancelled() and fs.exception() is None and fs.result() is LATER
