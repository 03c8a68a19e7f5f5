# SPDX-License-Identifier: Apache-2.0
"""A binlog purged past the stored position: ferryd stops with an error
that names the missing position and the way forward (a fresh backfill),
and applies nothing after the gap."""
import os
import subprocess
import time
import uuid

from tests.conftest import ROOT, binary
from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import (MAPPING, Ferryd, converge,
                                                    load_sql, workload)


def test_purged_binlog_stops_loudly(own_server, tmp_path):
    m = own_server
    tag = uuid.uuid4().hex[:6]
    src, dst = f"src_{tag}", f"dst_{tag}"
    for d in (src, dst):
        m.execute_root(f"CREATE DATABASE {d}")
    load_sql(m, src, os.path.join(ROOT, "schemas/event_finder/clerk_sync.sql"))
    load_sql(m, dst, os.path.join(ROOT, "schemas/event_finder/new.sql"))
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), m, src, tables="clerk_sync_%",
        extra={"sink": {"socket": m.socket, "database": dst,
                        "mapping": MAPPING}})
    f = Ferryd(cfg)
    try:
        f.wait_log(r"binlog source connected")
        workload(m, src, 1)
        assert converge(m, src, dst) == []
        assert f.stop() == 0
    finally:
        f.kill()
    stored = m.query("SELECT position FROM ferry.offsets WHERE "
                     "part = 'gtid'")[0][0]
    # Changes while ferry is down, then their binlog goes away.
    workload(m, src, 101)
    # A binlog InnoDB still needs for crash recovery is not purged yet:
    # rotate and retry until only the newest is left.
    for _ in range(50):
        m.execute_root("FLUSH BINARY LOGS")
        last = m.query("SHOW BINARY LOGS")[-1][0]
        m.execute_root(f"PURGE BINARY LOGS TO '{last}'")
        if len(m.query("SHOW BINARY LOGS")) == 1:
            break
        time.sleep(0.2)
    assert len(m.query("SHOW BINARY LOGS")) == 1, "could not purge"

    try:
        r = subprocess.run([binary("ferryd"), "-c", cfg],
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("ferryd kept running over the gap:\n"
                             + (e.stderr or b"").decode()[-3000:])
    assert r.returncode != 0, r.stderr[-2000:]
    err = r.stderr
    assert stored in err, err[-2000:]
    assert "purged" in err and "backfill" in err, err[-2000:]
    # Nothing after the gap was applied.
    assert m.query("SELECT position FROM ferry.offsets WHERE "
                   "part = 'gtid'")[0][0] == stored
