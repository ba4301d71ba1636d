"""Fixtures of the shop tests: the world of two handles (anna's lead fan@example.com, bob's
other@example.com) and connections made by the service, as the admin makes them."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World, build_world


@pytest.fixture
async def world(session: AsyncSession) -> World:
    world = await build_world(session)
    # Detached with their values loaded: tests expire the session to read what requests wrote.
    for thing in (world.anna, world.bob, world.anna_page, world.bob_page):
        session.expunge(thing)
    for lead in (world.anna_lead, world.bob_lead):
        session.expunge(lead)
    return world
