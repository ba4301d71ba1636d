"""The replicas scenario: one-link pages per second from two `leadlink serve` processes on one
PostgreSQL database, against one process, driven by the same wrk (two threads) both times.

wrk talks to the replicas directly, one thread per process (each thread's connections go to the
address its `setup()` gives it), so the figure is leadlink's own scaling, not a proxy's. With one
process both threads go to it: the client's work is the same in both runs. Nothing is pinned:
on a 2-core machine the servers, wrk and PostgreSQL share both cores, which is the point of the
measurement and also its limit (docs/bench.md, "Replicas").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PROCESS_COUNTS", "SCENARIO", "WRK_THREADS", "ReplicaScaling", "thread_addresses_lua"]

SCENARIO = "replicas"
PROCESS_COUNTS = (1, 2)
WRK_THREADS = 2


def thread_addresses_lua(ports: Sequence[int]) -> str:
    """wrk Lua sending thread n to `ports[n % len(ports)]` on the URL's host (wrk calls
    `setup()` once per thread, in its main Lua state, before any connection opens)."""
    quoted = ", ".join(f'"{port}"' for port in ports)
    return (
        f"local replica_ports = {{{quoted}}}\n"
        "local replica_threads = 0\n"
        "setup = function(thread)\n"
        "  local port = replica_ports[replica_threads % #replica_ports + 1]\n"
        "  thread.addr = wrk.lookup(wrk.host, port)[1]\n"
        "  replica_threads = replica_threads + 1\n"
        "end\n"
    )


@dataclass(frozen=True)
class ReplicaScaling:
    """One database's pages per second with one process and with two."""

    database: str
    connections: int
    one_process_rps: float
    two_processes_rps: float

    @property
    def ratio(self) -> float:
        if self.one_process_rps <= 0:
            return float("inf")
        return self.two_processes_rps / self.one_process_rps

    def line(self) -> str:
        return (
            f"{self.database} / replicas: one-link page {self.two_processes_rps:,.0f} req/s with "
            f"two processes, {self.one_process_rps:,.0f} with one: {self.ratio:.2f} times "
            f"(wrk -t{WRK_THREADS} -c{self.connections}, nothing pinned)"
        )
