"""What a page is made of when it is created or changed: checked field by field here, and across
fields (the gift) by the page service. The REST API and the CLI both take a page as
`PageCreateRequest`/`PageUpdateRequest` and hand the service a `PageCreate`/`PageUpdate`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app import patterns
from app.errors import FieldError, ValidationFailed
from app.external_urls import check_external_url, check_thank_you_url
from app.pages.models import GiftKind, Page, Theme

__all__ = [
    "MAX_BODY_LENGTH",
    "MAX_CUSTOM_FIELDS",
    "ApiGiftKind",
    "CustomField",
    "PageCreate",
    "PageCreateRequest",
    "PageList",
    "PageRead",
    "PageStatusName",
    "PageUpdate",
    "PageUpdateRequest",
    "field_errors",
]

SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
FIELD_KEY_PATTERN = re.compile(r"[a-z0-9_]{1,32}")
MAX_CUSTOM_FIELDS = 5
MAX_OPTIONS = 20
# A 10,000-character body keeps the whole landing page (HTML, CSS, form) under 30 KB.
MAX_BODY_LENGTH = 10_000
# An uploaded hero image: the path `app.pages.views` serves it at.
LOCAL_IMAGE_PATTERN = re.compile(r"/media/[0-9a-f]{32}\.(?:png|jpg|webp|gif)")
MAX_EMAIL_TEXT_LENGTH = 5_000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("page_field", message)


def _line(max_length: int, *, required: bool = False) -> AfterValidator:
    """One trimmed line: titles and labels end up in attributes, headers and email subjects."""

    def check(value: str) -> str:
        value = value.strip()
        if _CONTROL_OR_NEWLINE.search(value):
            raise _fail("Must be one line without control characters.")
        if required and not value:
            raise _fail("Cannot be empty.")
        if len(value) > max_length:
            raise _fail(f"Has at most {max_length} characters.")
        return value

    return AfterValidator(check)


def _text(max_length: int) -> AfterValidator:
    """Trimmed text that may span lines (Markdown, consent)."""

    def check(value: str) -> str:
        value = value.replace("\r\n", "\n").strip()
        if _CONTROL.search(value):
            raise _fail("Cannot contain control characters.")
        if len(value) > max_length:
            raise _fail(f"Has at most {max_length:,} characters.")
        return value

    return AfterValidator(check)


def _slug(value: str) -> str:
    slug = value.strip().lower()
    if not SLUG_PATTERN.fullmatch(slug):
        raise _fail(
            "A slug has 1 to 64 characters: letters a-z, digits and '-', not at either end."
        )
    return slug


def _image_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if LOCAL_IMAGE_PATTERN.fullmatch(value):
        return value  # an image uploaded in the admin, served by this server
    # The page's Content-Security-Policy loads images over https: only (no mixed content).
    if not value.lower().startswith("https://"):
        raise _fail("Images must be https:// URLs.")
    problem = check_external_url(value)
    if problem:
        raise _fail(problem)
    return value


def _thank_you_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    problem = check_thank_you_url(value)
    if problem:
        raise _fail(problem)
    return value


def _blank_to_none(value: str | None) -> str | None:
    return value or None


Slug = Annotated[str, AfterValidator(_slug)]
Title = Annotated[str, _line(200, required=True)]
Headline = Annotated[str, _line(300)]
Body = Annotated[str, _text(MAX_BODY_LENGTH)]
ConsentText = Annotated[str, _text(2_000)]
GiftTitle = Annotated[str, _line(200, required=True)]
ImageUrl = Annotated[str | None, AfterValidator(_image_url)]
OgTitle = Annotated[Annotated[str, _line(200)] | None, AfterValidator(_blank_to_none)]
OgDescription = Annotated[Annotated[str, _line(300)] | None, AfterValidator(_blank_to_none)]
NameField = Literal["off", "optional", "required"]
EmailSubject = Annotated[str, _line(200)]
EmailText = Annotated[str, _text(MAX_EMAIL_TEXT_LENGTH)]
ThankYouUrl = Annotated[str | None, AfterValidator(_thank_you_url)]


class CustomField(BaseModel):
    """A form field besides email and name, posted as `f_<key>`."""

    model_config = ConfigDict(extra="forbid")

    key: str
    label: Annotated[str, _line(200, required=True)]
    type: Literal["text", "select", "checkbox"] = "text"
    required: bool = False
    options: list[str] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if not FIELD_KEY_PATTERN.fullmatch(value):
            raise _fail("A field key has 1 to 32 characters: a-z, 0-9 and '_'.")
        return value

    @field_validator("options")
    @classmethod
    def _check_options(cls, value: list[str]) -> list[str]:
        options = [option.strip() for option in value]
        if len(options) > MAX_OPTIONS:
            raise _fail(f"A select field has at most {MAX_OPTIONS} options.")
        if any(not option or len(option) > 100 for option in options):
            raise _fail("Each option has 1 to 100 characters.")
        if any(_CONTROL_OR_NEWLINE.search(option) for option in options):
            raise _fail("Options must be one line without control characters.")
        if len(set(options)) != len(options):
            raise _fail("Options must differ from each other.")
        return options

    @model_validator(mode="after")
    def _check_type(self) -> CustomField:
        if self.type == "select" and not self.options:
            raise _fail("A select field needs at least one option.")
        if self.type != "select" and self.options:
            raise _fail("Only select fields have options.")
        return self


def _check_custom_fields(value: list[CustomField]) -> list[CustomField]:
    if len(value) > MAX_CUSTOM_FIELDS:
        raise _fail(f"A page has at most {MAX_CUSTOM_FIELDS} custom fields.")
    keys = [field.key for field in value]
    if len(set(keys)) != len(keys):
        raise _fail("Custom field keys must differ from each other.")
    return value


CustomFields = Annotated[list[CustomField], AfterValidator(_check_custom_fields)]


class _PageFields(BaseModel):
    """What every new page is made of, besides its gift's kind and file."""

    model_config = ConfigDict(extra="forbid")

    slug: Slug
    title: Title
    headline: Headline = ""
    body: Body = ""
    hero_image_url: ImageUrl = None
    gift_value: str = Field(
        "", description="The link (url), the code (code) or the message (text) of the gift."
    )
    gift_title: GiftTitle = "Your free gift"
    name_field: NameField = Field("optional", description="Whether the form asks for a name.")
    custom_fields: CustomFields = Field(default_factory=list)
    consent_text: ConsentText = ""
    double_opt_in: bool = Field(
        True, description="Confirm the address by email before the gift is delivered."
    )
    theme: Theme = Theme.CLEAN
    og_title: OgTitle = None
    og_description: OgDescription = None
    og_image_url: ImageUrl = None
    confirm_subject: EmailSubject = ""
    confirm_text: EmailText = ""
    gift_subject: EmailSubject = ""
    gift_text: EmailText = ""
    thank_you_url: ThankYouUrl = None


class PageCreate(_PageFields):
    """A new page. Without a gift it can be saved as a draft; `gift_value` is the link (url), the
    stored file's name from `store_gift_file` (file), the code (code) or the message (text).
    """

    gift_kind: GiftKind | None = None
    gift_file_name: str | None = None


class _PageChanges(BaseModel):
    """A change to a page, besides its gift's kind and file: only the fields that are set are
    changed; null clears the optional images and link-preview texts and is ignored elsewhere."""

    model_config = ConfigDict(extra="forbid")

    slug: Slug | None = Field(None, description="A new address; the old one stops working.")
    title: Title | None = None
    headline: Headline | None = None
    body: Body | None = None
    hero_image_url: ImageUrl = None
    gift_value: str | None = None
    gift_title: GiftTitle | None = None
    name_field: NameField | None = None
    custom_fields: CustomFields | None = None
    consent_text: ConsentText | None = Field(
        None, description="A new text gets the next `consent_version`."
    )
    double_opt_in: bool | None = None
    theme: Theme | None = None
    og_title: OgTitle = None
    og_description: OgDescription = None
    og_image_url: ImageUrl = None
    confirm_subject: EmailSubject | None = None
    confirm_text: EmailText | None = None
    gift_subject: EmailSubject | None = None
    gift_text: EmailText | None = None
    thank_you_url: ThankYouUrl = None


class PageUpdate(_PageChanges):
    """A change to a page: only the fields that are set are changed."""

    gift_kind: GiftKind | None = None
    gift_file_name: str | None = None


# The API cannot upload files, so it cannot make file gifts (see docs/api.md).
ApiGiftKind = Literal["url", "code", "text"]

# The API states each text field's form in its schema, and pydantic enforces these patterns and
# lengths on the value as sent, so `/openapi.json` and the API agree; the shared checks above
# then trim it. The CLI trims its options itself and checks them with these same models.
_TitleLine = StringConstraints(max_length=200, pattern=patterns.ONE_LINE_NOT_BLANK)
ApiTitle = Annotated[str, _TitleLine, _line(200, required=True)]
ApiHeadline = Annotated[
    str, StringConstraints(max_length=300, pattern=patterns.ONE_LINE), _line(300)
]
ApiBody = Annotated[
    str,
    StringConstraints(max_length=MAX_BODY_LENGTH, pattern=patterns.TEXT),
    _text(MAX_BODY_LENGTH),
]
ApiConsentText = Annotated[
    str, StringConstraints(max_length=2_000, pattern=patterns.TEXT), _text(2_000)
]
ApiGiftTitle = Annotated[str, _TitleLine, _line(200, required=True)]
ApiImageUrl = Annotated[
    Annotated[str, StringConstraints(max_length=2048, pattern=patterns.IMAGE_URL)] | None,
    AfterValidator(_image_url),
]
ApiOgTitle = Annotated[
    Annotated[str, StringConstraints(max_length=200, pattern=patterns.ONE_LINE), _line(200)] | None,
    AfterValidator(_blank_to_none),
]
ApiOgDescription = Annotated[
    Annotated[str, StringConstraints(max_length=300, pattern=patterns.ONE_LINE), _line(300)] | None,
    AfterValidator(_blank_to_none),
]
ApiOption = Annotated[str, StringConstraints(max_length=100, pattern=patterns.OPTION)]
ApiEmailSubject = Annotated[
    str, StringConstraints(max_length=200, pattern=patterns.ONE_LINE), _line(200)
]
ApiEmailText = Annotated[
    str,
    StringConstraints(max_length=MAX_EMAIL_TEXT_LENGTH, pattern=patterns.TEXT),
    _text(MAX_EMAIL_TEXT_LENGTH),
]
ApiThankYouUrl = Annotated[
    Annotated[str, StringConstraints(max_length=2048, pattern=patterns.IMAGE_URL)] | None,
    AfterValidator(_thank_you_url),
]
_EMAIL_TEXT_DESCRIPTION = (
    "Plain text replacing the built-in wording of the email (empty: the built-in wording). "
    "`{name}`, `{page_title}` and `{gift_title}` are replaced; the email's links (confirm, "
    "gift, unsubscribe) are always added below it."
)
_THANK_YOU_DESCRIPTION = (
    "An external https:// address the visitor is sent to after the opt-in instead of the "
    "thanks page (null: the thanks page). Double opt-in still sends the confirmation email."
)


class ApiCustomField(CustomField):
    """A custom field as the API takes it: the form of each part stated in the schema. That a
    select field has options and the others have none is stated too, and checked as for
    `CustomField`; that keys differ is checked only."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["type", "options"],
                    "properties": {"type": {"const": "select"}, "options": {"minItems": 1}},
                },
                {
                    "properties": {
                        "type": {"enum": ["text", "checkbox"]},
                        "options": {"maxItems": 0},
                    }
                },
            ]
        },
    )

    key: Annotated[str, StringConstraints(pattern=patterns.CUSTOM_FIELD_KEY)]
    label: Annotated[str, _TitleLine, _line(200, required=True)]
    options: list[ApiOption] = Field(
        default_factory=list, max_length=MAX_OPTIONS, json_schema_extra={"uniqueItems": True}
    )


ApiCustomFields = Annotated[
    list[ApiCustomField],
    Field(max_length=MAX_CUSTOM_FIELDS),
    AfterValidator(_check_custom_fields),
]
PageStatusName = Literal["draft", "published", "archived"]
HandleRef = Annotated[str, StringConstraints(pattern=patterns.HANDLE_REF)]
# The API states the slug rule in its schema; upper case is lowered.
ApiSlug = Annotated[
    str,
    StringConstraints(pattern=patterns.SLUG),
    AfterValidator(_slug),
]
_SLUG_DESCRIPTION = "1 to 64 of a-z, 0-9 and '-', not at either end (stored lower-cased)."
_GIFT_KIND_DESCRIPTION = (
    "`url`, `code` or `text`; null (with an empty `gift_value`): no gift yet. File gifts are "
    "uploaded with `leadlink pages update SLUG --gift-kind file --gift PATH` (the API does not "
    "take files)."
)

_PAGE_EXAMPLE: dict[str, Any] = {
    "id": "12",
    "slug": "free-guide",
    "handle": "anna",
    "handle_id": "3",
    "status": "published",
    "url": "https://links.example.com/p/free-guide",
    "title": "The free guide",
    "headline": "Seven habits of calm creators",
    "body": "Get the **guide** in your inbox.",
    "hero_image_url": None,
    "gift_kind": "url",
    "gift_value": "https://files.example.com/guide.pdf",
    "gift_file_name": None,
    "gift_title": "The guide (PDF)",
    "name_field": "optional",
    "custom_fields": [
        {"key": "role", "label": "You are", "type": "select", "required": False,
         "options": ["Creator", "Brand"]},
    ],
    "consent_text": "Send me the weekly letter.",
    "consent_version": 1,
    "double_opt_in": True,
    "theme": "clean",
    "og_title": None,
    "og_description": "A free guide for creators.",
    "og_image_url": None,
    "confirm_subject": "",
    "confirm_text": "",
    "gift_subject": "Your guide is here",
    "gift_text": "Hi {name}, here is the guide I promised.",
    "thank_you_url": None,
    "created_at": "2026-11-22T09:30:00Z",
    "updated_at": "2026-11-22T09:45:00Z",
    "published_at": "2026-11-22T09:45:00Z",
}  # fmt: skip


class PageCreateRequest(_PageFields):
    """`POST /api/v1/pages`: a new draft page of one of the key's handles."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "handle": "anna",
                    "slug": "free-guide",
                    "title": "The free guide",
                    "headline": "Seven habits of calm creators",
                    "body": "Get the **guide** in your inbox.",
                    "gift_kind": "url",
                    "gift_value": "https://files.example.com/guide.pdf",
                    "gift_title": "The guide (PDF)",
                    "consent_text": "Send me the weekly letter.",
                    "og_description": "A free guide for creators.",
                }
            ]
        },
    )

    handle: HandleRef = Field(description="The handle the page belongs to (its name).")
    slug: ApiSlug = Field(description=_SLUG_DESCRIPTION)
    title: ApiTitle = Field(description="The browser tab's and link previews' title.")
    headline: ApiHeadline = Field("", description="The big line at the top of the page.")
    body: ApiBody = Field("", description="Markdown, at most 10,000 characters.")
    hero_image_url: ApiImageUrl = Field(None, description="An https:// image above the form.")
    gift_kind: ApiGiftKind | None = Field(None, description=_GIFT_KIND_DESCRIPTION)
    gift_title: ApiGiftTitle = Field("Your free gift", description="What the gift is called.")
    # ApiCustomField is a CustomField; mypy sees only that lists of them are invariant.
    custom_fields: ApiCustomFields = Field(  # type: ignore[assignment]
        default_factory=list, description="Up to 5 more form fields, posted as `f_<key>`."
    )
    consent_text: ApiConsentText = Field(
        "", description="The consent checkbox's label; empty: no checkbox."
    )
    og_title: ApiOgTitle = Field(None, description="The title of link previews (else `title`).")
    og_description: ApiOgDescription = Field(None, description="The text of link previews.")
    og_image_url: ApiImageUrl = Field(None, description="An https:// image for link previews.")
    confirm_subject: ApiEmailSubject = Field(
        "", description="The confirmation email's subject; empty: the built-in one."
    )
    confirm_text: ApiEmailText = Field("", description=_EMAIL_TEXT_DESCRIPTION)
    gift_subject: ApiEmailSubject = Field(
        "", description="The gift email's subject; empty: the built-in one."
    )
    gift_text: ApiEmailText = Field("", description=_EMAIL_TEXT_DESCRIPTION)
    thank_you_url: ApiThankYouUrl = Field(None, description=_THANK_YOU_DESCRIPTION)

    def to_create(self) -> PageCreate:
        return PageCreate.model_validate(self.model_dump(exclude={"handle"}))


class PageUpdateRequest(_PageChanges):
    """`PATCH /api/v1/pages/{slug}`: only the fields that are sent change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"headline": "Eight habits of calm creators"},
                {"gift_kind": "code", "gift_value": "CALM20", "gift_title": "20 % off"},
                {"og_image_url": None},
            ]
        },
    )

    slug: ApiSlug | None = Field(
        None, description="A new address; the old one stops working. " + _SLUG_DESCRIPTION
    )
    title: ApiTitle | None = None
    headline: ApiHeadline | None = None
    body: ApiBody | None = None
    hero_image_url: ApiImageUrl = None
    gift_kind: ApiGiftKind | None = Field(None, description=_GIFT_KIND_DESCRIPTION)
    gift_title: ApiGiftTitle | None = None
    custom_fields: ApiCustomFields | None = None  # type: ignore[assignment]
    consent_text: ApiConsentText | None = Field(
        None, description="A new text gets the next `consent_version`."
    )
    og_title: ApiOgTitle = None
    og_description: ApiOgDescription = None
    og_image_url: ApiImageUrl = None
    confirm_subject: ApiEmailSubject | None = None
    confirm_text: ApiEmailText | None = Field(None, description=_EMAIL_TEXT_DESCRIPTION)
    gift_subject: ApiEmailSubject | None = None
    gift_text: ApiEmailText | None = Field(None, description=_EMAIL_TEXT_DESCRIPTION)
    thank_you_url: ApiThankYouUrl = Field(None, description=_THANK_YOU_DESCRIPTION)

    def to_update(self) -> PageUpdate:
        return PageUpdate.model_validate(self.model_dump(exclude_unset=True))


class PageRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PAGE_EXAMPLE]})

    id: str
    slug: str
    handle: str
    handle_id: str
    status: PageStatusName = Field(
        description="`draft` (not online), `published`, or `archived` (offline, leads kept)."
    )
    url: str = Field(description="The page's own public address.")
    title: str
    headline: str
    body: str
    hero_image_url: str | None
    gift_kind: GiftKind | None = Field(description="null: the page has no gift yet.")
    gift_value: str | None = Field(
        description="The link, code or message; null for a file gift (see `gift_file_name`)."
    )
    gift_file_name: str | None = Field(description="A file gift's name for downloads.")
    gift_title: str
    name_field: NameField
    custom_fields: list[CustomField]
    consent_text: str
    consent_version: int = Field(description="Goes up with each new consent text.")
    double_opt_in: bool
    theme: Theme
    og_title: str | None
    og_description: str | None
    og_image_url: str | None
    confirm_subject: str = Field(description="Empty: the built-in subject.")
    confirm_text: str = Field(description="Empty: the built-in wording.")
    gift_subject: str = Field(description="Empty: the built-in subject.")
    gift_text: str = Field(description="Empty: the built-in wording.")
    thank_you_url: str | None = Field(description="Where the visitor goes after the opt-in.")
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = Field(description="When it was first published.")

    @classmethod
    def from_row(cls, page: Page, handle_name: str, base_url: str) -> PageRead:
        """The page as the API shows it (a stored file's name stands in for its value)."""
        gift = bool(page.gift_value)  # a draft may be saved without a gift
        is_file = page.gift_kind == GiftKind.FILE.value
        return cls(
            id=str(page.id),
            slug=page.slug,
            handle=handle_name,
            handle_id=str(page.handle_id),
            status=page.status,
            url=f"{base_url}/p/{page.slug}",
            title=page.title,
            headline=page.headline,
            body=page.body,
            hero_image_url=page.hero_image_url,
            gift_kind=GiftKind(page.gift_kind) if gift else None,
            gift_value=None if is_file else page.gift_value,
            gift_file_name=page.gift_file_name if is_file else None,
            gift_title=page.gift_title,
            name_field=page.name_field,
            custom_fields=page.custom_fields,
            consent_text=page.consent_text,
            consent_version=page.consent_version,
            double_opt_in=page.double_opt_in,
            theme=Theme(page.theme),
            og_title=page.og_title,
            og_description=page.og_description,
            og_image_url=page.og_image_url,
            confirm_subject=page.confirm_subject or "",
            confirm_text=page.confirm_text or "",
            gift_subject=page.gift_subject or "",
            gift_text=page.gift_text or "",
            thank_you_url=page.thank_you_url,
            created_at=page.created_at,
            updated_at=page.updated_at,
            published_at=page.published_at,
        )


class PageList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_PAGE_EXAMPLE], "next_cursor": None}]}
    )

    items: list[PageRead]
    next_cursor: str | None


def field_errors(exc: ValidationError) -> ValidationFailed:
    """A pydantic error as the domain's 422, one `FieldError` per bad field, named like the API."""
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
        name = ".".join(location) or "page"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "string_pattern_mismatch":
            # Described in words, as the API's 422 does, not by quoting the expression.
            message = patterns.problem_with(str(error.get("ctx", {}).get("pattern", "")))
        errors.append(FieldError(name, message))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return ValidationFailed(f"Invalid page: {detail}", errors=errors)
