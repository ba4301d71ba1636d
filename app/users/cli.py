"""`leadlink users …`: owner accounts for /admin, managed from the command line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from app.command import CommandScope, command_group, err, fail, out, with_database
from app.handles import service as handles
from app.users import service as users
from app.users.models import Role

__all__ = ["users_cli"]

users_cli = command_group("Owner accounts that sign in to /admin.")

PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _password_from(stdin: bool) -> tuple[str, bool]:
    """The password piped in with --password-stdin, or a generated one (and whether it was)."""
    if not stdin:
        return users.generate_password(), True
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("--password-stdin was given but no password arrived on standard input")
    return password, False


def _show_generated(password: str) -> None:
    out.print(f"password: {password}", highlight=False)
    err.print("Store it now: it is shown once and cannot be recovered.")


@users_cli.command("create")
@with_database
async def users_create(
    cmd: CommandScope,
    email: Annotated[
        str, typer.Argument(metavar="EMAIL", help="The address the owner signs in with.")
    ],
    password_stdin: PasswordStdinOption = False,
    role: Annotated[
        Role,
        typer.Option(
            metavar="ROLE",
            case_sensitive=False,
            help="admin (every handle, and the accounts) or owner (only the --handle ones).",
        ),
    ] = Role.ADMIN,
    handle: Annotated[
        list[str] | None,
        typer.Option(metavar="HANDLE", help="Repeatable; a handle an owner manages."),
    ] = None,
) -> None:
    """Create an account for /admin.

    Without --password-stdin a strong password is generated and printed once; only its argon2
    hash is stored. An owner needs at least one --handle; an admin sees every handle.
    """
    if role == Role.OWNER and not handle:
        fail("an owner needs at least one --handle (the handles they manage)")
    if role == Role.ADMIN and handle:
        fail("an admin sees every handle: drop --handle, or use --role owner")
    granted = [(await handles.get_handle(cmd.session, name)).id for name in handle or []]
    password, generated = _password_from(password_stdin)
    user = await users.create_user(cmd.session, email, password, role=role, handle_ids=granted)
    await cmd.commit()
    out.print(f"{user.role} account created: {user.email}", highlight=False)
    if generated:
        _show_generated(password)
    out.print(f"sign in at {cmd.settings.base_url}/admin/login", highlight=False)


@users_cli.command("list")
@with_database
async def users_list(cmd: CommandScope) -> None:
    """List accounts: role, handles, last sign-in."""
    table = Table("id", "email", "role", "handles", "created", "last sign-in")
    accounts = await users.list_users(cmd.session)
    names = await users.handle_names_by_user(cmd.session, [user.id for user in accounts])
    for user in accounts:
        last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "never"
        granted = "all" if user.role == Role.ADMIN else ", ".join(names.get(user.id, [])) or "none"
        row = (
            str(user.id),
            user.email,
            user.role,
            granted,
            user.created_at.isoformat(timespec="seconds"),
            last,
        )
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)


@users_cli.command("password")
@with_database
async def users_password(
    cmd: CommandScope,
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The owner's address.")],
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Set a new password and sign the account out everywhere.

    Without --password-stdin a strong password is generated and printed once.
    """
    password, generated = _password_from(password_stdin)
    user = await users.get_user_by_email(cmd.session, email)
    await users.change_password(cmd.session, user, password)
    await cmd.commit()
    out.print(f"password changed for {users.normalize_email(email)}", highlight=False)
    if generated:
        _show_generated(password)
