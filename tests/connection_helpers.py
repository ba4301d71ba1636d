"""Reads of a connection as the database holds it now, shared by the tests of every kind of
connection (shops, platforms, email tools): each expires the session first, so what a worker
or a poll wrote through another transaction is what the test sees."""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection, ConnectionEvent


async def fresh(session: AsyncSession, connection_id: int) -> Connection:
    """The connection as stored now."""
    session.expire_all()
    return await session.get_one(Connection, connection_id)


async def events(session: AsyncSession, connection: Connection | int) -> list[ConnectionEvent]:
    """The connection's event log, oldest first; `connection` may be expired (not loaded)."""
    if isinstance(connection, Connection):
        identity = inspect(connection).identity  # no load: it may be expired
        assert identity is not None
        connection = int(identity[0])
    session.expire_all()
    return list(
        await session.scalars(
            select(ConnectionEvent)
            .where(ConnectionEvent.connection_id == connection)
            .order_by(ConnectionEvent.id)
        )
    )


def shown_error(connection: Connection) -> str:
    """The error the connection's page shows; a test asking for it expects there to be one."""
    assert connection.last_error is not None
    return connection.last_error
