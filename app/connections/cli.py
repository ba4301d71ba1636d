"""`leadlink connections …`: list connections and re-encrypt their secrets after a key change."""

from __future__ import annotations

from rich.table import Table

from app.command import CommandScope, command_group, err, out, with_database
from app.connections import service as connections

__all__ = ["connections_cli"]

connections_cli = command_group("List connections; re-encrypt their secrets under a new key.")


@connections_cli.command("list")
@with_database
async def connections_list(cmd: CommandScope) -> None:
    """List connections; never their secrets.

    Each with its provider, handles, status and last event. `handles` names the handles
    a connection is for; `all` means every handle.
    """
    table = Table("id", "provider", "label", "handles", "status", "last event")
    for view in await connections.list_connections(cmd.session, None):
        connection = view.connection
        table.add_row(
            str(connection.id),
            connection.provider,
            connection.label,
            ", ".join(view.handles) or "all",
            connection.status,
            connection.last_event_at.isoformat(timespec="seconds")
            if connection.last_event_at
            else "never",
        )
    out.print(table)


@connections_cli.command("rotate-key")
@with_database
async def connections_rotate_key(cmd: CommandScope) -> None:
    """Re-encrypt connection secrets under the current key.

    The current key is LEADLINK_SECRET_KEY. Run it after changing LEADLINK_SECRET_KEY with
    the old key in LEADLINK_PREVIOUS_SECRET_KEYS; afterwards the old key can be removed from
    that setting.
    Secrets no key can read are marked "needs reconnect" for the owner to paste again.
    """
    result = await connections.rotate_key(cmd.session, connections.cipher_of(cmd.settings))
    out.print(
        f"Re-encrypted {result.rotated}; already under the current key {result.current}; "
        f"unreadable {result.unreadable}.",
        highlight=False,
    )
    if result.unreadable:
        err.print("Unreadable secrets must be pasted again on their connection's admin page.")
