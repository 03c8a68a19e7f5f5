# SPDX-License-Identifier: Apache-2.0
"""kill -9 of the whole direct-mode process at random moments under a
steady write load: after restarts the target equals the source, with no
row lost or left stale (issue 4's crash test)."""
import random
import time

from tests.harness.ef_writer import Writer
from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import (MAPPING, Ferryd,  # noqa
                                                     converge, dbs)


def test_kill9_under_load_converges(server, dbs, tmp_path):
    src, dst = dbs
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING}})
    rng = random.Random(7)
    f = Ferryd(cfg)
    f.wait_log(r"binlog source connected")
    w = Writer(server, src, 11)
    w.start()
    kills = 0
    try:
        for _ in range(3):
            time.sleep(rng.uniform(0.5, 2.0))
            f.kill()  # SIGKILL: no drain, no checkpoint
            kills += 1
            f = Ferryd(cfg)
            f.wait_log(r"pipeline epoch starts position=")
        time.sleep(0.5)
    finally:
        w.halt.set()
        w.join(10)
    assert w.error is None, w.error
    assert w.ops > 100
    try:
        diff = converge(server, src, dst, timeout=40)
        assert diff == [], "".join(f.log[-20:])
        assert f.stop() == 0
    finally:
        f.kill()
    assert kills == 3


def test_sigterm_under_load_drains_and_resumes(server, dbs, tmp_path):
    """SIGTERM mid-stream: ferryd drains, stores its position and exits 0
    within a bounded time; the restart resumes from that position (not
    from "now") and loses nothing written meanwhile."""
    src, dst = dbs
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING}})
    f = Ferryd(cfg)
    f.wait_log(r"binlog source connected")
    w = Writer(server, src, 12)
    w.start()
    try:
        for _ in range(2):
            time.sleep(1.0)
            t0 = time.monotonic()
            assert f.stop(timeout=15) == 0, "".join(f.log[-20:])
            took = time.monotonic() - t0
            assert took < 10, took
            assert any("stopped cleanly" in line for line in f.log)
            pos = server.query(
                "SELECT position FROM ferry.offsets WHERE pipeline LIKE %s "
                "AND part = 'gtid'", (f"direct:%:{src}:{dst}",))
            assert pos and pos[0][0], "no position stored at SIGTERM"
            time.sleep(0.5)  # the writer goes on while ferryd is down
            f = Ferryd(cfg)
            m = f.wait_log(r"pipeline epoch starts position=(\S+)")
            assert m.group(1) != "now"
        time.sleep(0.5)
    finally:
        w.halt.set()
        w.join(10)
    assert w.error is None, w.error
    try:
        assert converge(server, src, dst, timeout=40) == [], \
            "".join(f.log[-20:])
        assert f.stop() == 0
    finally:
        f.kill()
