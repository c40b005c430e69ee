"""Settings module for `rq worker -c config.rq`: Redis and queues from the environment.

REDIS_URL names one server; a `redis+sentinel://` URL becomes RQ's SENTINEL settings instead, so
the worker finds the master through the Sentinels (gateway/redisclient.py).

Loading it waits until Redis answers (with a backoff), because RQ's command line talks to
Redis before the worker class takes over and exits when it cannot: a worker or clock started
during a Redis outage starts its work when Redis is back instead of dying.
"""

from config.settings import load
from gateway import logs, redisclient
from gateway.jobs import QUEUES as _QUEUES
from workers.outage import until_redis_answers

_settings = load()
logs.configure(_settings.log_level, _settings.secret_values)

globals().update(redisclient.rq_settings(_settings.redis_url))  # REDIS_URL or SENTINEL
QUEUES = list(_QUEUES)


def connection():
    """A client for the processes that RQ's command line does not start (the clock)."""
    return redisclient.connect(_settings.redis_url)


_client = connection()
until_redis_answers("start", _client.ping)
_client.close()
