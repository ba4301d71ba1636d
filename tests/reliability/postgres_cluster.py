"""A PostgreSQL cluster of the test's own, made, stopped and started the way Debian's packaging
does (`pg_createcluster`, `pg_ctlcluster`, `pg_dropcluster` from postgresql-common), so that a
test can restart "the database server" without touching the one other tests share.

Its name carries the pid of the process that made it: a cluster left behind by a run that died
is dropped by the next one (`sweep_stale`), never one another run is still using.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PREFIX", "DebianCluster", "cluster_tools_problem", "installed_version"]

PREFIX = "leadlink_fault_"
POSTGRES_LIBS = Path("/usr/lib/postgresql")
TOOLS = ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_lsclusters")
COMMAND_TIMEOUT = 120.0


def installed_version() -> str | None:
    """The newest PostgreSQL major version installed from Debian (/usr/lib/postgresql/N)."""
    if not POSTGRES_LIBS.is_dir():
        return None
    versions = [p.name for p in POSTGRES_LIBS.iterdir() if p.name.isdigit()]
    return max(versions, key=int) if versions else None


def cluster_tools_problem() -> str | None:
    """Why a cluster cannot be made here (None: it can)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"postgresql-common's {', '.join(missing)} not found (apt-get install postgresql)"
    if installed_version() is None:
        return f"no PostgreSQL server under {POSTGRES_LIBS} (apt-get install postgresql)"
    if os.geteuid() != 0:
        return "making a PostgreSQL cluster needs root (pg_createcluster runs as postgres)"
    return None


def _run(*command: str) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class DebianCluster:
    version: str
    name: str
    port: int

    @property
    def server_url(self) -> str:
        """asyncpg's URL of the cluster's `postgres` database (trust authentication)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, database: str) -> str:
        """SQLAlchemy's URL of a database in the cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def create(cls, port: int) -> DebianCluster:
        """`pg_createcluster VERSION NAME --port PORT --start -- --auth=trust`: a new cluster
        (with the postgres superuser trusted on local connections), running."""
        version = installed_version()
        assert version is not None
        cluster = cls(version, f"{PREFIX}{os.getpid()}", port)
        _run(
            "pg_createcluster",
            version,
            cluster.name,
            "--port",
            str(port),
            "--start",
            # A small cluster: it holds one test's rows.
            "-o",
            "shared_buffers=16MB",
            "-o",
            "max_connections=60",
            "--",
            "--auth=trust",
        )
        return cluster

    def stop(self) -> None:
        """`pg_ctlcluster VERSION NAME stop` (a fast shutdown: sessions are ended)."""
        _run("pg_ctlcluster", self.version, self.name, "stop")

    def start(self) -> None:
        """`pg_ctlcluster VERSION NAME start`; returns once the server accepts connections."""
        _run("pg_ctlcluster", self.version, self.name, "start")

    def drop(self) -> None:
        """`pg_dropcluster --stop`: the server stopped, its data and configuration deleted."""
        _run("pg_dropcluster", "--stop", self.version, self.name)

    @staticmethod
    def sweep_stale() -> list[str]:
        """Drop the clusters of runs that are gone (and one of this process's own, left by a
        dead run whose pid it now has); returns their names."""
        dropped = []
        for line in _run("pg_lsclusters", "--no-header").splitlines():
            fields = line.split()
            if len(fields) < 2 or not (found := re.fullmatch(rf"{PREFIX}(\d+)", fields[1])):
                continue
            pid = int(found.group(1))
            if pid == os.getpid() or not _pid_alive(pid):
                _run("pg_dropcluster", "--stop", fields[0], fields[1])
                dropped.append(fields[1])
        return dropped
