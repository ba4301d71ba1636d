"""What the shop leaves in the database: erasure takes the person's sales with it, secrets are
stored encrypted (the raw column never holds them), and a changed secret key keeps them
readable through LEADLINK_PREVIOUS_SECRET_KEYS until `leadlink connections rotate-key`
re-encrypts them."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.config import Settings
from app.connections import service as connections
from app.connections.crypto import ConnectionCipher, SecretsUnreadable, cipher_for
from app.connections.models import Connection, ConnectionEvent, Sale
from app.db import Database
from app.leads import privacy
from tests.apps import build_app
from tests.cli_runner import invoke_leadlink
from tests.databases import TEST_SECRET
from tests.factories import World, bearer
from tests.shop.shop_helpers import (
    STRIPE_SECRET,
    add_connection,
    checkout_event,
    post_gumroad,
    post_stripe,
)

NEW_KEY = "a-new-secret-key-" + "n" * 40


async def _sales(session: AsyncSession) -> list[tuple[str, int | None]]:
    session.expire_all()
    return [(s.email, s.lead_id) for s in await session.scalars(select(Sale).order_by(Sale.id))]


async def test_erasing_a_person_deletes_their_sales_matched_or_not(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, _ = await add_connection(
        session, "stripe", handles=frozenset({world.anna.id}), secret=STRIPE_SECRET
    )
    await post_stripe(client, connection, checkout_event("evt_1", "fan@example.com", 4900))
    await post_stripe(client, connection, checkout_event("evt_2", "stranger@example.com", 100))
    await post_stripe(client, connection, checkout_event("evt_3", "keep@example.com", 100))
    assert len(await _sales(session)) == 3

    for address in ("fan@example.com", "stranger@example.com"):
        response = await client.post(
            "/api/v1/erasures", json={"email": address}, headers=bearer(world.keys["rw"])
        )
        assert response.status_code == 200, response.text

    assert await _sales(session) == [("keep@example.com", None)]
    # The log keeps the event ids (no address), so a late retry is still recognised.
    replay = await post_stripe(client, connection, checkout_event("evt_1", "fan@example.com", 4900))
    assert replay.json()["outcome"] == "duplicate"
    assert await _sales(session) == [("keep@example.com", None)]
    events = (await session.scalars(select(ConnectionEvent.provider_event_id))).all()
    assert sorted(events) == ["evt_1", "evt_2", "evt_3"]


async def test_the_persons_export_lists_their_sales(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    lead_id = world.anna_lead.id
    connection, _ = await add_connection(
        session, "stripe", handles=frozenset({world.anna.id}), secret=STRIPE_SECRET
    )
    await post_stripe(client, connection, checkout_event("evt_1", "fan@example.com", 4900))

    export = await client.get(
        "/api/v1/leads/export",
        params={"email": "fan@example.com"},
        headers=bearer(world.keys["read"]),
    )

    assert export.status_code == 200, export.text
    (sale,) = export.json()["sales"]
    assert (sale["provider"], sale["amount"], sale["currency"], sale["lead_id"]) == (
        "stripe",
        "49.00",
        "EUR",
        str(lead_id),
    )


async def test_erasing_one_lead_deletes_the_sales_that_made_it_a_customer(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, _ = await add_connection(
        session, "stripe", handles=frozenset({world.anna.id}), secret=STRIPE_SECRET
    )
    await post_stripe(client, connection, checkout_event("evt_1", "fan@example.com", 4900))

    await privacy.erase_lead(session, world.anna_lead.id, visible=None)
    await session.commit()

    assert await _sales(session) == []


async def test_a_key_of_another_handle_does_not_erase_sales_of_this_ones_connection(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, _ = await add_connection(
        session, "stripe", handles=frozenset({world.bob.id}), secret=STRIPE_SECRET
    )
    await post_stripe(client, connection, checkout_event("evt_1", "stranger@example.com", 100))

    response = await client.post(
        "/api/v1/erasures",
        json={"email": "stranger@example.com"},
        headers=bearer(world.keys["anna_rw"]),
    )

    assert response.status_code == 200
    assert await _sales(session) == [("stranger@example.com", None)]


async def test_secrets_are_stored_encrypted(session: AsyncSession, world: World) -> None:
    stripe, _ = await add_connection(
        session, "stripe", handles=frozenset({world.anna.id}), secret=STRIPE_SECRET
    )
    gumroad, key = await add_connection(session, "gumroad", handles=frozenset({world.anna.id}))
    assert key is not None

    rows = (await session.execute(text("SELECT secrets, secret_hint FROM connections"))).all()

    stored = " ".join(f"{secrets} {hint}" for secrets, hint in rows)
    assert STRIPE_SECRET not in stored
    assert key not in stored
    assert STRIPE_SECRET[6:20] not in stored
    assert stripe.secret_hint == "whsec_…" + STRIPE_SECRET[-4:]
    cipher = cipher_for(TEST_SECRET)
    assert cipher.decrypt(stripe.secrets or "") == {"signing_secret": STRIPE_SECRET}
    assert cipher.decrypt(gumroad.secrets or "") == {"url_key": key}
    with pytest.raises(SecretsUnreadable):
        cipher_for(NEW_KEY).decrypt(stripe.secrets or "")


def test_the_cipher_reads_previous_keys_and_rotates_to_the_current_one() -> None:
    old = ConnectionCipher(TEST_SECRET)
    token = old.encrypt({"signing_secret": STRIPE_SECRET})
    both = ConnectionCipher(NEW_KEY, [TEST_SECRET])

    assert both.decrypt(token) == {"signing_secret": STRIPE_SECRET}
    assert not both.is_current(token)
    rotated = both.rotate(token)
    assert both.is_current(rotated)
    assert ConnectionCipher(NEW_KEY).decrypt(rotated) == {"signing_secret": STRIPE_SECRET}
    with pytest.raises(SecretsUnreadable):
        old.decrypt(rotated)


@asynccontextmanager
async def _client_with(
    settings: Settings, connection: AsyncConnection, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with some settings changed (here: the secret keys)."""
    app = build_app(
        settings.model_copy(update=changes), database=Database(connection, owns_engine=False)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_after_a_key_change_hooks_work_through_the_previous_key_and_rotate_key(
    settings: Settings, connection: AsyncConnection, session: AsyncSession, world: World
) -> None:
    stripe, _ = await add_connection(
        session, "stripe", handles=frozenset({world.anna.id}), secret=STRIPE_SECRET
    )
    body = checkout_event("evt_1", "fan@example.com", 4900)
    new_key = SecretStr(NEW_KEY)

    # The new key alone reads nothing: the connection needs its secret again (503, retried).
    async with _client_with(settings, connection, secret_key=new_key) as client:
        assert (await post_stripe(client, stripe, body)).status_code == 503
    stored = await session.get(Connection, stripe.id)
    assert stored is not None
    assert stored.status == "needs_reconnect"
    # With the old key kept as a previous one, the stored secret is read again.
    previous = [SecretStr(TEST_SECRET)]
    async with _client_with(
        settings, connection, secret_key=new_key, previous_secret_keys=previous
    ) as client:
        answer = await post_stripe(client, stripe, body)
        assert answer.json()["outcome"] == "customer"
    session.expire_all()
    stored = await session.get(Connection, stripe.id)
    assert stored is not None
    assert (stored.status, stored.last_error) == ("active", None)  # the secret worked again

    result = await connections.rotate_key(session, ConnectionCipher(NEW_KEY, [TEST_SECRET]))
    await session.commit()

    assert (result.rotated, result.current, result.unreadable) == (1, 0, 0)
    session.expire_all()
    stored = await session.get(Connection, stripe.id)
    assert stored is not None
    assert ConnectionCipher(NEW_KEY).decrypt(stored.secrets or "") == {
        "signing_secret": STRIPE_SECRET
    }


def test_rotate_key_command_re_encrypts_under_the_new_key(tmp_path: Path) -> None:
    """The command, on an instance's own SQLite file (the database fixtures are not needed)."""
    env = {
        "LEADLINK_DATA_DIR": str(tmp_path),
        "LEADLINK_SECRET_KEY": TEST_SECRET,
        "LEADLINK_ENV": "test",
    }
    assert invoke_leadlink("migrate", env=env).exit_code == 0
    token = ConnectionCipher(TEST_SECRET).encrypt({"signing_secret": STRIPE_SECRET})
    with sqlite3.connect(tmp_path / "leadlink.db") as db:
        db.execute(
            "INSERT INTO connections (public_id, provider, label, status, secrets, settings,"
            " created_at, updated_at) VALUES ('p1', 'stripe', 'shop', 'active', ?, '{}',"
            " '2026-12-06 00:00:00', '2026-12-06 00:00:00')",
            (token,),
        )
    listed = invoke_leadlink("connections", "list", env=env)
    assert listed.exit_code == 0
    assert "stripe" in listed.output
    assert STRIPE_SECRET not in listed.output

    rotated = invoke_leadlink(
        "connections",
        "rotate-key",
        env={**env, "LEADLINK_SECRET_KEY": NEW_KEY, "LEADLINK_PREVIOUS_SECRET_KEYS": TEST_SECRET},
    )

    assert rotated.exit_code == 0, rotated.output
    assert "Re-encrypted 1" in rotated.output
    with sqlite3.connect(tmp_path / "leadlink.db") as db:
        (stored,) = db.execute("SELECT secrets FROM connections").fetchone()
    assert ConnectionCipher(NEW_KEY).decrypt(stored) == {"signing_secret": STRIPE_SECRET}


async def test_a_gumroad_url_key_can_be_replaced_and_the_old_one_stops_working(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    connection, old_key = await add_connection(
        session, "gumroad", handles=frozenset({world.anna.id})
    )
    stored = await session.get(Connection, connection.id)
    assert stored is not None
    new_key = await connections.set_secret(session, stored, None, cipher_for(TEST_SECRET))
    await session.commit()
    assert new_key is not None
    assert new_key != old_key

    refused = await post_gumroad(client, connection, old_key, sale_id="s1")
    taken = await post_gumroad(client, connection, new_key, sale_id="s1")

    assert (refused.status_code, taken.json()["outcome"]) == (400, "customer")
    count = await session.scalar(select(func.count()).select_from(Sale))
    assert count == 1
