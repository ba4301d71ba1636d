"""The page editor's form (`/admin/pages/new`, `/admin/pages/{page_id}`): what it posts, turned
into the page service's `PageCreate`/`PageUpdate` values, the errors mapped back onto its
inputs, and the unsaved page its preview shows.

The form is one flat list of inputs (custom fields are five numbered rows, `cf0_key` …), so it
works without JavaScript; the checks are the service's, the same as the API's and the CLI's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from app.errors import ValidationFailed
from app.pages.models import GiftKind, Page, Theme
from app.pages.schemas import MAX_CUSTOM_FIELDS, PageUpdate

__all__ = [
    "CUSTOM_FIELD_PARTS",
    "TEXT_FIELDS",
    "PageForm",
    "errors_by_input",
    "form_of_page",
    "preview_page",
    "read_form",
    "upload_of",
]

TEXT_FIELDS = (
    "handle",
    "slug",
    "title",
    "headline",
    "body",
    "hero_image_url",
    "theme",
    "name_field",
    "consent_text",
    "og_title",
    "og_description",
    "og_image_url",
    "gift_kind",
    "gift_title",
    "gift_value",
    "confirm_subject",
    "confirm_text",
    "gift_subject",
    "gift_text",
    "thank_you_url",
)
CUSTOM_FIELD_PARTS = ("key", "label", "type", "options")
_SERVICE_FIELDS = frozenset(TEXT_FIELDS) - {"handle"}


@dataclass
class PageForm:
    """The editor's inputs as typed (so a refused form comes back as it was sent)."""

    values: dict[str, str]
    custom: list[dict[str, str]] = field(default_factory=list)  # MAX_CUSTOM_FIELDS rows
    double_opt_in: bool = True

    def rows(self) -> list[int]:
        """The custom field rows that are filled in, by their row number."""
        return [i for i, row in enumerate(self.custom) if row.get("key") or row.get("label")]

    def changes(self, *, keep_file_gift: bool) -> dict[str, Any]:
        """The service's values. `keep_file_gift`: the page has a file gift and no new file was
        sent, so the gift stays as it is."""
        data: dict[str, Any] = {name: self.values.get(name, "") for name in _SERVICE_FIELDS}
        data["double_opt_in"] = self.double_opt_in
        data["gift_kind"] = data["gift_kind"] or None
        if data["gift_kind"] is None and not data["gift_value"].strip():
            del data["gift_kind"], data["gift_value"]  # no gift (yet)
        data["custom_fields"] = [
            {
                "key": self.custom[i].get("key", ""),
                "label": self.custom[i].get("label", ""),
                "type": self.custom[i].get("type") or "text",
                "required": self.custom[i].get("required") == "yes",
                "options": [
                    line.strip()
                    for line in self.custom[i].get("options", "").splitlines()
                    if line.strip()
                ],
            }
            for i in self.rows()
        ]
        if data.get("gift_kind") == GiftKind.FILE.value:
            if keep_file_gift:
                for name in ("gift_kind", "gift_value"):
                    del data[name]
            else:
                data["gift_value"] = ""  # the file comes as an upload, never as text
        return data


def _blank_rows() -> list[dict[str, str]]:
    return [{} for _ in range(MAX_CUSTOM_FIELDS)]


def read_form(form: FormData) -> PageForm:
    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    custom = _blank_rows()
    for i, row in enumerate(custom):
        for part in (*CUSTOM_FIELD_PARTS, "required"):
            row[part] = text(f"cf{i}_{part}").strip()
    return PageForm(
        values={name: text(name) for name in TEXT_FIELDS},
        custom=custom,
        double_opt_in=text("double_opt_in") == "yes",
    )


def upload_of(form: FormData, name: str) -> UploadFile | None:
    """The file sent in `name`, or None when the input was left empty."""
    value = form.get(name)
    if isinstance(value, UploadFile) and (value.filename or value.size):
        return value
    return None


def form_of_page(page: Page, handle_name: str) -> PageForm:
    """The editor filled in with a saved page."""
    values = {name: getattr(page, name, None) or "" for name in _SERVICE_FIELDS}
    values["handle"] = handle_name
    if page.gift_kind == GiftKind.FILE.value or not page.gift_value:
        values["gift_value"] = ""  # a stored file's name is not for editing
    if not page.gift_value:
        values["gift_kind"] = ""
    custom = _blank_rows()
    for i, spec in enumerate((page.custom_fields or [])[:MAX_CUSTOM_FIELDS]):
        custom[i] = {
            "key": str(spec.get("key", "")),
            "label": str(spec.get("label", "")),
            "type": str(spec.get("type", "text")),
            "required": "yes" if spec.get("required") else "",
            "options": "\n".join(str(option) for option in spec.get("options") or ()),
        }
    return PageForm(values=values, custom=custom, double_opt_in=page.double_opt_in)


def errors_by_input(exc: ValidationFailed, form: PageForm) -> dict[str, str]:
    """The service's field errors keyed by the editor's input names (`custom_fields.1.label`
    is row `cf<n>_label` of the second filled-in row)."""
    rows = form.rows()
    errors: dict[str, str] = {}
    for error in exc.errors:
        name = error.field
        parts = name.split(".")
        if parts[0] == "custom_fields" and len(parts) > 1 and parts[1].isdigit():
            index = int(parts[1])
            row = rows[index] if index < len(rows) else 0
            part = parts[2] if len(parts) > 2 and parts[2] in CUSTOM_FIELD_PARTS else "options"
            name = f"cf{row}_{part}"
        elif name in {"gift_file_name", "gift"} or (
            name == "gift_value" and form.values.get("gift_kind") == GiftKind.FILE.value
        ):
            name = "gift_file"
        elif name not in TEXT_FIELDS and name not in {"hero_image_file", "gift_file"}:
            name = "custom_fields" if name.startswith("custom_fields") else "title"
        errors.setdefault(name, error.message)
    return errors


def _checked_leniently(values: dict[str, Any]) -> PageUpdate:
    """The values that pass the page's checks; the others are dropped (a preview shows what it
    can while the owner is still typing)."""
    for _ in range(len(values) + 1):
        try:
            return PageUpdate.model_validate(values)
        except ValidationError as exc:
            bad = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            values = {name: value for name, value in values.items() if name not in bad}
            if not bad:
                break
    return PageUpdate()


def preview_page(form: PageForm, saved: Page | None = None) -> Page:
    """An unsaved page made of the form's values, for the preview frame; never added to a
    session. A saved page's file gift stands in when no new file is chosen."""
    data = form.changes(keep_file_gift=False)
    if data.get("gift_kind") == GiftKind.FILE.value:
        data["gift_kind"] = None
    checked = _checked_leniently(data)
    given: Mapping[str, Any] = checked.model_dump(exclude_unset=True)
    gift_kind = given.get("gift_kind") or form.values.get("gift_kind") or GiftKind.TEXT.value
    gift_value = str(given.get("gift_value") or "")
    gift_file_name = None
    if form.values.get("gift_kind") == GiftKind.FILE.value:
        gift_kind = GiftKind.FILE.value
        gift_value = saved.gift_value if saved is not None else ""
        gift_file_name = saved.gift_file_name if saved is not None else None
    return Page(
        slug=given.get("slug") or (saved.slug if saved is not None else "preview"),
        title=given.get("title") or "Untitled page",
        headline=given.get("headline") or "",
        body=given.get("body") or "",
        hero_image_url=given.get("hero_image_url"),
        gift_kind=gift_kind,
        gift_value=gift_value,
        gift_file_name=gift_file_name,
        gift_title=given.get("gift_title") or "Your free gift",
        name_field=given.get("name_field") or "optional",
        custom_fields=[spec.model_dump() for spec in checked.custom_fields or []],
        consent_text=given.get("consent_text") or "",
        consent_version=saved.consent_version if saved is not None else 1,
        double_opt_in=form.double_opt_in,
        theme=str(given.get("theme") or Theme.CLEAN.value),
        og_title=given.get("og_title"),
        og_description=given.get("og_description"),
        og_image_url=given.get("og_image_url"),
        confirm_subject=given.get("confirm_subject") or "",
        confirm_text=given.get("confirm_text") or "",
        gift_subject=given.get("gift_subject") or "",
        gift_text=given.get("gift_text") or "",
        thank_you_url=given.get("thank_you_url"),
        status="draft",
    )
