"""The benchmark harness behind ``make bench``: a bare ASGI ceiling and a wrk driver."""
