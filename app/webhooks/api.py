"""`/api/v1/webhooks` (scope `admin`): endpoints, their signing secrets, the delivery log,
redelivery and ping. The rules live in `app.webhooks.service`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api_keys.dependencies import AdminKey
from app.config import Settings
from app.db import SessionDep
from app.idempotency.dependencies import ApiResult, IdempotentWriteDep
from app.openapi import problem_responses
from app.pagination import CursorCodecDep, CursorQuery, LimitQuery, next_link
from app.webhooks import service as webhooks
from app.webhooks.exceptions import DeliveryNotFound
from app.webhooks.schemas import (
    DeliveryList,
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)
from app.webhooks.signing import SecretCipher, cipher_for

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    cipher: SecretCipher
    allow_private: bool


async def _config(request: Request) -> WebhookConfig:
    settings: Settings = request.app.state.settings
    return WebhookConfig(
        cipher=cipher_for(settings.secret_key.get_secret_value()),
        allow_private=settings.webhook_allow_private,
    )


ConfigDep = Annotated[WebhookConfig, Depends(_config)]
DeliveryStatusQuery = Annotated[
    Literal["pending", "delivered", "failed"] | None,
    Query(description="Only deliveries with this status.", examples=["failed"]),
]


@router.post(
    "",
    operation_id="webhooks-create",
    status_code=201,
    response_model=WebhookCreated,
    summary="Create a webhook endpoint",
    description=(
        "The `secret` that signs the requests is in this response only. The URL must resolve "
        "to public addresses. A key restricted to handles creates an endpoint that only hears "
        "about leads of those handles."
    ),
    responses=problem_responses(409, 422),
)
async def create_webhook(
    *,
    body: WebhookCreate,
    request: Request,
    session: SessionDep,
    caller: AdminKey,
    config: ConfigDep,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        endpoint, secret = await webhooks.create_endpoint(
            session,
            url=body.url,
            event_types=body.events,
            description=body.description,
            visible=caller.handle_ids,
            cipher=config.cipher,
            allow_private=config.allow_private,
        )
        read = (await webhooks.endpoint_reads(session, [endpoint]))[0]
        return ApiResult(
            status_code=201,
            body=WebhookCreated(**read.model_dump(), secret=secret),
            replay_body=WebhookCreated(**read.model_dump(), secret=None),
            headers={"Location": f"{request.url.path}/{endpoint.id}"},
        )

    return await write.respond(caller.key_id, body, run)


@router.get(
    "", operation_id="webhooks-list", response_model=WebhookList, summary="List webhook endpoints"
)
async def list_webhooks(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    caller: AdminKey,
    codec: CursorCodecDep,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> WebhookList:
    page = await webhooks.list_endpoints(
        session, visible=caller.handle_ids, codec=codec, cursor=cursor, limit=limit
    )
    response.headers.update(next_link(request, page.next_cursor))
    return WebhookList(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/{webhook_id}",
    operation_id="webhooks-get",
    response_model=WebhookRead,
    summary="Show a webhook endpoint",
    responses=problem_responses(404),
)
async def get_webhook(webhook_id: str, session: SessionDep, caller: AdminKey) -> WebhookRead:
    endpoint = await webhooks.get_endpoint(
        session, webhooks.parse_id(webhook_id), caller.handle_ids
    )
    return (await webhooks.endpoint_reads(session, [endpoint]))[0]


@router.patch(
    "/{webhook_id}",
    operation_id="webhooks-update",
    response_model=WebhookRead,
    summary="Change a webhook endpoint",
    description=(
        "Change the URL (checked like a new one), the events or the description; "
        '`"status": "active"` re-enables a disabled or unhealthy endpoint.'
    ),
    responses=problem_responses(404, 409, 422),
)
async def update_webhook(
    webhook_id: str,
    *,
    body: WebhookUpdate,
    session: SessionDep,
    caller: AdminKey,
    config: ConfigDep,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        endpoint = await webhooks.update_endpoint(
            session,
            webhooks.parse_id(webhook_id),
            body,
            visible=caller.handle_ids,
            allow_private=config.allow_private,
        )
        return ApiResult(200, (await webhooks.endpoint_reads(session, [endpoint]))[0])

    return await write.respond(caller.key_id, body, run)


@router.delete(
    "/{webhook_id}",
    operation_id="webhooks-delete",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook endpoint",
    description="Its delivery log goes with it, and events not yet sent to it are dropped.",
    responses=problem_responses(404, 409, 422),
)
async def delete_webhook(
    webhook_id: str,
    *,
    session: SessionDep,
    caller: AdminKey,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        await webhooks.delete_endpoint(session, webhooks.parse_id(webhook_id), caller.handle_ids)
        return ApiResult(204)

    return await write.respond(caller.key_id, None, run)


@router.post(
    "/{webhook_id}/rotate-secret",
    operation_id="webhooks-rotate-secret",
    response_model=WebhookSecret,
    summary="Rotate a webhook endpoint's signing secret",
    description=(
        "The new `secret` is in this response only. For 24 hours the old secret signs too "
        "(a second `v1=` in `Leadlink-Signature`), so receivers can switch without losing "
        "an event."
    ),
    responses=problem_responses(404, 409, 422),
)
async def rotate_webhook_secret(
    webhook_id: str,
    *,
    session: SessionDep,
    caller: AdminKey,
    config: ConfigDep,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        endpoint, secret = await webhooks.rotate_secret(
            session, webhooks.parse_id(webhook_id), visible=caller.handle_ids, cipher=config.cipher
        )
        expires = endpoint.previous_secret_expires_at
        assert expires is not None
        return ApiResult(
            200,
            WebhookSecret(id=str(endpoint.id), secret=secret, previous_secret_expires_at=expires),
            replay_body=WebhookSecret(
                id=str(endpoint.id), secret=None, previous_secret_expires_at=expires
            ),
        )

    return await write.respond(caller.key_id, None, run)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="webhooks-list-deliveries",
    response_model=DeliveryList,
    summary="List a webhook endpoint's deliveries",
    description="The delivery log, newest first: status, attempts, response code and latency.",
    responses=problem_responses(404),
)
async def list_webhook_deliveries(
    webhook_id: str,
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    caller: AdminKey,
    codec: CursorCodecDep,
    status: DeliveryStatusQuery = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> DeliveryList:
    page = await webhooks.list_deliveries(
        session,
        webhooks.parse_id(webhook_id),
        visible=caller.handle_ids,
        status=status,
        codec=codec,
        cursor=cursor,
        limit=limit,
    )
    response.headers.update(next_link(request, page.next_cursor))
    return DeliveryList(items=page.items, next_cursor=page.next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    operation_id="webhooks-redeliver",
    status_code=202,
    response_model=DeliveryRead,
    summary="Send a delivery's event again",
    description=(
        "Queues the same event (same `Leadlink-Id` and body, freshly signed) as a new "
        "delivery. 409 when the endpoint is disabled or the payload is no longer kept."
    ),
    responses=problem_responses(404, 409, 422),
)
async def redeliver_webhook(
    webhook_id: str,
    delivery_id: str,
    *,
    session: SessionDep,
    caller: AdminKey,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        delivery = await webhooks.redeliver(
            session,
            webhooks.parse_id(webhook_id),
            webhooks.parse_id(delivery_id, DeliveryNotFound),
            visible=caller.handle_ids,
        )
        return ApiResult(202, DeliveryRead.from_row(delivery))

    return await write.respond(caller.key_id, None, run)


@router.post(
    "/{webhook_id}/ping",
    operation_id="webhooks-ping",
    status_code=202,
    response_model=DeliveryRead,
    summary="Send a ping event",
    description=(
        "Queues a `ping` event, signed and delivered like the others, whatever the endpoint's "
        "events; follow it in the delivery log. 409 when the endpoint is disabled."
    ),
    responses=problem_responses(404, 409, 422),
)
async def ping_webhook(
    webhook_id: str,
    *,
    session: SessionDep,
    caller: AdminKey,
    write: IdempotentWriteDep,
) -> Response:
    async def run() -> ApiResult:
        delivery = await webhooks.ping(
            session, webhooks.parse_id(webhook_id), visible=caller.handle_ids
        )
        return ApiResult(202, DeliveryRead.from_row(delivery))

    return await write.respond(caller.key_id, None, run)
