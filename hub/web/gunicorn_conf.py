"""gunicorn settings for the web app, shared by ``hookhub serve`` and production units
(``gunicorn -c python:hub.web.gunicorn_conf --bind … --workers …``); command-line flags override."""

wsgi_app = "hub.app:create_app()"
worker_class = "sync"             # one request per process at a time: the inbound path is CPU-bound
graceful_timeout = 10             # seconds a worker gets to finish its request on SIGTERM
timeout = 30                      # a request stuck longer than this has its worker restarted
accesslog = "-"
# The path without the query string: inbound URLs carry their key in ?key=, which must not reach logs.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
loglevel = "info"
