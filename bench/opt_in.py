"""The opt-in scenario: distinct emails posted to the demo page, and the check that every 303
wrk counted is a committed lead.

The form needs a genuine signed field at least 2 s old (younger is a bot), so the setup opens the
page once, waits, and hands the field to wrk's Lua through an environment variable. The rate
limits are raised for the bench server only (`LEADLINK_OPTIN_RATE_PER_*`, see `bench.run`); the
request path is the same as in production.

The server runs as `compose.yaml`'s `web` service does, with the outbox worker in a process of
its own (`LEADLINK_OUTBOX_IN_PROCESS=false`), which the bench does not start: the confirmation
emails stay queued, and the check counts them (one per new lead, committed with it).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["BENCH_RATE_LIMITS", "LUA", "OptInCheck"]

TOKEN_ENV = "LEADLINK_BENCH_FORM_TOKEN"  # noqa: S105 - a variable name, not a secret
FORM_FIELD = re.compile(r'name="a" value="([^"]+)"')
# Raised so that one client posting thousands of emails a second is not answered with 429.
BENCH_RATE_LIMITS = {
    "LEADLINK_OPTIN_RATE_PER_IP": "100000000/minute",
    "LEADLINK_OPTIN_RATE_PER_EMAIL": "100000000/hour",
}
# The web process of a production deployment: delivery is `leadlink worker`'s job.
BENCH_OUTBOX = {"LEADLINK_OUTBOX_IN_PROCESS": "false"}
IN_FLIGHT_SLACK_PER_RUN = 64
LUA = f"""
local token = os.getenv("{TOKEN_ENV}")
local headers = {{["Content-Type"] = "application/x-www-form-urlencoded"}}
local n = 0
request = function()
  n = n + 1
  local body = "a=" .. token .. "&email=bench-" .. bench_run .. "-" .. n .. "%40example.com"
  return wrk.format("POST", nil, headers, body)
end
"""


async def _count_leads_and_emails(database_url: str) -> tuple[int, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            # One statement, so one snapshot: requests wrk abandoned may still be committing.
            counts = await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM leads), "
                    "(SELECT count(*) FROM outbox WHERE kind = 'email')"
                )
            )
            leads, emails = counts.one()
            return int(leads), int(emails)
    finally:
        await engine.dispose()


class OptInCheck:
    def __init__(self) -> None:
        self.before = (0, 0)

    def setup(self, base_url: str, database_url: str | None) -> None:
        page = httpx.get(base_url + "/@demo", headers={"User-Agent": "Mozilla/5.0 (bench)"})
        found = FORM_FIELD.search(page.text)
        if found is None:
            raise RuntimeError("the demo page has no opt-in form")
        os.environ[TOKEN_ENV] = found.group(1)
        time.sleep(2.1)  # the field must be older than 2 s, as when a person fills the form
        self.before = asyncio.run(_count_leads_and_emails(database_url)) if database_url else (0, 0)

    def check(self, database_url: str | None, responses: int) -> str | None:
        if database_url is None:
            return None
        leads, emails = asyncio.run(_count_leads_and_emails(database_url))
        written, queued = leads - self.before[0], emails - self.before[1]
        extra = written - responses
        print(
            f"  check opt-in POST: {responses:,} responses counted by wrk, {written:,} leads "
            f"committed ({extra:+,} answered after wrk stopped counting), {queued:,} "
            "confirmation emails queued",
            file=sys.stderr,
        )
        if not 0 <= extra <= 2 * IN_FLIGHT_SLACK_PER_RUN:
            return f"{written} leads for {responses} responses"
        if queued != written:
            return f"{queued} confirmation emails queued for {written} new leads"
        return None
