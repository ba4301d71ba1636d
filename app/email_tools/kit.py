"""Kit (formerly ConvertKit) API v4: subscribers and tags.

Base `https://api.kit.com/v4`, header `X-Kit-Api-Key`. `POST /subscribers` is an upsert by
address (first name updated; Kit documents that it does not change the state of an existing
subscriber). Tags are found by name in `GET /tags` (cursor pages: `after` and
`pagination.end_cursor` while `has_next_page`) and made with `POST /tags` when missing, then
applied with `POST /tags/{tag_id}/subscribers/{id}`. Kit's API has no way to delete a
subscriber: an erasure unsubscribes and tells the owner to delete the subscriber in Kit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from app.config import Settings
from app.connections.calls import UnexpectedAnswer, api_url
from app.email_tools.contract import (
    AddressRefused,
    Contact,
    ToolSettings,
    answer_of,
    calling,
    send,
    tags_of,
)

__all__ = ["Kit", "KitTags"]

PROVIDER = "Kit"
MAX_TAG_PAGES = 50
PER_PAGE = 1000


@dataclass
class KitTags:
    """An account's tags, name to id, listed once and kept across calls of one connection
    (tags rarely change; one deleted in Kit is noticed when tagging with it answers 404)."""

    ids: dict[str, str] = field(default_factory=dict)
    listed: bool = False

    def forget(self) -> None:
        self.ids.clear()
        self.listed = False


def _id_of(body: Any, key: str) -> str:
    item = body.get(key) if isinstance(body, dict) else None
    if not isinstance(item, dict) or not isinstance(item.get("id"), int | str):
        raise UnexpectedAnswer(f"{PROVIDER}'s answer has no {key} id.")
    return str(item["id"])


class Kit:
    def __init__(self, settings: Settings, tool: ToolSettings, tags: KitTags) -> None:
        self.base = api_url(settings, "kit", "https://api.kit.com/v4")
        self.tool = tool
        self.tags = tags

    def _client(self) -> httpx.AsyncClient:
        return calling(self.base, {"X-Kit-Api-Key": self.tool.api_key})

    def _check(self, response: httpx.Response, *, missing_ok: bool = False) -> Any:
        if response.status_code == 422:
            raise AddressRefused(f"{PROVIDER} refused this person (422): {_errors(response)}")
        return answer_of(PROVIDER, response, missing_ok=missing_ok)

    async def _known_tags(self, client: httpx.AsyncClient) -> None:
        after: str | None = None
        for _ in range(MAX_TAG_PAGES):
            params: dict[str, Any] = {"per_page": PER_PAGE}
            if after:
                params["after"] = after
            body = self._check(await send(client, PROVIDER, "GET", "/tags", params=params))
            tags = body.get("tags") if isinstance(body, dict) else None
            pagination = body.get("pagination") if isinstance(body, dict) else None
            if not isinstance(tags, list) or not isinstance(pagination, dict):
                raise UnexpectedAnswer(f"{PROVIDER}'s list of tags is not the documented shape.")
            for tag in tags:
                if isinstance(tag, dict) and "name" in tag and "id" in tag:
                    self.tags.ids[str(tag["name"])] = str(tag["id"])
            after = pagination.get("end_cursor")
            if not pagination.get("has_next_page") or not after:
                break
        self.tags.listed = True

    async def _tag_id(self, client: httpx.AsyncClient, name: str) -> str:
        if name not in self.tags.ids and not self.tags.listed:
            await self._known_tags(client)
        if name not in self.tags.ids:
            body = self._check(await send(client, PROVIDER, "POST", "/tags", json={"name": name}))
            self.tags.ids[name] = _id_of(body, "tag")
        return self.tags.ids[name]

    async def _find(self, client: httpx.AsyncClient, contact: Contact) -> str | None:
        params = {"email_address": contact.email, "status": "all"}
        body = self._check(await send(client, PROVIDER, "GET", "/subscribers", params=params))
        found = body.get("subscribers") if isinstance(body, dict) else None
        if not isinstance(found, list):
            raise UnexpectedAnswer(f"{PROVIDER}'s list of subscribers is not the documented shape.")
        if not found:
            return None
        first = found[0]
        if not isinstance(first, dict) or not isinstance(first.get("id"), int | str):
            raise UnexpectedAnswer(f"{PROVIDER}'s subscriber has no id.")
        return str(first["id"])

    async def subscribe(
        self, contact: Contact, *, resubscribe: bool, remote_id: str | None
    ) -> str | None:
        body = {
            "email_address": contact.email,
            "first_name": contact.first_name or None,
            "state": "active",
        }
        async with self._client() as client:
            answer = self._check(await send(client, PROVIDER, "POST", "/subscribers", json=body))
            subscriber_id = _id_of(answer, "subscriber")
            for name in tags_of(contact, self.tool.extra_tags):
                await self._tag(client, name, subscriber_id)
        return subscriber_id

    async def _tag(self, client: httpx.AsyncClient, name: str, subscriber_id: str) -> None:
        """Tag the subscriber; a tag deleted in Kit since it was looked up is found (or made)
        again once."""
        for _ in range(2):
            tag_id = await self._tag_id(client, name)
            path = f"/tags/{tag_id}/subscribers/{subscriber_id}"
            response = await send(client, PROVIDER, "POST", path, json={})
            if response.status_code != 404:
                self._check(response)
                return
            self.tags.forget()
        raise UnexpectedAnswer(f"{PROVIDER} answered 404 when tagging a subscriber.")

    async def unsubscribe(self, contact: Contact, *, remote_id: str | None) -> None:
        async with self._client() as client:
            subscriber_id = remote_id or await self._find(client, contact)
            if subscriber_id is None:
                return
            path = f"/subscribers/{subscriber_id}/unsubscribe"
            self._check(await send(client, PROVIDER, "POST", path, json={}), missing_ok=True)

    async def erase(self, contact: Contact, *, remote_id: str | None) -> str | None:
        async with self._client() as client:
            subscriber_id = remote_id or await self._find(client, contact)
            if subscriber_id is None:
                return None
            path = f"/subscribers/{subscriber_id}/unsubscribe"
            self._check(await send(client, PROVIDER, "POST", path, json={}), missing_ok=True)
        return (
            f"Kit's API cannot delete a subscriber: unsubscribed; delete subscriber "
            f"{subscriber_id} in Kit (Subscribers) to finish the erasure."
        )


def _errors(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no reason given"
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return "; ".join(str(error) for error in errors)[:200]
    return "no reason given"
