"""The demo shows what a connected shop looks like: a Stripe connection still waiting for its
signing secret (so nothing can post to it), a sale to a buyer who is no lead, a non-sale."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection, ConnectionEvent, Sale
from app.demo import seed_demo


async def test_the_demo_connection_waits_for_its_secret(session: AsyncSession) -> None:
    await seed_demo(session)

    (connection,) = (await session.scalars(select(Connection))).all()
    assert (connection.provider, connection.status, connection.secrets) == (
        "stripe",
        "needs_reconnect",
        None,
    )
    assert connection.last_error == "Paste the signing secret to start."
    outcomes = (await session.scalars(select(ConnectionEvent.outcome))).all()
    assert sorted(outcomes) == ["ignored", "unmatched"]
    (sale,) = (await session.scalars(select(Sale))).all()
    assert (sale.email, sale.lead_id) == ("buyer@example.com", None)
