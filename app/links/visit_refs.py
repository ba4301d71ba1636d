"""Visit references: unique, time-ordered, 24 characters, made without a system call.

A ref is the visit's creation time in milliseconds (12 hex digits) followed by 72 random bits
(12 base64url characters). The time prefix keeps the unique index on `visits.ref` growing at its
right edge: with random refs every row of a batch lands on another index page, and SQLite
writes several times more pages per visit (docs/bench.md has the measurement).

The random part only has to make refs unique, never secret (a ref is readable in the signed form
field and grants nothing), so it comes from a process-local generator seeded by the OS instead of
`os.urandom`, whose system call also hands the GIL to the database writer thread on every visit.
72 bits make a collision among visits of the same millisecond practically impossible; should one
happen, the database refuses the second row and the visit writer logs it.
"""

from __future__ import annotations

import binascii
import os
import random
import time

__all__ = ["new_visit_ref"]

_random = random.Random()  # noqa: S311 - uniqueness, not secrecy (see above)
if hasattr(os, "register_at_fork"):
    # A forked worker must not repeat its parent's sequence.
    os.register_at_fork(after_in_child=_random.seed)


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def new_visit_ref() -> str:
    millis = time.time_ns() // 1_000_000
    random_part = binascii.b2a_base64(_random.getrandbits(72).to_bytes(9), newline=False)
    return f"{millis:012x}" + random_part.translate(_URL_SAFE).decode()
