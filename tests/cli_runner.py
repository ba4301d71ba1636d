"""Run the real `leadlink` console script in a subprocess, as a person would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

LEADLINK = Path(sys.executable).parent / "leadlink"
REPO_ROOT = Path(__file__).resolve().parent.parent


def leadlink_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADLINK_")}
    env.update(
        {
            "LEADLINK_DATA_DIR": str(data_dir),
            "LEADLINK_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'cli.db'}",
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    env.update(extra)
    return env


def run_leadlink(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEADLINK), *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
