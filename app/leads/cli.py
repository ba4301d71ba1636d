"""`leadlink leads …`: a person's right to be forgotten from the command line, by address or by
one lead's id, with the same erasure as the API's."""

from __future__ import annotations

from typing import Annotated

import typer

from app.command import CommandScope, command_group, fail, out, with_database
from app.leads import privacy

__all__ = ["leads_cli"]

leads_cli = command_group("Erase leads (a person's right to be forgotten).")


@leads_cli.command("erase")
@with_database
async def leads_erase(
    cmd: CommandScope,
    email: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="Erase every lead with this email address."),
    ] = None,
    lead_id: Annotated[
        int | None, typer.Option("--id", metavar="ID", help="Erase this one lead.")
    ] = None,
) -> None:
    """Erase leads by address or id; prints how many.

    The address, name, custom fields and queued emails are gone for good; each lead's row
    stays, without personal data, so counts and reports do not change. Webhooks hear
    `lead.erased` for each. Running it again erases nothing more.
    """
    if email is not None and lead_id is None:
        erased = await privacy.erase_person(cmd.session, email, visible=None)
    elif lead_id is not None and email is None:
        await privacy.erase_lead(cmd.session, lead_id, visible=None)
        erased = 1
    else:
        fail("give either --email ADDRESS or --id ID")
    await cmd.commit()
    out.print(f"{erased} lead{'' if erased == 1 else 's'} erased.", highlight=False)
