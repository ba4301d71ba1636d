"""Kit (formerly ConvertKit) API v4: subscribers and tags.

Base `https://api.kit.com/v4`, header `X-Kit-Api-Key`. `POST /subscribers` is an upsert by
address (first name updated; Kit documents that it does not change the state of an existing
subscriber). Tags are found by name in `GET /tags` (cursor pages: `after` and
`pagination.end_cursor` while `has_next_page`) and made with `POST /tags` when missing, then
applied with `POST /tags/{tag_id}/subscribers/{id}`. Kit's API has no way to delete a
subscriber: an erasure unsubscribes and tells the owner to delete the subscriber in Kit.
"""

from __future__ import annotations

from typing import Any

import httpx

from app.config import Settings
from app.connections.calls import UnexpectedAnswer, api_url, json_of
from app.email_tools.contract import (
    AddressRefused,
    Contact,
    ToolSettings,
    calling,
    refuse_token,
    send,
    tags_of,
)

__all__ = ["Kit"]

PROVIDER = "Kit"
MAX_TAG_PAGES = 50
PER_PAGE = 1000


def _id_of(body: Any, key: str) -> str:
    item = body.get(key) if isinstance(body, dict) else None
    if not isinstance(item, dict) or not isinstance(item.get("id"), int | str):
        raise UnexpectedAnswer(f"{PROVIDER}'s answer has no {key} id.")
    return str(item["id"])


class Kit:
    def __init__(self, settings: Settings, tool: ToolSettings, tag_ids: dict[str, str]) -> None:
        self.base = api_url(settings, "kit", "https://api.kit.com/v4")
        self.tool = tool
        # name → id, shared across calls of one connection (tags rarely change).
        self.tag_ids = tag_ids

    def _client(self) -> httpx.AsyncClient:
        return calling(self.base, {"X-Kit-Api-Key": self.tool.api_key})

    def _check(self, response: httpx.Response, *, missing_ok: bool = False) -> Any:
        refuse_token(PROVIDER, response)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code == 422:
            raise AddressRefused(f"{PROVIDER} refused this person (422): {_errors(response)}")
        if response.status_code == 204:
            return None
        return json_of(response, PROVIDER)

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
                    self.tag_ids[str(tag["name"])] = str(tag["id"])
            after = pagination.get("end_cursor")
            if not pagination.get("has_next_page") or not after:
                return

    async def _tag_id(self, client: httpx.AsyncClient, name: str) -> str:
        if name not in self.tag_ids:
            await self._known_tags(client)
        if name not in self.tag_ids:
            body = self._check(await send(client, PROVIDER, "POST", "/tags", json={"name": name}))
            self.tag_ids[name] = _id_of(body, "tag")
        return self.tag_ids[name]

    async def _find(self, client: httpx.AsyncClient, contact: Contact) -> str | None:
        params = {"email_address": contact.email, "status": "all"}
        body = self._check(await send(client, PROVIDER, "GET", "/subscribers", params=params))
        found = body.get("subscribers") if isinstance(body, dict) else None
        if not isinstance(found, list):
            raise UnexpectedAnswer(f"{PROVIDER}'s list of subscribers is not the documented shape.")
        return str(found[0]["id"]) if found and isinstance(found[0], dict) else None

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
                tag_id = await self._tag_id(client, name)
                path = f"/tags/{tag_id}/subscribers/{subscriber_id}"
                self._check(await send(client, PROVIDER, "POST", path, json={}))
        return subscriber_id

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
