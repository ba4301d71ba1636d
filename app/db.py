"""Database plumbing: the declarative base, engines for SQLite and PostgreSQL, request sessions."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from app.config import Settings

__all__ = [
    "Base",
    "Database",
    "IdType",
    "SessionDep",
    "UTCDateTime",
    "WriteSessionDep",
    "checkpoint_after_commit",
    "create_engine",
    "run_on_sqlite_thread",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only turns INTEGER PRIMARY KEY into an auto-incrementing rowid, not BIGINT.
IdType = BigInteger().with_variant(Integer(), "sqlite")

T = TypeVar("T")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCK_TIMEOUT_SECONDS = 10.0
READ_ONLY_LOG_EVERY_SECONDS = 60.0
_CHECKPOINT_AFTER_COMMIT = "leadlink.checkpoint_after_commit"

logger = logging.getLogger(__name__)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite stores it without an offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout and foreign keys on every connection; transactions we control.

    pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; SQLAlchemy's
    documented recipe is to switch it off and emit BEGIN ourselves. Write transactions use
    BEGIN IMMEDIATE so that two writers queue on the busy timeout instead of failing with
    "database is locked" when a read transaction tries to upgrade.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")
        # WAL is a property of the file: switching needs a lock, reading the mode does not.
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Zero the bytes of deleted and overwritten rows, so an erased address leaves no copy in
        # free space. Debian's SQLite (which the image and the bench use) is built with this on,
        # so it costs nothing measured here; set it so that no other build leaves the bytes.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(settings: Settings, **engine_options: Any) -> AsyncEngine:
    """An engine for the configured URL; raises `sqlalchemy.exc.ArgumentError` on a bad URL."""
    url = make_url(settings.effective_database_url)
    timeout = settings.db_timeout_seconds
    # A database error's text (logged with a traceback by a failing task or a bug's 500) must
    # not carry its statement's parameters: they hold email addresses that outlive an erasure.
    engine_options.setdefault("hide_parameters", True)
    extra_connect_args: dict[str, Any] = engine_options.pop("connect_args", {})
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            connect_args={"timeout": timeout, **extra_connect_args},
            pool_size=settings.db_pool_size,
            **engine_options,
        )
        _configure_sqlite(engine)
        return engine
    connect_args = {"timeout": timeout, "command_timeout": timeout * 2, **extra_connect_args}
    return create_async_engine(
        url,
        connect_args=connect_args,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=timeout,
        pool_recycle=1800,
        **engine_options,
    )


class _TaskReentrantLock:
    """An asyncio lock the task holding it may take again (nested sessions in one request)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if self._owner is not task:
            await self._lock.acquire()
            self._owner = task
        self._depth += 1

    async def __aexit__(self, *_exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


class Database:
    """An engine and the session factories bound to it; owned by the app's lifespan."""

    def __init__(self, bind: AsyncEngine | AsyncConnection, *, owns_engine: bool = True) -> None:
        self.bind = bind
        self.owns_engine = owns_engine
        self.dialect_name = bind.dialect.name
        # One connection cannot run two statements at once; tasks take turns on it.
        self._turns: _TaskReentrantLock | None = None
        # SQLite has one writer at a time. Writers of this process queue here, in asyncio,
        # instead of in SQLite's busy handler, which sleeps between retries and would cut write
        # throughput to a few dozen transactions a second.
        self._sqlite_writer: asyncio.Lock | None = None
        self.lock_timeout = LOCK_TIMEOUT_SECONDS
        if isinstance(bind, AsyncConnection):
            self._turns = _TaskReentrantLock()
            # Tests: every session joins the outer transaction through a savepoint.
            self._reads = async_sessionmaker(
                bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            self._writes = self._reads
        else:
            self._reads = async_sessionmaker(bind, expire_on_commit=False)
            self._writes = async_sessionmaker(
                bind.execution_options(sqlite_immediate=True), expire_on_commit=False
            )
            if self.dialect_name == "sqlite":
                self._sqlite_writer = asyncio.Lock()
                event.listen(bind.sync_engine, "connect", _note_opened)
                event.listen(bind.sync_engine, "checkout", self._refuse_if_read_only_era)
                event.listen(bind.sync_engine, "checkin", self._close_if_read_only_era)
        # SQLite connections opened before this moment are closed when next taken or given back
        # (they may have opened the file read-only); when that was last logged.
        self._reopen_before = float("-inf")
        self._read_only_logged = float("-inf")

    @property
    def single_connection(self) -> bool:
        """Bound to one connection (tests) rather than an engine with a pool."""
        return self._turns is not None

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session whose transaction is rolled back unless the caller commits."""
        factory = self._writes if write else self._reads
        if write and self._sqlite_writer is not None:
            async with asyncio.timeout(self.lock_timeout):
                await self._sqlite_writer.acquire()
            try:
                async with factory() as session:
                    try:
                        yield session
                    except DBAPIError as exc:
                        # Before the session gives its connection back, which then closes it.
                        if _is_sqlite_read_only(exc):
                            self._open_sqlite_again()
                        raise
                if session.info.pop(_CHECKPOINT_AFTER_COMMIT, False):
                    await self._checkpoint_sqlite()
            finally:
                self._sqlite_writer.release()
            return
        if self._turns is None:
            async with factory() as session:
                yield session
            return
        async with self._turns, factory() as session:
            yield session

    def _open_sqlite_again(self) -> None:
        """SQLite refused a write because this process opened the file read-only (its filesystem
        was read-only, or its permissions wrong). SQLite shares a file's lock and index state
        among a process's connections: as long as one opened read-only is open, even a new one
        is read-only. So every connection open now goes: the one that failed as it is given
        back, each idle one as it is next taken from the pool (the pool opens a new one in its
        place). A write on a connection opened meanwhile fails the same way, moves the mark on
        and is closed too, so each failed write leaves one connection fewer; once none is left,
        the next write opens the file afresh and succeeds, without a restart
        (docs/reliability.md, Read-only database)."""
        self._reopen_before = time.monotonic()
        if self._reopen_before - self._read_only_logged >= READ_ONLY_LOG_EVERY_SECONDS:
            self._read_only_logged = self._reopen_before  # not at every refused write
            logger.error(
                "the SQLite database is read-only (its filesystem or file permissions): writes "
                "fail until it is writable; its connections are opened again meanwhile"
            )

    def _opened_before_mark(self, record: ConnectionPoolEntry) -> bool:
        return bool(record.info.get(_OPENED_AT, float("-inf")) < self._reopen_before)

    def _refuse_if_read_only_era(
        self, _dbapi: Any, record: ConnectionPoolEntry, _proxy: Any
    ) -> None:
        # A pool `checkout` hook: DisconnectionError makes the pool close this connection and
        # hand out a newly opened one (SQLAlchemy's recipe for pessimistic disconnect handling).
        if self._opened_before_mark(record):
            raise DisconnectionError("opened before the database was found read-only")

    def _close_if_read_only_era(self, _dbapi: Any, record: ConnectionPoolEntry) -> None:
        # A pool `checkin` hook.
        if record.dbapi_connection is not None and self._opened_before_mark(record):
            record.invalidate()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection on which each statement is a transaction of its own, for a writer whose
        whole transaction is one statement: it then needs no BEGIN and no COMMIT round trip, and
        has committed when the statement's answer arrives (`app.leads.postgres_batch`).

        Bound to one connection (tests), the statements join its transaction through a
        savepoint, released when the block ends without an error.
        """
        if self._turns is not None:
            async with self.session() as session:
                yield await session.connection()
                await session.commit()
            return
        assert isinstance(self.bind, AsyncEngine)
        async with self.bind.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def _checkpoint_sqlite(self) -> None:
        """Copy the write-ahead log into the database file and empty it, so that data just
        overwritten (an erasure) is gone from the log too; with `secure_delete` on, the old
        bytes in the file were zeroed. Runs under the writer lock, so no writer of this process
        races it; readers finish their snapshot first (the busy timeout)."""
        assert isinstance(self.bind, AsyncEngine)
        async with self.bind.connect() as connection:
            result = await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = result.scalar()
        if busy:
            logger.warning("the write-ahead log could not be emptied after an erasure (busy)")

    async def dispose(self) -> None:
        if self.owns_engine and isinstance(self.bind, AsyncEngine):
            await self.bind.dispose()


_OPENED_AT = "leadlink.opened_at"


def _note_opened(_dbapi: Any, record: ConnectionPoolEntry) -> None:
    record.info[_OPENED_AT] = time.monotonic()


def _is_sqlite_read_only(exc: DBAPIError) -> bool:
    """SQLITE_READONLY or one of its extended codes ("attempt to write a readonly database")."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_READONLY


def checkpoint_after_commit(session: AsyncSession) -> None:
    """Ask for personal data this session overwrites or deletes to leave no copy once it
    commits: on SQLite the write-ahead log is checkpointed and emptied after the commit
    (`Database.session`). PostgreSQL's WAL and dead row versions are the server's and its
    backups' concern (docs/api.md, Erasure)."""
    session.info[_CHECKPOINT_AFTER_COMMIT] = True


async def run_on_sqlite_thread(connection: AsyncConnection, work: Callable[[Any], T]) -> T:
    """Run `work(sqlite3_connection)` on aiosqlite's own thread, in one hop, inside whatever
    transaction `connection` has open.

    Awaited one by one, every statement is a round trip through the event loop, and under load
    each waits behind the requests the loop is serving, so a batch took several times longer
    than its statements (docs/bench.md). aiosqlite has no public way to run a function on its
    thread; its `_execute` is that. A `sqlite3` error comes out wrapped as SQLAlchemy wraps it.
    """
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        result: T = await driver._execute(work, driver._conn)
    except sqlite3.Error as exc:
        # As SQLAlchemy would have raised it: IntegrityError, OperationalError (an outage)...
        raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
    return result


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed after the endpoint returns and before the response.

    The dependency uses FastAPI's `scope="function"`, so a failed commit raises into the
    error handler and becomes an error response instead of a 2xx for unwritten data.
    """
    database: Database = request.app.state.database
    async with database.session(write=request.method not in SAFE_METHODS) as session:
        yield session
        await session.commit()


async def _request_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Like `SessionDep`, for the few GET routes that change data (a confirmation link)."""
    database: Database = request.app.state.database
    async with database.session(write=True) as session:
        yield session
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
WriteSessionDep = Annotated[AsyncSession, Depends(_request_write_session, scope="function")]
