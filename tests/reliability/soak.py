"""`make soak`: fault 1 (kill -9 under load) at ten random kill points per backend, one table.

    python -m tests.reliability.soak [--rounds 10] [--backend both] [--seed N]

Each round gets a brand-new database (a SQLite file, or a `CREATE DATABASE` on the server at
LEADLINK_TEST_POSTGRES_URL, dropped afterwards), starts `leadlink serve`, sends 16 opt-ins and 64
one-link clicks at a time, SIGKILLs the server at a random moment, starts it again on the same
port and database, lets the load finish and compares what the clients were told with what the
database holds. The exit status is 1 when any promise broke (an acknowledged opt-in missing or
doubled, a visit lost outside the documented bound: docs/reliability.md), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.databases import POSTGRES_URL, FreshDatabases
from tests.reliability.harness import KillRound, kill_round

__all__ = ["format_table", "main"]

COLUMNS = (
    ("backend", 10),
    ("round", 5),
    ("kill at", 8),
    ("opt-ins acked", 13),
    ("stored", 6),
    ("dupl.", 5),
    ("in flight stored", 16),
    ("visits answered", 15),
    ("stored", 6),
    ("lost", 5),
    ("oldest lost", 11),
    ("restart", 8),
    ("recover", 8),
)


def _row(number: int, result: KillRound) -> tuple[str, ...]:
    tally, visits = result.opt_ins, result.visits
    oldest = f"{visits.oldest_lost_seconds * 1000:.0f} ms" if visits.lost else "-"
    return (
        result.backend,
        str(number),
        f"{result.kill_after:.2f} s",
        str(tally.acknowledged),
        str(tally.acknowledged - len(tally.lost)),
        str(len(tally.duplicates)),
        f"{tally.unanswered_stored} of {tally.unanswered}",
        str(visits.answered),
        str(visits.stored),
        str(visits.lost),
        oldest,
        f"{result.restart_seconds:.1f} s",
        f"{result.recovery_seconds:.1f} s",
    )


def format_table(results: list[tuple[int, KillRound]]) -> str:
    """The soak's table: one line per kill, columns as in docs/reliability.md."""
    lines = [
        "  ".join(name.rjust(width) for name, width in COLUMNS),
        "  ".join("-" * width for _, width in COLUMNS),
    ]
    for number, result in results:
        cells = _row(number, result)
        lines.append(
            "  ".join(cell.rjust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True))
        )
    return "\n".join(lines)


async def _one_round(
    backend: str, number: int, root: Path, databases: FreshDatabases, rng: random.Random
) -> KillRound:
    workdir = root / f"{backend}-{number}"
    workdir.mkdir()
    label = f"soak{number}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'soak.db'}"
        return await kill_round(url, workdir, backend=backend, rng=rng, label=label)
    url = await databases.create_postgres_database(migrated=False)
    try:
        return await kill_round(url, workdir, backend=backend, rng=rng, label=label)
    finally:
        await databases.drop_postgres_database(url)


async def _soak(backends: list[str], rounds: int, seed: int) -> int:
    rng = random.Random(seed)
    results: list[tuple[int, KillRound]] = []
    failures: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="leadlink-soak-") as directory:
        root = Path(directory)
        databases = FreshDatabases(root)
        try:
            for backend in backends:
                for number in range(1, rounds + 1):
                    result = await _one_round(backend, number, root, databases, rng)
                    results.append((number, result))
                    print(format_table([(number, result)]).splitlines()[-1], flush=True)
                    failures += [f"{backend} round {number}: {p}" for p in result.problems()]
        finally:
            await databases.close()
    print()
    print(format_table(results))
    acked = sum(r.opt_ins.acknowledged for _, r in results)
    lost = sum(len(r.opt_ins.lost) for _, r in results)
    visits = sum(r.visits.answered for _, r in results)
    visits_lost = sum(r.visits.lost for _, r in results)
    print(
        f"\n{len(results)} kills in {time.monotonic() - started:.0f} s (seed {seed}): "
        f"{acked} opt-ins acknowledged, {lost} of them lost; {visits} visits answered, "
        f"{visits_lost} lost to the kills ({visits_lost / max(visits, 1):.1%})"
    )
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.soak",
        description="kill -9 leadlink serve under load at random moments; compare what clients "
        "were told with what the database holds",
    )
    parser.add_argument("--rounds", type=int, default=10, help="kills per backend (10)")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help=f"the database (PostgreSQL at LEADLINK_TEST_POSTGRES_URL, now {POSTGRES_URL})",
    )
    parser.add_argument("--seed", type=int, help="the kill points' random seed (printed)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    # SIGTERM (make interrupted) ends the run like Ctrl-C: servers stopped, databases dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return asyncio.run(_soak(backends, args.rounds, seed))


if __name__ == "__main__":
    sys.exit(main())
