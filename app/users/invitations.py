"""Invitations: an admin creates an account and hands its future owner a one-time link that
sets the password.

The link's token is signed (`Signer`, purpose `invitation`) over the account id and its
`session_version`, and expires after 7 days. Accepting it sets the password, which raises the
session version, so a used link (and any older link of the account) stops working; nothing
is stored per invitation. Until then the account has a random password nobody knows.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.signing import BadSignature, Signer
from app.users import service as users
from app.users.exceptions import InvitationInvalid
from app.users.models import Role, User

__all__ = [
    "INVITATION_MAX_AGE_SECONDS",
    "InvitationSigner",
    "accept_invitation",
    "find_invited",
    "invite_user",
    "renew_invitation",
]

INVITATION_MAX_AGE_SECONDS = 7 * 24 * 3600


class InvitationSigner:
    """Makes and reads invitation tokens for one secret key."""

    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, "invitation")

    def token(self, user: User, *, now: float | None = None) -> str:
        return self._signer.sign_fields((str(user.id), str(user.session_version)), now=now)

    def claim(self, token: str, *, now: float | None = None) -> tuple[int, int]:
        """`(user id, session version)` of a genuine, unexpired token; else `InvitationInvalid`."""
        try:
            values, _issued = self._signer.unsign_fields(
                token, max_age_seconds=INVITATION_MAX_AGE_SECONDS, now=now
            )
            user_id, version = (int(value) for value in values)
        except (BadSignature, ValueError) as exc:
            raise InvitationInvalid from exc
        return user_id, version


async def invite_user(
    session: AsyncSession, email: str, *, role: Role, handle_ids: Collection[int]
) -> User:
    """A new account with an unknown random password, waiting for its invitation link."""
    return await users.create_user(
        session, email, users.generate_password(), role=role, handle_ids=handle_ids
    )


async def renew_invitation(session: AsyncSession, user: User) -> None:
    """Void the account's earlier links (and end its sessions) before a new link is made."""
    await users.end_sessions(session, user)


async def find_invited(session: AsyncSession, signer: InvitationSigner, token: str) -> User:
    """The account a still-valid invitation link is for; else `InvitationInvalid` (404)."""
    user_id, version = signer.claim(token)
    user = await users.get_user(session, user_id)
    if user is None or user.session_version != version:
        raise InvitationInvalid
    return user


async def accept_invitation(
    session: AsyncSession, signer: InvitationSigner, token: str, password: str
) -> User:
    """Set the password of the invited account: the link is used up, the owner signed in."""
    user = await find_invited(session, signer, token)
    await users.change_password(session, user, password)
    user.last_login_at = utcnow()
    await session.flush()
    return user
