"""The demo shows what connections look like: a Stripe connection still waiting for its signing
secret (so nothing can post to it), with a sale to a buyer who is no lead and a non-sale; and a
YouTube channel and a Mailchimp audience waiting for their keys (nothing fetched or sent)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection, ConnectionEvent, Sale
from app.demo import seed_demo


async def test_the_demo_connection_waits_for_its_secret(session: AsyncSession) -> None:
    await seed_demo(session)

    stripe, youtube, mailchimp = (await session.scalars(select(Connection).order_by("id"))).all()
    waiting = [(c.provider, c.status, c.secrets) for c in (stripe, youtube, mailchimp)]
    assert waiting == [
        ("stripe", "needs_reconnect", None),
        ("youtube", "needs_reconnect", None),
        ("mailchimp", "needs_reconnect", None),
    ]
    assert stripe.last_error == "Paste the signing secret to start."
    assert youtube.last_error == "Paste the API key to start."
    assert youtube.next_poll_at is None  # never fetched before a key is pasted
    outcomes = (await session.scalars(select(ConnectionEvent.outcome))).all()
    assert sorted(outcomes) == ["ignored", "unmatched"]
    (sale,) = (await session.scalars(select(Sale))).all()
    assert (sale.email, sale.lead_id) == ("buyer@example.com", None)
