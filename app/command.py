"""What every `leadlink` command shares: its settings, one committed database session, progress
bars, and failures as one readable line with exit status 1 instead of a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import typing
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.command_help import CommandGroup
from app.config import ConfigError, Settings, load_settings
from app.db import Database, create_engine
from app.errors import AppError

__all__ = [
    "CommandScope",
    "command_group",
    "engine_or_fail",
    "err",
    "fail",
    "out",
    "progress",
    "run",
    "settings_or_fail",
    "with_database",
]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

out = Console()
err = Console(stderr=True, soft_wrap=True)


def command_group(help_text: str) -> CommandGroup:
    """A domain's `leadlink NAME …` sub-app; mount it on the root with `add_typer`."""
    return CommandGroup(help=help_text, no_args_is_help=True)


def fail(message: str) -> NoReturn:
    """End the command with one readable line on stderr, never a traceback."""
    # The message often quotes user input: never read it as Rich markup or emoji codes.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, emoji=False)
    raise typer.Exit(code=1)


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(
            f"LEADLINK_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        fail(f"invalid LEADLINK_* setting: {problems}")


def engine_or_fail(settings: Settings, **engine_options: Any) -> AsyncEngine:
    try:
        return create_engine(settings, **engine_options)
    except (ArgumentError, ValueError) as exc:
        fail(f"LEADLINK_DATABASE_URL is not usable: {exc}")
    except ModuleNotFoundError as exc:
        fail(f"LEADLINK_DATABASE_URL needs a driver that is not installed: {exc.name}")


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine; database and domain failures end the command with one line."""
    try:
        return asyncio.run(work)
    except AppError as exc:
        fail(exc.detail)
    except (DBAPIError, OSError, TimeoutError) as exc:
        logger.debug("command failed on the database", exc_info=True)
        fail(f"cannot use the database: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300]


@dataclass(frozen=True, slots=True)
class CommandScope:
    """What a `with_database` command works with: the settings and its unit of work."""

    settings: Settings
    session: AsyncSession

    async def commit(self) -> None:
        """Commit early, when what follows (removing a replaced file) needs the change stored."""
        await self.session.commit()


def with_database(
    body: Callable[Concatenate[CommandScope, P], Coroutine[Any, Any, None]],
) -> Callable[P, None]:
    """Turn `async def body(scope, *options)` into a command: load the settings, open the
    database and one session, run the body, commit, and end a domain or database failure with
    one line and exit status 1. The body's first parameter is hidden from the command line."""

    @functools.wraps(body)
    def command(*args: P.args, **kwargs: P.kwargs) -> None:
        settings = settings_or_fail()
        run(_in_session(settings, body, *args, **kwargs))

    # Typer reads the options from the signature and the type hints: show it those of the
    # body without the scope.
    signature = inspect.signature(body, eval_str=True)
    options = list(signature.parameters.values())[1:]
    command.__signature__ = signature.replace(parameters=options)  # type: ignore[attr-defined]
    hints = typing.get_type_hints(body, include_extras=True)
    command.__annotations__ = {option.name: hints[option.name] for option in options}
    return command


async def _in_session(
    settings: Settings,
    body: Callable[Concatenate[CommandScope, P], Coroutine[Any, Any, None]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> None:
    database = Database(engine_or_fail(settings))
    try:
        async with database.session() as session:
            await body(CommandScope(settings, session), *args, **kwargs)
            await session.commit()
    finally:
        await database.dispose()


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[], None]]:
    """A progress bar while a long command works, advanced by calling what this yields; shown
    only when stdout is an interactive terminal, so piped output stays exactly the result."""
    # A console of its own, made now: whether stdout is a terminal is a property of this run.
    terminal = Console()
    if not terminal.is_interactive:
        yield _nothing
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=terminal, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield functools.partial(bar.advance, task, 1)


def _nothing() -> None:
    return None
