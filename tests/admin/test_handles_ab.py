"""A handle's A/B results in the admin (from the variants report), "make this the winner", the
warning that editing a running test resets comparability, and owners kept to their handles."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.links import service as links
from app.links.models import Route
from app.links.visits import write_visits
from app.pages.models import Page
from app.users import service as users
from app.users.models import Role, User
from tests.admin.admin_helpers import csrf_from, sign_in
from tests.factories import add_handle, add_page, insert_lead, make_visit

PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
RESETS = "resets comparability"


async def seed_test(session: AsyncSession) -> tuple[Handle, Route, Route]:
    """@anna's instagram visitors split 50/50 between pages a and b, with a week of results:
    a 200 visits and 10 leads, b 200 visits and 30 leads."""
    anna = await add_handle(session, "anna")
    page_a = await add_page(session, anna, "page-a", headline="Get gift A")
    page_b = await add_page(session, anna, "page-b", headline="Get gift B")
    anna.default_page_id = page_a.id
    route_a = await links.add_route(session, anna, source="instagram", page_slug="page-a",
                                    weight=50, variant="a")  # fmt: skip
    route_b = await links.add_route(session, anna, source="instagram", page_slug="page-b",
                                    weight=50, variant="b")  # fmt: skip
    at = datetime.now(UTC) - timedelta(days=2)
    for route, page, visits, leads in ((route_a, page_a, 200, 10), (route_b, page_b, 200, 30)):
        await write_visits(
            session,
            [
                make_visit(
                    anna.id, page.id, at, ZoneInfo("UTC"), route_id=route.id, variant=route.variant
                )
                for _ in range(visits)
            ],
        )
        for _ in range(leads):
            await insert_lead(session, page, at, route_id=route.id, variant=route.variant)
    await session.commit()
    return anna, route_a, route_b


async def weights(session: AsyncSession, handle_id: int) -> dict[str, int]:
    query = select(Route.variant, Route.weight).where(Route.handle_id == handle_id)
    rows = (await session.execute(query.execution_options(populate_existing=True))).all()
    return {row.variant: row.weight for row in rows}


def results_table(html: str) -> str:
    section = html.split('id="ab-results"', 1)[1]
    table = re.search(r"<table.*?</table>", section, re.DOTALL)
    assert table
    return table.group(0)


async def test_the_results_show_visits_leads_rates_and_the_chance_to_be_best(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    await seed_test(session)
    await sign_in(client)
    html = (await client.get("/admin/handles/anna")).text
    table = results_table(html)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)[1:]
    cells = [re.findall(r'data-label="([^"]+)"[^>]*>(.*?)</t[hd]>', row, re.DOTALL) for row in rows]
    a, b = (dict(row) for row in cells)
    assert a["Variant"].startswith("a")
    assert (a["Visits"], a["Leads"], a["Rate"]) == ("200", "10", "5.0%")
    assert (b["Visits"], b["Leads"], b["Rate"]) == ("200", "30", "15.0%")
    assert re.fullmatch(r"\d+\.\d+% to \d+\.\d+%", b["95 % interval"])
    assert float(b["Chance best"].rstrip("%")) > 99
    assert float(a["Chance best"].rstrip("%")) < 1
    assert "Make b the winner" in b["Action"]
    # The test has data and two live variants: the page warns before it is edited.
    assert "A/B test running for instagram" in html
    assert RESETS in html


async def test_changing_a_running_test_warns_in_the_flash(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    anna, route_a, _route_b = await seed_test(session)
    anna_id = anna.id
    await sign_in(client)
    token = csrf_from((await client.get("/admin/handles/anna")).text)
    response = await client.post(
        f"/admin/handles/anna/routes/{route_a.id}", data={"csrf_token": token, "weight": "20"}
    )
    assert response.status_code == 303
    page = (await client.get("/admin/handles/anna")).text
    flash = re.search(r'<p class="flash" role="status">(.*?)</p>', page)
    assert flash
    assert "The weight of a is now 20." in flash.group(1)
    assert RESETS in flash.group(1)
    assert await weights(session, anna_id) == {"a": 20, "b": 50}

    # A rule for another source is no change to the test: no warning.
    await client.post(
        "/admin/handles/anna/routes",
        data={"csrf_token": token, "source": "tiktok", "page": "page-b"},
    )
    page = (await client.get("/admin/handles/anna")).text
    flash = re.search(r'<p class="flash" role="status">(.*?)</p>', page)
    assert flash
    assert RESETS not in flash.group(1)


async def test_make_the_winner_pauses_the_others_and_keeps_their_results(
    client: httpx.AsyncClient, session: AsyncSession, owner: User
) -> None:
    anna, _route_a, route_b = await seed_test(session)
    anna_id = anna.id
    await sign_in(client)
    token = csrf_from((await client.get("/admin/handles/anna")).text)
    response = await client.post(
        f"/admin/handles/anna/routes/{route_b.id}/winner", data={"csrf_token": token}
    )
    assert response.status_code == 303
    assert await weights(session, anna_id) == {"a": 0, "b": 100}
    agents = [f"{PHONE} visitor/{index}" for index in range(20)]
    served = [
        (await client.get("/@anna/ig", headers={"User-Agent": agent})).text for agent in agents
    ]
    assert all("Get gift B" in html for html in served)

    html = (await client.get("/admin/handles/anna")).text
    assert "now gets every visitor from instagram" in html
    table = results_table(html)
    assert "paused" in table
    assert '<span class="badge ok">winner</span>' in table
    assert "Make a the winner" not in table
    assert "A/B test running" not in html  # one live variant: nothing left to compare


async def test_an_owner_sees_only_their_handles_and_gets_404_for_the_others(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    anna = await add_handle(session, "anna")
    bob = await add_handle(session, "bob")
    bob_page: Page = await add_page(session, bob, "bob-guide")
    bob_route = await links.add_route(session, bob, source="tiktok", page_slug="bob-guide")
    bob_id, route_id = bob.id, bob_route.id
    await users.create_user(
        session, "anna@owners.example", "anna's long password", role=Role.OWNER,
        handle_ids=[anna.id],
    )  # fmt: skip
    assert bob_page.id
    await session.commit()
    await sign_in(client, "anna@owners.example", "anna's long password")
    dashboard = (await client.get("/admin")).text
    assert "@anna" in dashboard
    assert "@bob" not in dashboard
    listing = (await client.get("/admin/handles")).text
    assert "@anna" in listing
    assert "@bob" not in listing
    assert "Create a handle" not in listing
    token = csrf_from(listing)

    for path in (
        "/admin/handles/bob",
        "/admin/handles/bob/qr.svg",
        "/admin/handles/bob/qr.png?source=tiktok",
        "/admin/handles/nobody",
    ):
        assert (await client.get(path)).status_code == 404, path
    for path, data in (
        ("/admin/handles/bob/routes", {"source": "tiktok", "page": "bob-guide"}),
        (f"/admin/handles/bob/routes/{route_id}", {"weight": "7"}),
        (f"/admin/handles/bob/routes/{route_id}/winner", {}),
        (f"/admin/handles/bob/routes/{route_id}/delete", {}),
        (f"/admin/handles/anna/routes/{route_id}/delete", {}),  # bob's rule via anna's handle
        ("/admin/handles/bob/default-page", {"page": "bob-guide"}),
        ("/admin/handles", {"name": "carol"}),  # only an admin creates handles
    ):
        response = await client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 404, path
    assert await weights(session, bob_id) == {"bob-guide": 1}
    assert (await session.scalar(select(Handle).where(Handle.name == "carol"))) is None
    assert (await client.get("/admin/handles/anna/qr.svg")).status_code == 200
