# SPDX-License-Identifier: Apache-2.0
"""transport = direct end to end on the event_finder schema: changes to
clerk_sync_* arrive in the new apps' tables byte for byte, through a
graceful restart, with the position stored beside the rows."""
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid

import MySQLdb
import pytest

from tests.conftest import ROOT, binary
from tests.harness.ferry import write_config

MAPPING = os.path.join(ROOT, "schemas", "event_finder.json")
PAIRS = [(t["source"], t["target"])
         for t in json.load(open(MAPPING))["tables"]]


def load_sql(server, db, path):
    with open(path) as f:
        r = subprocess.run(["mariadb", "-S", server.socket, "-u", "root", db],
                           stdin=f, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def dbs(server):
    tag = uuid.uuid4().hex[:8]
    src, dst = f"src_{tag}", f"dst_{tag}"
    for d in (src, dst):
        server.execute_root(f"CREATE DATABASE {d} CHARACTER SET utf8mb4 "
                            f"COLLATE utf8mb4_unicode_ci")
    load_sql(server, src, os.path.join(ROOT, "schemas", "event_finder",
                                       "clerk_sync.sql"))
    load_sql(server, dst, os.path.join(ROOT, "schemas", "event_finder",
                                       "new.sql"))
    yield src, dst
    for d in (src, dst):
        server.execute_root(f"DROP DATABASE {d}")


class Ferryd:
    def __init__(self, cfg):
        self.proc = subprocess.Popen([binary("ferryd"), "-c", cfg],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.log = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def wait_log(self, pattern, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log:
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no '{pattern}' in ferryd log:\n"
                             + "".join(self.log[-30:]))

    def stop(self, timeout=20):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def rows(server, db, table):
    c = MySQLdb.connect(unix_socket=server.socket, user="root", db=db,
                        charset="utf8mb4", conv={})
    try:
        cur = c.cursor()
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT * FROM `{table}` ORDER BY id")
        return cur.fetchall()
    finally:
        c.close()


def differences(server, src, dst):
    out = []
    for s, t in PAIRS:
        a, b = rows(server, src, s), rows(server, dst, t)
        if a != b:
            out.append(f"{s} -> {t}: {len(a)} vs {len(b)} rows")
    return out


def converge(server, src, dst, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        diff = differences(server, src, dst)
        if not diff or time.monotonic() > deadline:
            return diff
        time.sleep(0.3)


def workload(server, src, base):
    """A burst of event_finder writes: inserts across all nine tables,
    updates of JSON and NULLs, deletes, a primary-key change and a
    unique e-mail swap inside one transaction."""
    c = MySQLdb.connect(unix_socket=server.socket, user="root", db=src,
                        charset="utf8mb4", autocommit=True)
    cur = c.cursor()
    cur.execute("SET time_zone = '+00:00'")
    names = ["Zoë", "Adébáyọ̀", "Łukasz", "Ana 🎉"]
    for i in range(base, base + 20):
        cur.execute(
            "INSERT INTO clerk_sync_clerkuser VALUES (%s, %s, %s, %s, %s, "
            "'https://img/x.png', %s, %s, '2024-01-02 03:04:05.123456', "
            "'2024-01-02 03:04:05.654321')",
            (i, f"user_{i}", f"u{i}@example.com", names[i % 4], "Smith",
             i % 7 == 0, '{"plan":  "pro", "a": [1, 2]}'))
        cur.execute(
            "INSERT INTO clerk_sync_event VALUES (%s, %s, 'desc', 'venue', "
            "'addr', 'Lagos', %s, %s, '2025-05-01 18:00:00.000001', "
            "'2025-05-01 22:00:00', 'music', %s, %s, 'u', 1, NOW(6), "
            "NOW(6), %s)",
            (i, f"Fête {i}", "-33.868820", "151.209296", "1234.50",
             None if i % 3 else 500, i))
        cur.execute(
            "INSERT INTO clerk_sync_eventtickettype VALUES (%s, 'VIP', 'd', "
            "'99.99', 100, 3, NOW(6), %s)", (i, i))
        cur.execute(
            "INSERT INTO clerk_sync_ticket VALUES (%s, %s, 'qr', 'PAID', "
            "NOW(6), NULL, %s, %s, %s)",
            (i, uuid.uuid4().hex, i, i if i % 2 else None, i))
        cur.execute("INSERT INTO clerk_sync_savedevent VALUES (%s, NOW(6), "
                    "%s, %s)", (i, i, i))
        cur.execute(
            "INSERT INTO clerk_sync_notification VALUES (%s, %s, 'info', "
            "'t', 'message ✓', 0, NOW(6), %s)",
            (i, i % 2, None if i % 2 else i))
        cur.execute("INSERT INTO clerk_sync_notificationsettings VALUES "
                    "(%s, 1, 0, 1, 0, 1, NOW(6), %s)", (i, i))
        cur.execute(
            "INSERT INTO clerk_sync_payment VALUES (%s, %s, '-12.34', 'NGN', "
            "'success', 'paystack', %s, NOW(6), NOW(6), %s, %s)",
            (i, f"ref-{i}", '{"event":"charge.success", "data":{ "amount":'
             ' 1234 }}', None if i % 4 == 0 else i, i))
        cur.execute("INSERT INTO clerk_sync_calendarevent VALUES (%s, NULL, "
                    "'note', NOW(6), %s, %s)", (i, i, i))
    cur.execute("UPDATE clerk_sync_clerkuser SET metadata = "
                "'{\"plan\":\"free\" ,\"b\":null}' WHERE id = %s", (base,))
    cur.execute("UPDATE clerk_sync_ticket SET checked_in_at = NOW(6), "
                "status = 'USED' WHERE id = %s", (base + 1,))
    cur.execute("UPDATE clerk_sync_calendarevent SET reminder_at = NOW(6) "
                "WHERE id = %s", (base + 2,))
    cur.execute("DELETE FROM clerk_sync_savedevent WHERE id = %s",
                (base + 3,))
    cur.execute("UPDATE clerk_sync_notification SET id = %s WHERE id = %s",
                (base + 1000, base + 4))
    # Two users swap e-mails (a unique key) in one transaction.
    cur.execute("BEGIN")
    cur.execute("UPDATE clerk_sync_clerkuser SET email = 'tmp' WHERE id = %s",
                (base + 5,))
    cur.execute("UPDATE clerk_sync_clerkuser SET email = %s WHERE id = %s",
                (f"u{base + 5}@example.com", base + 6))
    cur.execute("UPDATE clerk_sync_clerkuser SET email = %s WHERE id = %s",
                (f"u{base + 6}@example.com", base + 5))
    cur.execute("COMMIT")
    c.close()


def test_direct_end_to_end_with_restart(server, dbs, tmp_path):
    src, dst = dbs
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        start="now",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING}})
    f = Ferryd(cfg)
    try:
        f.wait_log(r"binlog source connected")
        workload(server, src, 1)
        diff = converge(server, src, dst)
        assert diff == [], "".join(f.log[-30:])
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    pos = server.query("SELECT position FROM ferry.offsets WHERE "
                       "pipeline LIKE %s AND part = 'gtid'",
                       (f"direct:%:{src}:{dst}",))
    assert pos and pos[0][0].startswith("0-1-")

    # Changes made while ferry is down arrive after the restart, from the
    # position stored in the target.
    workload(server, src, 101)
    f = Ferryd(cfg)
    try:
        f.wait_log(r"pipeline epoch starts position=0-1-")
        diff = converge(server, src, dst)
        assert diff == [], "".join(f.log[-30:])
        assert f.stop() == 0
    finally:
        f.kill()
    assert rows(server, dst, "users_clerkuser")[0][0] == b"1"
