"""With REDIS_URL set, login limits are counted in Redis and so shared by all worker processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url():
    if not _redis_up():
        if os.environ.get("AIXIN_REQUIRE_REDIS") == "1":
            pytest.fail("Redis is required here but 127.0.0.1:6379 does not answer")
        pytest.skip("no Redis on 127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"aixin-test-{uuid.uuid4().hex}"
    # A key prefix of this run's own: other test runs may share the Redis at the same time.
    yield REDIS_URL, prefix
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)


WORKER = textwrap.dedent(
    """
    import re, sys
    from app import create_app
    from config import TestConfig

    class Cfg(TestConfig):
        RATELIMIT_STORAGE_URI = None
        REDIS_URL = sys.argv[1]
        SQLALCHEMY_DATABASE_URI = sys.argv[2]
        RATELIMIT_KEY_PREFIX = sys.argv[4]

    app = create_app(Cfg)
    assert app.config["RATELIMIT_STORAGE_URI"] == sys.argv[1]
    client = app.test_client()
    statuses = []
    for _ in range(int(sys.argv[3])):
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        r = client.post("/login", data={"username": "nobody", "password": "wrong-password",
                                        "csrf_token": token})
        statuses.append(r.status_code)
    print(" ".join(map(str, statuses)))
    """
)


def _worker(redis_url: str, prefix: str, database: str, attempts: int) -> list[int]:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, redis_url, database, str(attempts), prefix],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIXIN_INSTANCE_PATH": str(Path(database[10:]).parent)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return [int(s) for s in out.stdout.split()]


def test_two_processes_share_the_login_limit(redis_url, tmp_path):
    from app import create_app
    from config import TestConfig

    database = f"sqlite:///{tmp_path / 'rl.db'}"

    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = database

    app = create_app(Cfg)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    url, prefix = redis_url
    first = _worker(url, prefix, database, 6)
    second = _worker(url, prefix, database, 6)
    assert first == [401] * 6
    # The per-account limit is 10 failures in 10 minutes, counted across both processes.
    assert second == [401] * 4 + [429] * 2
