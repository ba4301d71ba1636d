"""The shop's sales: recorded once per provider event, erased with the person.

A sale keeps the buyer's address normalised as leads store it (not a hash): erasure by address
then finds every row with no key involved, whatever `LEADLINK_SECRET_KEY` was when it was
written, and the report counts distinct buyers. Nothing else about the buyer is kept.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection, Sale, connection_handles
from app.handles.visibility import Sight

__all__ = ["forget_buyer", "record_sale", "sales_of_buyer"]


async def record_sale(
    session: AsyncSession,
    connection: Connection,
    *,
    event_id: str,
    email: str,
    amount: Decimal,
    currency: str,
    lead_id: int | None,
    occurred_at: datetime,
) -> Sale:
    sale = Sale(
        connection_id=connection.id,
        provider=connection.provider,
        provider_event_id=event_id[:200],
        email=email,
        amount=amount,
        currency=currency,
        lead_id=lead_id,
        occurred_at=occurred_at,
    )
    session.add(sale)
    await session.flush()
    return sale


def _connection_in_sight(sight: Sight) -> ColumnElement[bool]:
    """Sales of connections all of whose handles the caller sees (an every-handle connection
    only for a caller who sees every handle)."""
    outside = exists().where(
        connection_handles.c.connection_id == Sale.connection_id,
        connection_handles.c.handle_id.not_in(list(sight or ())),
    )
    any_handle = exists().where(connection_handles.c.connection_id == Sale.connection_id)
    return Sale.connection_id.in_(select(Connection.id).where(any_handle, ~outside))


def _of_buyer(
    email: str | None, lead_ids: Collection[int], sight: Sight
) -> ColumnElement[bool] | None:
    """A person's sales: those that made one of `lead_ids` a customer, and those with this
    address on connections in sight (None: nothing to look for)."""
    conditions: list[ColumnElement[bool]] = []
    if lead_ids:
        conditions.append(Sale.lead_id.in_(list(lead_ids)))
    if email:
        by_address = Sale.email == email
        conditions.append(by_address if sight is None else by_address & _connection_in_sight(sight))
    return or_(*conditions) if conditions else None


async def sales_of_buyer(
    session: AsyncSession, *, email: str, lead_ids: Collection[int], sight: Sight
) -> list[Sale]:
    """A person's sales, oldest first (for the data subject's export)."""
    condition = _of_buyer(email, lead_ids, sight)
    if condition is None:
        return []
    return list(await session.scalars(select(Sale).where(condition).order_by(Sale.id)))


async def forget_buyer(
    session: AsyncSession, *, email: str | None, lead_ids: Collection[int], sight: Sight
) -> int:
    """Delete a person's sales (see `_of_buyer`); how many rows went."""
    condition = _of_buyer(email, lead_ids, sight)
    if condition is None:
        return 0
    result = await session.execute(
        delete(Sale).where(condition).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
