"""Owner accounts: create, authenticate, change the password, end every session.

Hashing takes a few hundred milliseconds of CPU on purpose, so it runs in a worker thread and
never blocks the event loop.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.handles.models import Handle
from app.handles.visibility import Sight
from app.users.exceptions import (
    CannotRemoveYourself,
    InvalidEmail,
    LastAdmin,
    UserExists,
    UserNotFound,
    WeakPassword,
)
from app.users.models import Role, User, user_handles

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "authenticate",
    "change_password",
    "create_user",
    "end_sessions",
    "find_user",
    "generate_password",
    "get_user",
    "get_user_by_email",
    "handle_names_by_user",
    "list_users",
    "normalize_email",
    "password_hasher",
    "remove_user",
    "set_access",
    "set_handles",
    "sight_of",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 10
# argon2 takes any length, but a megabyte "password" would be a cheap way to burn CPU.
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 320

# argon2-cffi's defaults (RFC 9106, low-memory profile). Tests swap in a cheaper hasher.
password_hasher = PasswordHasher()
_dummy_hashes: dict[tuple[object, ...], str] = {}


def normalize_email(raw: str) -> str:
    """The address an owner signs in with, trimmed and lower-cased.

    Owner addresses are login names, not mail targets, so this is a shape check rather than
    email-validator's (which refuses the `.local` names a self-hosted instance may use).
    """
    email = raw.strip().lower()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or len(email) > MAX_EMAIL_LENGTH
        or any(ch.isspace() or ord(ch) < 32 for ch in email)
    ):
        raise InvalidEmail
    return email


def generate_password() -> str:
    """A random password (144 bits) for `leadlink users create` and the demo owner."""
    return secrets.token_urlsafe(18)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at most {MAX_PASSWORD_LENGTH} characters.")


async def _hash(password: str) -> str:
    hasher = password_hasher
    return await anyio.to_thread.run_sync(hasher.hash, password)


def _verify_sync(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash(hasher: PasswordHasher) -> str:
    # Made with the same parameters as real hashes, so an unknown address costs the same time.
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.type)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


async def create_user(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    role: Role = Role.ADMIN,
    handle_ids: Collection[int] = (),
) -> User:
    """A new account; an `owner` sees only the handles in `handle_ids`."""
    email = normalize_email(email)
    _check_password(password)
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserExists(email)
    user = User(email=email, password_hash=await _hash(password), role=role.value)
    session.add(user)
    await session.flush()
    await set_handles(session, user, handle_ids)
    return user


async def set_handles(session: AsyncSession, user: User, handle_ids: Collection[int]) -> None:
    """Grant exactly `handle_ids` to the account (what an `owner` may see and change)."""
    await session.execute(delete(user_handles).where(user_handles.c.user_id == user.id))
    if handle_ids:
        await session.execute(
            insert(user_handles),
            [{"user_id": user.id, "handle_id": handle_id} for handle_id in sorted(handle_ids)],
        )
    await session.flush()


async def sight_of(session: AsyncSession, user: User) -> Sight:
    """The handles the account may see: every one for an admin, the granted ones for an owner."""
    if user.role == Role.ADMIN:
        return None
    granted = await session.scalars(
        select(user_handles.c.handle_id).where(user_handles.c.user_id == user.id)
    )
    return frozenset(granted)


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    """The account when the password is right; `None` for a wrong password or an unknown
    address alike, after the same amount of hashing work, so neither is revealed.
    """
    hasher = password_hasher
    try:
        normalized = normalize_email(email)
    except InvalidEmail:
        normalized = None
    user = None
    if normalized is not None and len(password) <= MAX_PASSWORD_LENGTH:
        user = await session.scalar(select(User).where(User.email == normalized))
    if user is None:
        await anyio.to_thread.run_sync(_verify_sync, hasher, _dummy_hash(hasher), password[:64])
        return None
    if not await anyio.to_thread.run_sync(_verify_sync, hasher, user.password_hash, password):
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await _hash(password)
    user.last_login_at = utcnow()
    await session.flush()
    return user


async def change_password(session: AsyncSession, user: User, new_password: str) -> None:
    """Set a new password and sign every session of the account out."""
    _check_password(new_password)
    user.password_hash = await _hash(new_password)
    user.session_version += 1
    await session.flush()


async def end_sessions(session: AsyncSession, user: User) -> None:
    """Sign the account out everywhere: every session cookie issued so far stops working."""
    user.session_version += 1
    await session.flush()


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise UserNotFound
    return user


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.id))).all()


async def verify_password(user: User, password: str) -> bool:
    """Whether `password` is the account's (for a signed-in owner confirming a change)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    hasher = password_hasher
    return await anyio.to_thread.run_sync(_verify_sync, hasher, user.password_hash, password)


async def find_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound
    return user


async def handle_names_by_user(
    session: AsyncSession, user_ids: Collection[int]
) -> dict[int, list[str]]:
    """The names of the handles granted to each account (absent: none granted)."""
    names: dict[int, list[str]] = {}
    if not user_ids:
        return names
    rows = await session.execute(
        select(user_handles.c.user_id, Handle.name)
        .join(Handle, Handle.id == user_handles.c.handle_id)
        .where(user_handles.c.user_id.in_(list(user_ids)))
        .order_by(Handle.name)
    )
    for user_id, name in rows:
        names.setdefault(user_id, []).append(name)
    return names


async def _other_admins(session: AsyncSession, user: User) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, User.id != user.id)
    )
    return count or 0


async def set_access(
    session: AsyncSession, user: User, role: Role, handle_ids: Collection[int]
) -> None:
    """Change what an account may do: its role and the handles granted to it. The instance
    always keeps an admin, so the last one cannot become an owner."""
    if user.role == Role.ADMIN and role != Role.ADMIN and not await _other_admins(session, user):
        raise LastAdmin
    user.role = role.value
    await set_handles(session, user, handle_ids if role == Role.OWNER else ())


async def remove_user(session: AsyncSession, user: User, *, by: User) -> None:
    """Delete an account (its sessions end with it): never the caller's own, never the last
    admin, so nobody locks the instance out of its accounts by mistake."""
    if user.id == by.id:
        raise CannotRemoveYourself
    if user.role == Role.ADMIN and not await _other_admins(session, user):
        raise LastAdmin
    await session.execute(delete(user_handles).where(user_handles.c.user_id == user.id))
    await session.delete(user)
    await session.flush()
