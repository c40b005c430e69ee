"""A Redis master, its replica and three Sentinels on loopback, as deploy/compose.yaml runs them:
for drills that kill the master and watch the gateway follow the Sentinels to the replica."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from gateway import localredis
from testing.processes import OwnRedis, wait_for

MASTER = "hamdam"  # the master's name in the Sentinels and in REDIS_URL
DOWN_AFTER_MS = 1000  # a master silent this long is down for a Sentinel
FAILOVER_TIMEOUT_MS = 10000


class SentinelGroup:
    """Master and replica (AOF on) and three Sentinels with a quorum of two; `url` is the
    REDIS_URL every process of the gateway is given."""

    def __init__(self, data: Path):
        self.data = data
        self.sentinels: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.master = OwnRedis(data / "master", appendonly=True)
        self.replica: OwnRedis | None = None
        try:
            self.replica = OwnRedis(
                data / "replica",
                appendonly=True,
                options=("--replicaof", "127.0.0.1", str(self.master.port)),
            )
            wait_for(self._replica_linked, 20, "the replica to sync with the master")
            for index in range(3):
                self._start_sentinel(index)
            wait_for(self._sentinels_agree, 30, "three Sentinels that see master and replica")
        except BaseException:
            self.stop()
            raise
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        self.url = f"redis+sentinel://{hosts}/{MASTER}/0"

    def _start_sentinel(self, index: int) -> None:
        port = localredis.free_port()
        folder = self.data / f"sentinel-{index + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "sentinel.conf"  # a Sentinel rewrites its file: one each
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\nlogfile {folder / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        binary = localredis.server_binary()
        proc = subprocess.Popen(
            [binary, str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.sentinels.append(proc)
        self.ports.append(port)
        wait_for(lambda: localredis.reachable(f"redis://127.0.0.1:{port}"), 10, "a Sentinel")

    def _replica_linked(self) -> bool:
        client = self.replica.client()
        try:
            return client.info("replication").get("master_link_status") == "up"
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _sentinels_agree(self) -> bool:
        for port in self.ports:
            client = redis.Redis(port=port, socket_timeout=2)
            try:
                state = client.sentinel_master(MASTER)
            except redis.RedisError:
                return False
            finally:
                client.close()
            if state.get("num-slaves", 0) < 1 or state.get("num-other-sentinels", 0) < 2:
                return False
        return True

    def master_port(self) -> int | None:
        """The port of the master the Sentinels name now (None while they cannot say)."""
        for port in self.ports:
            client = redis.Redis(port=port, socket_timeout=2)
            try:
                address = client.sentinel_get_master_addr_by_name(MASTER)
            except redis.RedisError:
                continue
            finally:
                client.close()
            if address:
                return int(address[1])
        return None

    def current(self) -> OwnRedis:
        """The server that is master now."""
        port = self.master_port()
        return self.replica if self.replica and port == self.replica.port else self.master

    def stop(self) -> None:
        for proc in self.sentinels:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for server in (self.replica, self.master):
            if server is not None and server.proc.poll() is None:
                server.stop(signal.SIGKILL)


def failed_over(group: SentinelGroup, old_port: int, timeout: float = 60) -> float:
    """Seconds until the Sentinels name a new master (raises after `timeout`)."""
    began = time.monotonic()
    wait_for(lambda: group.master_port() not in (None, old_port), timeout, "a new master")
    return time.monotonic() - began
