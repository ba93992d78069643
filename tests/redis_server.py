"""A real Redis for the serving tests: Debian's ``redis-server`` on loopback, with a password.

``.ci/run`` installs ``redis-server`` (apt) and starts one, exporting its URL as
``TEST_REDIS_URL`` (``redis://:PASSWORD@127.0.0.1:PORT/0``). When that variable is unset or its
server does not answer, :func:`start_redis` starts a private ``redis-server`` process on a free
loopback port (no persistence, a random password) for the test session, stopped at teardown.

Nothing here skips: without the ``redis-server`` binary :class:`RedisServerError` says how to get
it, and the tests that need Redis fail.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass

START_TIMEOUT_S = 15.0


class RedisServerError(RuntimeError):
    """The test Redis could not be started."""


@dataclass
class RedisServer:
    host: str
    port: int
    password: str
    process: subprocess.Popen | None = None

    def url(self, db: int = 0, password: str | None = None) -> str:
        secret = self.password if password is None else password
        auth = f":{urllib.parse.quote(secret, safe='')}@" if secret else ""
        return f"redis://{auth}{self.host}:{self.port}/{db}"

    def client(self, db: int = 0):
        import redis

        return redis.Redis(host=self.host, port=self.port, db=db, password=self.password or None)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _answers(server: RedisServer) -> bool:
    try:
        client = server.client()
        ok = bool(client.ping())
        client.close()
        return ok
    except Exception:
        return False


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def from_environment() -> RedisServer | None:
    """The Redis ``.ci/run`` started (``TEST_REDIS_URL``), if it answers."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    server = RedisServer(
        parts.hostname or "127.0.0.1", parts.port or 6379, urllib.parse.unquote(parts.password or "")
    )
    return server if _answers(server) else None


def start_redis() -> RedisServer:
    """A private ``redis-server`` on a free loopback port (see the module docstring)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisServerError(
            "redis-server is not installed: `apt-get install redis-server` (what .ci/run does), or export "
            "TEST_REDIS_URL=redis://:PASSWORD@HOST:PORT/0 of a running Redis"
        )
    folder = tempfile.mkdtemp(prefix="medallion-redis-")
    for _ in range(3):
        server = RedisServer("127.0.0.1", _free_port(), secrets.token_hex(16))
        args = [
            binary,
            *("--port", str(server.port), "--bind", "127.0.0.1", "--requirepass", server.password),
            *("--save", "", "--appendonly", "no", "--dir", folder, "--loglevel", "warning"),
        ]
        server.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and server.process.poll() is None:
            if _answers(server):
                return server
            time.sleep(0.05)
        server.stop()
    raise RedisServerError(f"redis-server did not start on 127.0.0.1 (tried 3 ports); folder {folder}")
