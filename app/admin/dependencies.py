"""Request dependencies of the admin UI: the signed-in owner (`OwnerDep`) and the CSRF check.

Every route on the owner router depends on both, so a new admin page is protected by being
registered there: anonymous GETs are sent to the sign-in form, anonymous or forged POSTs get 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.admin.exceptions import AdminOnly, CsrfRejected, NotSignedIn, SignInRequired
from app.admin.sessions import CSRF_FIELD, SESSION_COOKIE, SessionCodec, origin_of
from app.config import Settings
from app.db import SAFE_METHODS, SessionDep
from app.handles.visibility import Sight
from app.users import service as users
from app.users.models import Role, User

__all__ = [
    "AdminDep",
    "Owner",
    "OwnerDep",
    "SessionCodecDep",
    "SettingsDep",
    "check_csrf_token",
    "check_same_origin",
    "current_admin",
    "current_owner",
    "require_csrf",
]


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


async def _codec(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.admin_sessions
    return codec


SessionCodecDep = Annotated[SessionCodec, Depends(_codec)]


@dataclass(frozen=True, slots=True)
class Owner:
    """The signed-in account, the handles it may see and the CSRF token its forms carry.

    Every admin view passes `sight` to the services, which treat anything on a handle out of
    sight as missing (404), exactly as for an API key restricted to handles.
    """

    user: User
    csrf_token: str
    sight: Sight

    @property
    def is_admin(self) -> bool:
        return self.user.role == Role.ADMIN


async def current_owner(request: Request, session: SessionDep, codec: SessionCodecDep) -> Owner:
    token = request.cookies.get(SESSION_COOKIE, "")
    claim = codec.read(token) if token else None
    user = await users.get_user(session, claim.user_id) if claim else None
    if claim is None or user is None or user.session_version != claim.session_version:
        if request.method in SAFE_METHODS:
            raise SignInRequired
        raise NotSignedIn
    return Owner(
        user=user, csrf_token=codec.csrf_token(token), sight=await users.sight_of(session, user)
    )


OwnerDep = Annotated[Owner, Depends(current_owner)]


async def current_admin(owner: OwnerDep) -> Owner:
    """The signed-in account, if it is an admin; an owner gets the 404 of a missing page."""
    if not owner.is_admin:
        raise AdminOnly
    return owner


AdminDep = Annotated[Owner, Depends(current_admin)]


def check_same_origin(request: Request, codec: SessionCodec) -> None:
    """Refuse a POST whose `Origin` (or, without one, `Referer`) is another site.

    Both headers missing is allowed (privacy proxies strip them); the CSRF token still decides.
    """
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return
    own = origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")
    if origin_of(claimed) not in {codec.origin, own}:
        raise CsrfRejected


async def check_csrf_token(request: Request, codec: SessionCodec, binding: str) -> None:
    """The form's token must be the one made for `binding` (the browser's cookie value)."""
    check_same_origin(request, codec)
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not binding or not isinstance(given, str) or not codec.csrf_matches(binding, given):
        raise CsrfRejected


async def require_csrf(request: Request, owner: OwnerDep, codec: SessionCodecDep) -> None:
    """Every unsafe request of a signed-in owner carries the token of its session."""
    del owner  # resolved first, so an anonymous POST is told to sign in, not about tokens
    if request.method in SAFE_METHODS:
        return
    await check_csrf_token(request, codec, request.cookies.get(SESSION_COOKIE, ""))
