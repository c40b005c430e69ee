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


# A worker runs at most this many requests in the app at once; the others wait for a turn in
# their order of arrival. gevent switches greenlets at every Redis round trip: with a hundred
# hops interleaved, a reply waited behind all of them, past the web's 0.4 s Redis timeout (155
# neutral ENDs in 14,000 hops at 256 connections), and every wait lengthened the tail. In quick
# runs of `make bench` (README, benchmarks), USSD p99: at 16 connections 44-54 ms before, 21-38
# after; at 64, 138-274 ms before, 66-165 after; at 256, 2.4-2.6 s before (and once those 155
# errors), 0.3-0.45 s after with 0 errors; about the same throughput. 2 turns did no better.
TURNS = 4
# A request waits at most this long for a turn, then runs anyway: when Redis freezes, each
# request holds its turn for the Redis timeout, and the queue must not add more than this.
TURN_WAIT = 0.5


def post_worker_init(worker):
    """Wrap the worker's app in the turns above. A request's body is read before it waits, so
    a client trickling its body holds no turn (nor does one trickling its headers: gunicorn
    reads them before the app)."""
    import io

    from gevent.lock import Semaphore

    from gateway.app import MAX_BODY  # a larger body is the app's to refuse
    from gateway.webhooks import HEALTH_PATH  # monitoring sees a frozen Redis at once

    turns = Semaphore(TURNS)
    app = worker.wsgi

    def in_turn(environ, start_response):
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return app(environ, start_response)
        body = environ["wsgi.input"].read(MAX_BODY + 1)
        environ["wsgi.input"] = io.BytesIO(body)
        if environ.pop("HTTP_TRANSFER_ENCODING", None):
            # Read whole now (up to one byte past the limit), a chunked body has a length: one
            # over the limit gets the app's 413, as a body that said its length does.
            environ["CONTENT_LENGTH"] = str(len(body))
        mine = turns.acquire(timeout=TURN_WAIT)
        try:
            return app(environ, start_response)  # the view runs now; a stream runs after
        finally:
            if mine:
                turns.release()

    worker.wsgi = in_turn
