"""Benchmark (not a test): ``GET /api/v1/me`` through the Flask API against its floor.

Run: ``.venv/bin/python bench/api.py`` (about a minute; ``BENCH_SECONDS`` changes the 10 s runs).

Both sides run under the same ``gunicorn -w 4`` on a temporary SQLite file (upgraded, demo loaded,
WAL + synchronous=FULL as in production) and are driven with 8 concurrent keep-alive connections
by ``wrk`` (or, without wrk, a threaded http.client loop):

* **Flask API** — ``app:create_app()`` with a token from ``flask token create``: Flask,
  Flask-Login's bearer loader, the API guard, SQLAlchemy, flask-smorest's response schema and the
  security headers.
* **bare WSGI** — :func:`bare_app` below: a plain WSGI function that hashes the token, runs one
  SELECT of the user by token hash on bare sqlite3 and returns the same JSON.

Prints requests/s and p50/p99 latency of each, and the ratio.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
WRK = "/usr/bin/wrk"
USERNAME = "officer_longxi"  # a school user: /me also names the school's alliance
CONNECTIONS = 8
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP_SECONDS = 2
PATH = "/api/v1/me"

# ---------------------------------------------------------------- the floor: a bare WSGI function

_ME_SQL = """
SELECT u.username, u.role, u.district_id, COALESCE(u.alliance_id, s.alliance_id), u.school_id
FROM api_token AS t
JOIN "user" AS u ON u.id = t.user_id
LEFT JOIN school AS s ON s.id = u.school_id
WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.active
"""
_ME_KEYS = ("username", "role", "district_id", "alliance_id", "school_id")
_connection: sqlite3.Connection | None = None


def _db() -> sqlite3.Connection:
    global _connection
    if _connection is None:  # one per worker process, opened after the fork
        _connection = sqlite3.connect(os.environ["BENCH_DB"], isolation_level=None)
        _connection.execute("PRAGMA journal_mode=WAL")
        _connection.execute("PRAGMA synchronous=FULL")
        _connection.execute("PRAGMA foreign_keys=ON")
        _connection.execute("PRAGMA busy_timeout=10000")
    return _connection


def _json(start_response, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body, separators=(",", ":")).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [data]


def bare_app(environ, start_response):
    """GET /api/v1/me on bare sqlite3: the least any implementation has to do."""
    if environ.get("PATH_INFO") != PATH:
        return _json(start_response, "404 Not Found", {"error": {"code": "not_found"}})
    header = environ.get("HTTP_AUTHORIZATION", "")
    row = None
    if header.startswith("Bearer "):
        token_hash = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        row = _db().execute(_ME_SQL, (token_hash,)).fetchone()
    if row is None:
        return _json(start_response, "401 Unauthorized", {"error": {"code": "unauthorized"}})
    return _json(start_response, "200 OK", dict(zip(_ME_KEYS, row, strict=True)))


# ---------------------------------------------------------------- set-up


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", PATH, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """gunicorn -w 4 serving ``app_spec`` on a free port, stopped on exit."""

    def __init__(self, app_spec: str, env: dict[str, str], token: str, extra: list[str]):
        self.port = _free_port()
        self.args = [
            str(BIN / "gunicorn"),
            "-w",
            "4",
            "-b",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
            *extra,
            app_spec,
        ]
        self.env = env
        self.token = token
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"gunicorn exited early: {' '.join(self.args)}")
            try:
                status, _ = _get(self.port, self.token)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        sys.exit("gunicorn did not answer within 30 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- load


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(port: int, token: str, seconds: int, lua: Path) -> dict[str, float]:
    out = subprocess.run(
        [
            WRK,
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(lua),
            f"http://127.0.0.1:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        result[f"p{pct}"] = float(value) * _UNITS_MS[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    result["errors"] = float(bad.group(1)) if bad else 0.0
    if errors:
        print("  wrk:", errors.group(0))
    return result


def _threaded(port: int, token: str, seconds: int) -> dict[str, float]:
    """Fallback without wrk: CONNECTIONS threads, each with its own keep-alive connection."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        bad = 0
        headers = {"Authorization": f"Bearer {token}"}
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            conn.request("GET", PATH, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - t0) * 1000)
            bad += response.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]

    return {
        "rps": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "errors": float(errors[0]),
    }


def measure(port: int, token: str, tmp: Path) -> dict[str, float]:
    if Path(WRK).exists():
        lua = tmp / "auth.lua"
        lua.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        _wrk(port, token, WARMUP_SECONDS, lua)
        return _wrk(port, token, SECONDS, lua)
    _threaded(port, token, WARMUP_SECONDS)
    return _threaded(port, token, SECONDS)


# ---------------------------------------------------------------- main


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aixin-bench-"))
    db_path = tmp / "bench.db"
    env = {
        **os.environ,
        "AIXIN_ENV": "development",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "AIXIN_INSTANCE_PATH": str(tmp / "instance"),
        "SECRET_KEY": secrets.token_hex(32),
        "BENCH_DB": str(db_path),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    try:
        started = time.monotonic()
        flask = [str(BIN / "flask"), "--app", "app"]
        _run([*flask, "db", "upgrade"], env)
        _run([*flask, "demo"], env)
        token = _run([*flask, "token", "create", USERNAME], env).strip().splitlines()[-1]
        print(f"set-up {time.monotonic() - started:.1f} s: {db_path} (demo), token for {USERNAME}")

        tool = "wrk" if Path(WRK).exists() else "threaded http.client"
        print(
            f"GET {PATH}: {CONNECTIONS} connections, {SECONDS} s each, gunicorn -w 4, "
            f"SQLite WAL synchronous=FULL, {tool}, {os.cpu_count()} CPUs"
        )
        results: dict[str, dict[str, float]] = {}
        bodies: dict[str, bytes] = {}
        sides = (
            ("Flask API", "app:create_app()", []),
            ("bare WSGI + sqlite3", "api:bare_app", ["--pythonpath", str(ROOT / "bench")]),
        )
        for label, spec, extra in sides:
            with Server(spec, env, token, extra) as server:
                bodies[label] = _get(server.port, token)[1]
                results[label] = measure(server.port, token, tmp)

        flask_body, bare_body = (json.loads(b) for b in bodies.values())
        same = "identical" if flask_body == bare_body else f"DIFFERENT: {bodies}"
        print(f"answers: {same} {json.dumps(flask_body, ensure_ascii=False)}")
        print(f"{'':22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-200':>10}")
        for label, r in results.items():
            print(
                f"{label:22}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['errors']:>10.0f}"
            )
        flask_r, bare_r = results["Flask API"], results["bare WSGI + sqlite3"]
        print(
            f"ratio Flask/bare: throughput {flask_r['rps'] / bare_r['rps']:.2f}x, "
            f"p50 {flask_r['p50'] / bare_r['p50']:.1f}x, p99 {flask_r['p99'] / bare_r['p99']:.1f}x"
            f" (total {time.monotonic() - started:.0f} s)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
