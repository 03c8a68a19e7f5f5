# SPDX-License-Identifier: Apache-2.0
"""The short torture runs (tests/torture/torture.py): the event_finder
workload against ferryd with faults at random moments; after every five
faults and at the end the target equals the source and holds every
acknowledged write, and ferry recovered by itself.

direct: random kill -9, SIGTERM, KILL of the binlog dump connection, and
MariaDB restarts and kill -9.
kafka: a source-role ferryd and two sink-role ferryd in one group through
the mock cluster; SIGTERM during the backfill, then nine of the eleven
kinds once each (kill -9 and SIGTERM of the source and of a sink, both
killed at once, dump KILL, MariaDB restart and kill -9, a broker or all
down, request errors, a restart while every broker is down)."""
import os
import time

from tests.torture.torture import KAFKA_FAULTS, KafkaTorture, Torture


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


def test_short_kafka_torture(tmp_path):
    seed = int(os.environ.get("FERRY_TORTURE_SEED", "11"))
    t = KafkaTorture(str(tmp_path), seed, scale=0.003, rate=60,
                     down=(8.0, 12.0), log=lambda *a: print(*a))
    t0 = time.monotonic()
    try:
        # two during the backfill, then nine different kinds
        divergences = t.run(faults=11, every=2.0)
    finally:
        t.close()
    print(f"kafka torture: {time.monotonic() - t0:.0f}s, {t.injected}")
    assert sum(t.injected.values()) == 11
    assert sum(1 for k in KAFKA_FAULTS if t.injected[k]) >= 4, t.injected
    assert divergences == 0
