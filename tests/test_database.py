"""The database set-up of CORRECTNESS.md: pragmas, write transactions, the writer queue,
and the conditional-update pattern that keeps balances from going negative on both databases.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from app.database import read_only, wants_write, write_intent


@pytest.fixture
def sqlite_only(db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite-specific")


@pytest.fixture
def account_table(db):
    """A scratch ledger: an account with a CHECK (balance >= 0) and its entries."""
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS scratch_entry"))
        conn.execute(text("DROP TABLE IF EXISTS scratch_account"))
        conn.execute(
            text(
                "CREATE TABLE scratch_account (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL"
                " CHECK (balance >= 0))"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE scratch_entry (id INTEGER PRIMARY KEY, points INTEGER NOT NULL)"
                if db.engine.dialect.name == "sqlite"
                else "CREATE TABLE scratch_entry (id SERIAL PRIMARY KEY, points INTEGER NOT NULL)"
            )
        )
        conn.execute(text("INSERT INTO scratch_account (id, balance) VALUES (1, 100)"))
    yield
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE scratch_entry"))
        conn.execute(text("DROP TABLE scratch_account"))


def test_sqlite_pragmas(db, sqlite_only):
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_foreign_keys_are_enforced(db):
    from sqlalchemy.exc import IntegrityError

    from app.org.models import School

    db.session.add(School(district_id=999_999, name="无主学校", stage="primary"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_write_intent_follows_the_request_method(app):
    with app.test_request_context("/", method="GET"):
        assert not wants_write()
        with write_intent():
            assert wants_write()
    with app.test_request_context("/", method="POST"):
        assert wants_write()
        with read_only():
            assert not wants_write()
    assert wants_write()  # CLI and scripts write by default


def _spend(app, amount: int) -> bool:
    """One spend in its own session: conditional update + entry, all or nothing."""
    from app.extensions import db

    with app.app_context():
        try:
            result = db.session.execute(
                text(
                    "UPDATE scratch_account SET balance = balance - :n "
                    "WHERE id = 1 AND balance >= :n"
                ),
                {"n": amount},
            )
            if result.rowcount != 1:
                db.session.rollback()
                return False
            db.session.execute(
                text("INSERT INTO scratch_entry (points) VALUES (:p)"), {"p": -amount}
            )
            db.session.commit()
            return True
        finally:
            db.session.remove()


def test_concurrent_spends_never_overdraw(app, db, account_table):
    """30 concurrent 10-point spends against 100: exactly 10 succeed, on either database."""
    barrier = threading.Barrier(30)

    def go(_):
        barrier.wait()
        return _spend(app, 10)

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(go, range(30)))
    assert results.count(True) == 10
    db.session.remove()
    balance = db.session.execute(text("SELECT balance FROM scratch_account")).scalar()
    entries = db.session.execute(
        text("SELECT COALESCE(SUM(points), 0) FROM scratch_entry")
    ).scalar()
    assert balance == 0
    assert entries == -100


def test_check_constraint_is_the_backstop(db, account_table):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE scratch_account SET balance = -1 WHERE id = 1"))
        db.session.flush()
    db.session.rollback()


def test_sqlite_read_then_write_is_serialised_by_the_write_lock(
    app, db, account_table, sqlite_only
):
    """Even the naive read → check → write pattern cannot double-spend here: every write
    transaction begins IMMEDIATE behind the writer queue, so no two overlap."""
    from app.extensions import db as _db

    barrier = threading.Barrier(20)

    def naive(_):
        barrier.wait()
        with app.app_context():
            try:
                balance = _db.session.execute(
                    text("SELECT balance FROM scratch_account WHERE id = 1")
                ).scalar()
                if balance < 10:
                    _db.session.rollback()
                    return False
                _db.session.execute(
                    text("UPDATE scratch_account SET balance = :b WHERE id = 1"),
                    {"b": balance - 10},
                )
                _db.session.commit()
                return True
            finally:
                _db.session.remove()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(naive, range(20)))
    assert results.count(True) == 10
    db.session.remove()
    assert db.session.execute(text("SELECT balance FROM scratch_account")).scalar() == 0


def test_sqlite_readers_are_not_blocked_by_a_writer(app, db, account_table, sqlite_only):
    from app.extensions import db as _db

    holding = threading.Event()
    release = threading.Event()

    def writer():
        with app.app_context():
            _db.session.execute(text("UPDATE scratch_account SET balance = 50 WHERE id = 1"))
            holding.set()
            release.wait(5)
            _db.session.commit()
            _db.session.remove()

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(5)
    try:
        with app.app_context(), read_only():
            # WAL: the reader sees the last committed value at once, without waiting.
            value = _db.session.execute(text("SELECT balance FROM scratch_account")).scalar()
            _db.session.remove()
        assert value == 100
    finally:
        release.set()
        thread.join(5)
    db.session.remove()
    assert db.session.execute(text("SELECT balance FROM scratch_account")).scalar() == 50
