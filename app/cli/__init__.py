"""The `leadlink` command: the root commands (serve, migrate, worker, demo, backup, restore,
version) and each domain's commands, mounted from the domain's own `cli` module."""

from __future__ import annotations

from app import __version__
from app.api_keys.cli import keys_cli
from app.cli.backups import backup, restore
from app.cli.serving import serve, worker
from app.cli.setup import demo, migrate
from app.command import out
from app.command_help import CommandGroup
from app.connections.cli import connections_cli
from app.leads.cli import leads_cli
from app.links.cli import handles_cli, visits_cli
from app.pages.cli import pages_cli
from app.reports.cli import metrics_cli, report, rollups_cli
from app.users.cli import users_cli

__all__ = ["cli", "main"]

cli = CommandGroup(
    name="leadlink",
    help="leadlink: one link for every social bio, turning likes into leads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def version() -> None:
    """Print the leadlink version."""
    out.print(__version__)


for root_command in (serve, migrate, worker, demo, report, backup, restore, version):
    cli.command()(root_command)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(handles_cli, name="handles")
cli.add_typer(pages_cli, name="pages")
cli.add_typer(leads_cli, name="leads")
cli.add_typer(users_cli, name="users")
cli.add_typer(metrics_cli, name="metrics")
cli.add_typer(rollups_cli, name="rollups")
cli.add_typer(visits_cli, name="visits")
cli.add_typer(connections_cli, name="connections")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
