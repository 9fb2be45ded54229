"""A real Aixin server for race tests: ``gunicorn -w 4`` on its own database, in its own process
group.

    with sqlite_database(tmp) as url:            # or: with postgres_database() as url:
        with live_server(url, tmp, items=..., students=...) as server:
            replies = server.post_at_once("/api/v1/counter/redemptions", requests)
            server.ledger_check()

``live_server`` runs ``flask db upgrade``, seeds a school, a clerk with an API token, items with
stock and students with points and cards through the app's own operations (in a subprocess, as
``flask token create`` would), starts gunicorn in production mode (``AIXIN_ENV=production``,
``SECRET_KEY`` from the environment), waits until every worker has loaded the app and
``/api/v1/health`` answers, and at the end kills the whole process group.

Nothing here imports the app: the server, the seeding and ``flask ledger check`` run as
subprocesses from ``AIXIN_LIVE_APP_ROOT`` (default: this checkout), so the same tests can be
pointed at a deliberately broken copy of the app to show that they fail.

PostgreSQL: a sibling of ``TEST_DATABASE_URL``'s database (or of ``postgres`` on
127.0.0.1:5432) is created for each use and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

REPO = Path(__file__).resolve().parents[2]
APP_ROOT = Path(os.environ.get("AIXIN_LIVE_APP_ROOT") or REPO).resolve()
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
WORKERS = 4
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 60.0

# Runs in a subprocess with the server's environment. argv[1]: the JSON spec from ``seed``.
SEED = r"""
import json, secrets, sys

from app import create_app
from app.audit.operations import acting_as
from app.auth.operations import create_token, create_user
from app.counter import operations as counter
from app.extensions import db
from app.inventory import operations as inventory
from app.org.operations import create_district, create_school
from app.points import operations as points
from app.registry import operations as registry

spec = json.loads(sys.argv[1])
app = create_app()
with app.app_context(), acting_as("race-test"):
    district = create_district(name="竞态测试区", code="race")
    school = create_school(district_id=district.id, name="竞态测试小学")
    clerk = create_user(
        username="race_clerk", display_name="收银员", role="clerk",
        password=secrets.token_urlsafe(16), district_id=district.id, school_id=school.id,
    )
    _token, secret = create_token(clerk, "race test")
    items = {}
    for key, item in spec["items"].items():
        row = inventory.create_item(
            district_id=district.id, name=f"竞态{key}", category="stationery", unit="个",
            points=item["points"],
        )
        inventory.receive_stock(school.id, row.id, item["stock"])
        items[key] = row.id
    students = {}
    for key, group in spec["students"].items():
        students[key] = []
        for n in range(group["count"]):
            student = registry.add_student(
                school, registry.StudentInput(name=f"竞态{key}{n}", gender="F")
            )
            points.credit(student, group["points"], kind="award", reason="race test")
            card = counter.issue_card(student)
            students[key].append({"id": student.id, "card": card.code})
    db.session.commit()
    print(json.dumps({"school": school.id, "token": secret, "items": items,
                      "students": students}))
"""

# gunicorn settings file: each worker leaves a mark once it has loaded the app.
GUNICORN_CONF = """
import pathlib

def post_worker_init(worker):
    pathlib.Path({ready!r}, str(worker.pid)).touch()
"""


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be reached (the caller skips, or fails if it must have it)."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: object  # parsed JSON, or the raw text if it was not JSON

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None


@dataclass
class LiveServer:
    database_url: str
    workdir: Path
    env: dict[str, str]
    port: int = 0
    token: str = ""
    school: int = 0
    items: dict[str, int] = field(default_factory=dict)
    students: dict[str, list[dict]] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    _engine: Engine | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def access_log_path(self) -> Path:
        return self.workdir / "access.log"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # ------------------------------------------------------------ the app's CLI

    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """``flask --app app ARGS`` against this server's database."""
        return run_app(self.env, [sys.executable, "-m", "flask", "--app", "app", *args], check)

    def ledger_check(self) -> subprocess.CompletedProcess:
        return self.flask("ledger", "check", check=False)

    # ------------------------------------------------------------ the database, read directly

    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(sqlalchemy_url(self.database_url), poolclass=NullPool)
        return self._engine

    # ------------------------------------------------------------ HTTP

    def request(
        self, method: str, path: str, body: object = None, headers: dict | None = None
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request(method, path, **_payload(body, headers))
            return _reply(conn.getresponse())
        finally:
            conn.close()

    def auth(self, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **headers}

    def post_at_once(self, path: str, requests: list[tuple[object, dict]]) -> list[Reply]:
        """POST every (body, headers) at the same moment, each on its own connection.

        All connections are opened first; a barrier then releases the threads together, so the
        requests wait in the listen queue for the workers rather than trickling in.
        """
        barrier = threading.Barrier(len(requests))

        def send(request: tuple[object, dict]) -> Reply:
            body, headers = request
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            try:
                conn.connect()
                barrier.wait(timeout=30)
                conn.request("POST", path, **_payload(body, headers))
                return _reply(conn.getresponse())
            finally:
                conn.close()

        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            return list(pool.map(send, requests))

    def worker_pids(self, marker: str, expected: int, timeout: float = 5.0) -> set[int]:
        """The worker processes that answered the requests whose Idempotency-Key contains
        ``marker``, from gunicorn's access log (written just after each response is sent)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = []
            with contextlib.suppress(OSError):
                for line in self.access_log_path.read_text().splitlines():
                    pid, _status, key = (line.split(" ", 2) + ["", ""])[:3]
                    if marker in key:
                        pids.append(int(pid.strip("<>")))  # gunicorn writes <pid>
            if len(pids) >= expected or time.monotonic() > deadline:
                return set(pids)
            time.sleep(0.05)

    # ------------------------------------------------------------ life cycle

    def start(self, workers: int = WORKERS) -> None:
        ready = self.workdir / "ready"
        ready.mkdir(exist_ok=True)
        conf = self.workdir / "gunicorn_conf.py"
        conf.write_text(GUNICORN_CONF.format(ready=str(ready)))
        self.port = free_port()
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-w",
                    str(workers),
                    "-b",
                    f"127.0.0.1:{self.port}",
                    "--config",
                    str(conf),
                    "--graceful-timeout",
                    "5",
                    "--access-logfile",
                    str(self.access_log_path),
                    "--access-logformat",
                    "%(p)s %(s)s %({idempotency-key}i)s",
                    "app:create_app()",
                ],
                cwd=APP_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() kills master and workers
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{self.log_tail()}")
            if len(list(ready.iterdir())) >= workers and self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not start in {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            reply = self.request("GET", "/api/v1/health")
        except OSError:
            return False
        return reply.status == 200 and reply.body == {"status": "ok"}

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self.process is None:
            return
        process, self.process = self.process, None
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the group (gunicorn's graceful stop), SIGKILL whatever is left after ``grace``."""
    group = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        process.wait(timeout=grace)
    # The master is gone; make sure no worker outlived it.
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            return
        time.sleep(0.05)


# ---------------------------------------------------------------- helpers


def _payload(body: object, headers: dict | None) -> dict:
    headers = dict(headers or {})
    if body is None:
        return {"headers": headers}
    headers.setdefault("Content-Type", "application/json")
    return {"body": json.dumps(body).encode(), "headers": headers}


def _reply(response: http.client.HTTPResponse) -> Reply:
    raw = response.read().decode("utf-8", errors="replace")
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw
    return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sqlalchemy_url(url: str) -> str:
    """psycopg 3 for PostgreSQL, as the app does (config.normalise_database_url)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def app_env(database_url: str, workdir: Path) -> dict[str, str]:
    """The environment of a production deployment on ``database_url``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "TEST_DATABASE_URL", "FLASK_APP", "FLASK_DEBUG")
    }
    env.update(
        AIXIN_ENV="production",
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_hex(32),
        AIXIN_INSTANCE_PATH=str(workdir / "instance"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(APP_ROOT), env.get("PYTHONPATH")])),
    )
    return env


def run_app(env: dict[str, str], argv: list[str], check: bool = True):
    done = subprocess.run(
        argv, cwd=APP_ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:6])} … exited {done.returncode}:\n{done.stdout[-2000:]}"
            f"\n{done.stderr[-3000:]}"
        )
    return done


# ---------------------------------------------------------------- databases


@contextlib.contextmanager
def sqlite_database(workdir: Path) -> Iterator[str]:
    """A fresh SQLite file under ``workdir`` (removed with it by pytest's tmp_path)."""
    path = workdir / "live.db"
    if path.exists():
        raise RuntimeError(f"{path} already exists")
    yield f"sqlite:///{path}"


def postgres_base_url() -> str:
    """``TEST_DATABASE_URL`` if it names PostgreSQL (CI), else the local server's ``postgres``."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql")) else DEFAULT_PG


def _libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def postgres_database(label: str = "live") -> Iterator[str]:
    """A new database beside the base URL's one, dropped (connections and all) afterwards."""
    import psycopg
    from psycopg import sql

    base = make_url(sqlalchemy_url(postgres_base_url()))
    stem = re.sub(r"[^a-z0-9_]", "_", (base.database or "aixin").lower())
    name = f"{stem}_{label}_{os.getpid()}_{secrets.token_hex(3)}"[-63:].lstrip("_")
    try:
        admin = psycopg.connect(_libpq(base), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(f"{base.render_as_string()}: {exc}") from exc
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _libpq(base.set(database=name))
    finally:
        with psycopg.connect(_libpq(base), autocommit=True, connect_timeout=5) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ---------------------------------------------------------------- the whole thing


@contextlib.contextmanager
def live_server(
    database_url: str,
    workdir: Path,
    *,
    items: dict[str, dict[str, int]],
    students: dict[str, dict[str, int]],
    workers: int = WORKERS,
) -> Iterator[LiveServer]:
    """Migrate and seed ``database_url``, serve it with gunicorn, stop it afterwards.

    ``items``: ``{key: {"points": P, "stock": N}}`` — an item of P points with N units in the
    school's stock. ``students``: ``{key: {"count": C, "points": P}}`` — C students with P points
    and a card each. The server then knows ``items[key]`` (ids) and ``students[key]`` (a list of
    ``{"id", "card"}``), ``school`` and the clerk's ``token``.
    """
    server = LiveServer(database_url, workdir, app_env(database_url, workdir))
    try:
        server.flask("db", "upgrade")
        seeded = run_app(
            server.env,
            [sys.executable, "-c", SEED, json.dumps({"items": items, "students": students})],
        )
        data = json.loads(seeded.stdout.strip().splitlines()[-1])
        server.token, server.school = data["token"], data["school"]
        server.items, server.students = data["items"], data["students"]
        server.start(workers)
        yield server
    finally:
        server.stop()
