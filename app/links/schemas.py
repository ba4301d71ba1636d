"""What the handles API reads and writes: a handle with its default page and routing rules,
a new handle, a change, a new route, and a page of handles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from app import patterns
from app.handles.exceptions import InvalidHandle
from app.handles.models import Handle
from app.handles.names import normalize_handle_name
from app.links.models import Route
from app.links.sources import CANONICAL_SOURCES

__all__ = [
    "HandleCreate",
    "HandleList",
    "HandleRead",
    "HandleUpdate",
    "RouteCreate",
    "RouteRead",
]

SourceName = Literal[CANONICAL_SOURCES]  # type: ignore[valid-type]


def _handle_name(value: str) -> str:
    try:
        return normalize_handle_name(value)
    except InvalidHandle as exc:
        raise PydanticCustomError("handle_name", exc.detail) from None


# The pattern states the form; `_handle_name` adds the reserved names and lower-cases.
HandleName = Annotated[
    str,
    StringConstraints(pattern=patterns.HANDLE_NAME),
    AfterValidator(_handle_name),
]
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100, pattern=patterns.ONE_LINE)
]
PageSlug = Annotated[str, StringConstraints(pattern=patterns.SLUG)]
# The form of a target URL, stated in the schema: http(s), a plain host name (and port), no
# blanks, control characters or backslashes. `check_external_url` remains the service's rule.
TargetUrl = Annotated[
    str,
    StringConstraints(
        max_length=2048,
        pattern=patterns.TARGET_URL,
    ),
]

_ROUTE_EXAMPLES: list[dict[str, Any]] = [
    {
        "id": "7",
        "source": "tiktok",
        "variant": "short-form",
        "weight": 1,
        "page": "tiktok-guide",
        "page_id": "14",
        "url": None,
        "created_at": "2026-11-22T09:40:00Z",
    },
    {
        "id": "8",
        "source": "instagram",
        "variant": "A",
        "weight": 50,
        "page": "free-guide",
        "page_id": "12",
        "url": None,
        "created_at": "2026-11-22T09:41:00Z",
    },
    {
        "id": "9",
        "source": "instagram",
        "variant": "B",
        "weight": 50,
        "page": "free-checklist",
        "page_id": "13",
        "url": None,
        "created_at": "2026-11-22T09:41:00Z",
    },
    {
        "id": "10",
        "source": "youtube",
        "variant": "external",
        "weight": 1,
        "page": None,
        "page_id": None,
        "url": "https://shop.example.com/course",
        "created_at": "2026-11-22T09:42:00Z",
    },
]
_HANDLE_EXAMPLE: dict[str, Any] = {
    "id": "3",
    "name": "anna",
    "display_name": "Anna Berg",
    "url": "https://links.example.com/@anna",
    "default_page": "free-guide",
    "default_page_id": "12",
    "routes": _ROUTE_EXAMPLES,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:42:00Z",
}


class HandleCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "anna", "display_name": "Anna Berg"}]},
    )

    name: HandleName = Field(
        description=(
            "The name in `/@name`: 1 to 30 of a-z, 0-9, '.', '_', '-', starting and ending with "
            "a letter or digit; lower-cased, a leading '@' dropped. Some names are reserved "
            "(`admin`, `api`, `p`, …): a 422 naming `name`."
        )
    )
    display_name: DisplayName = Field("", description="The name shown to visitors.")


class HandleUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"default_page": "free-checklist"}, {"display_name": "Anna B."}]
        },
    )

    display_name: DisplayName | None = None
    default_page: PageSlug | None = Field(
        None,
        description=(
            "The slug of one of the handle's pages: what visitors get when no route applies."
        ),
    )


class RouteCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"source": "tiktok", "page": "tiktok-guide"},
                {"source": "instagram", "page": "free-checklist", "weight": 50, "variant": "B"},
                {"source": "youtube", "url": "https://shop.example.com/course"},
            ],
            # Exactly one of `page` and `url` (absent and null are the same); the service
            # refuses the rest with a 422 naming both.
            "oneOf": [
                {
                    "required": ["page"],
                    "properties": {"page": {"type": "string"}, "url": {"type": "null"}},
                },
                {
                    "required": ["url"],
                    "properties": {"url": {"type": "string"}, "page": {"type": "null"}},
                },
            ],
        },
    )

    source: SourceName | None = Field(
        None, description="Only visitors from this source; null or absent: any source."
    )
    page: PageSlug | None = Field(
        None, description="Send them to this page of the handle (its slug)…"
    )
    url: TargetUrl | None = Field(
        None, description="…or redirect them (302) to this http(s) URL. Exactly one of the two."
    )
    weight: int = Field(
        1,
        ge=0,
        le=10_000,
        description=(
            "Routes of the same source split its visitors by weight (A/B variants); 0 pauses one."
        ),
    )
    variant: Annotated[str, StringConstraints(pattern=patterns.VARIANT)] | None = Field(
        None, description="The variant's name in reports; default: the page's slug or `external`."
    )


class RouteRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ROUTE_EXAMPLES[1]]})

    id: str
    source: SourceName | None = Field(description="null: visitors of any source.")
    variant: str
    weight: int
    page: str | None = Field(description="The page's slug, or null for an external URL.")
    page_id: str | None
    url: str | None = Field(description="The external URL, or null for a page.")
    created_at: datetime

    @classmethod
    def from_row(cls, route: Route, slugs: Mapping[int, str]) -> RouteRead:
        """The route as the API shows it; `slugs` names its page by id."""
        return cls(
            id=str(route.id),
            source=route.source,
            variant=route.variant,
            weight=route.weight,
            page=slugs[route.page_id] if route.page_id is not None else None,
            page_id=str(route.page_id) if route.page_id is not None else None,
            url=route.target_url,
            created_at=route.created_at,
        )


class HandleRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_HANDLE_EXAMPLE]})

    id: str
    name: str
    display_name: str
    url: str = Field(description="The one link to put in every bio.")
    default_page: str | None = Field(description="Its slug; null: none yet.")
    default_page_id: str | None
    routes: list[RouteRead] = Field(
        description=(
            "The routing rules in the order they were added. A visitor gets a route of their "
            "source if there is one, else a route of any source, else the default page; "
            "several candidates split visitors by weight."
        )
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(
        cls, handle: Handle, routes: Sequence[Route], slugs: Mapping[int, str], base_url: str
    ) -> HandleRead:
        """The handle as the API shows it, with its `routes`; `slugs` names pages by id."""
        default = handle.default_page_id
        return cls(
            id=str(handle.id),
            name=handle.name,
            display_name=handle.display_name,
            url=f"{base_url}/@{handle.name}",
            default_page=slugs.get(default) if default else None,
            default_page_id=str(default) if default else None,
            routes=[RouteRead.from_row(route, slugs) for route in routes],
            created_at=handle.created_at,
            updated_at=handle.updated_at,
        )


class HandleList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_HANDLE_EXAMPLE], "next_cursor": None}]}
    )

    items: list[HandleRead]
    next_cursor: str | None
