# SPDX-License-Identifier: Apache-2.0
"""The short torture run (tests/torture/torture.py): the event_finder
workload against ferryd (direct transport) with random kill -9, SIGTERM,
KILL of the binlog dump connection, and MariaDB restarts and kill -9;
after every five faults and at the end the target equals the source and
holds every acknowledged write, and ferryd recovered by itself."""
import os

from tests.torture.torture import Torture


def test_short_torture(tmp_path):
    seed = int(os.environ.get("FERRY_TORTURE_SEED", "11"))
    t = Torture(str(tmp_path), seed, scale=0.003, rate=120,
                log=lambda *a: print(*a))
    try:
        divergences = t.run(faults=10, every=2.0)
    finally:
        t.close()
    assert sum(t.injected.values()) == 10
    assert divergences == 0
