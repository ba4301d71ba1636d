"""What the keys API reads and writes: a new key's request, a key (never its secret, except in
the one response that creates it), and a page of keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app import patterns
from app.api_keys.models import ApiKey

__all__ = ["ApiKeyCreate", "ApiKeyCreated", "ApiKeyList", "ApiKeyRead", "Scope"]

Scope = Literal["leads:read", "leads:write", "pages:write", "reports:read", "admin"]
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=patterns.ONE_LINE)]
HandleName = Annotated[str, StringConstraints(pattern=patterns.HANDLE_REF)]

_KEY_EXAMPLE: dict[str, Any] = {
    "id": "3",
    "name": "HubSpot sync",
    "prefix": "ll_Xk2v9QaB",
    "scopes": ["leads:read", "leads:write"],
    "handles": ["anna"],
    "created_at": "2026-11-22T09:30:00Z",
    "last_used_at": "2026-11-22T10:02:11Z",
    "revoked_at": None,
}


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "HubSpot sync",
                    "scopes": ["leads:read", "leads:write"],
                    "handles": ["anna"],
                }
            ]
        },
    )

    name: KeyName = Field(description="A label, e.g. the CRM's name.")
    scopes: list[Scope] = Field(min_length=1, max_length=5, description="`admin` implies all.")
    handles: list[HandleName] = Field(
        default_factory=list,
        max_length=50,
        description="Restrict the key to these handles; empty: every handle.",
    )


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: str
    name: str
    prefix: str = Field(description="The first characters of the secret, to tell keys apart.")
    scopes: list[str]
    handles: list[str] = Field(description="The handles the key is restricted to; empty: all.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Exact to the minute.")
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, key: ApiKey, handles: list[str]) -> ApiKeyRead:
        """The key as the API shows it, with the names of the handles it is restricted to."""
        return cls(
            id=str(key.id),
            name=key.name,
            prefix=key.prefix,
            scopes=key.scopes.split(),
            handles=handles,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_KEY_EXAMPLE, "last_used_at": None, "secret": "ll_Xk2v9QaB…"}]
        }
    )

    secret: str | None = Field(
        description=(
            "The key itself, shown in this response only and stored as a hash; null when the "
            "response is an idempotent replay."
        )
    )


class ApiKeyList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_KEY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ApiKeyRead]
    next_cursor: str | None
