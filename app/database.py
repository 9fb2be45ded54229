"""Engine set-up for SQLite and PostgreSQL (CORRECTNESS.md, "Ledgers under concurrency").

PostgreSQL runs at READ COMMITTED; ledgers stay right through conditional updates
(``... WHERE balance >= :n``) and CHECK constraints, which need no retry loop.

SQLite needs more care:

* pysqlite does not begin a transaction before a SELECT, so we switch its own transaction
  handling off and emit ``BEGIN`` ourselves (the recipe in SQLAlchemy's pysqlite docs).
* A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another
  writer committed in between. Write transactions therefore start with ``BEGIN IMMEDIATE``.
  A transaction counts as a write unless it runs inside a GET/HEAD/OPTIONS request, or inside
  ``read_only()``; ``write_intent()`` forces a write transaction where a GET must write.
* SQLite's busy handler sleeps with growing back-off, which makes p99 latency jump under
  contention. Writers instead queue on an OS file lock (``flock`` on ``<db>.writelock``) taken
  before ``BEGIN IMMEDIATE`` and released after ``COMMIT``/``ROLLBACK``. Every DBAPI connection
  opens its own descriptor, so threads of one process queue as well as processes do.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import os
from collections.abc import Iterator

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_intent: contextvars.ContextVar[bool | None] = contextvars.ContextVar("aixin_write", default=None)


@contextlib.contextmanager
def write_intent(value: bool = True) -> Iterator[None]:
    """Make transactions begun inside this block writers (True) or readers (False)."""
    token = _intent.set(value)
    try:
        yield
    finally:
        _intent.reset(token)


def read_only() -> contextlib.AbstractContextManager[None]:
    return write_intent(False)


def wants_write() -> bool:
    explicit = _intent.get()
    if explicit is not None:
        return explicit
    if has_request_context():
        return request.method not in _SAFE_METHODS
    return True


class _WriterLock:
    """One flock'ed descriptor per DBAPI connection."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.held = False

    def acquire(self) -> None:
        if not self.held:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()
        os.close(self.fd)


def configure_sqlite(engine: Engine, *, synchronous: str, busy_timeout_ms: int) -> None:
    """Install the connect/begin/commit/rollback hooks described in the module docstring."""
    database = engine.url.database
    file_backed = bool(database) and database != ":memory:" and not database.startswith("file:")
    lock_path = f"{database}.writelock" if file_backed else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):  # noqa: ARG001
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if file_backed:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()
        if lock_path:
            connection_record.info["writer_lock"] = _WriterLock(lock_path)

    @event.listens_for(engine, "close")
    def _on_close(dbapi_connection, connection_record):  # noqa: ARG001
        lock = connection_record.info.pop("writer_lock", None)
        if lock is not None:
            lock.close()

    def _lock_of(conn) -> _WriterLock | None:
        return conn.connection._connection_record.info.get("writer_lock")

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if wants_write():
            lock = _lock_of(conn)
            if lock is not None:
                lock.acquire()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except Exception:
                if lock is not None:
                    lock.release()
                raise
        else:
            conn.exec_driver_sql("BEGIN")

    # SQLAlchemy fires these events *before* it asks the driver to commit or roll back, and
    # the lock must outlive the COMMIT. So the hook ends the transaction itself and releases
    # the lock; SQLAlchemy's own call that follows finds no open transaction and does nothing.
    @event.listens_for(engine, "commit")
    def _on_commit(conn):
        lock = _lock_of(conn)
        try:
            conn.connection.dbapi_connection.commit()
        finally:
            if lock is not None:
                lock.release()

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn):
        lock = _lock_of(conn)
        try:
            conn.connection.dbapi_connection.rollback()
        finally:
            if lock is not None:
                lock.release()

    # A connection returned to the pool without commit/rollback is reset by a raw rollback,
    # which fires no engine event: release the lock there too.
    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_connection, connection_record, reset_state):  # noqa: ARG001
        lock = connection_record.info.get("writer_lock")
        if lock is not None and lock.held:
            try:
                dbapi_connection.rollback()
            finally:
                lock.release()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def end_reading(session) -> None:  # noqa: ANN001 - a Session or Flask-SQLAlchemy's scoped one
    """End a reading transaction on SQLite so that the next statement begins a writer.

    A writing request that first reads what it needs (the caller, the card, the items) keeps
    the writer lock only for its writes: it reads in a deferred ``BEGIN`` (inside
    :func:`read_only`), calls this, and its first write then starts ``BEGIN IMMEDIATE`` behind
    the lock. Loaded objects stay loaded (nothing was written, so nothing is stale enough to
    matter for the request). On PostgreSQL this does nothing: the transaction simply goes on.
    """
    real = session() if callable(session) else session
    if real.get_bind().dialect.name != "sqlite" or not real.in_transaction():
        return
    if real.new or real.dirty or real.deleted:
        raise RuntimeError("end_reading() in a transaction that has changes")
    keep, real.expire_on_commit = real.expire_on_commit, False
    try:
        real.commit()
    finally:
        real.expire_on_commit = keep
