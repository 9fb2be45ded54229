"""Benchmark (not a test): redemptions per second through ``POST /api/v1/counter/redemptions``.

Run: ``.venv/bin/python bench/counter.py`` (about a minute; ``BENCH_SECONDS`` changes the runs).

Both sides run under the same ``gunicorn -w 4``, first on a temporary SQLite file (migrated, demo
loaded, WAL + synchronous=FULL as in production), then on a fresh PostgreSQL database
(``BENCH_PG_SERVER``, default postgresql://postgres@127.0.0.1:5432/postgres; skipped with a
message if it cannot be reached; ``BENCH_DATABASES=sqlite`` runs one side only), driven by
``wrk`` with 8 connections; every request carries a fresh Idempotency-Key and redeems one unit
of one item for one of 8 students:

* **Flask API** — ``app:create_app()``: token auth, the API guard, schema validation, the
  idempotency key, :func:`app.counter.operations.redeem` (card, items, points, limits, stock and
  lots), the answer.
* **bare WSGI** — :func:`bare_app`: the same SQL writes on the bare driver, sqlite3 or psycopg
  (token check, key claim, card, conditional points update + entry, conditional stock update +
  move + lot + allocation, redemption + line, stored answer); on SQLite writers queue on the
  same kind of ``flock``.

Prints redemptions/s and p50/p99 latency of each side and the ratio (issue 6's target on SQLite:
at least 0.35 of the bare throughput and p99 ≤ 50 ms), then checks the ledgers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from api import BIN, ROOT, WRK, _free_port, _run, _wrk

CONNECTIONS = 8
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
PATH = "/api/v1/counter/redemptions"
STUDENTS = 8

SETUP = """
import json, sys
from app import create_app
from app.extensions import db
from app.auth.models import User
from app.counter import operations as counter
from app.inventory import operations as inventory
from app.points import operations as points
from app.registry import operations as registry
from sqlalchemy import select

app = create_app()
with app.app_context():
    clerk = db.session.scalar(select(User).where(User.username == "clerk_longxi"))
    school = clerk.school
    item = inventory.create_item(district_id=school.district_id, name="压测铅笔",
                                 category="stationery", unit="支", points=1)
    inventory.receive_stock(school.id, item.id, 1_000_000)
    codes = []
    for n in range(%(students)d):
        student = registry.add_student(school, registry.StudentInput(name=f"压测{n}", gender="M"))
        points.credit(student, 1_000_000, kind="award", reason="bench")
        codes.append(counter.issue_card(student).code)
    db.session.commit()
    print(json.dumps({"item": item.id, "codes": codes, "clerk": clerk.id, "school": school.id}))
"""

# ---------------------------------------------------------------- the floor: bare WSGI

_conn = None
_lock_fd: int | None = None
PG = os.environ.get("BENCH_DB", "").startswith("postgresql")
P = "%s" if PG else "?"  # the driver's placeholder
LOCK_LOTS = " FOR UPDATE" if PG else ""


def _db():
    """One connection per worker process, after the fork."""
    global _conn, _lock_fd
    if _conn is None and PG:
        import psycopg

        _conn = psycopg.connect(os.environ["BENCH_DB"])
    elif _conn is None:
        _conn = sqlite3.connect(os.environ["BENCH_DB"], isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            "busy_timeout=10000",
        ):
            _conn.execute(f"PRAGMA {pragma}")
        _lock_fd = os.open(os.environ["BENCH_DB"] + ".writelock", os.O_RDWR | os.O_CREAT, 0o600)
    return _conn


def _sql(text: str) -> str:
    return text.replace("?", P)


def _json(start_response, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body, separators=(",", ":")).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def _begin(db) -> None:
    if not PG:  # writers queue on the flock, then take SQLite's write lock at once
        fcntl.flock(_lock_fd, fcntl.LOCK_EX)
        db.execute("BEGIN IMMEDIATE")


def _end(db, ok: bool) -> None:
    try:
        if PG:
            db.commit() if ok else db.rollback()
        elif db.in_transaction:
            db.execute("COMMIT" if ok else "ROLLBACK")
    finally:
        if not PG:
            fcntl.flock(_lock_fd, fcntl.LOCK_UN)


def bare_app(environ, start_response):  # noqa: PLR0915 - one straight transaction, on purpose
    """The redemption's SQL on the bare driver: the least any implementation has to write."""
    if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
        return _json(start_response, "404 Not Found", {"error": {"code": "not_found"}})
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length)
    body = json.loads(raw)
    key = environ.get("HTTP_IDEMPOTENCY_KEY", "")
    token = environ.get("HTTP_AUTHORIZATION", "")[7:]
    db = _db()
    now = datetime.now(UTC).replace(tzinfo=None)
    now = now if PG else now.isoformat(sep=" ")
    _begin(db)
    ok = False
    try:
        user = db.execute(
            _sql(
                'SELECT u.id, u.school_id FROM api_token t JOIN "user" u ON u.id = t.user_id '
                "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.active"
            ),
            (hashlib.sha256(token.encode()).hexdigest(),),
        ).fetchone()
        user_id, school_id = user
        digest = hashlib.sha256(raw).hexdigest()
        claimed = db.execute(
            _sql(
                "INSERT INTO idempotency_key (user_id, key, request_hash, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"
            ),
            (user_id, key, digest, now),
        ).fetchone()
        if claimed is None:
            stored = db.execute(
                _sql("SELECT response_body FROM idempotency_key WHERE user_id = ? AND key = ?"),
                (user_id, key),
            ).fetchone()
            ok = True
            return _json(start_response, "201 Created", json.loads(stored[0]))
        card_id, student_id = db.execute(
            _sql(
                "SELECT id, student_id FROM card WHERE code = ? AND school_id = ? "
                "AND status = 'active'"
            ),
            (body["card_code"], school_id),
        ).fetchone()
        line = body["lines"][0]
        item_id, quantity = line["item_id"], line["quantity"]
        price = db.execute(
            _sql("SELECT points FROM item WHERE id = ? AND active"), (item_id,)
        ).fetchone()[0]
        total = price * quantity
        balance = db.execute(
            _sql(
                "UPDATE point_account SET balance = balance - ? WHERE student_id = ? "
                "AND balance >= ? RETURNING balance"
            ),
            (total, student_id, total),
        ).fetchone()[0]
        entry_id = db.execute(
            _sql(
                "INSERT INTO point_entry (student_id, school_id, kind, points, balance_after, "
                "created_at, created_by_id) VALUES (?, ?, 'redemption', ?, ?, ?, ?) RETURNING id"
            ),
            (student_id, school_id, -total, balance, now, user_id),
        ).fetchone()[0]
        on_hand = db.execute(
            _sql(
                "UPDATE stock_level SET on_hand = on_hand - ? WHERE school_id = ? "
                "AND item_id = ? AND on_hand >= ? RETURNING on_hand"
            ),
            (quantity, school_id, item_id, quantity),
        ).fetchone()[0]
        move_id = db.execute(
            _sql(
                "INSERT INTO stock_move (school_id, item_id, kind, quantity, balance_after, "
                "created_at, created_by_id) VALUES (?, ?, 'redemption', ?, ?, ?, ?) RETURNING id"
            ),
            (school_id, item_id, -quantity, on_hand, now, user_id),
        ).fetchone()[0]
        lot_id = db.execute(
            _sql(
                "SELECT id FROM stock_lot WHERE school_id = ? AND item_id = ? AND remaining > 0 "
                "ORDER BY expiry_date IS NULL, expiry_date, received_at, id LIMIT 1" + LOCK_LOTS
            ),
            (school_id, item_id),
        ).fetchone()[0]
        db.execute(
            _sql("UPDATE stock_lot SET remaining = remaining - ? WHERE id = ?"), (quantity, lot_id)
        )
        db.execute(
            _sql("INSERT INTO lot_allocation (move_id, lot_id, quantity) VALUES (?, ?, ?)"),
            (move_id, lot_id, quantity),
        )
        redemption_id = db.execute(
            _sql(
                "INSERT INTO redemption (school_id, student_id, card_id, clerk_id, created_at, "
                "points_spent, balance_after, status, point_entry_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'completed', ?) RETURNING id"
            ),
            (school_id, student_id, card_id, user_id, now, total, balance, entry_id),
        ).fetchone()[0]
        db.execute(
            _sql(
                "INSERT INTO redemption_line (redemption_id, item_id, quantity, points, "
                "stock_move_id) VALUES (?, ?, ?, ?, ?)"
            ),
            (redemption_id, item_id, quantity, total, move_id),
        )
        answer = {
            "id": redemption_id,
            "points_spent": total,
            "balance_after": balance,
            "created_at": str(now),
            "lines": [{"item_id": item_id, "quantity": quantity, "points": total}],
        }
        db.execute(
            _sql("UPDATE idempotency_key SET status_code = 201, response_body = ? WHERE id = ?"),
            (json.dumps(answer), claimed[0]),
        )
        ok = True
    finally:
        _end(db, ok)
    return _json(start_response, "201 Created", answer)


# ---------------------------------------------------------------- load


def _lua(tmp: Path, token: str, item: int, codes: list[str]) -> Path:
    script = tmp / "redeem.lua"
    codes_lua = ", ".join(f'"{c}"' for c in codes)
    script.write_text(f"""
local codes = {{{codes_lua}}}
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = tostring(tid) .. "-" .. tostring(os.time()) .. "-" .. tostring(math.random(1000000))
end
function request()
  counter = counter + 1
  local code = codes[(counter % #codes) + 1]
  local body = '{{"card_code":"' .. code .. '","lines":[{{"item_id":{item},"quantity":1}}]}}'
  return wrk.format("POST", "{PATH}", {{
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer {token}",
    ["Idempotency-Key"] = prefix .. "-" .. counter,
  }}, body)
end
""")
    return script


def _serve(spec: str, env: dict[str, str], extra: list[str]) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-w",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            *extra,
            spec,
        ],
        cwd=ROOT,
        env=env,
    )
    import http.client

    for _ in range(150):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/health")
            conn.getresponse().read()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    sys.exit(f"{spec} did not start")


def _checkpoint(database: str) -> None:
    """Fold the demo load's long WAL into the database before a side runs, so that neither
    side pays for a checkpoint of the other's (or the set-up's) writes in the middle."""
    if not database.startswith("postgresql"):
        with sqlite3.connect(database) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _pg_admin(sql: str) -> bool:
    server = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        import psycopg

        with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql)
        return True
    except Exception as exc:  # noqa: BLE001 - a benchmark reports and goes on
        print(f"PostgreSQL: {exc}".strip())
        return False


def run_database(kind: str, tmp: Path) -> dict[str, dict[str, float]] | None:
    """Both sides on one fresh database of ``kind`` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        bench_db = str(tmp / "bench.db")
        url = f"sqlite:///{bench_db}"
        label = "SQLite WAL synchronous=FULL"
    else:
        name = f"aixin_bench_counter_{os.getpid()}"
        if not _pg_admin(f"CREATE DATABASE {name}"):
            return None
        server = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
        bench_db = url = server.rsplit("/", 1)[0] + "/" + name
        label = "PostgreSQL READ COMMITTED"
    env = {
        **os.environ,
        "AIXIN_ENV": "development",
        "DATABASE_URL": url,
        "AIXIN_INSTANCE_PATH": str(tmp / f"instance-{kind}"),
        "SECRET_KEY": secrets.token_hex(32),
        "BENCH_DB": bench_db,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    flask = [str(BIN / "flask"), "--app", "app"]
    try:
        _run([*flask, "db", "upgrade"], env)
        _run([*flask, "demo"], env)
        token = _run([*flask, "token", "create", "clerk_longxi"], env).strip().splitlines()[-1]
        setup = json.loads(
            _run([str(BIN / "python"), "-c", SETUP % {"students": STUDENTS}], env)
            .strip()
            .splitlines()[-1]
        )
        lua = _lua(tmp, token, setup["item"], setup["codes"])
        print(
            f"\nPOST {PATH}: {CONNECTIONS} connections, {SECONDS} s, gunicorn -w 4, {label}, "
            f"{STUDENTS} students, 1 unit per redemption, {os.cpu_count()} CPUs"
        )
        results = {}
        for side, spec, extra in (
            ("Flask API", "app:create_app()", []),
            ("bare WSGI + driver", "counter:bare_app", ["--pythonpath", str(ROOT / "bench")]),
        ):
            _checkpoint(bench_db)
            proc, port = _serve(spec, env, extra)
            try:
                _wrk(port, token, 2, lua)  # warm-up
                results[side] = _wrk(port, token, SECONDS, lua)
            finally:
                proc.terminate()
                proc.wait(timeout=15)
        print(f"{'':22}{'redeem/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
        for side, r in results.items():
            print(
                f"{side:22}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['errors']:>10.0f}"
            )
        ours, floor = results["Flask API"], results["bare WSGI + driver"]
        target = " (target ≥ 0.35, p99 ≤ 50 ms)" if kind == "sqlite" else ""
        print(
            f"ratio Flask/bare: throughput {ours['rps'] / floor['rps']:.2f}x, "
            f"p99 {ours['p99']:.1f} ms{target}"
        )
        check = subprocess.run(
            [*flask, "ledger", "check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        # The bare side writes no audit rows and no cached totals beyond the two it updates, so
        # the ledgers must still add up after both runs.
        print("ledger check:", "clean" if check.returncode == 0 else check.stdout[-2000:])
        return results
    finally:
        if kind == "postgresql":
            _pg_admin(f"DROP DATABASE IF EXISTS {bench_db.rsplit('/', 1)[1]} WITH (FORCE)")


def main() -> None:
    if not Path(WRK).exists():
        sys.exit("this benchmark needs wrk (apt-get install -y wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="aixin-bench-counter-"))
    try:
        kinds = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
        for kind in kinds:
            run_database(kind.strip(), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
