"""A Redis client from REDIS_URL, for every process: one server, or a master found by Sentinel.

`redis://host:port/db` (also `rediss://`, `unix://`) names one server.
`redis+sentinel://host1:26379,host2:26379,host3:26379/service/db` names the Sentinels that watch
a master called `service` (the form the RQ dashboard reads too). A client of the second form asks
the Sentinels where the master is on every new connection. After a failover its commands fail
with ConnectionError until they reach the new master. A demoted master answering READONLY counts
as such a failure too. Every process already rides out ConnectionError as an outage.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import redis
from redis.sentinel import Sentinel
from redis_sentinel_url import parse_sentinel_url

SENTINEL_SCHEME = "redis+sentinel"
SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)


def is_sentinel(url: str) -> bool:
    return urlsplit(url).scheme == SENTINEL_SCHEME


def problem(url: str) -> str | None:
    """Why `url` is not a Redis URL this gateway can use, or None."""
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        return f"expected redis://host:port/db or {SENTINEL_SCHEME}://host:port,.../service/db"
    if scheme != SENTINEL_SCHEME:
        return None
    try:
        parsed = parse_sentinel_url(url)
    except ValueError as error:
        return f"not a {SENTINEL_SCHEME} URL: {error}"
    if not parsed.default_client.service:
        return f"{SENTINEL_SCHEME} URL without the master's name (…/service/db)"
    return None


def shown(url: str) -> str:
    """The URL as it may be shown: its password replaced (a bad URL is echoed in errors)."""
    return _PASSWORD.sub(r"\1[secret]@", url)


_PASSWORD = re.compile(r"(//[^/@]*?:)[^/@]*@")


def where(url: str) -> str:
    """Where a URL points, for a log line or an error: no password, no path."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    hosts = parts.netloc.rsplit("@", 1)[-1]
    if parts.scheme == SENTINEL_SCHEME:
        return f"the master {_sentinel(url)[1]!r} of Sentinels {hosts}"
    return hosts


def _sentinel(url: str) -> tuple[list[tuple[str, int]], str, dict]:
    parsed = parse_sentinel_url(url)
    return parsed.hosts, parsed.default_client.service, parsed.client_options


def connect(url: str, **options) -> redis.Redis:
    """A client for the master at `url`; `options` are redis-py connection options
    (socket_timeout, retry, ...), applied to the Sentinels' connections too where they fit."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    hosts, service, client_options = _sentinel(url)
    asking = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout") if k in options}
    sentinel = Sentinel(hosts, sentinel_kwargs=asking)
    return sentinel.master_for(service, **{**client_options, **options})


def rq_settings(url: str) -> dict:
    """What RQ's command line reads from a settings module (`rq worker -c config.rq`)."""
    if not is_sentinel(url):
        return {"REDIS_URL": url}
    hosts, service, client_options = _sentinel(url)
    return {
        "SENTINEL": {
            "INSTANCES": hosts,
            "MASTER_NAME": service,
            "DB": client_options.get("db", 0),
            "PASSWORD": client_options.get("password"),
        }
    }
