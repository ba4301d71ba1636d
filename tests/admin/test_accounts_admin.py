"""`/admin/accounts` and `/admin/account`: an admin invites an owner (a one-time link, shown
once and emailed through the outbox), the invitee sets a password and is signed in limited to
the granted handles, the link then fails; roles and handles are changed, the last admin is
kept; everyone changes their own password and stays signed in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.sessions import SESSION_COOKIE
from app.delivery.models import OutboxMessage
from app.models import User
from app.users import service as users
from app.users.exceptions import LastAdmin
from app.users.models import Role
from tests.admin.admin_helpers import assert_only_static_scripts, csrf_from, sign_in
from tests.factories import OWNER_EMAIL, OWNER_PASSWORD, World, build_world

INVITEE = "new.owner@owners.example"
LINK = re.compile(r'<code id="invitation-link">https?://[^/<]+(/admin/invite/[^<]+)</code>')
NEW_PASSWORD = "a brand new long password"


@pytest.fixture
async def world(session: AsyncSession, owner: User) -> World:
    return await build_world(session)


@pytest.fixture
async def stranger(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser, with cookies of its own."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        yield other


async def _accounts(session: AsyncSession) -> int:
    session.expire_all()
    return await session.scalar(select(func.count()).select_from(User)) or 0


async def _post(client: httpx.AsyncClient, path: str, **data: Any) -> httpx.Response:
    token = csrf_from((await client.get("/admin/account")).text)
    return await client.post(path, data={**data, "csrf_token": token})


async def _invite(client: httpx.AsyncClient, **data: Any) -> str:
    invited = await _post(client, "/admin/accounts", **data)
    assert invited.status_code == 200, invited.text
    assert invited.headers["cache-control"] == "no-store"
    assert 'data-copy="#invitation-link"' in invited.text
    match = LINK.search(invited.text)
    assert match, invited.text
    return match.group(1)


async def test_an_invited_owner_sets_a_password_and_sees_only_the_granted_handles(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client)
    form = await client.get("/admin/accounts/new")
    assert form.status_code == 200
    assert 'name="handles" value="anna"' in form.text
    link = await _invite(client, email=INVITEE, role="owner", handles=["anna"])

    session.expire_all()
    [message] = (await session.scalars(select(OutboxMessage))).all()
    assert message.payload["to"] == INVITEE
    assert link in message.payload["text"]
    assert message.payload["template"] == "invite"
    listing = (await client.get("/admin/accounts")).text
    assert INVITEE in listing
    assert "invited, not yet" in listing
    assert link not in listing

    page = await stranger.get(link)
    assert page.status_code == 200
    assert INVITEE in page.text
    assert_only_static_scripts(page.text)
    token = csrf_from(page.text)
    short = await stranger.post(
        link, data={"password": "short", "confirm": "short", "csrf_token": token}
    )
    assert short.status_code == 422
    assert "at least 10 characters" in short.text
    differ = await stranger.post(
        link, data={"password": NEW_PASSWORD, "confirm": "something else", "csrf_token": token}
    )
    assert differ.status_code == 422
    accepted = await stranger.post(
        link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": token}
    )
    assert accepted.status_code == 303
    assert SESSION_COOKIE in accepted.headers["set-cookie"]

    report = await stranger.get("/admin/report")
    assert report.status_code == 200
    assert "@anna" in report.text
    assert "@bob" not in report.text
    assert (await stranger.get("/admin/accounts")).status_code == 404

    assert (await stranger.get(link)).status_code == 404
    assert (await client.get(link)).status_code == 404
    await stranger.post("/admin/logout", data={"csrf_token": csrf_from(report.text)})
    assert (await sign_in(stranger, INVITEE, NEW_PASSWORD)).status_code == 303


async def test_a_forged_or_renewed_invitation_link_does_not_work(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    assert (await stranger.get("/admin/invite/not-a-token")).status_code == 404
    await sign_in(client)
    old = await _invite(client, email=INVITEE, role="admin")
    invited = await users.get_user_by_email(session, INVITEE)
    renewed = await _post(client, f"/admin/accounts/{invited.id}/invitation")
    assert renewed.status_code == 200
    new = LINK.search(renewed.text)
    assert new
    assert new.group(1) != old
    assert (await stranger.get(old)).status_code == 404
    assert (await stranger.get(new.group(1))).status_code == 200


async def test_bad_invitations_are_shown_with_422_and_save_nothing(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in(client)
    before = await _accounts(session)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"email": "not an address", "role": "owner", "handles": ["anna"]}, "email"),
        ({"email": INVITEE, "role": "owner"}, "handles"),
        ({"email": INVITEE, "role": "king"}, "role"),
        ({"email": OWNER_EMAIL, "role": "admin"}, "email"),
    ]
    for data, field in cases:
        response = await _post(client, "/admin/accounts", **data)
        assert response.status_code == 422, data
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', response.text), data
    assert await _accounts(session) == before


async def test_roles_and_handles_change_and_the_last_admin_stays(
    client: httpx.AsyncClient, session: AsyncSession, world: World, owner: User
) -> None:
    bob_id, owner_id = world.bob.id, owner.id
    other = await users.create_user(
        session, INVITEE, NEW_PASSWORD, role=Role.OWNER, handle_ids=[world.anna.id]
    )
    await session.commit()
    other_id = other.id
    await sign_in(client)
    edit = await client.get(f"/admin/accounts/{other_id}")
    assert edit.status_code == 200
    saved = await _post(client, f"/admin/accounts/{other_id}", role="owner", handles=["bob"])
    assert saved.status_code == 303
    session.expire_all()
    changed = await users.get_user(session, other_id)
    assert changed is not None
    assert await users.sight_of(session, changed) == frozenset({bob_id})

    demote_self = await _post(client, f"/admin/accounts/{owner_id}", role="owner", handles=["anna"])
    assert demote_self.status_code == 422
    assert "last admin" in demote_self.text
    refused = await _post(client, f"/admin/accounts/{owner_id}/delete")
    assert refused.status_code == 303
    assert "cannot remove your own account" in (await client.get(refused.headers["location"])).text

    assert (await _post(client, f"/admin/accounts/{other_id}", role="admin")).status_code == 303
    # With a second admin, the first may become an owner; the second is then the last one.
    assert (
        await _post(client, f"/admin/accounts/{owner_id}", role="owner", handles=["anna"])
    ).status_code == 303
    assert (await client.get("/admin/accounts")).status_code == 404


async def test_an_owner_is_removed_and_the_last_admin_never_is(
    client: httpx.AsyncClient, session: AsyncSession, world: World, owner: User
) -> None:
    other = await users.create_user(
        session, INVITEE, NEW_PASSWORD, role=Role.OWNER, handle_ids=[world.anna.id]
    )
    await session.commit()
    await sign_in(client)
    removed = await _post(client, f"/admin/accounts/{other.id}/delete")
    assert removed.status_code == 303
    assert "Removed the account" in (await client.get("/admin/accounts")).text
    session.expire_all()
    assert (await session.scalars(select(User.email))).all() == [OWNER_EMAIL]
    # No route removes the last admin; neither does the service, whoever asks.
    third = await users.create_user(session, "third@owners.example", NEW_PASSWORD, role=Role.OWNER)
    admin = await users.get_user_by_email(session, OWNER_EMAIL)
    with pytest.raises(LastAdmin):
        await users.remove_user(session, admin, by=third)


async def test_a_password_change_ends_other_sessions_and_keeps_this_one(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient, owner: User
) -> None:
    await sign_in(client)
    await sign_in(stranger)
    page = await client.get("/admin/account")
    assert page.status_code == 200
    assert OWNER_EMAIL in page.text
    assert "ends <strong>every</strong> session" in page.text

    wrong = await _post(
        client,
        "/admin/account/password",
        current="nope",
        password=NEW_PASSWORD,
        confirm=NEW_PASSWORD,
    )
    assert wrong.status_code == 422
    assert re.search(r'id="f-current"[^>]*aria-invalid="true"', wrong.text)
    differ = await _post(
        client,
        "/admin/account/password",
        current=OWNER_PASSWORD,
        password=NEW_PASSWORD,
        confirm="x",
    )
    assert differ.status_code == 422
    weak = await _post(
        client, "/admin/account/password", current=OWNER_PASSWORD, password="short", confirm="short"
    )
    assert weak.status_code == 422
    assert re.search(r'id="f-password"[^>]*aria-invalid="true"', weak.text)

    changed = await _post(
        client,
        "/admin/account/password",
        current=OWNER_PASSWORD,
        password=NEW_PASSWORD,
        confirm=NEW_PASSWORD,
    )
    assert changed.status_code == 303
    after = await client.get("/admin/account")
    assert after.status_code == 200
    assert "Password changed" in after.text
    assert (await stranger.get("/admin/account")).status_code == 303
    assert (await sign_in(stranger, OWNER_EMAIL, OWNER_PASSWORD)).status_code == 401
    assert (await sign_in(stranger, OWNER_EMAIL, NEW_PASSWORD)).status_code == 303
