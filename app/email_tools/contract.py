"""What every email-tool client is given and what it may raise: the person as sent (`Contact`),
the three actions, and `AddressRefused`, the one trouble beyond `app.connections.calls`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import httpx

from app.connections.calls import CallTrouble, ProviderUnavailable, TokenRejected, json_of

__all__ = [
    "AddressRefused",
    "Contact",
    "EmailTool",
    "ToolSettings",
    "answer_of",
    "calling",
    "error_fields",
    "refuse_token",
    "send",
    "tags_of",
]

TIMEOUT_SECONDS = 20.0
MAX_TAG_LENGTH = 100


class AddressRefused(CallTrouble):
    """The tool refused this one person for good (an address it deems fake or invalid, a
    member in a compliance state): the lead fails, the connection stays active."""


@dataclass(frozen=True, slots=True)
class Contact:
    """One lead as an email tool receives it (built by `app.leads.email_tools`)."""

    email: str
    first_name: str
    handle: str
    page: str
    source: str
    campaign: str
    newsletter: bool  # ticked the newsletter box; False: a gift-only sign-up
    customer: bool

    def as_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Contact:
        return cls(
            email=str(data["email"]),
            first_name=str(data.get("first_name") or ""),
            handle=str(data.get("handle") or ""),
            page=str(data.get("page") or ""),
            source=str(data.get("source") or ""),
            campaign=str(data.get("campaign") or ""),
            newsletter=bool(data.get("newsletter")),
            customer=bool(data.get("customer")),
        )


@dataclass(frozen=True, slots=True)
class ToolSettings:
    """A connection's secret and settings, as its client needs them."""

    api_key: str
    list_id: str  # Mailchimp's audience id, Brevo's list id; Kit: unused
    extra_tags: tuple[str, ...]  # the owner's own tags, added to every lead


def tags_of(contact: Contact, extra: tuple[str, ...] = ()) -> list[str]:
    """The tags a lead carries at a tool that has tags (Mailchimp, Kit): where it came from and
    what it agreed to, so the owner can segment without leadlink."""
    tags = ["leadlink", "newsletter" if contact.newsletter else "gift only"]
    if contact.source:
        tags.append(f"source: {contact.source}")
    if contact.campaign:
        tags.append(f"campaign: {contact.campaign}")
    if contact.page:
        tags.append(f"page: {contact.page}")
    if contact.customer:
        tags.append("customer")
    tags.extend(extra)
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag[:MAX_TAG_LENGTH], None)
    return list(seen)


class EmailTool(Protocol):
    """One provider's client. Each call raises a `CallTrouble` when it did not happen."""

    async def subscribe(
        self, contact: Contact, *, resubscribe: bool, remote_id: str | None
    ) -> str | None:
        """Add or update the person on the list; the tool's id of them, when it gives one."""

    async def unsubscribe(self, contact: Contact, *, remote_id: str | None) -> None: ...

    async def erase(self, contact: Contact, *, remote_id: str | None) -> str | None:
        """Remove the person for good where the tool allows it; a note for the owner when
        the tool cannot (Kit), else None."""


def calling(base_url: str, headers: Mapping[str, str], **options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for one provider's API (JSON, a bounded timeout)."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"accept": "application/json", "user-agent": "leadlink", **headers},
        timeout=TIMEOUT_SECONDS,
        **options,
    )


async def send(
    client: httpx.AsyncClient, provider: str, method: str, path: str, **options: Any
) -> httpx.Response:
    """One request; a refused connection or a timeout is `ProviderUnavailable`."""
    try:
        return await client.request(method, path, **options)
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(
            f"{provider} did not answer in time; trying again later."
        ) from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"{provider} could not be reached; trying again later.") from exc


def refuse_token(provider: str, response: httpx.Response) -> None:
    """A 401 is the key: the owner must paste a new one."""
    if response.status_code == 401:
        raise TokenRejected(f"{provider} refused the API key (401): paste a new one.")


def answer_of(provider: str, response: httpx.Response, *, missing_ok: bool = False) -> Any:
    """The answer's JSON (None for a 204, and for a 404 when the person may already be gone:
    `missing_ok`), or the trouble it means. A client checks its tool's own refusals of a person
    (a 400 or 422 with the tool's error body) before this."""
    refuse_token(provider, response)
    if response.status_code == 404 and missing_ok:
        return None
    if response.status_code == 204:
        return None
    return json_of(response, provider)


def error_fields(response: httpx.Response, first: str, second: str) -> tuple[str, str]:
    """Two text fields of an error body (Brevo's `code` and `message`, Mailchimp's problem
    `title` and `detail`); empty for a body that is not a JSON object."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get(first) or ""), str(body.get(second) or "")
