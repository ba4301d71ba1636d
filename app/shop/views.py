"""`POST /hooks/{provider}/{public_id}`: the URL a shop's webhook calls (shown on the
connection's admin page).

The answer is small JSON: 200 for an event taken in, a retry of one, or one that is not a sale
(so the shop stops retrying); 400 for a request that is not provably the shop's (nothing is
recorded); 404 for an unknown or disabled connection; 413 for a body over
`MAX_HOOK_BODY_BYTES`; 503 while the connection has no readable secret, so the shop retries
after the owner pasted it (Stripe for three days, Shopify for hours, Gumroad for 3 hours).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from app.config import Settings
from app.connections import service as connections
from app.connections.crypto import SecretsUnreadable
from app.connections.models import Connection, ConnectionStatus, Provider
from app.db import SessionDep
from app.errors import BadRequest, NotFound, ServiceUnavailable
from app.shop import events, signatures
from app.shop import service as shop

__all__ = ["MAX_HOOK_BODY_BYTES", "router"]

# Stripe's and Shopify's payloads are a few kilobytes; an order with hundreds of lines stays
# far below this.
MAX_HOOK_BODY_BYTES = 1024 * 1024
SHOPS = frozenset({Provider.STRIPE.value, Provider.SHOPIFY.value, Provider.GUMROAD.value})

router = APIRouter(prefix="/hooks", include_in_schema=False, max_body_size=MAX_HOOK_BODY_BYTES)


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


async def _read(
    request: Request, connection: Connection, secrets: dict[str, str]
) -> events.Received:
    """Verify the request by the provider's scheme, then read it (`SignatureRejected`,
    `MalformedEvent`)."""
    body = await request.body()
    headers = request.headers
    if connection.provider == Provider.STRIPE.value:
        signatures.verify_stripe(
            body,
            headers.get("stripe-signature"),
            secrets.get(connections.SIGNING_SECRET, ""),
            now=time.time(),
        )
        return events.read_stripe(body)
    if connection.provider == Provider.SHOPIFY.value:
        signatures.verify_shopify(
            body, headers.get("x-shopify-hmac-sha256"), secrets.get(connections.SIGNING_SECRET, "")
        )
        return events.read_shopify(body, headers)
    signatures.verify_gumroad(request.query_params.get("key"), secrets.get(connections.URL_KEY, ""))
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    seller = connection.settings.get("seller_id")
    if seller and form.get("seller_id") != seller:
        raise signatures.SignatureRejected("The ping's seller_id is not this connection's.")
    return events.read_gumroad(form)


@router.post("/{provider}/{public_id}")
async def receive(
    provider: str, public_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    connection = (
        await connections.find_receiving(session, provider, public_id)
        if provider in SHOPS
        else None
    )
    if connection is None:
        raise NotFound("There is no webhook URL like this one (or its connection is disabled).")
    try:
        secrets = connections.read_secrets(connection, connections.cipher_of(settings))
    except SecretsUnreadable as exc:
        await connections.mark_trouble(
            session, connection, ConnectionStatus.NEEDS_RECONNECT, str(exc)
        )
        await session.commit()
        raise ServiceUnavailable(
            "This connection has no usable secret yet; retry later.", headers={"Retry-After": "60"}
        ) from exc
    try:
        received = await _read(request, connection, secrets)
    except signatures.SignatureRejected as exc:
        raise BadRequest(str(exc)) from exc
    except events.MalformedEvent as exc:
        message = f"A signed request could not be read: {exc}"
        await connections.mark_trouble(session, connection, ConnectionStatus.ERROR, message)
        await session.commit()
        raise BadRequest(str(exc)) from exc
    await connections.mark_working(session, connection)
    outcome = await shop.take_in(session, connection, received)
    return JSONResponse({"received": True, "outcome": outcome.value})
