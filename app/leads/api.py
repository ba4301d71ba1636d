"""`/api/v1/leads`: list (keyset pages), read, import, change and erase leads; export one
person's data and stream every lead as CSV or NDJSON; `/api/v1/erasures`: erase every lead of
one address. The rules live in `app.leads.service`, `app.leads.privacy` and
`app.leads.exports`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from app.api_keys.dependencies import LeadsReadKey, LeadsWriteKey
from app.config import Settings
from app.db import Database, SessionDep
from app.idempotency.dependencies import ApiResult, IdempotentWriteDep
from app.leads import exports, privacy, queries
from app.leads import service as leads
from app.leads.schemas import (
    ErasureCreate,
    ErasureRead,
    LeadCreate,
    LeadList,
    LeadRead,
    LeadStatusName,
    LeadUpdate,
    PersonExport,
    SourceName,
)
from app.leads.tokens import LeadLinks
from app.openapi import problem_responses
from app.pagination import CursorCodecDep, CursorQuery, LimitQuery, next_link

__all__ = ["router"]

# `/leads` and `/erasures` (erasure by address) share the tag: one router, full paths.
router = APIRouter(tags=["leads"])


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: object) -> object:
    # Only RFC 3339 with an offset: no Unix numbers, no local times of unknown zone.
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "rfc3339", "An RFC 3339 time with its offset, e.g. 2026-11-22T10:00:00Z."
        )
    return value


def _in_utc(value: datetime) -> datetime:
    # A time at the ends of the calendar with an offset (0001-01-01T00:00:00+14:00) has no UTC
    # equivalent Python can hold: refused by name rather than clamped, so a typo is noticed.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "utc_range",
            "This time is outside years 1 to 9999 once converted to UTC.",
        ) from None


UTCQuery = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]


async def _lead_filter(
    *,
    session: SessionDep,
    caller: LeadsReadKey,
    handle: Annotated[
        str | None,
        Query(min_length=1, max_length=31, description="A handle's name.", examples=["anna"]),
    ] = None,
    page: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="A page's slug.", examples=["free-guide"]),
    ] = None,
    source: Annotated[
        SourceName | None,
        Query(description="A canonical source.", examples=["instagram"]),
    ] = None,
    status: Annotated[LeadStatusName | None, Query(examples=["confirmed"])] = None,
    created_after: Annotated[
        UTCQuery | None,
        Query(
            description="Only leads created after this time (RFC 3339).",
            examples=["2026-11-01T00:00:00Z"],
        ),
    ] = None,
    updated_after: Annotated[
        UTCQuery | None,
        Query(
            description=(
                "Incremental sync: only leads changed after this time, ordered by "
                "(updated_at, id), so a lead changed during the walk comes again later."
            ),
            examples=["2026-11-22T10:00:00Z"],
        ),
    ] = None,
) -> queries.LeadFilter:
    return await queries.resolve_filter(
        session,
        visible=caller.handle_ids,
        handle=handle,
        page=page,
        source=source,
        status=status,
        created_after=created_after,
        updated_after=updated_after,
    )


LeadFilterDep = Annotated[queries.LeadFilter, Depends(_lead_filter)]


async def _links(request: Request) -> LeadLinks:
    links: LeadLinks = request.app.state.lead_links
    return links


LeadLinksDep = Annotated[LeadLinks, Depends(_links)]


@router.get(
    "/leads",
    operation_id="leads-list",
    response_model=LeadList,
    summary="List leads",
    description=(
        "Keyset pages of leads, oldest first; with `updated_after`, in order of their last "
        'change. Follow `next_cursor` (or the `Link: rel="next"` header) until it is null. '
        "Erased leads are not listed."
    ),
    responses=problem_responses(404, 422),
)
async def list_leads(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    lead_filter: LeadFilterDep,
    codec: CursorCodecDep,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> LeadList:
    page = await queries.list_leads(session, lead_filter, codec=codec, cursor=cursor, limit=limit)
    response.headers.update(next_link(request, page.next_cursor))
    return LeadList(
        items=[LeadRead.from_row(row) for row in page.rows], next_cursor=page.next_cursor
    )


@router.get(
    "/leads/export",
    operation_id="leads-export-person",
    response_model=PersonExport,
    summary="Export everything held about one email address",
    description=(
        "Every lead with this address, with its consent ledger, and the purchases connected "
        "shops reported for it (data subject access)."
    ),
    responses=problem_responses(422),
)
async def export_person(
    session: SessionDep,
    caller: LeadsReadKey,
    email: Annotated[
        str,
        Query(
            min_length=3,
            max_length=320,
            examples=["anna@example.com"],
            json_schema_extra={"format": "email"},
        ),
    ],
) -> PersonExport:
    return await privacy.export_person(session, email, visible=caller.handle_ids)


_CSV_EXAMPLE = ",".join(exports.CSV_COLUMNS) + "\r\n1042,anna@example.com,Anna,free-guide,…\r\n"
_NDJSON_EXAMPLE = '{"id":"1042","email":"anna@example.com","name":"Anna",…}\n'


def _chunks(
    request: Request, lead_filter: queries.LeadFilter
) -> AsyncIterator[list[queries.LeadRow]]:
    database: Database = request.app.state.database
    settings: Settings = request.app.state.settings
    return queries.iter_lead_chunks(
        database, lead_filter, chunk_size=settings.api_export_chunk_size
    )


@router.get(
    "/leads/export.csv",
    operation_id="leads-export-csv",
    response_class=StreamingResponse,
    summary="Export leads as CSV",
    description=(
        "Every lead matching the list's filters, streamed. Cells starting with = + - @ are "
        "prefixed with ' so spreadsheets do not run them; `fields` is a JSON object."
    ),
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}}},
        **problem_responses(404, 422),
    },
)
async def export_csv(request: Request, lead_filter: LeadFilterDep) -> StreamingResponse:
    return StreamingResponse(
        exports.csv_stream(_chunks(request, lead_filter)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="leads.csv"'},
    )


@router.get(
    "/leads/export.ndjson",
    operation_id="leads-export-ndjson",
    response_class=StreamingResponse,
    summary="Export leads as NDJSON",
    description="Every lead matching the list's filters, streamed, one JSON object a line.",
    responses={
        200: {
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "example": _NDJSON_EXAMPLE,
                }
            }
        },
        **problem_responses(404, 422),
    },
)
async def export_ndjson(request: Request, lead_filter: LeadFilterDep) -> StreamingResponse:
    return StreamingResponse(
        exports.ndjson_stream(_chunks(request, lead_filter)),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="leads.ndjson"'},
    )


@router.get(
    "/leads/{lead_id}",
    operation_id="leads-get",
    response_model=LeadRead,
    summary="Show a lead",
    responses=problem_responses(404),
)
async def get_lead(lead_id: str, session: SessionDep, caller: LeadsReadKey) -> LeadRead:
    row = await queries.get_lead(session, queries.parse_lead_id(lead_id), caller.handle_ids)
    return LeadRead.from_row(row)


@router.post(
    "/leads",
    operation_id="leads-create",
    status_code=201,
    response_model=LeadRead,
    summary="Import a lead",
    description=(
        "The form's rules: a valid address (stored normalised), the page's name and custom "
        "fields, one lead per page and address. **201** for a new lead; **200** with the "
        "existing lead, unchanged, when the page already has this address. A new `pending` "
        "lead gets the page's confirmation email; a `confirmed` one gets no email."
    ),
    responses={
        200: {"model": LeadRead, "description": "The page already had a lead with this address."},
        **problem_responses(404, 409, 422),
    },
)
async def create_lead(
    *,
    body: LeadCreate,
    request: Request,
    session: SessionDep,
    caller: LeadsWriteKey,
    links: LeadLinksDep,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        row, created = await leads.import_lead(
            session, body, visible=caller.handle_ids, links=links
        )
        headers = {"Location": f"{request.url.path}/{row.lead.id}"} if created else {}
        return ApiResult(
            201 if created else 200, LeadRead.from_row(row), headers, lead_id=row.lead.id
        )

    return await write.respond(caller.key_id, body, run)


@router.patch(
    "/leads/{lead_id}",
    operation_id="leads-update",
    response_model=LeadRead,
    summary="Change a lead",
    description=(
        "Mark a customer (with an optional `value` and `currency`), unsubscribe, confirm a "
        "pending lead (no email is sent), or merge custom `fields` (null removes a key)."
    ),
    responses=problem_responses(404, 409, 422),
)
async def update_lead(
    lead_id: str,
    *,
    body: LeadUpdate,
    session: SessionDep,
    caller: LeadsWriteKey,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        row = await leads.update_lead(
            session, queries.parse_lead_id(lead_id), body, visible=caller.handle_ids
        )
        return ApiResult(200, LeadRead.from_row(row), lead_id=row.lead.id)

    return await write.respond(caller.key_id, body, run)


@router.delete(
    "/leads/{lead_id}",
    operation_id="leads-erase",
    status_code=204,
    response_class=Response,
    summary="Erase a lead",
    description=(
        "Erasure: the address, name, custom fields and visit link are gone for good, and so "
        "are the lead's queued emails and webhook payloads; the row stays (without personal "
        "data) so counts and reports do not change. The lead is a 404 from now on."
    ),
    responses=problem_responses(404, 409, 422),
)
async def erase_lead(
    lead_id: str,
    *,
    session: SessionDep,
    caller: LeadsWriteKey,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        await privacy.erase_lead(session, queries.parse_lead_id(lead_id), visible=caller.handle_ids)
        return ApiResult(204)

    return await write.respond(caller.key_id, None, run)


@router.post(
    "/erasures",
    operation_id="erasures-create",
    response_model=ErasureRead,
    summary="Erase every lead of an email address",
    description=(
        "Erasure by address (a person's right to be forgotten): every lead with this address "
        "on the handles the key may see is erased as `DELETE /leads/{id}` erases one, and "
        "`erased` says how many. Idempotent: a second request finds nothing left and answers "
        "0. Each erased lead emits `lead.erased`."
    ),
    responses=problem_responses(409, 422),
)
async def create_erasure(
    *,
    body: ErasureCreate,
    session: SessionDep,
    caller: LeadsWriteKey,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        erased = await privacy.erase_person(session, body.email, visible=caller.handle_ids)
        return ApiResult(200, ErasureRead(erased=erased))

    return await write.respond(caller.key_id, body, run)
