"""wrk: running it (pinned to its core) and reading its ``--latency`` report, plus the p95 that
the Lua ``done()`` of every bench script prints, since wrk itself lists only 50/75/90/99 %.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.processes import CorePinning, HarnessError

__all__ = [
    "P95_LUA",
    "WrkOutputError",
    "WrkResult",
    "ensure_wrk",
    "parse_wrk_output",
    "run_wrk",
]

WRK_GRACE_SECONDS = 60  # beyond its -d, before a hung wrk counts as a harness failure

# Appended to every wrk script: wrk calls done() once, after its own report, with the latency
# histogram of the whole run (microseconds).
P95_LUA = """\
done = function(summary, latency, requests)
  io.write(string.format("p95_us %.1f\\n", latency:percentile(95)))
end
"""


class WrkOutputError(HarnessError, ValueError):
    """wrk's report lacks a number the table needs."""


@dataclass(frozen=True)
class WrkResult:
    """The numbers of one wrk run that the table and the checks use."""

    requests: int
    duration_s: float
    requests_per_sec: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx_3xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeout_errors: int

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeout_errors

    @property
    def errors(self) -> int:
        """What the table calls errors: requests that did not get a 2xx or 3xx answer."""
        return self.socket_errors + self.non_2xx_3xx


# wrk prints times with these suffixes (its units.c); the table wants milliseconds.
_TIME_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"
_REQUESTS_RE = re.compile(rf"^\s*(\d+) requests in {_TIME},", re.MULTILINE)
_RATE_RE = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.MULTILINE)
_SOCKET_ERRORS_RE = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_NON_2XX_RE = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_P95_RE = re.compile(r"^p95_us ([\d.]+)\s*$", re.MULTILINE)


def _percentile_re(percent: int) -> re.Pattern[str]:
    return re.compile(rf"^\s*{percent}%\s+{_TIME}\s*$", re.MULTILINE)


_P50_RE = _percentile_re(50)
_P99_RE = _percentile_re(99)


def _milliseconds(number: str, unit: str) -> float:
    return float(number) * _TIME_UNIT_MS[unit]


def _required(pattern: re.Pattern[str], output: str, what: str) -> re.Match[str]:
    match = pattern.search(output)
    if match is None:
        raise WrkOutputError(f"wrk output has no {what}:\n{output}")
    return match


def parse_wrk_output(output: str) -> WrkResult:
    """Read wrk's ``--latency`` text report followed by the ``p95_us`` line of `P95_LUA`; the
    error lines are absent when there were none."""
    requests = _required(_REQUESTS_RE, output, "'N requests in' line")
    p50 = _required(_P50_RE, output, "50% latency (was --latency given?)")
    p99 = _required(_P99_RE, output, "99% latency (was --latency given?)")
    p95 = _required(_P95_RE, output, "p95_us line (was the script's done() P95_LUA?)")
    rate = _required(_RATE_RE, output, "Requests/sec line")
    socket_errors = _SOCKET_ERRORS_RE.search(output)
    connect, read, write, timeout = (
        (int(count) for count in socket_errors.groups()) if socket_errors else (0, 0, 0, 0)
    )
    non_2xx = _NON_2XX_RE.search(output)
    return WrkResult(
        requests=int(requests.group(1)),
        duration_s=_milliseconds(requests.group(2), requests.group(3)) / 1000.0,
        requests_per_sec=float(rate.group(1)),
        p50_ms=_milliseconds(p50.group(1), p50.group(2)),
        p95_ms=float(p95.group(1)) / 1000.0,
        p99_ms=_milliseconds(p99.group(1), p99.group(2)),
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeout_errors=timeout,
    )


def ensure_wrk() -> None:
    """Install wrk with apt-get when we are root; otherwise say what is missing and stop."""
    if shutil.which("wrk") is not None:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit("wrk is not installed: install it (e.g. `apt-get install wrk`) and re-run.")
    print("installing wrk with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
            sys.exit(f"`{shlex.join(argv)}` failed; install wrk by hand and re-run.")


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: int,
    script: Path,
    pinning: CorePinning,
    threads: int = 1,
) -> WrkResult:
    """One wrk run; `script` must end with `P95_LUA`."""
    argv = [
        *pinning.wrk, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
        "-s", str(script), url,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + WRK_GRACE_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"wrk did not finish within {exc.timeout:.0f} s on {url}") from exc
    if done.returncode != 0:
        raise HarnessError(f"wrk failed on {url}: {(done.stderr or done.stdout).strip()}")
    return parse_wrk_output(done.stdout)
