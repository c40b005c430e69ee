"""Settings module for `rq worker -c config.rq`: Redis URL and queues from the environment."""

from config.settings import load
from gateway import logs

_settings = load()
logs.configure(_settings.log_level, _settings.secret_values)

REDIS_URL = _settings.redis_url
QUEUES = ["alerts"]
