"""The accounts section, `/admin/accounts` (admins only; an owner gets 404): list accounts,
invite an owner or admin with a one-time link (shown once, and emailed through the outbox),
change an account's role and handles, make a new link, and remove an account.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from app.admin.dependencies import AdminDep, Owner, SettingsDep
from app.admin.form_errors import errors_of, handles_named
from app.admin.invitation import invitation_signer
from app.admin.layout import admin_page, owner_router, redirect_with_flash
from app.config import Settings
from app.db import SessionDep
from app.delivery import service as outbox
from app.delivery.exceptions import InvalidRecipient
from app.errors import AppError, FieldError, ValidationFailed
from app.handles import service as handles
from app.users import invitations
from app.users import service as users
from app.users.exceptions import UserNotFound
from app.users.models import Role, User
from app.webhooks import service as webhooks

__all__ = ["router"]

router = owner_router("/accounts")

Checked = Annotated[list[str] | None, Form()]
ROLE_TEXT = {
    Role.ADMIN.value: "an admin: every handle, and the accounts",
    Role.OWNER.value: "an owner of some handles",
}
NO_HANDLES = "Choose the handles this owner manages (at least one)."


def _role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        message = "Choose owner or admin."
        raise ValidationFailed(message, errors=[FieldError("role", message)]) from None


async def _granted(session: SessionDep, role: Role, names: list[str]) -> list[int]:
    """The handle ids an owner is given (an admin sees every handle and is given none)."""
    if role == Role.ADMIN:
        return []
    chosen = await handles_named(session, names, None)
    if not chosen:
        raise ValidationFailed(NO_HANDLES, errors=[FieldError("handles", NO_HANDLES)])
    return [handle.id for handle in chosen]


def _link(settings: Settings, user: User) -> str:
    token = invitation_signer(settings).token(user)
    return f"{settings.base_url.rstrip('/')}/admin/invite/{token}"


async def _email_invitation(session: SessionDep, user: User, link: str, owner: Owner) -> str | None:
    """Queue the invitation email; the reason it cannot be sent, if it cannot (an address no
    mail server accepts, such as a `.local` one: the admin then hands the link over)."""
    try:
        await outbox.enqueue_email(
            session,
            to=user.email,
            template="invite",
            context={
                "inviter": owner.user.email,
                "email": user.email,
                "role_text": ROLE_TEXT[user.role],
                "link": link,
            },
        )
    except InvalidRecipient as exc:
        return str(exc)
    return None


def _user_id(raw: str) -> int:
    return webhooks.parse_id(raw, UserNotFound)


async def _form(
    request: Request,
    session: SessionDep,
    owner: Owner,
    template: str,
    *,
    values: dict[str, object],
    errors: dict[str, str] | None = None,
    **context: object,
) -> HTMLResponse:
    return admin_page(
        request,
        owner,
        template,
        active="accounts",
        status_code=422 if errors else 200,
        handles=await handles.list_handles(session),
        values=values,
        errors=errors or {},
        **context,
    )


async def _show_invitation(
    request: Request, session: SessionDep, settings: Settings, admin: Owner, user: User
) -> HTMLResponse:
    """Queue the invitation email, commit, and show the link once (for an account that now
    exists: nothing is shown before the commit succeeds)."""
    link = _link(settings, user)
    unsent = await _email_invitation(session, user, link, admin)
    await session.commit()
    return admin_page(
        request,
        admin,
        "admin/accounts/invited.html",
        active="accounts",
        account=user,
        link=link,
        unsent=unsent,
    )


@router.get("")
async def list_accounts(request: Request, session: SessionDep, admin: AdminDep) -> HTMLResponse:
    accounts = await users.list_users(session)
    names = await users.handle_names_by_user(session, [user.id for user in accounts])
    return admin_page(
        request,
        admin,
        "admin/accounts/list.html",
        active="accounts",
        accounts=accounts,
        handle_names=names,
    )


@router.get("/new")
async def new_account(request: Request, session: SessionDep, admin: AdminDep) -> HTMLResponse:
    values: dict[str, object] = {"email": "", "role": Role.OWNER.value, "handles": []}
    return await _form(request, session, admin, "admin/accounts/new.html", values=values)


@router.post("")
async def invite(
    *,
    request: Request,
    session: SessionDep,
    admin: AdminDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=400)] = "",
    role: Annotated[str, Form(max_length=10)] = Role.OWNER.value,
    handles: Checked = None,
) -> Response:
    """Create the account and show its invitation link on this very response, once."""
    values: dict[str, object] = {"email": email, "role": role, "handles": handles or []}
    try:
        chosen_role = _role(role)
        handle_ids = await _granted(session, chosen_role, handles or [])
        user = await invitations.invite_user(
            session, email, role=chosen_role, handle_ids=handle_ids
        )
    except AppError as exc:  # every check runs before the account is written
        errors = errors_of(exc, "email")
        return await _form(
            request, session, admin, "admin/accounts/new.html", values=values, errors=errors
        )
    return await _show_invitation(request, session, settings, admin, user)


@router.get("/{user_id}")
async def edit_account(
    user_id: str, request: Request, session: SessionDep, admin: AdminDep
) -> HTMLResponse:
    user = await users.find_user(session, _user_id(user_id))
    names = (await users.handle_names_by_user(session, [user.id])).get(user.id, [])
    values: dict[str, object] = {"role": user.role, "handles": names}
    return await _form(
        request, session, admin, "admin/accounts/edit.html", values=values, account=user
    )


@router.post("/{user_id}")
async def save_account(
    *,
    user_id: str,
    request: Request,
    session: SessionDep,
    admin: AdminDep,
    role: Annotated[str, Form(max_length=10)] = "",
    handles: Checked = None,
) -> Response:
    user = await users.find_user(session, _user_id(user_id))
    values: dict[str, object] = {"role": role, "handles": handles or []}
    try:
        chosen_role = _role(role)
        handle_ids = await _granted(session, chosen_role, handles or [])
        await users.set_access(session, user, chosen_role, handle_ids)
    except AppError as exc:  # every check runs before anything is written
        errors = errors_of(exc, "role")
        return await _form(
            request,
            session,
            admin,
            "admin/accounts/edit.html",
            values=values,
            errors=errors,
            account=user,
        )
    return redirect_with_flash(request, "/admin/accounts", f"Saved the access of {user.email}.")


@router.post("/{user_id}/invitation")
async def new_invitation(
    user_id: str,
    request: Request,
    session: SessionDep,
    admin: AdminDep,
    settings: SettingsDep,
) -> Response:
    """A fresh one-time link for the account (it voids the earlier ones and its sessions)."""
    user = await users.find_user(session, _user_id(user_id))
    if user.id == admin.user.id:
        return redirect_with_flash(
            request, f"/admin/accounts/{user.id}", "Change your own password on Your account."
        )
    await invitations.renew_invitation(session, user)
    return await _show_invitation(request, session, settings, admin, user)


@router.post("/{user_id}/delete")
async def remove_account(
    user_id: str, request: Request, session: SessionDep, admin: AdminDep
) -> Response:
    user = await users.find_user(session, _user_id(user_id))
    try:
        await users.remove_user(session, user, by=admin.user)
    except AppError as exc:
        return redirect_with_flash(request, f"/admin/accounts/{user.id}", exc.detail)
    return redirect_with_flash(request, "/admin/accounts", f"Removed the account {user.email}.")
