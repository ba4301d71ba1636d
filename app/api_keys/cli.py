"""`leadlink keys …`: issue, list and revoke API keys from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from app.api_keys import service as api_keys
from app.command import CommandScope, command_group, err, out, with_database
from app.handles import service as handles

__all__ = ["keys_cli"]

keys_cli = command_group("Issue, list and revoke API keys.")


@keys_cli.command("create")
@with_database
async def keys_create(
    cmd: CommandScope,
    name: Annotated[str, typer.Option(metavar="NAME", help="A label, e.g. the CRM's name.")],
    scope: Annotated[
        list[str],
        typer.Option(metavar="SCOPE", help=f"Repeatable; one of: {', '.join(api_keys.SCOPES)}."),
    ],
    handle: Annotated[
        list[str] | None,
        typer.Option(metavar="HANDLE", help="Repeatable; restrict the key to these handles."),
    ] = None,
) -> None:
    """Issue an API key (its secret is shown once).

    Only a hash of the secret is stored.
    """
    restricted = [await handles.get_handle(cmd.session, each) for each in handle or []]
    issued = await api_keys.create_api_key(cmd.session, name=name, scopes=scope, handles=restricted)
    await cmd.commit()  # the secret is shown once: only for a key that exists
    out.print(f"API key {issued.key.id} ({issued.key.scopes}):", highlight=False)
    out.print(issued.secret, highlight=False)
    err.print("Store it now: it is shown once and cannot be recovered.")


@keys_cli.command("list")
@with_database
async def keys_list(cmd: CommandScope) -> None:
    """List API keys (scopes, handles, last use); never secrets.

    `handles` names the handles a key is restricted to; `all` means unrestricted.
    """
    table = Table("id", "name", "prefix", "scopes", "handles", "last used", "state")
    keys = await api_keys.list_api_keys(cmd.session)
    restricted = await api_keys.handle_names_by_key(cmd.session, [key.id for key in keys])
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.prefix + "…",
            key.scopes,
            ", ".join(restricted[key.id]) if key.id in restricted else "all",
            key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never",
            "revoked" if key.revoked_at else "active",
        )
    out.print(table)


@keys_cli.command("revoke")
@with_database
async def keys_revoke(
    cmd: CommandScope,
    key_id: Annotated[int, typer.Argument(metavar="ID", help="The key's id (see `keys list`).")],
) -> None:
    """Revoke an API key at once; requests with it get 401 from then on."""
    await api_keys.revoke_api_key(cmd.session, key_id)
    await cmd.commit()
    out.print(f"API key {key_id} revoked.")
