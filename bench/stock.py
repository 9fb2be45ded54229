"""Benchmark (not a test): ``take_stock`` in a tight loop against its floor on the bare driver.

Run: ``.venv/bin/python bench/stock.py`` (about 30 s; ``BENCH_SECONDS`` changes the 4 s runs).

For each database, one thread, one unit per transaction, measured in the same run:

* **take_stock** — ``app.inventory.operations.take_stock(school, item, 1)`` then
  ``db.session.commit()``, through the app's engine set-up (SQLite: BEGIN IMMEDIATE behind the
  writer ``flock``, WAL, synchronous=FULL; PostgreSQL: psycopg 3, READ COMMITTED).
* **bare driver** — the same statements the ORM sends, written by hand on ``sqlite3`` /
  ``psycopg``: the conditional ``UPDATE stock_level … RETURNING``, ``INSERT stock_move``, the
  FEFO ``SELECT`` of open lots (``FOR UPDATE`` on PostgreSQL), ``INSERT lot_allocation``,
  ``UPDATE stock_lot``, ``COMMIT``; on SQLite also ``BEGIN IMMEDIATE`` and the same ``flock``.

SQLite runs on a temporary file. PostgreSQL runs on ``BENCH_DATABASE_URL`` if set (its tables
are dropped and re-created!), otherwise on a database ``aixin_bench_stock`` created on
``postgresql://postgres@127.0.0.1`` and dropped afterwards; if none is reachable it is skipped.
Prints takes/s, p50/p99 latency, this process's CPU per take and the ratio of each pair.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
WARMUP_SECONDS = 0.5
STOCK = 1_000_000  # units received up front, far more than any run takes
PG_SERVER = "postgresql://postgres@127.0.0.1"
PG_NAME = "aixin_bench_stock"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def measure(label: str, once: Callable[[], None]) -> tuple[float, float, float]:
    """Run ``once`` for WARMUP_SECONDS, then for SECONDS; (per second, p50 ms, p99 ms).

    Also prints this process's CPU time per take, which a busy machine disturbs less than the
    wall-clock figures (SQLite's work is in-process; PostgreSQL's server CPU is not counted).
    """
    end = time.perf_counter() + WARMUP_SECONDS
    while time.perf_counter() < end:
        once()
    samples = []
    cpu = time.process_time()
    start = time.perf_counter()
    end = start + SECONDS
    while (t0 := time.perf_counter()) < end:
        once()
        samples.append(time.perf_counter() - t0)
    rate = len(samples) / (time.perf_counter() - start)
    cpu_ms = (time.process_time() - cpu) / len(samples) * 1000
    quantiles = statistics.quantiles(samples, n=100)
    p50, p99 = quantiles[49] * 1000, quantiles[98] * 1000
    print(
        f"  {label:<14} {rate:9,.0f} takes/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
        f"cpu {cpu_ms:5.2f} ms/take"
    )
    return rate, p50, p99


# ---------------------------------------------------------------- the app side


def make_app(url: str, instance: Path):
    from config import Config

    os.environ["AIXIN_INSTANCE_PATH"] = str(instance)

    class BenchConfig(Config):
        ENV_NAME = "bench"
        SECRET_KEY = "bench-only"  # noqa: S105
        SQLALCHEMY_DATABASE_URI = url
        SQLITE_SYNCHRONOUS = "FULL"
        RATELIMIT_ENABLED = False

    from app import create_app

    return create_app(BenchConfig)


def prepare(app, *, fresh_postgres: bool) -> tuple[int, int, int]:
    """Schema, one school, two items with STOCK units each; (school, app item, bare item)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.extensions import db
    from app.inventory import operations as ops
    from app.org.operations import create_district, create_school

    with app.app_context():
        if fresh_postgres:
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(directory=str(ROOT / "migrations"))
        district = create_district(name="测试区", code="bench")
        school = create_school(district_id=district.id, name="测试小学")
        items = [
            ops.create_item(
                district_id=district.id, name=name, category="stationery", unit="支", points=1
            )
            for name in ("铅笔", "橡皮")
        ]
        for item in items:
            ops.receive_stock(school.id, item.id, STOCK)
        db.session.commit()
        ids = school.id, items[0].id, items[1].id
        db.session.remove()
    return ids


def app_take(app, school_id: int, item_id: int) -> Callable[[], None]:
    from app.extensions import db
    from app.inventory.operations import take_stock

    def once() -> None:
        take_stock(school_id, item_id, 1)
        db.session.commit()

    return once


def check_ledger(app) -> None:
    from app.extensions import db
    from app.ledgers import run_checks

    with app.app_context():
        problems = [p for r in run_checks() if r.name == "stock" for p in r.problems]
        db.session.rollback()
        db.session.remove()
    print("  ledger check:", "ok" if not problems else f"{len(problems)} PROBLEMS: {problems[:3]}")


# ---------------------------------------------------------------- the bare drivers

_LEVEL = (
    "UPDATE stock_level SET on_hand = on_hand + {p}, updated_at = {p} "
    "WHERE school_id = {p} AND item_id = {p} AND on_hand + {p} >= 0 RETURNING id, on_hand"
)
_MOVE = (
    "INSERT INTO stock_move (school_id, item_id, kind, quantity, balance_after, created_at) "
    "VALUES ({p}, {p}, 'redemption', -1, {p}, {p}) RETURNING id"
)
_LOTS = (
    "SELECT id, remaining FROM stock_lot WHERE school_id = {p} AND item_id = {p} "
    "AND remaining > 0 ORDER BY expiry_date ASC NULLS LAST, received_at, id"
)
_ALLOCATION = "INSERT INTO lot_allocation (move_id, lot_id, quantity) VALUES ({p}, {p}, 1)"
_LOT = "UPDATE stock_lot SET remaining = {p} WHERE id = {p}"


def bare_sqlite(path: str, school_id: int, item_id: int) -> Callable[[], None]:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
        conn.execute(f"PRAGMA {pragma}")
    lock = os.open(f"{path}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
    sql = {
        k: v.format(p="?")
        for k, v in {
            "level": _LEVEL,
            "move": _MOVE,
            "lots": _LOTS,
            "alloc": _ALLOCATION,
            "lot": _LOT,
        }.items()
    }

    def once() -> None:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            stamp = now().isoformat(sep=" ")
            row = conn.execute(sql["level"], (-1, stamp, school_id, item_id, -1)).fetchone()
            assert row is not None
            move_id = conn.execute(sql["move"], (school_id, item_id, row[1], stamp)).fetchone()[0]
            lot_id, remaining = conn.execute(sql["lots"], (school_id, item_id)).fetchone()
            conn.execute(sql["alloc"], (move_id, lot_id))
            conn.execute(sql["lot"], (remaining - 1, lot_id))
            conn.execute("COMMIT")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    return once


def bare_postgres(url: str, school_id: int, item_id: int) -> Callable[[], None]:
    import psycopg

    conn = psycopg.connect(url)
    sql = {
        k: v.format(p="%s")
        for k, v in {
            "level": _LEVEL,
            "move": _MOVE,
            "lots": _LOTS + " FOR UPDATE",
            "alloc": _ALLOCATION,
            "lot": _LOT,
        }.items()
    }

    def once() -> None:
        with conn.cursor() as cur:
            stamp = now()
            cur.execute(sql["level"], (-1, stamp, school_id, item_id, -1))
            row = cur.fetchone()
            assert row is not None
            cur.execute(sql["move"], (school_id, item_id, row[1], stamp))
            move_id = cur.fetchone()[0]
            cur.execute(sql["lots"], (school_id, item_id))
            lot_id, remaining = cur.fetchall()[0]
            cur.execute(sql["alloc"], (move_id, lot_id))
            cur.execute(sql["lot"], (remaining - 1, lot_id))
        conn.commit()

    return once


# ---------------------------------------------------------------- the runs


def report(name: str, app_rate: float, bare_rate: float) -> None:
    print(
        f"  {name}: take_stock reaches {app_rate / bare_rate:.0%} of the bare driver "
        f"({1000 / app_rate - 1000 / bare_rate:.2f} ms more per take)"
    )


def run_sqlite(tmp: Path) -> None:
    path = tmp / "bench.db"
    app = make_app(f"sqlite:///{path}", tmp / "instance-sqlite")
    school_id, item_id, bare_item = prepare(app, fresh_postgres=False)
    print(f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=FULL, BEGIN IMMEDIATE + flock)")
    with app.app_context():
        app_rate, *_ = measure("take_stock", app_take(app, school_id, item_id))
    bare_rate, *_ = measure("bare sqlite3", bare_sqlite(str(path), school_id, bare_item))
    report("SQLite", app_rate, bare_rate)
    check_ledger(app)


def run_postgres(tmp: Path) -> None:
    import psycopg

    url = os.environ.get("BENCH_DATABASE_URL")
    created = False
    if not url:
        try:
            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {PG_NAME}")
                admin.execute(f"CREATE DATABASE {PG_NAME}")
        except psycopg.OperationalError as error:
            print(f"PostgreSQL: skipped ({str(error).strip().splitlines()[0]})")
            return
        url, created = f"{PG_SERVER}/{PG_NAME}", True
    try:
        app = make_app(url, tmp / "instance-pg")
        school_id, item_id, bare_item = prepare(app, fresh_postgres=True)
        with psycopg.connect(url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        print(f"PostgreSQL {version} (READ COMMITTED, psycopg {psycopg.__version__})")
        with app.app_context():
            app_rate, *_ = measure("take_stock", app_take(app, school_id, item_id))
        bare_rate, *_ = measure("bare psycopg", bare_postgres(url, school_id, bare_item))
        report("PostgreSQL", app_rate, bare_rate)
        check_ledger(app)
        with app.app_context():
            from app.extensions import db

            db.engine.dispose()
    finally:
        if created:
            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")


def main() -> None:
    print(f"take_stock benchmark: one thread, one unit per transaction, {SECONDS:g} s per run\n")
    with tempfile.TemporaryDirectory(prefix="aixin-bench-stock-") as tmp:
        run_sqlite(Path(tmp))
        print()
        run_postgres(Path(tmp))


if __name__ == "__main__":
    main()
