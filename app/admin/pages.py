"""The Pages section, `/admin/pages`: the list, the editor with its live preview, and publish,
archive and duplicate. Every lookup passes the owner's sight to the page service, so a page on
another owner's handle is a 404 like a missing one.

The editor posts `multipart/form-data` (gift files and hero images travel with the form); the
uploads are checked by content (`app.pages.uploads`) only once the rest of the form passed, and
stored in the database in the page's transaction, rolled back when the page cannot be saved, so
a refused form leaves nothing behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Path as PathParam
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from app.admin import page_form
from app.admin.dependencies import Owner, OwnerDep, SettingsDep
from app.admin.layout import admin_page, owner_router, redirect_with_flash
from app.admin.page_form import PageForm
from app.config import Settings
from app.db import SessionDep
from app.delivery.service import RenderedEmail
from app.dependencies import ForgetPublicCaches
from app.errors import AppError, Conflict, FieldError, PayloadTooLarge, ValidationFailed
from app.handles import service as handles
from app.handles.models import Handle
from app.handles.visibility import sees
from app.leads import queries as lead_queries
from app.leads import service as leads
from app.pages import service as pages
from app.pages import uploads
from app.pages.exceptions import readable_size
from app.pages.models import GiftKind, Page, Theme
from app.pages.rendering import render_preview
from app.pages.schemas import MAX_CUSTOM_FIELDS, PageCreate, PageUpdate, field_errors
from app.pages.themes import theme_css
from app.templating import render

__all__ = ["router"]

# Route bodies may carry a gift file and an image; the limits themselves are checked below
# (LEADLINK_MAX_GIFT_BYTES, 5 MB for images), this only bounds a body sent without a length.
MAX_EDITOR_BODY_BYTES = 512 * 1024 * 1024
FORM_ALLOWANCE_BYTES = 256 * 1024
MAX_FORM_FIELDS = 100
PageId = Annotated[int, PathParam()]

router = owner_router("/pages")


def _announced_too_large(request: Request, settings: Settings) -> bool:
    limit = settings.max_gift_bytes + uploads.MAX_IMAGE_BYTES + FORM_ALLOWANCE_BYTES
    announced = request.headers.get("content-length", "")
    return announced.isdigit() and int(announced) > limit


@contextlib.asynccontextmanager
async def _form(request: Request, settings: Settings) -> AsyncIterator[FormData]:
    """The posted form; its uploaded files (spooled to disk when large) closed afterwards."""
    if _announced_too_large(request, settings):
        raise uploads.UploadTooLarge("gift_file", settings.max_gift_bytes)
    form = await request.form(max_files=2, max_fields=MAX_FORM_FIELDS)
    try:
        yield form
    finally:
        await form.close()


@router.get("")
async def page_list(request: Request, session: SessionDep, owner: OwnerDep) -> HTMLResponse:
    rows = await pages.list_pages_in_sight(session, owner.sight)
    counts = await lead_queries.lead_counts_by_page(session, [page.id for page, _ in rows])
    return admin_page(
        request, owner, "admin/pages/list.html", active="pages", rows=rows, counts=counts
    )


async def _editor(
    request: Request,
    session: AsyncSession,
    owner: Owner,
    form: PageForm,
    *,
    page: Page | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    visible_handles = await handles.list_handles(session, sight=owner.sight)
    action = f"/admin/pages/{page.id}" if page is not None else "/admin/pages/new"
    settings: Settings = request.app.state.settings
    return admin_page(
        request,
        owner,
        "admin/pages/edit.html",
        active="pages",
        status_code=status_code,
        page=page,
        form=form,
        errors=errors or {},
        handles=visible_handles,
        themes=[theme.value for theme in Theme],
        gift_kinds=[kind.value for kind in GiftKind],
        action=action,
        max_gift=readable_size(settings.max_gift_bytes),
        gift_types=uploads.GIFT_TYPE_NAMES,
        image_types=uploads.IMAGE_TYPE_NAMES,
    )


@router.get("/new")
async def new_page(request: Request, session: SessionDep, owner: OwnerDep) -> HTMLResponse:
    visible_handles = await handles.list_handles(session, sight=owner.sight)
    form = PageForm(
        values=dict.fromkeys(page_form.TEXT_FIELDS, ""),
        custom=[{} for _ in range(MAX_CUSTOM_FIELDS)],
    )
    if len(visible_handles) == 1:
        form.values["handle"] = visible_handles[0].name
    form.values.update(theme=Theme.CLEAN.value, name_field="optional")
    return await _editor(request, session, owner, form, page=None)


async def _visible_handle(session: AsyncSession, owner: Owner, name: str) -> Handle:
    handle = None
    with contextlib.suppress(AppError):
        handle = await handles.get_handle(session, name.strip().lstrip("@"))
    if handle is None or not sees(owner.sight, handle.id):
        message = "Choose one of your handles."
        raise ValidationFailed(f"handle: {message}", errors=[FieldError("handle", message)])
    return handle


async def _store_uploads(
    session: AsyncSession,
    settings: Settings,
    form: FormData,
    editor: PageForm,
    data: dict[str, object],
) -> None:
    """Store the form's files (checked by content) in the session's transaction and name them
    in `data`: a page that then cannot be saved takes its files with it (the rollback)."""
    gift = page_form.upload_of(form, "gift_file")
    if gift is not None:
        name = await uploads.store_gift_upload(
            session, settings, gift.file, gift.filename or "gift"
        )
        data.update(
            gift_kind=GiftKind.FILE.value,
            gift_value=name,
            gift_file_name=(gift.filename or "gift").replace("/", "_").replace("\\", "_"),
        )
        editor.values["gift_kind"] = GiftKind.FILE.value
    image = page_form.upload_of(form, "hero_image_file")
    if image is not None:
        data["hero_image_url"] = await uploads.store_image_upload(session, image.file)


def _refused(exc: AppError) -> int:
    return 413 if exc.status_code == 413 else 422


@router.post("/new", max_body_size=MAX_EDITOR_BODY_BYTES, dependencies=[ForgetPublicCaches])
async def create_page(
    request: Request, session: SessionDep, owner: OwnerDep, settings: SettingsDep
) -> Response:
    async with _form(request, settings) as form:
        return await _create(request, session, owner, settings, form)


async def _create(
    request: Request, session: AsyncSession, owner: Owner, settings: Settings, form: FormData
) -> Response:
    editor = page_form.read_form(form)
    data = editor.changes(keep_file_gift=False)
    try:
        # A savepoint: a page that cannot be saved takes the files stored for it along.
        async with session.begin_nested():
            handle = await _visible_handle(session, owner, editor.values["handle"])
            try:
                PageCreate.model_validate(data)  # every field checked before any file is stored
                await _store_uploads(session, settings, form, editor, data)
                checked = PageCreate.model_validate(data)
            except ValidationError as exc:
                raise field_errors(exc) from None
            page = await pages.create_page(session, handle, checked)
    except (ValidationFailed, PayloadTooLarge, Conflict) as exc:
        errors = page_form.errors_by_input(_as_validation(exc), editor)
        return await _editor(
            request, session, owner, editor, page=None, errors=errors, status_code=_refused(exc)
        )
    return redirect_with_flash(
        request, f"/admin/pages/{page.id}", f"Page “{page.title}” created as a draft."
    )


def _as_validation(exc: AppError) -> ValidationFailed:
    """A refusal as field errors: a taken slug (409) says so in words at the slug."""
    if isinstance(exc, Conflict):
        return ValidationFailed(str(exc), errors=[FieldError("slug", str(exc))])
    if isinstance(exc, ValidationFailed):
        return exc
    return ValidationFailed(str(exc), errors=exc.errors or [FieldError("gift_file", str(exc))])


async def _page(session: AsyncSession, owner: Owner, page_id: int) -> tuple[Page, str]:
    page = await pages.get_visible_page_by_id(session, page_id, owner.sight)
    handle = await session.get(Handle, page.handle_id)
    return page, handle.name if handle is not None else ""


@router.get("/{page_id:int}")
async def edit_page(
    page_id: PageId, request: Request, session: SessionDep, owner: OwnerDep
) -> HTMLResponse:
    page, handle_name = await _page(session, owner, page_id)
    return await _editor(
        request, session, owner, page_form.form_of_page(page, handle_name), page=page
    )


@router.post(
    "/{page_id:int}", max_body_size=MAX_EDITOR_BODY_BYTES, dependencies=[ForgetPublicCaches]
)
async def save_page(
    page_id: PageId,
    request: Request,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
) -> Response:
    page, handle_name = await _page(session, owner, page_id)
    async with _form(request, settings) as form:
        return await _save(
            request,
            session,
            owner=owner,
            settings=settings,
            form=form,
            page=page,
            handle_name=handle_name,
        )


async def _save(
    request: Request,
    session: AsyncSession,
    *,
    owner: Owner,
    settings: Settings,
    form: FormData,
    page: Page,
    handle_name: str,
) -> Response:
    page_id = page.id
    editor = page_form.read_form(form)
    editor.values["handle"] = handle_name  # a page stays on its handle
    keep_file = page.gift_kind == GiftKind.FILE.value and bool(page.gift_value)
    data = editor.changes(keep_file_gift=keep_file)
    try:
        try:
            PageUpdate.model_validate(data)
            await _store_uploads(session, settings, form, editor, data)
            checked = PageUpdate.model_validate(data)
        except ValidationError as exc:
            raise field_errors(exc) from None
        # A replaced gift file or image that no other page uses is removed with the change.
        await pages.update_page(session, page, checked)
    except (ValidationFailed, PayloadTooLarge, Conflict) as exc:
        await session.rollback()  # the files stored for the change go with it
        page, _ = await _page(session, owner, page_id)
        errors = page_form.errors_by_input(_as_validation(exc), editor)
        return await _editor(
            request, session, owner, editor, page=page, errors=errors, status_code=_refused(exc)
        )
    return redirect_with_flash(request, f"/admin/pages/{page.id}", "Saved.")


def _preview_response(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def _preview_form(request: Request, settings: Settings) -> PageForm:
    async with _form(request, settings) as form:
        return page_form.read_form(form)


# The preview routes end in /preview: app.security_headers lets the admin frame exactly those.
@router.post("/preview", max_body_size=MAX_EDITOR_BODY_BYTES)
async def preview_new(request: Request, owner: OwnerDep, settings: SettingsDep) -> HTMLResponse:
    del owner
    page = page_form.preview_page(await _preview_form(request, settings))
    return _preview_response(render_preview(page, base_url=settings.base_url, frame=True))


@router.get("/{page_id:int}/preview")
async def preview_of_saved(
    page_id: PageId, session: SessionDep, owner: OwnerDep, settings: SettingsDep
) -> HTMLResponse:
    """The saved page, drafts too: what the editor's frame shows before anything is typed."""
    saved, _ = await _page(session, owner, page_id)
    return _preview_response(render_preview(saved, base_url=settings.base_url, frame=True))


@router.post("/{page_id:int}/preview", max_body_size=MAX_EDITOR_BODY_BYTES)
async def preview_saved(
    page_id: PageId, request: Request, session: SessionDep, owner: OwnerDep, settings: SettingsDep
) -> HTMLResponse:
    saved, _ = await _page(session, owner, page_id)
    page = page_form.preview_page(await _preview_form(request, settings), saved)
    return _preview_response(render_preview(page, base_url=settings.base_url, frame=True))


async def _email_preview(request: Request, settings: Settings, saved: Page | None) -> HTMLResponse:
    page = page_form.preview_page(await _preview_form(request, settings), saved)
    emails = leads.preview_emails(page, settings.base_url)
    return _preview_response(_render_email_preview(page, emails["confirm"], emails["gift"]))


def _render_email_preview(page: Page, confirm: RenderedEmail, gift: RenderedEmail) -> str:
    # A landing-page document (inline theme styles are allowed in the preview frame).
    return render(
        "pages/email_preview.html",
        page=page,
        theme_css=theme_css(page.theme),
        emails=[
            (
                "Confirmation email"
                + ("" if page.double_opt_in else " (off: double opt-in is off)"),
                confirm,
            ),
            ("Gift email", gift),
        ],
    )


@router.post("/emails/preview", max_body_size=MAX_EDITOR_BODY_BYTES)
async def preview_new_emails(
    request: Request, owner: OwnerDep, settings: SettingsDep
) -> HTMLResponse:
    del owner
    return await _email_preview(request, settings, None)


@router.post("/{page_id:int}/emails/preview", max_body_size=MAX_EDITOR_BODY_BYTES)
async def preview_saved_emails(
    page_id: PageId, request: Request, session: SessionDep, owner: OwnerDep, settings: SettingsDep
) -> HTMLResponse:
    saved, _ = await _page(session, owner, page_id)
    return await _email_preview(request, settings, saved)


@router.post("/{page_id:int}/publish", dependencies=[ForgetPublicCaches])
async def publish(
    page_id: PageId, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    page, _ = await _page(session, owner, page_id)
    await pages.publish_page(session, page)
    return redirect_with_flash(
        request, "/admin/pages", f"“{page.title}” is online at /p/{page.slug}."
    )


@router.post("/{page_id:int}/archive", dependencies=[ForgetPublicCaches])
async def archive(
    page_id: PageId, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    page, _ = await _page(session, owner, page_id)
    await pages.archive_page(session, page)
    return redirect_with_flash(
        request, "/admin/pages", f"“{page.title}” is archived: offline, its leads are kept."
    )


@router.post("/{page_id:int}/duplicate")
async def duplicate(
    page_id: PageId, request: Request, session: SessionDep, owner: OwnerDep
) -> Response:
    page, _ = await _page(session, owner, page_id)
    copy = await pages.duplicate_page(session, page)
    return redirect_with_flash(
        request, f"/admin/pages/{copy.id}", f"Copied as the draft /p/{copy.slug}."
    )
