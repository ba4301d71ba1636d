"""A platform connection's own actions on its page, `/admin/connections/{id}/…`: paste new
tokens (YouTube's API key; TikTok's client key, client secret and refresh token), and
**Fetch now**.

Fetch now makes the connection due at once and wakes the poller when it runs in this process
(LEADLINK_OUTBOX_IN_PROCESS=true); otherwise `leadlink worker` fetches it within a minute. The
page answers at once either way: a read of thousands of videos takes longer than a request
should.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.connections import platform_fields, show_page
from app.admin.dependencies import Owner, OwnerDep, SettingsDep
from app.admin.form_errors import errors_of
from app.admin.layout import owner_router, redirect_with_flash
from app.connections import service as connections
from app.connections.models import Connection
from app.db import SessionDep
from app.errors import NotFound, ValidationFailed
from app.platforms import setup as platforms
from app.platforms.poller import PlatformPoller

__all__ = ["router"]

router = owner_router("/connections")


def _page(connection_id: int) -> str:
    return f"/admin/connections/{connection_id}"


@router.post("/{connection_id}/credentials")
async def replace_credentials(
    connection_id: str,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
) -> Response:
    """New tokens for a platform (the old ones are replaced whole); fetched at once."""
    connection = await _platform(session, connection_id, owner, "This connection takes no tokens.")
    pasted = await platform_fields(request)
    try:
        secrets, _options = platforms.credentials_from_form(
            connection.provider, pasted, settings_too=False
        )
        await platforms.set_credentials(
            session, connection, secrets, connections.cipher_of(settings)
        )
    except ValidationFailed as exc:
        return await show_page(
            request, session, owner, settings, connection, errors=errors_of(exc, "form")
        )
    return await _fetching(request, session, connection, "The new tokens are saved; fetching now.")


@router.post("/{connection_id}/fetch")
async def fetch_now(
    connection_id: str,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
) -> Response:
    connection = await _platform(
        session, connection_id, owner, "Only a platform's numbers are fetched."
    )
    try:
        await platforms.fetch_now(session, connection)
    except ValidationFailed as exc:
        return await show_page(
            request, session, owner, settings, connection, errors=errors_of(exc, "fetch")
        )
    return await _fetching(
        request,
        session,
        connection,
        "Fetching now: the numbers appear here within a minute (reload the page).",
    )


async def _platform(
    session: AsyncSession, connection_id: str, owner: Owner, refusal: str
) -> Connection:
    """The owner's platform connection; another kind is a 404 saying `refusal`."""
    connection = await connections.get_connection(
        session, connections.parse_id(connection_id), owner.sight
    )
    if not platforms.is_platform(connection.provider):
        raise NotFound(refusal)
    return connection


async def _fetching(
    request: Request, session: AsyncSession, connection: Connection, message: str
) -> Response:
    """Commit the connection made due, wake the in-process poller (if running) so it looks at
    once instead of within a minute, and say `message` on the connection's page."""
    await session.commit()
    poller = getattr(request.app.state, "platform_poller", None)
    if isinstance(poller, PlatformPoller):
        poller.wake()
    return redirect_with_flash(request, _page(connection.id), message)
