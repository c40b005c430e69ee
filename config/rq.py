"""Settings module for `rq worker -c config.rq`: Redis URL and queues from the environment.

Loading it waits until Redis answers (with a backoff), because RQ's command line talks to
Redis before the worker class takes over and exits when it cannot: a worker or clock started
during a Redis outage starts its work when Redis is back instead of dying.
"""

import redis

from config.settings import load
from gateway import logs
from gateway.jobs import QUEUES as _QUEUES
from workers.outage import until_redis_answers

_settings = load()
logs.configure(_settings.log_level, _settings.secret_values)

REDIS_URL = _settings.redis_url
QUEUES = list(_QUEUES)

_client = redis.Redis.from_url(REDIS_URL)
until_redis_answers("start", _client.ping)
_client.close()
