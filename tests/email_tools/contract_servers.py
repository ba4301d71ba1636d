"""Local servers that speak each email tool's documented contract (paths, auth header, JSON
shapes, status codes, cursor pages), so the connectors are tested without the internet.

Each keeps what it was told (members, subscribers, contacts, tags) and every request it got;
`fail_next` makes the next answers a documented failure (401, 429 with Retry-After, 5xx, a
body that is not JSON) before the normal contract resumes.

- Mailchimp Marketing API 3.0: Basic auth (any user, the key as password); members at
  `/lists/{list_id}/members/{md5 of the lower-case address}`; problem+json errors.
- Kit API v4: `X-Kit-Api-Key`; `POST /subscribers` upserts; tags listed in cursor pages
  (`after`, `pagination.end_cursor`, `has_next_page`), created by name (200 with the existing
  one), applied with `POST /tags/{tag_id}/subscribers/{id}`; 422 for an address it refuses.
- Brevo API v3: `api-key`; `POST /contacts` (201 with the id, 204 updated with
  `updateEnabled`), `PUT` and `DELETE /contacts/{identifier}`; `{"code", "message"}` errors.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.servers import serving_on_free_port

__all__ = ["Answer", "Brevo", "ContractServer", "Kit", "Mailchimp", "serving"]

REFUSED_DOMAIN = "@looks-fake.com"  # the servers refuse these addresses as the tools document


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a body that is not JSON

    def response(self) -> Response:
        if self.raw is not None:
            return Response(self.raw, status_code=self.status, headers=self.headers)
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


@dataclass
class Seen:
    method: str
    path: str
    json: Any
    query: dict[str, str]


class ContractServer:
    """The bookkeeping every provider's server shares."""

    prefix = ""

    def __init__(self, key: str) -> None:
        self.key = key
        self.requests: list[Seen] = []
        self.failures: list[Answer] = []
        self.app = FastAPI()
        self.url = ""

        @self.app.middleware("http")
        async def record(request: Request, call_next: Any) -> Response:
            body = await request.body()
            try:
                data = await request.json() if body else None
            except ValueError:
                data = None
            self.requests.append(
                Seen(request.method, request.url.path, data, dict(request.query_params))
            )
            if self.failures:
                return self.failures.pop(0).response()
            if not self.authorised(request):
                return self.unauthorised()
            answer: Response = await call_next(request)
            return answer

        self.routes()

    def fail_next(self, *answers: Answer) -> None:
        self.failures.extend(answers)

    def calls(self, method: str, fragment: str = "") -> list[Seen]:
        return [seen for seen in self.requests if seen.method == method and fragment in seen.path]

    def authorised(self, request: Request) -> bool:
        raise NotImplementedError

    def unauthorised(self) -> Response:
        raise NotImplementedError

    def routes(self) -> None:
        raise NotImplementedError


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "test",
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


class Mailchimp(ContractServer):
    prefix = "/3.0"
    list_id = "a1b2c3d4e5"

    def __init__(self, key: str) -> None:
        self.members: dict[str, dict[str, Any]] = {}
        self.forgotten: set[str] = set()
        super().__init__(key)

    def authorised(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        _, _, password = base64.b64decode(encoded).decode().partition(":")
        return password == self.key

    def unauthorised(self) -> Response:
        return _problem(401, "API Key Invalid", "Your API key may be invalid.")

    def member(self, email: str) -> dict[str, Any] | None:
        return self.members.get(hashlib.md5(email.lower().encode()).hexdigest())

    def routes(self) -> None:
        base = "/3.0/lists/{list_id}/members/{subscriber_hash}"

        def unknown(list_id: str) -> JSONResponse | None:
            if list_id != self.list_id:
                return _problem(
                    404, "Resource Not Found", "The requested resource could not be found."
                )
            return None

        @self.app.put(base)
        async def put_member(list_id: str, subscriber_hash: str, request: Request) -> Response:
            if missing := unknown(list_id):
                return missing
            body = await request.json()
            email = body.get("email_address", "")
            if hashlib.md5(email.lower().encode()).hexdigest() != subscriber_hash:
                return _problem(400, "Invalid Resource", "The subscriber hash does not match.")
            if email.endswith(REFUSED_DOMAIN):
                return _problem(
                    400,
                    "Invalid Resource",
                    f"{email} looks fake or invalid, please enter a real email address.",
                )
            if subscriber_hash in self.forgotten:
                return _problem(
                    400, "Forgotten Email Not Subscribed", f"{email} was permanently deleted."
                )
            member = self.members.get(subscriber_hash)
            if member is None:
                if body.get("status_if_new") not in {
                    "subscribed",
                    "pending",
                    "unsubscribed",
                    "cleaned",
                    "transactional",
                }:
                    return _problem(
                        400, "Invalid Resource", "status_if_new is required for a new member."
                    )
                member = {
                    "id": subscriber_hash,
                    "email_address": email,
                    "status": body["status_if_new"],
                    "merge_fields": {},
                    "tags": [],
                }
                self.members[subscriber_hash] = member
            elif "status" in body:
                member["status"] = body["status"]
            member["merge_fields"].update(body.get("merge_fields") or {})
            return JSONResponse({**member, "list_id": list_id})

        @self.app.patch(base)
        async def patch_member(list_id: str, subscriber_hash: str, request: Request) -> Response:
            if missing := unknown(list_id):
                return missing
            member = self.members.get(subscriber_hash)
            if member is None:
                return _problem(
                    404, "Resource Not Found", "The requested resource could not be found."
                )
            member["status"] = (await request.json())["status"]
            return JSONResponse(member)

        @self.app.post(base + "/tags")
        async def tags(list_id: str, subscriber_hash: str, request: Request) -> Response:
            member = self.members.get(subscriber_hash)
            if member is None or list_id != self.list_id:
                return _problem(
                    404, "Resource Not Found", "The requested resource could not be found."
                )
            for tag in (await request.json())["tags"]:
                if tag["status"] == "active" and tag["name"] not in member["tags"]:
                    member["tags"].append(tag["name"])
            return Response(status_code=204)

        @self.app.post(base + "/actions/delete-permanent")
        async def delete_permanent(list_id: str, subscriber_hash: str) -> Response:
            if self.members.pop(subscriber_hash, None) is None or list_id != self.list_id:
                return _problem(
                    404, "Resource Not Found", "The requested resource could not be found."
                )
            self.forgotten.add(subscriber_hash)
            return Response(status_code=204)


class Kit(ContractServer):
    prefix = "/v4"
    page_size = 2  # small cursor pages, so the client must follow them

    def __init__(self, key: str) -> None:
        self.subscribers: dict[int, dict[str, Any]] = {}
        self.tags: list[dict[str, Any]] = [
            {"id": 100 + n, "name": f"existing {n}", "created_at": "2026-01-01T00:00:00Z"}
            for n in range(3)
        ]
        self.tagged: dict[int, set[str]] = {}
        super().__init__(key)

    def authorised(self, request: Request) -> bool:
        return request.headers.get("x-kit-api-key") == self.key

    def unauthorised(self) -> Response:
        return JSONResponse({"errors": ["The access token is invalid"]}, status_code=401)

    def by_email(self, email: str) -> dict[str, Any] | None:
        # Kit matches addresses without regard to case.
        wanted = email.lower()
        return next(
            (s for s in self.subscribers.values() if s["email_address"].lower() == wanted), None
        )

    def routes(self) -> None:
        @self.app.post("/v4/subscribers")
        async def create(request: Request) -> Response:
            body = await request.json()
            email = body.get("email_address") or ""
            if "@" not in email or email.endswith(REFUSED_DOMAIN):
                return JSONResponse({"errors": ["Email address is invalid"]}, status_code=422)
            found = self.by_email(email)
            if found is not None:
                found["first_name"] = body.get("first_name")
                return JSONResponse({"subscriber": found}, status_code=200)
            subscriber = {
                "id": 1000 + len(self.subscribers),
                "first_name": body.get("first_name"),
                "email_address": email,
                "state": body.get("state", "active"),
                "created_at": "2026-12-06T00:00:00Z",
                "fields": {},
            }
            self.subscribers[subscriber["id"]] = subscriber
            return JSONResponse({"subscriber": subscriber}, status_code=201)

        @self.app.get("/v4/subscribers")
        async def listing(email_address: str = "", status: str = "active") -> Response:
            found = [
                s
                for s in self.subscribers.values()
                if s["email_address"].lower() == email_address.lower()
                and (status == "all" or s["state"] == status)
            ]
            pagination = {
                "has_previous_page": False,
                "has_next_page": False,
                "start_cursor": None,
                "end_cursor": None,
                "per_page": 500,
            }
            return JSONResponse({"subscribers": found, "pagination": pagination})

        @self.app.post("/v4/subscribers/{subscriber_id}/unsubscribe")
        async def unsubscribe(subscriber_id: int) -> Response:
            subscriber = self.subscribers.get(subscriber_id)
            if subscriber is None:
                return JSONResponse({"errors": ["Not Found"]}, status_code=404)
            subscriber["state"] = "cancelled"
            return Response(status_code=204)

        @self.app.get("/v4/tags")
        async def tags(after: str = "", per_page: int = 500) -> Response:
            start = int(after) if after else 0
            size = min(per_page, self.page_size)
            page = self.tags[start : start + size]
            more = start + size < len(self.tags)
            pagination = {
                "has_previous_page": start > 0,
                "has_next_page": more,
                "start_cursor": str(start),
                "end_cursor": str(start + size) if more else None,
                "per_page": size,
            }
            return JSONResponse({"tags": page, "pagination": pagination})

        @self.app.post("/v4/tags")
        async def create_tag(request: Request) -> Response:
            name = (await request.json())["name"]
            for tag in self.tags:
                if tag["name"] == name:
                    return JSONResponse({"tag": tag}, status_code=200)
            new_id = max((t["id"] for t in self.tags), default=99) + 1
            tag = {"id": new_id, "name": name, "created_at": "2026-12-06T00:00:00Z"}
            self.tags.append(tag)
            return JSONResponse({"tag": tag}, status_code=201)

        @self.app.post("/v4/tags/{tag_id}/subscribers/{subscriber_id}")
        async def tag_subscriber(tag_id: int, subscriber_id: int) -> Response:
            tag = next((t for t in self.tags if t["id"] == tag_id), None)
            subscriber = self.subscribers.get(subscriber_id)
            if tag is None or subscriber is None:
                return JSONResponse({"errors": ["Not Found"]}, status_code=404)
            names = self.tagged.setdefault(subscriber_id, set())
            status = 200 if tag["name"] in names else 201
            names.add(tag["name"])
            return JSONResponse({"subscriber": subscriber}, status_code=status)


class Brevo(ContractServer):
    prefix = "/v3"
    list_id = 7

    def __init__(self, key: str) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        super().__init__(key)

    def authorised(self, request: Request) -> bool:
        return request.headers.get("api-key") == self.key

    def unauthorised(self) -> Response:
        return JSONResponse({"code": "unauthorized", "message": "Key not found"}, status_code=401)

    def routes(self) -> None:
        @self.app.post("/v3/contacts")
        async def create(request: Request) -> Response:
            body = await request.json()
            email = (body.get("email") or "").lower()  # Brevo keeps addresses in lower case
            if "@" not in email or email.endswith(REFUSED_DOMAIN):
                error = {"code": "invalid_parameter", "message": "Invalid email address"}
                return JSONResponse(error, status_code=400)
            attributes = body.get("attributes") or {}
            if any(key != key.upper() for key in attributes):
                error = {"code": "invalid_parameter", "message": "Attribute names are upper case"}
                return JSONResponse(error, status_code=400)
            if not all(isinstance(item, int) for item in body.get("listIds") or []):
                error = {"code": "invalid_parameter", "message": "listIds must be integers"}
                return JSONResponse(error, status_code=400)
            found = self.contacts.get(email)
            if found is not None:
                if not body.get("updateEnabled"):
                    error = {"code": "duplicate_parameter", "message": "Contact already exist"}
                    return JSONResponse(error, status_code=400)
                found["attributes"].update(attributes)
                found["listIds"] = sorted({*found["listIds"], *(body.get("listIds") or [])})
                return Response(status_code=204)
            contact = {
                "id": 21 + len(self.contacts),
                "email": email,
                "attributes": dict(attributes),
                "listIds": list(body.get("listIds") or []),
                "emailBlacklisted": False,
            }
            self.contacts[email] = contact
            return JSONResponse({"id": contact["id"]}, status_code=201)

        @self.app.put("/v3/contacts/{identifier}")
        async def update(identifier: str, request: Request) -> Response:
            contact = self.contacts.get(identifier.lower())
            if contact is None:
                error = {"code": "document_not_found", "message": "Contact does not exist"}
                return JSONResponse(error, status_code=404)
            body = await request.json()
            unlink = set(body.get("unlinkListIds") or [])
            contact["listIds"] = [item for item in contact["listIds"] if item not in unlink]
            return Response(status_code=204)

        @self.app.delete("/v3/contacts/{identifier}")
        async def delete(identifier: str) -> Response:
            if self.contacts.pop(identifier.lower(), None) is None:
                error = {"code": "document_not_found", "message": "Contact does not exist"}
                return JSONResponse(error, status_code=404)
            return Response(status_code=204)


Served = TypeVar("Served", bound=ContractServer)


@asynccontextmanager
async def serving(server: Served) -> AsyncIterator[Served]:
    """Serve `server` on a free local port (a uvicorn task of the test's event loop)."""
    async with serving_on_free_port(server.app, lifespan="off") as port:
        server.url = f"http://127.0.0.1:{port}{server.prefix}"
        yield server
