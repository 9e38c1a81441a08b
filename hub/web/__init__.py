"""The HTTP face: the app factory, error mapping, probes, gunicorn settings, the hook endpoint and
the admin API. Nothing below imports it."""
