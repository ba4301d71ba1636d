"""bench.run reads wrk's ``--latency`` report: outputs captured from real wrk 4.1 runs."""

from dataclasses import astuple

import pytest

from bench.run import Scenario, WrkOutputError, WrkResult, parse_wrk_output, wrk_lua_script

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

# All wrk prints (on stderr, exit status 1) when nothing listens on the port.
CLOSED_PORT = "unable to connect to 127.0.0.1:8999 Connection refused\n"


def result(
    requests: int,
    duration_s: float,
    requests_per_sec: float,
    latency_ms: tuple[float, float],
    *,
    non_2xx_3xx: int = 0,
    socket_errors: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> WrkResult:
    """The expected numbers; ``latency_ms`` is (p50, p99), socket errors (connect, read, write,
    timeout) as wrk lists them."""
    connect, read, write, timeout = socket_errors
    return WrkResult(
        requests=requests,
        duration_s=duration_s,
        requests_per_sec=requests_per_sec,
        p50_ms=latency_ms[0],
        p99_ms=latency_ms[1],
        non_2xx_3xx=non_2xx_3xx,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeout_errors=timeout,
    )


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        pytest.param(BARE, result(66434, 3.0, 22133.78, (1.35, 4.09)), id="bare"),
        pytest.param(
            ALL_404, result(2212, 2.1, 1053.22, (5.26, 16.33), non_2xx_3xx=2212), id="all-404"
        ),
        pytest.param(
            FLAKY,
            result(186, 3.01, 61.75, (0.549, 2.68), non_2xx_3xx=62, socket_errors=(0, 33, 0, 6)),
            id="socket-errors",
        ),
        pytest.param(SLOW_MINUTE, result(98, 60.0, 1.63, (1200.0, 1200.0)), id="seconds-minutes"),
        pytest.param(NO_ANSWER, result(0, 2.0, 0.0, (0.0, 0.0)), id="no-answer"),
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
        'wrk.headers["User-Agent"] = "Instagram \\34x\\34\\92"\n'
    )


def test_a_plain_get_needs_no_lua() -> None:
    assert wrk_lua_script(Scenario("healthz", "GET", "/healthz", {}, ""), "r1") is None


def test_extra_lua_runs_after_the_request_and_knows_its_run() -> None:
    scenario = Scenario("varied", "GET", "/", {}, "", wrk_lua="request = function() end")

    assert wrk_lua_script(scenario, "r1") == 'bench_run = "r1"\nrequest = function() end\n'
