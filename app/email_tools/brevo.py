"""Brevo (formerly Sendinblue) API v3: contacts and lists.

Base `https://api.brevo.com/v3`, header `api-key`. `POST /contacts` with `updateEnabled: true`
creates the contact (201 with its `id`) or updates it (204), adds it to `listIds` and sets
`attributes` (upper-case names). An unsubscribe removes the contact from the connection's list
(`PUT /contacts/{email}` with `unlinkListIds`) rather than blocklisting it for every email of the
account; an erasure deletes the contact (`DELETE /contacts/{email}`). Errors are
`{"code": …, "message": …}`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from app.config import Settings
from app.connections.calls import UnexpectedAnswer, api_url
from app.email_tools.contract import (
    AddressRefused,
    Contact,
    ToolSettings,
    answer_of,
    calling,
    error_fields,
    send,
)

__all__ = ["Brevo", "attributes_of"]

PROVIDER = "Brevo"


def attributes_of(contact: Contact) -> dict[str, Any]:
    """FIRSTNAME is Brevo's own attribute; the LEADLINK_… ones the owner creates (see
    docs/integrations.md)."""
    attributes: dict[str, Any] = {
        "LEADLINK_SOURCE": contact.source,
        "LEADLINK_CAMPAIGN": contact.campaign,
        "LEADLINK_PAGE": contact.page,
        "LEADLINK_NEWSLETTER": contact.newsletter,
        "LEADLINK_CUSTOMER": contact.customer,
    }
    if contact.first_name:
        attributes["FIRSTNAME"] = contact.first_name
    return attributes


class Brevo:
    def __init__(self, settings: Settings, tool: ToolSettings) -> None:
        self.base = api_url(settings, "brevo", "https://api.brevo.com/v3")
        self.tool = tool
        if not tool.list_id.isdigit():
            raise UnexpectedAnswer("A Brevo list id is a number: set it on the connection.")
        self.list_id = int(tool.list_id)

    def _client(self) -> httpx.AsyncClient:
        return calling(self.base, {"api-key": self.tool.api_key})

    def _check(self, response: httpx.Response, *, missing_ok: bool = False) -> Any:
        if response.status_code == 400:
            code, message = error_fields(response, "code", "message")
            if missing_ok and "already removed" in message.lower():
                return None  # an unsubscribe of a contact no longer on the list
            if "email" in message.lower():
                raise AddressRefused(f"{PROVIDER} refused this person: {code or 'bad request'}.")
            raise UnexpectedAnswer(f"{PROVIDER} answered 400 ({code}): {message[:200]}")
        return answer_of(PROVIDER, response, missing_ok=missing_ok)

    @staticmethod
    def _contact_path(contact: Contact) -> str:
        return f"/contacts/{quote(contact.email, safe='')}"  # the address, URL-encoded

    async def subscribe(
        self, contact: Contact, *, resubscribe: bool, remote_id: str | None
    ) -> str | None:
        body = {
            "email": contact.email,
            "attributes": attributes_of(contact),
            "listIds": [self.list_id],
            "updateEnabled": True,
        }
        async with self._client() as client:
            answer = self._check(await send(client, PROVIDER, "POST", "/contacts", json=body))
        if isinstance(answer, dict) and isinstance(answer.get("id"), int):
            return str(answer["id"])
        if answer is None:
            return remote_id  # 204: an existing contact, updated
        raise UnexpectedAnswer(f"{PROVIDER}'s answer has no contact id.")

    async def unsubscribe(self, contact: Contact, *, remote_id: str | None) -> None:
        async with self._client() as client:
            response = await send(
                client,
                PROVIDER,
                "PUT",
                self._contact_path(contact),
                json={"unlinkListIds": [self.list_id]},
            )
            self._check(response, missing_ok=True)

    async def erase(self, contact: Contact, *, remote_id: str | None) -> str | None:
        async with self._client() as client:
            response = await send(client, PROVIDER, "DELETE", self._contact_path(contact))
            self._check(response, missing_ok=True)
        return None
