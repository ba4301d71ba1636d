"""What the leads API reads and writes: a lead, an import, a change, a page of leads, and the
export of everything held about one person."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from app import patterns
from app.links.sources import CANONICAL_SOURCES

if TYPE_CHECKING:
    from app.leads.queries import LeadRow

__all__ = [
    "ConsentEventRead",
    "ErasureCreate",
    "ErasureRead",
    "LeadCreate",
    "LeadList",
    "LeadRead",
    "LeadStatusName",
    "LeadUpdate",
    "PersonExport",
    "PersonLead",
    "PersonSale",
    "SourceName",
]

LeadStatusName = Literal["pending", "confirmed", "unsubscribed", "customer"]
SourceName = Literal[CANONICAL_SOURCES]  # type: ignore[valid-type]
MAX_FIELDS = 20
MAX_FIELD_VALUE = 500


Attribution = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100, pattern=patterns.ONE_LINE)
]
# Pydantic writes key rules as `patternProperties`, which alone would allow any other key.
ONLY_FIELD_KEYS: dict[str, Any] = {"additionalProperties": False}
FieldKey = Annotated[str, StringConstraints(pattern=patterns.FIELD_KEY)]
FieldValue = Annotated[
    str, StringConstraints(max_length=MAX_FIELD_VALUE, pattern=patterns.ONE_LINE)
]
CENT = Decimal("0.01")


def _money_from_number(value: object) -> object:
    """A JSON number as the decimal string it stands for (49 → "49", 49.5 → "49.5"); a
    string goes on to the pattern. A float is binary, so 0.29 arrives as 0.29000000000000004:
    within a billionth of a cent it counts as two decimals, further off it is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("money", "Must be a finite amount, not NaN or infinity.")
    amount = Decimal(repr(value))
    cents = amount.quantize(CENT)
    if abs(amount - cents) > Decimal("1e-9"):
        raise PydanticCustomError("money", "Must be an amount with at most two decimals.")
    return format(cents if isinstance(value, float) else amount, "f")


Money = Annotated[
    str,
    BeforeValidator(_money_from_number),
    StringConstraints(pattern=patterns.MONEY),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": patterns.MONEY},
                {"type": "number", "minimum": 0, "maximum": 9999999999.99, "multipleOf": 0.01},
            ],
            "description": (
                'An amount with at most two decimals: a decimal string ("49.00") or a JSON '
                "number (49, 49.5)."
            ),
            "examples": ["49.00", 49],
        }
    ),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=patterns.CURRENCY),
    AfterValidator(str.upper),
    Field(description="An ISO 4217 code, e.g. EUR.", examples=["EUR"]),
]
EmailAddress = Annotated[
    str, StringConstraints(max_length=320), Field(json_schema_extra={"format": "email"})
]


_LEAD_EXAMPLE: dict[str, Any] = {
    "id": "1042",
    "email": "anna@example.com",
    "name": "Anna",
    "fields": {"company": "Acme"},
    "page": "free-guide",
    "page_id": "7",
    "handle": "anna",
    "handle_id": "3",
    "status": "customer",
    "source": "instagram",
    "medium": "social",
    "campaign": "spring",
    "variant": "b",
    "newsletter_consent": True,
    "consent_version": 2,
    "created_at": "2026-11-20T08:15:02.113Z",
    "updated_at": "2026-11-22T10:00:00Z",
    "confirmed_at": "2026-11-20T08:16:40Z",
    "customer_value": "49.00",
    "customer_currency": "EUR",
}


class LeadRead(BaseModel):
    """A lead as the API shows it; ids are strings, `customer_value` a decimal string."""

    model_config = ConfigDict(json_schema_extra={"examples": [_LEAD_EXAMPLE]})

    id: str
    email: str
    name: str | None
    fields: dict[str, str]
    page: str = Field(description="The page's slug.")
    page_id: str
    handle: str = Field(description="The handle's name.")
    handle_id: str
    status: LeadStatusName
    source: str = Field(description="Canonical source: instagram, tiktok, x, …, direct, other.")
    medium: str | None
    campaign: str | None
    variant: str | None
    newsletter_consent: bool = Field(
        description=(
            "Whether the person ticked the page's newsletter box at their latest opt-in: true"
            " for a newsletter sign-up, false for a gift-only one (and for an import)."
        ),
        examples=[True],
    )
    consent_version: int | None = Field(
        description=(
            "The version of the page's consent text shown at the latest opt-in (the consent"
            " ledger in GET /leads/export has the text); null for a lead older than the field."
        ),
        examples=[2],
    )
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    customer_value: str | None = Field(description='A decimal string such as "49.00".')
    customer_currency: str | None

    @classmethod
    def from_row(cls, row: LeadRow) -> LeadRead:
        """The read model of a lead with its page's slug and its handle's name."""
        lead = row.lead
        return cls(
            id=str(lead.id),
            email=lead.email,
            name=lead.name,
            fields={str(key): str(value) for key, value in (lead.fields or {}).items()},
            page=row.page_slug,
            page_id=str(lead.page_id),
            handle=row.handle_name,
            handle_id=str(lead.handle_id),
            status=lead.status,
            source=lead.source,
            medium=lead.medium,
            campaign=lead.campaign,
            variant=lead.variant,
            newsletter_consent=bool(lead.newsletter_consent),
            consent_version=lead.consent_version,
            created_at=lead.created_at,
            updated_at=lead.updated_at,
            confirmed_at=lead.confirmed_at,
            customer_value=_money(lead.customer_value),
            customer_currency=lead.customer_currency,
        )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


class LeadCreate(BaseModel):
    """A lead a CRM imports. `pending` (the default) sends the page's confirmation email, as the
    form does; `confirmed` means the caller already holds consent, and sends nothing."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "anna@example.com",
                    "name": "Anna",
                    "fields": {"company": "Acme"},
                    "page": "free-guide",
                    "source": "instagram",
                    "campaign": "spring",
                    "status": "confirmed",
                }
            ]
        },
    )

    email: EmailAddress
    name: Annotated[str, StringConstraints(max_length=200, pattern=patterns.ONE_LINE)] | None = None
    fields: Annotated[dict[FieldKey, FieldValue], Field(json_schema_extra=ONLY_FIELD_KEYS)] = Field(
        default_factory=dict,
        description="The page's custom fields, by key (the same rules as on the form).",
    )
    page: Annotated[str, StringConstraints(pattern=patterns.PAGE_REF)] = Field(
        description="The page's slug."
    )
    source: SourceName = "other"
    medium: Attribution | None = None
    campaign: Attribution | None = None
    status: Literal["pending", "confirmed"] = "pending"


class LeadUpdate(BaseModel):
    """A change a CRM pushes back. `fields` is merged into the lead's fields (null removes a
    key). `value` and `currency` belong to a customer (a lead marked `customer` now or
    before; else 409); a value without a currency keeps the lead's currency (409 when it has
    none yet). An empty change changes nothing."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "customer", "value": "49.00", "currency": "EUR"},
                {"status": "unsubscribed"},
                {"fields": {"crm_id": "0031x00000AbCdE", "old_note": None}},
            ],
        },
    )

    status: Literal["confirmed", "customer", "unsubscribed"] | None = None
    value: Money | None = None
    currency: Currency | None = None
    fields: (
        Annotated[
            dict[FieldKey, FieldValue | None],
            Field(max_length=MAX_FIELDS, json_schema_extra=ONLY_FIELD_KEYS),
        ]
        | None
    ) = None


class LeadList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_LEAD_EXAMPLE], "next_cursor": "eyJvIjoiaWQiLCJr…"}]
        }
    )

    items: list[LeadRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done.")


class ConsentEventRead(BaseModel):
    kind: Literal["opt_in", "confirmed", "unsubscribed", "resubscribed"]
    consent_text: str
    consent_version: int
    checkbox: bool
    source: str | None
    created_at: datetime


class PersonLead(LeadRead):
    consent: list[ConsentEventRead] = Field(description="The consent ledger, oldest first.")
    unsubscribed_at: datetime | None
    customer_at: datetime | None


class PersonSale(BaseModel):
    """A purchase a connected shop reported for this address (docs/integrations.md)."""

    provider: str = Field(description="stripe, shopify or gumroad.")
    amount: str = Field(description='A decimal string such as "49.00".')
    currency: str
    lead_id: str | None = Field(description="The lead it made a customer; null: none matched.")
    occurred_at: datetime


class PersonEmailTool(BaseModel):
    """An email tool a lead with this address was sent to (docs/integrations.md): a recipient
    of the person's data."""

    provider: str = Field(description="mailchimp, kit or brevo.")
    lead_id: str
    action: str = Field(description="The latest change sent: subscribe or unsubscribe.")
    state: str = Field(description="queued, synced or failed.")
    synced_at: datetime | None = Field(description="When the tool last accepted it.")


class PersonExport(BaseModel):
    """Everything leadlink holds about one email address (data subject access)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "anna@example.com",
                    "leads": [
                        {
                            **_LEAD_EXAMPLE,
                            "unsubscribed_at": None,
                            "customer_at": "2026-11-22T10:00:00Z",
                            "consent": [
                                {
                                    "kind": "opt_in",
                                    "consent_text": "Send me the guide and the weekly tips.",
                                    "consent_version": 2,
                                    "checkbox": True,
                                    "source": "instagram",
                                    "created_at": "2026-11-20T08:15:02Z",
                                }
                            ],
                        }
                    ],
                    "sales": [
                        {
                            "provider": "stripe",
                            "amount": "49.00",
                            "currency": "EUR",
                            "lead_id": "1042",
                            "occurred_at": "2026-11-22T10:00:00Z",
                        }
                    ],
                    "email_tools": [
                        {
                            "provider": "mailchimp",
                            "lead_id": "1042",
                            "action": "subscribe",
                            "state": "synced",
                            "synced_at": "2026-11-20T08:20:00Z",
                        }
                    ],
                }
            ]
        }
    )

    email: str
    leads: list[PersonLead]
    sales: list[PersonSale] = Field(
        description="Purchases connected shops reported for this address, oldest first."
    )
    email_tools: list[PersonEmailTool] = Field(
        default_factory=list,
        description="The email tools the person's leads were sent to, by lead.",
    )


class ErasureCreate(BaseModel):
    """Erase every lead of one address (on the handles the key may see)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "anna@example.com"}]}
    )

    email: EmailAddress = Field(
        description="The address as the person gives it; matched as leads store it (normalised)."
    )


class ErasureRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"erased": 2}]})

    erased: int = Field(description="How many leads were erased now (0 on a repeat).", ge=0)
