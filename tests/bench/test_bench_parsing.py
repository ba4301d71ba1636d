"""The bench reads wrk's ``--latency`` report (outputs captured from real wrk 4.1 runs) and
``/proc/<pid>/status``; each scenario becomes a wrk Lua script.

Every bench script ends with ``P95_LUA``, whose ``done()`` prints ``p95_us N`` after wrk's own
report. ``BARE_ONE_CONNECTION`` is a run captured with it; the other outputs were captured before
it existed, so their ``p95_us`` line is added, with a value between the run's 90% and 99%.
"""

import os
import time
from dataclasses import astuple

import pytest

from bench.leads import count_lines
from bench.processes import RssSampler, parse_vmrss_kib
from bench.run import Scenario, wrk_lua_script
from bench.wrk import P95_LUA, WrkOutputError, WrkResult, parse_wrk_output

# `wrk -t1 -c1 -d2s --latency -s p95.lua` (P95_LUA) against bench.bare.
BARE_ONE_CONNECTION = """\
Running 2s test @ http://127.0.0.1:8931/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   205.10us  502.23us   4.72ms   93.45%
    Req/Sec    11.63k     5.57k   23.89k    71.43%
  Latency Distribution
     50%   80.00us
     75%  114.00us
     90%  253.00us
     99%    2.91ms
  24284 requests in 2.10s, 2.50MB read
Requests/sec:  11562.56
Transfer/sec:      1.19MB
p95_us 1086.0
"""

# `wrk -t1 -c32 -d3s --latency` against bench.bare, server and wrk pinned to separate cores.
BARE = """\
Running 3s test @ http://127.0.0.1:8911/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.45ms  612.20us  15.01ms   86.60%
    Req/Sec    22.27k     2.11k   26.90k    66.67%
  Latency Distribution
     50%    1.35ms
     75%    1.47ms
     90%    1.87ms
     99%    4.09ms
  66434 requests in 3.00s, 6.84MB read
Requests/sec:  22133.78
Transfer/sec:      2.28MB
p95_us 2467.0
"""

# `wrk -t1 -c8 -d2s --latency` against `python -m http.server` asking for a missing file.
ALL_404 = """\
Running 2s test @ http://127.0.0.1:8912/missing
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.71ms    2.44ms  30.35ms   87.54%
    Req/Sec     1.06k   172.79     1.66k    80.95%
  Latency Distribution
     50%    5.26ms
     75%    6.14ms
     90%    7.66ms
     99%   16.33ms
  2212 requests in 2.10s, 1.10MB read
  Non-2xx or 3xx responses: 2212
Requests/sec:   1053.22
Transfer/sec:    534.84KB
p95_us 9871.0
"""

# `wrk -t1 -c16 -d3s --timeout 1s --latency` against a throw-away server that answers 503 to
# every third request, drops every seventh connection and stalls every eleventh request for 3 s.
FLAKY = """\
Running 3s test @ http://127.0.0.1:8913/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   703.50us  567.77us   2.72ms   77.22%
    Req/Sec   775.50      1.08k    1.54k   100.00%
  Latency Distribution
     50%  549.00us
     75%  813.00us
     90%    1.49ms
     99%    2.68ms
  186 requests in 3.01s, 8.29KB read
  Socket errors: connect 0, read 33, write 0, timeout 6
  Non-2xx or 3xx responses: 62
Requests/sec:     61.75
Transfer/sec:      2.75KB
p95_us 2011.0
"""

# `wrk -t1 -c2 -d60s --timeout 5s --latency` against a server answering after 1.2 s: the
# duration is printed in minutes and the latencies in seconds, padded with a space (\x20).
SLOW_MINUTE = """\
Running 1m test @ http://127.0.0.1:8915/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20s   768.37us   1.20s    82.65%
    Req/Sec     1.00      0.00     1.00    100.00%
  Latency Distribution
     50%    1.20s\x20
     75%    1.20s\x20
     90%    1.20s\x20
     99%    1.20s\x20
  98 requests in 1.00m, 4.12KB read
Requests/sec:      1.63
Transfer/sec:      70.12B
p95_us 1200127.0
"""

# `wrk -t1 -c4 -d2s --timeout 1s --latency` against a socket that listens but never accepts.
NO_ANSWER = """\
Running 2s test @ http://127.0.0.1:8914/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     0.00      0.00     0.00      -nan%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  0 requests in 2.00s, 0.00B read
Requests/sec:      0.00
Transfer/sec:       0.00B
p95_us 0.0
"""

# `wrk -t1 -c32 -d1s` (no --latency) against bench.bare: there are no percentiles to report.
WITHOUT_LATENCY = """\
Running 1s test @ http://127.0.0.1:8911/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.51ms  547.59us  13.73ms   84.92%
    Req/Sec    21.14k     1.67k   23.42k    70.00%
  20992 requests in 1.00s, 2.16MB read
Requests/sec:  20956.52
Transfer/sec:      2.16MB
"""

# The bare run above as wrk prints it without the bench's done(): no p95.
WITHOUT_P95 = BARE_ONE_CONNECTION.removesuffix("p95_us 1086.0\n")

# All wrk prints (on stderr, exit status 1) when nothing listens on the port.
CLOSED_PORT = "unable to connect to 127.0.0.1:8999 Connection refused\n"


def result(
    requests: int,
    duration_s: float,
    requests_per_sec: float,
    latency_ms: tuple[float, float, float],
    *,
    non_2xx_3xx: int = 0,
    socket_errors: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> WrkResult:
    """The expected numbers; ``latency_ms`` is (p50, p95, p99), socket errors (connect, read,
    write, timeout) as wrk lists them."""
    connect, read, write, timeout = socket_errors
    return WrkResult(
        requests=requests,
        duration_s=duration_s,
        requests_per_sec=requests_per_sec,
        p50_ms=latency_ms[0],
        p95_ms=latency_ms[1],
        p99_ms=latency_ms[2],
        non_2xx_3xx=non_2xx_3xx,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeout_errors=timeout,
    )


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        pytest.param(BARE, result(66434, 3.0, 22133.78, (1.35, 2.467, 4.09)), id="bare"),
        pytest.param(
            BARE_ONE_CONNECTION,
            result(24284, 2.1, 11562.56, (0.08, 1.086, 2.91)),
            id="one-connection",
        ),
        pytest.param(
            ALL_404,
            result(2212, 2.1, 1053.22, (5.26, 9.871, 16.33), non_2xx_3xx=2212),
            id="all-404",
        ),
        pytest.param(
            FLAKY,
            result(
                186, 3.01, 61.75, (0.549, 2.011, 2.68), non_2xx_3xx=62, socket_errors=(0, 33, 0, 6)
            ),
            id="socket-errors",
        ),
        pytest.param(
            SLOW_MINUTE,
            result(98, 60.0, 1.63, (1200.0, 1200.127, 1200.0)),
            id="seconds-minutes",
        ),
        pytest.param(NO_ANSWER, result(0, 2.0, 0.0, (0.0, 0.0, 0.0)), id="no-answer"),
    ],
)
def test_reads_the_numbers_of_a_wrk_report(output: str, expected: WrkResult) -> None:
    assert astuple(parse_wrk_output(output)) == pytest.approx(astuple(expected))


def test_errors_count_socket_errors_and_non_2xx_3xx_responses() -> None:
    flaky = parse_wrk_output(FLAKY)

    assert flaky.socket_errors == 39
    assert flaky.errors == 39 + 62


def test_a_clean_run_has_no_errors() -> None:
    assert parse_wrk_output(BARE).errors == 0


@pytest.mark.parametrize(
    "output",
    [
        pytest.param(CLOSED_PORT, id="closed-port"),
        pytest.param(WITHOUT_LATENCY, id="without-latency"),
        pytest.param(WITHOUT_P95, id="without-p95"),
        pytest.param("", id="empty"),
    ],
)
def test_a_report_without_the_needed_numbers_is_refused(output: str) -> None:
    with pytest.raises(WrkOutputError):
        parse_wrk_output(output)


def test_a_scenario_request_becomes_escaped_wrk_lua() -> None:
    scenario = Scenario(
        "opt-in", "POST", "/p/demo", {"User-Agent": 'Instagram "x"\\'}, "email=a@b.c&n=\u00e9\n"
    )

    assert wrk_lua_script(scenario, "r1") == (
        'wrk.method = "POST"\n'
        'wrk.body = "email=a@b.c&n=\\195\\169\\10"\n'
        'wrk.headers["User-Agent"] = "Instagram \\34x\\34\\92"\n' + P95_LUA
    )


def test_a_plain_get_only_reports_its_p95() -> None:
    assert wrk_lua_script(Scenario("healthz", "GET", "/healthz", {}, ""), "r1") == P95_LUA


def test_extra_lua_runs_after_the_request_and_knows_its_run() -> None:
    scenario = Scenario("varied", "GET", "/", {}, "", wrk_lua="request = function() end")

    assert wrk_lua_script(scenario, "r1") == (
        'bench_run = "r1"\nrequest = function() end\n' + P95_LUA
    )


# The head of a /proc/<pid>/status as Linux writes it (tab, padded number); its kB are KiB.
PROC_STATUS = """\
Name:\tuvicorn
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t  412236 kB
VmSize:\t  346700 kB
VmLck:\t       0 kB
VmHWM:\t  143116 kB
VmRSS:\t  136508 kB
RssAnon:\t  118840 kB
"""


def test_reads_the_resident_set_size_of_a_process_status() -> None:
    assert parse_vmrss_kib(PROC_STATUS) == 136508


def test_a_status_without_vmrss_is_refused() -> None:
    # A zombie's status has no Vm lines at all.
    with pytest.raises(ValueError, match="VmRSS"):
        parse_vmrss_kib("Name:\tuvicorn\nState:\tZ (zombie)\n")


def test_the_sampler_sees_memory_a_process_touches_while_it_runs() -> None:
    with RssSampler(os.getpid(), interval=0.005) as rss:
        blob = b"x" * 64_000_000  # written, so resident (unlike a calloc'd bytearray)
        time.sleep(0.05)
        del blob

    assert rss.first_mb > 0
    assert rss.peak_mb - rss.first_mb >= 50


def test_export_rows_are_counted_when_a_chunk_splits_a_line_end() -> None:
    body = b"id,email\r\n1,a@b.example\r\n2,c@d.example\r\n"
    chunks = [body[:24], body[24:]]  # the first ends between CR and LF

    assert chunks[0].endswith(b"\r")
    assert sum(count_lines(chunk) for chunk in chunks) == 3
