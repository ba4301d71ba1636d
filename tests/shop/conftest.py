"""Fixtures of the shop tests: the world of two handles (anna's lead fan@example.com, bob's
other@example.com) and connections made by the service, as the admin makes them."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World, build_detached_world


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await build_detached_world(session)
