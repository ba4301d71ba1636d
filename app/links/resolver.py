"""A short-lived in-process cache of what the one link serves: handle snapshots and published
pages by slug. Entries are fresh for `ttl` seconds (5 by default), so a change made by another
process (the CLI, another replica) shows within that time; a change made here invalidates at once.

Only the first request for a key waits for the database, and concurrent first requests share
that one load. After that, an expired entry is still served while one background task reloads
it, so a busy handle never makes visitors wait on the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.errors import NotFound
from app.links import service as links
from app.links.service import HandleSnapshot
from app.pages import service as pages
from app.pages.models import Page

__all__ = ["LinkResolver"]

T = TypeVar("T")
logger = logging.getLogger(__name__)
DEFAULT_TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000


class _TtlCache(Generic[T]):
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, T]] = {}
        self._loading: dict[str, asyncio.Task[T]] = {}
        # Bumped by `clear()`: a load that started before it may have read the old data.
        self._generation = 0

    async def get(self, key: str, load: Callable[[str], Awaitable[T]]) -> T:
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] <= time.monotonic() and key not in self._loading:
                self._start_load(key, load).add_done_callback(_ignore_failure)
            return entry[1]
        loading = self._loading.get(key) or self._start_load(key, load)
        return await asyncio.shield(loading)

    def _start_load(self, key: str, load: Callable[[str], Awaitable[T]]) -> asyncio.Task[T]:
        generation = self._generation

        async def run() -> T:
            try:
                value = await load(key)
            finally:
                if self._loading.get(key) is task:
                    del self._loading[key]
            if generation == self._generation:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()  # scanners' unknown names must not grow memory forever
                self._entries[key] = (time.monotonic() + self.ttl, value)
            return value

        task = asyncio.create_task(run())
        self._loading[key] = task
        return task

    def clear(self) -> None:
        """Forget every entry; loads already running finish for their callers but are not kept,
        and later requests do not join them.
        """
        self._generation += 1
        self._entries.clear()
        self._loading.clear()


def _ignore_failure(task: asyncio.Task[Any]) -> None:
    # A failed background refresh keeps serving the stale entry; the next request retries.
    if not task.cancelled() and task.exception() is not None:
        logger.warning("refreshing the link cache failed: %s", type(task.exception()).__name__)


class LinkResolver:
    def __init__(self, database: Database, *, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self.database = database
        self._handles: _TtlCache[HandleSnapshot | None] = _TtlCache(ttl)
        self._pages: _TtlCache[Page | None] = _TtlCache(ttl)

    async def handle(self, name: str) -> HandleSnapshot | None:
        return await self._handles.get(name, self._load_handle)

    async def page(self, slug: str) -> Page | None:
        return await self._pages.get(slug, self._load_page)

    async def _load_handle(self, name: str) -> HandleSnapshot | None:
        async with self.database.session(write=False) as session:
            return await links.load_handle_snapshot(session, name)

    async def _load_page(self, slug: str) -> Page | None:
        async with self.database.session(write=False) as session:
            try:
                return await pages.get_published_page(session, slug)
            except NotFound:
                return None

    def invalidate(self) -> None:
        self._handles.clear()
        self._pages.clear()

    def invalidate_after_commit(self, session: AsyncSession) -> None:
        """Forget every entry once `session` commits. Not before: a visitor's request between
        the change and its commit would load the old routing and keep it for `ttl` seconds.
        """
        event.listen(session.sync_session, "after_commit", self._on_commit, once=True)

    def _on_commit(self, _session: object) -> None:
        self.invalidate()
