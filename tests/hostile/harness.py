"""Sending one hostile case (tests/hostile/cases.py) to the world and judging what came of it:
the exact status, the tables that changed (exactly those the case allows, usually none), the
field a 422 names, the `Location` (exactly the expected one, or none), no payload echoed raw, no
header a payload smuggled in, and no error, traceback or split line in the log."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.factories import bearer
from tests.hostile.cases import ANONYMOUS, OWNER, OWNER_NO_CSRF, Case
from tests.hostile.world import World, changed_tables, problems_in_log

__all__ = ["INJECTED_MARK", "check_answer", "fill", "run_case", "send"]

INJECTED_MARK = "injected"
"""Every header-injection payload names a header or cookie containing this word: no response
header may contain it."""


def fill(world: World, value: Any) -> Any:
    """`value` with every `{name}` placeholder of the world filled in, at any depth."""
    if isinstance(value, str):
        return world.fill(value.replace("{attribution}", world.attribution()))
    if isinstance(value, bytes):
        return fill(world, value.decode("latin-1")).encode("latin-1")
    if isinstance(value, dict):
        return {fill(world, key): fill(world, item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(fill(world, item) for item in value)
    return value


def _caller_headers(world: World, caller: str) -> dict[str, str]:
    if caller in {OWNER, OWNER_NO_CSRF}:
        return world.admin_headers()
    if caller.startswith("key:"):
        return bearer(world.keys[caller.removeprefix("key:")])
    assert caller == ANONYMOUS, caller
    return {}


async def send(world: World, case: Case) -> httpx.Response:
    """The case's request, as its caller sends it (an owner's form carries its CSRF token)."""
    headers = _caller_headers(world, case.caller)
    headers.update(fill(world, dict(case.headers)))
    form = list(fill(world, case.form)) if case.form is not None else None
    if case.caller == OWNER and case.method == "POST":
        form = [*(form or []), ("csrf_token", world.csrf_token())]
    content: bytes | None = fill(world, case.content)
    if form is not None:
        content = urlencode(form).encode("ascii")
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
    elif case.json is not None:
        content = json.dumps(fill(world, case.json)).encode("utf-8")
        headers.setdefault("content-type", "application/json")
    if case.content_type is not None:
        headers["content-type"] = case.content_type
    return await world.client.request(
        case.method, fill(world, case.path), content=content, headers=headers
    )


def _named_fields(response: httpx.Response) -> set[str]:
    """The fields a 422 names: problem JSON's `errors`, or the HTML form's error paragraphs."""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        return {str(error["field"]) for error in response.json().get("errors", [])}
    return set(re.findall(r'id="(?:f-)?([A-Za-z0-9_.]+)-error"', response.text))


def check_answer(world: World, case: Case, response: httpx.Response) -> list[str]:
    """What is wrong with the answer to `case` (nothing, when it is as the case says)."""
    problems = []
    if response.status_code != case.status:
        problems.append(f"status {response.status_code}, expected {case.status}")
    location = response.headers.get("location")
    expected_location = fill(world, case.location) if case.location is not None else None
    if location != expected_location:
        problems.append(f"Location {location!r}, expected {expected_location!r}")
    if case.field is not None and case.field not in _named_fields(response):
        problems.append(
            f"the answer does not name {case.field!r}: {sorted(_named_fields(response))}"
        )
    text = response.text
    for hidden in case.hidden:
        if fill(world, hidden) in text:
            problems.append(f"the answer contains {hidden[:60]!r}")
    for name, value in response.headers.multi_items():
        if "\r" in value or "\n" in value or INJECTED_MARK in f"{name}: {value}".lower():
            problems.append(f"smuggled header {name}: {value[:80]!r}")
    if response.status_code >= 500:
        problems.append(f"server error: {text[:300]}")
    return problems


async def run_case(world: World, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    """Send `case` inside a savepoint rolled back afterwards; fail with every problem found."""
    caplog.set_level(logging.INFO)
    savepoint = await world.connection.begin_nested()
    try:
        world.client.cookies.clear()  # each case sends exactly the cookies it names
        response = await send(world, case)
        after = await world.snapshot()
    finally:
        await savepoint.rollback()
        world.forget_caches()
    problems = check_answer(world, case, response)
    changed = changed_tables(world.baseline, after)
    if set(changed) != set(case.changes):
        problems.append(f"tables changed: {changed or 'none'}; expected {sorted(case.changes)}")
    problems += problems_in_log(caplog.records)
    assert not problems, f"{case.id}: " + "; ".join(problems)
