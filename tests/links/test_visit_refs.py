"""Visit refs: unique, fitting the 24-character column, and in creation order across milliseconds
(so that the unique index on `visits.ref` grows at its right edge)."""

from __future__ import annotations

import itertools
import os
import re
import time

from app.links.visit_refs import new_visit_ref

REF = re.compile(r"[0-9a-f]{12}[A-Za-z0-9_-]{12}")


def test_refs_are_unique_url_safe_and_fit_the_column() -> None:
    refs = [new_visit_ref() for _ in range(100_000)]

    assert len(set(refs)) == len(refs)
    assert all(REF.fullmatch(ref) for ref in refs)


def test_refs_made_in_later_milliseconds_sort_after_earlier_ones() -> None:
    batches = []
    for _ in range(5):
        batches.append([new_visit_ref() for _ in range(50)])
        time.sleep(0.002)

    for earlier, later in itertools.pairwise(batches):
        assert max(earlier) < min(later)
    assert int(batches[0][0][:12], 16) // 1000 in range(int(time.time()) - 5, int(time.time()) + 1)


def test_a_forked_worker_does_not_repeat_its_parents_refs() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first random parts, written back to the parent
        os.close(read_end)
        os.write(write_end, "".join(new_visit_ref()[12:] for _ in range(20)).encode())
        os._exit(0)
    os.close(write_end)
    parents = "".join(new_visit_ref()[12:] for _ in range(20))
    with os.fdopen(read_end) as pipe:
        childs = pipe.read()
    os.waitpid(pid, 0)

    assert len(childs) == len(parents) == 20 * 12
    assert {childs[i : i + 12] for i in range(0, 240, 12)}.isdisjoint(
        {parents[i : i + 12] for i in range(0, 240, 12)}
    )
