# SPDX-License-Identifier: Apache-2.0
"""The binlog source under interruption and schema change: resume from a
saved GTID, survive a killed dump thread or a frozen server, follow or
refuse DDL, refuse a row image that is not FULL."""
import signal
import subprocess
import time

import pytest

from tests.conftest import Database, binary
from tests.harness.ferry import PrintEvents, write_config


def start(db, tmp_path, tables="t%", start="now", name="ferryd.conf",
          extra=None):
    cfg = write_config(str(tmp_path / name), db.server, db.name,
                       tables=tables, start=start, extra=extra)
    pe = PrintEvents(binary("ferryd"), cfg)
    pe.wait_ready()
    return pe


def ids_of(events):
    return [e["after"]["id"] if e["after"] else e["before"]["id"]
            for e in events]


def test_resume_from_saved_gtid(db, tmp_path):
    db.execute("CREATE TABLE t1 (id INT PRIMARY KEY, v VARCHAR(20))")
    c = db.connect()
    cur = c.cursor()
    first = start(db, tmp_path)
    try:
        for i in range(1, 201):
            cur.execute("INSERT INTO t1 VALUES (%s, 'a')", (i,))
        got = first.take(50)
        assert first.stop() == 0
        got += first.drain()
        saved = first.stopped_gtid()
        assert saved, "ferryd did not log the position it stopped at"
    finally:
        first.__exit__(None, None, None)
    # Changes made while ferry is down must arrive after the restart.
    cur.execute("BEGIN")
    for i in range(201, 401):
        cur.execute("INSERT INTO t1 VALUES (%s, 'b')", (i,))
    cur.execute("COMMIT")
    with start(db, tmp_path, start=f"gtid:{saved}", name="b.conf") as second:
        rest = second.take(400 - len(got))
        assert second.drain(quiet=1.0) == []
    all_ids = ids_of(got) + ids_of(rest)
    assert sorted(all_ids) == list(range(1, 401)), "missed or repeated"
    # A transaction is never split across the stop.
    assert len(set(e["source"]["gtid"] for e in got) &
               set(e["source"]["gtid"] for e in rest)) == 0
    c.close()


def dump_threads(server):
    return [r[0] for r in server.query(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE "
        "'Binlog Dump%%' AND USER = %s", (server.repl_user,))]


def test_reconnects_after_dump_thread_killed(own_server, tmp_path):
    # A server of its own: KILLing dump threads must not hit other tests.
    own_server.execute_root("CREATE DATABASE k")
    db = Database(own_server, "k")
    db.execute("CREATE TABLE t2 (id INT PRIMARY KEY, pad TEXT)")
    with start(db, tmp_path) as pe:
        c = db.connect()
        cur = c.cursor()
        for i in range(1, 51):
            cur.execute("INSERT INTO t2 VALUES (%s, 'x')", (i,))
        before = pe.take(50)
        # A large transaction, with the dump thread killed while it is
        # being read: rows already delivered must not repeat.
        cur.execute("BEGIN")
        cur.executemany("INSERT INTO t2 VALUES (%s, REPEAT('y', 200))",
                        [(i,) for i in range(51, 20051)])
        cur.execute("COMMIT")
        killed = 0
        for tid in dump_threads(db.server):
            db.server.execute_root(f"KILL {tid}")
            killed += 1
        assert killed >= 1
        for i in range(20051, 20101):
            cur.execute("INSERT INTO t2 VALUES (%s, 'z')", (i,))
        after = pe.take(20050, timeout=60)
        assert pe.drain(quiet=1.0) == []
        c.close()
        assert sorted(ids_of(before + after)) == list(range(1, 20101))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                "reconnecting" in l for l in pe.stderr):
            time.sleep(0.1)
        assert any("reconnecting" in l for l in pe.stderr), pe.stderr[-5:]


def test_add_column_is_followed(db, tmp_path):
    db.execute("CREATE TABLE t3 (id INT PRIMARY KEY, a INT)")
    with start(db, tmp_path) as pe:
        db.execute("INSERT INTO t3 VALUES (1, 1)",
                   "ALTER TABLE t3 ADD COLUMN b JSON",
                   "INSERT INTO t3 VALUES (2, 2, '{\"k\":  1}')")
        e1, e2 = pe.take(2)
        assert "b" not in e1["after"]
        assert e2["after"] == {"id": 2, "a": 2, "b": '{"k":  1}'}
        assert pe.proc.poll() is None


def test_unfollowable_ddl_stops_with_clear_error(db, tmp_path):
    db.execute("CREATE TABLE t4 (id INT PRIMARY KEY, a INT, b INT)")
    with start(db, tmp_path) as pe:
        c = db.connect()
        cur = c.cursor()
        cur.execute("INSERT INTO t4 VALUES (1, 1, 1)")
        cur.execute("ALTER TABLE t4 DROP COLUMN a")
        cur.execute("SELECT @@last_gtid")
        ddl_gtid = cur.fetchone()[0]
        c.close()
        pe.take(1)
        pe.proc.wait(15)
        assert pe.proc.returncode != 0
        err = "".join(pe.stderr)
        assert f"{db.name}.t4" in err and "DROP COLUMN a" in err
        assert f"gtid {ddl_gtid}" in err, err


def test_table_without_primary_key_is_refused(db, tmp_path):
    db.execute("CREATE TABLE t5 (a INT, b INT)")
    with start(db, tmp_path) as pe:
        db.execute("INSERT INTO t5 VALUES (1, 1)")
        pe.proc.wait(15)
        assert pe.proc.returncode != 0
        assert "no primary key" in "".join(pe.stderr)


def test_unwatched_tables_and_patterns(db, tmp_path):
    db.execute("CREATE TABLE clerk_sync_a (id INT PRIMARY KEY)",
               "CREATE TABLE clerk_syncXb (id INT PRIMARY KEY)",
               "CREATE TABLE other (id INT PRIMARY KEY)")
    with start(db, tmp_path, tables=r"clerk\_sync\_%, other") as pe:
        db.execute("INSERT INTO clerk_syncXb VALUES (1)",
                   "INSERT INTO clerk_sync_a VALUES (2)",
                   "INSERT INTO other VALUES (3)")
        evs = pe.take(2)
        assert [e["source"]["table"] for e in evs] == ["clerk_sync_a", "other"]
        assert pe.drain(quiet=1.0) == []


def test_follows_binlog_rotation(db, tmp_path):
    db.execute("CREATE TABLE t6 (id INT PRIMARY KEY)")
    with start(db, tmp_path) as pe:
        db.execute("INSERT INTO t6 VALUES (1)")
        db.server.execute_root("FLUSH BINARY LOGS")
        db.execute("INSERT INTO t6 VALUES (2)")
        e1, e2 = pe.take(2)
        assert e1["source"]["file"] != e2["source"]["file"]
        assert e2["source"]["file"].startswith("binlog.")
        assert e2["source"]["pos"] > 0


def test_row_image_not_full_is_refused(db, tmp_path):
    # The server runs binlog_row_image=FULL; one session switches to
    # MINIMAL, so its UPDATE logs only the key before and the changed
    # column after: ferry must refuse it, not guess the missing columns.
    db.execute("CREATE TABLE t7 (id INT PRIMARY KEY, a INT, b VARCHAR(20))")
    with start(db, tmp_path) as pe:
        db.execute("INSERT INTO t7 VALUES (1, 1, 'x')",
                   "INSERT INTO t7 VALUES (2, 2, 'y')")
        c = db.connect()
        cur = c.cursor()
        cur.execute("SET SESSION binlog_row_image = 'MINIMAL'")
        cur.execute("UPDATE t7 SET a = 10 WHERE id = 1")
        cur.execute("SELECT @@last_gtid")
        update_gtid = cur.fetchone()[0]
        c.close()
        try:
            pe.proc.wait(15)
        except subprocess.TimeoutExpired:
            raise AssertionError("ferryd kept running after a MINIMAL row "
                                 "image:\n" + "".join(pe.stderr[-30:]))
        assert pe.proc.returncode != 0
        # Everything ferryd printed: the two inserts committed before the
        # refused transaction, and nothing of the UPDATE.
        evs = pe.drain(quiet=1.0)
        assert [(e["op"], e["after"]["id"]) for e in evs] == \
            [("c", 1), ("c", 2)], evs
        assert all(e["op"] != "u" for e in evs)
        err = "".join(pe.stderr)
        assert f"table {db.name}.t7: row image is not FULL" in err, err
        assert f"gtid {update_gtid}" in err, err


def test_frozen_server_is_noticed_and_stream_resumes(own_server, tmp_path):
    # A server of its own: it is frozen with SIGSTOP. A frozen server keeps
    # the TCP connection open but sends nothing, heartbeats included: only
    # the read timeout can notice it.
    heartbeat_s, read_timeout_s = 1, 3
    bound = read_timeout_s + 2 * heartbeat_s + 3  # slack for ASan, 2 cores
    own_server.execute_root("CREATE DATABASE f")
    db = Database(own_server, "f")
    db.execute("CREATE TABLE t8 (id INT PRIMARY KEY)")
    extra = {"source": {"heartbeat": f"{heartbeat_s}s",
                        "read_timeout": f"{read_timeout_s}s"}}
    with start(db, tmp_path, extra=extra) as pe:
        c = db.connect()
        cur = c.cursor()
        for i in range(1, 21):
            cur.execute("INSERT INTO t8 VALUES (%s)", (i,))
        c.close()
        before = pe.take(20)
        # Idle for longer than the read timeout: heartbeats alone must keep
        # a live connection from being taken for a dead one.
        time.sleep(read_timeout_s + 1)
        assert not any("connection lost" in l for l in pe.stderr), \
            pe.stderr[-5:]
        mark = len(pe.stderr)
        noticed = None
        own_server.proc.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < bound + 5:
                if any("binlog connection lost" in l
                       for l in pe.stderr[mark:]):
                    noticed = time.monotonic() - t0
                    break
                if pe.proc.poll() is not None:
                    break
                time.sleep(0.05)
            # Still frozen for a while: the reconnect attempts meet a
            # server that accepts TCP but never answers.
            time.sleep(2 * heartbeat_s)
        finally:
            own_server.proc.send_signal(signal.SIGCONT)
        assert noticed is not None, \
            f"no lost connection reported in {bound + 5}s: " \
            + "".join(pe.stderr[-10:])
        assert noticed < bound, f"noticed after {noticed:.1f}s"
        assert pe.proc.poll() is None, "".join(pe.stderr[-10:])
        c = db.connect()
        cur = c.cursor()
        for i in range(21, 41):
            cur.execute("INSERT INTO t8 VALUES (%s)", (i,))
        c.close()
        after = pe.take(20, timeout=30)
        assert pe.drain(quiet=1.0) == []
        assert ids_of(before) == list(range(1, 21))
        assert ids_of(after) == list(range(21, 41)), "missed or repeated"
