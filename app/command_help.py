"""How `leadlink … --help` reads in an 80-column terminal: click's plain layout, arguments and
usage by their upper-case names, and no `<str>`/`<bool>` type labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand
from typer.models import CommandFunctionType

__all__ = ["CommandGroup", "PlainHelpCommand"]


class PlainHelpCommand(TyperCommand):
    """A command whose help names each argument as the usage line does (`SLUG`, not
    `SLUG <str>`), and whose options show their metavar (`--title TEXT`)."""

    # Context and formatter are typed `Any`: their classes are click's, which newer Typer
    # releases vendor under a private module.
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [_name(arg) for arg in self.params if isinstance(arg, TyperArgument)]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments = [
            (_name(param), param.help or "")
            for param in self.get_params(ctx)
            if isinstance(param, TyperArgument) and not param.hidden
        ]
        options = [
            record
            for param in self.get_params(ctx)
            if not isinstance(param, TyperArgument)
            and (record := param.get_help_record(ctx)) is not None
        ]
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)


def _name(argument: TyperArgument) -> str:
    return argument.metavar or (argument.name or "").upper()


class CommandGroup(typer.Typer):
    """A Typer app whose commands are `PlainHelpCommand`s, with click's plain help layout."""

    def __init__(self, **kwargs: Any) -> None:
        # Click's plain help wraps option help in one column; Rich's six-column option table
        # leaves the help a third of an 80-column terminal.
        super().__init__(rich_markup_mode=None, **kwargs)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=cls or PlainHelpCommand, **kwargs)
