"""gunicorn settings of the `web` process (`gunicorn -c config/gunicorn.py`; the Procfile passes
bind and workers).

The web process faces the network. A sync worker serves one connection at a time, so two
connections held open without a request stalled every answer for gunicorn's 30 s timeout. The
gevent worker gives each connection a greenlet: an idle or slowly trickling client costs memory,
not the worker (tests/drills/test_idle_connections.py measures it beside a quiet run). gthread
was measured too: a new connection holds one of its threads for up to 5 s before it is parked,
and a client trickling its headers holds one for good, so 8 threads stalled /healthz past 30 s.
"""

from gateway import logs

# The master's records, and a worker's before create_app() names the secrets, pass the same
# redaction as everything else (a configuration error can echo a URL with a number in it).
logs.install()

worker_class = "gevent"
worker_connections = 1000  # per worker; beyond this the worker stops accepting for a moment
keepalive = 2
control_socket_disable = True
accesslog = "-"
# The path without the query string, so the USSD key never reaches a log.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def post_request(worker, req, environ, resp):
    """Yield to the other connections after every request. gevent switches only on I/O, and a
    client that sends its next request at once on a kept-alive connection (an aggregator
    under load) would otherwise be served again and again while the others wait."""
    import gevent

    gevent.sleep(0)
