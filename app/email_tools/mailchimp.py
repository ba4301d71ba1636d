"""Mailchimp Marketing API 3.0: list members by subscriber hash.

Base `https://{dc}.api.mailchimp.com/3.0`, `dc` being the API key's suffix (`…-us21`); HTTP
Basic auth with any user name and the key as password. A member is addressed by the MD5 of
the lower-case address. Errors are problem+json (`title`, `detail`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from app.config import Settings
from app.connections.calls import TokenRejected, UnexpectedAnswer, api_url
from app.email_tools.contract import (
    AddressRefused,
    Contact,
    ToolSettings,
    answer_of,
    calling,
    error_fields,
    send,
    tags_of,
)

__all__ = ["Mailchimp", "data_center", "subscriber_hash"]

PROVIDER = "Mailchimp"
# 400 titles Mailchimp documents for a person it will not take (not a fault of the request).
REFUSED_TITLES = frozenset({"member in compliance state", "forgotten email not subscribed"})


def data_center(api_key: str) -> str | None:
    """`us21` of `…-us21`; None for a key without one (not a Marketing API key)."""
    _, _, dc = api_key.rpartition("-")
    return dc if dc and dc.isascii() and dc.isalnum() and "-" in api_key else None


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode("utf-8"), usedforsecurity=False).hexdigest()


class Mailchimp:
    def __init__(self, settings: Settings, tool: ToolSettings) -> None:
        dc = data_center(tool.api_key)
        if dc is None:
            raise TokenRejected(
                "This Mailchimp API key has no data center (…-us21): paste it whole."
            )
        self.base = api_url(settings, "mailchimp", f"https://{dc}.api.mailchimp.com/3.0")
        self.tool = tool

    def _client(self) -> httpx.AsyncClient:
        return calling(self.base, {}, auth=httpx.BasicAuth("leadlink", self.tool.api_key))

    def _member(self, contact: Contact) -> str:
        return f"/lists/{self.tool.list_id}/members/{subscriber_hash(contact.email)}"

    def _check(self, response: httpx.Response, *, missing_ok: bool = False) -> Any:
        """The answer's JSON (None for 204), or the trouble it means."""
        if response.status_code == 400:
            title, detail = error_fields(response, "title", "detail")
            if title.lower() in REFUSED_TITLES or "fake or invalid" in detail.lower():
                raise AddressRefused(f"{PROVIDER} refused this person: {title}.")
            raise UnexpectedAnswer(f"{PROVIDER} answered 400: {title or 'no title'}.")
        if response.status_code == 404 and not missing_ok:
            title, _ = error_fields(response, "title", "detail")
            raise UnexpectedAnswer(
                f"{PROVIDER} answered 404 ({title or 'not found'}): check the audience id."
            )
        return answer_of(PROVIDER, response, missing_ok=missing_ok)

    async def subscribe(
        self, contact: Contact, *, resubscribe: bool, remote_id: str | None
    ) -> str | None:
        body: dict[str, Any] = {"email_address": contact.email, "status_if_new": "subscribed"}
        if resubscribe:
            body["status"] = "subscribed"
        if contact.first_name:
            body["merge_fields"] = {"FNAME": contact.first_name}
        async with self._client() as client:
            member = self._check(
                await send(client, PROVIDER, "PUT", self._member(contact), json=body)
            )
            if not isinstance(member, dict) or not isinstance(member.get("id"), str):
                raise UnexpectedAnswer(f"{PROVIDER}'s answer has no member id.")
            tags = [
                {"name": tag, "status": "active"} for tag in tags_of(contact, self.tool.extra_tags)
            ]
            path = f"{self._member(contact)}/tags"
            self._check(await send(client, PROVIDER, "POST", path, json={"tags": tags}))
        return str(member["id"])

    async def unsubscribe(self, contact: Contact, *, remote_id: str | None) -> None:
        async with self._client() as client:
            response = await send(
                client, PROVIDER, "PATCH", self._member(contact), json={"status": "unsubscribed"}
            )
            self._check(response, missing_ok=True)

    async def erase(self, contact: Contact, *, remote_id: str | None) -> str | None:
        path = f"{self._member(contact)}/actions/delete-permanent"
        async with self._client() as client:
            self._check(await send(client, PROVIDER, "POST", path), missing_ok=True)
        return None
