# SPDX-License-Identifier: Apache-2.0
"""ferryctl verify and ferryctl cutover on the event_finder schema under
a live writer: a clean verify, a planted difference reported by key, a
cutover that pauses writes briefly, renames the old tables away and loses
no acknowledged write; a long transaction makes the cutover give up
within lock_timeout and leaves the source writable."""
import json
import threading
import time

import MySQLdb
import pytest

from tests.harness import workload as wl
from tests.harness.ferry import write_config
from tests.harness.load_writer import LoadWriter
from tests.integration.test_control import ferryctl, insert_users, status
from tests.integration.test_direct_pipeline import (MAPPING, Ferryd, converge,
                                                    dbs)  # noqa: F401


def grant(server, *dbs):
    for d in dbs:
        for host in ("%", "localhost"):
            server.execute_root(f"GRANT ALL ON `{d}`.* TO 'ferry'@'{host}'")


def start(server, src, dst, tmp_path, retired, **cutover):
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        start="snapshot",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING},
               "cutover": {"retired_schema": retired, "max_lag": "2s",
                           **cutover}})
    f = Ferryd(cfg)
    f.wait_log(r"binlog source connected")
    return cfg, f


def wait_streaming(cfg, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = status(cfg)
        if s["state"] == "streaming" and s["lag_seconds"] < 1:
            return s
        time.sleep(0.2)
    raise AssertionError(f"not streaming: {s}")


def connect(server, db):
    return lambda: MySQLdb.connect(unix_socket=server.socket, user="root",
                                   db=db, charset="utf8mb4", autocommit=False)


def test_verify_and_cutover_under_writes(server, dbs, tmp_path):
    src, dst = dbs
    retired = src + "_retired"
    grant(server, src, retired)
    insert_users(server, src, 1, 200)
    # Tables over 100 rows are compared online and key by key, not
    # COUNTed in the pause (clerkuser has 200: see the outcome below).
    server.execute_root("ANALYZE TABLE clerk_sync_clerkuser", db=src)
    cfg, f = start(server, src, dst, tmp_path, retired,
                   pause_count_max_rows="100")
    # The event_finder workload (swaps, moves, primary-key changes) plus
    # a plain load from two processes: >= 1k writes/s throughout.
    work = wl.Workload(connect(server, src), rate=300, seed=7).start()
    load = LoadWriter(server.socket, src, rate=1300).start()
    try:
        wait_streaming(cfg)
        r = ferryctl(cfg, "verify", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "verify clean" in r.stdout

        # A divergent target row is reported with its key: one the
        # writer cannot touch (it only knows the source's ids).
        c = MySQLdb.connect(unix_socket=server.socket, user="root", db=dst,
                            autocommit=True)
        c.cursor().execute(
            "INSERT INTO users_clerkuser (id, clerk_id, email, first_name,"
            " last_name, image_url, is_admin, metadata, created_at,"
            " updated_at) SELECT 900000001, 'planted', 'planted@x.org',"
            " first_name, last_name, image_url, is_admin, metadata,"
            " created_at, updated_at FROM users_clerkuser WHERE id = 3")
        r = ferryctl(cfg, "verify", "--json", timeout=120)
        assert r.returncode == 1, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        keys = [k for t in rep["tables"] for k in t["differing_keys"]]
        assert keys == [{"id": 900000001}], rep
        # While a difference stands, the cutover refuses to switch.
        r = ferryctl(cfg, "cutover", timeout=120)
        assert r.returncode == 1 and "differ" in r.stderr, r.stderr
        assert status(cfg)["state"] == "streaming"
        c.cursor().execute("DELETE FROM users_clerkuser WHERE id = 900000001")
        c.close()
        r = ferryctl(cfg, "verify", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr

        r = ferryctl(cfg, "cutover", "--dry-run", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-20:])
        assert "dry_run_succeeded" in r.stdout

        r = ferryctl(cfg, "cutover", "--json", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-30:])
        out = json.loads(r.stdout)
        assert out["result"] == "succeeded"
        assert 0 < out["pause_ms"] < 2000, out
        skipped = [p["source"] for p in
                   out["verify"].get("counted_online_only", [])]
        assert "clerk_sync_clerkuser" in skipped, out["verify"]
        time.sleep(0.3)
        # After the rename the writer's statements fail fast (1146, no
        # such table): old code cannot write to the retired tables.
        try:
            work.stop()
        except MySQLdb.ProgrammingError as e:
            assert e.args[0] == 1146, e
        lres = load.stop()
        print("load writer", {k: v for k, v in lres.items() if k != "acked"})
        # Delayed by the pause, never failed: only the rename stops it.
        assert set(lres["errors"]) <= {1146}, lres["errors"]
        assert lres["writes_per_s"] >= 1000, lres["writes_per_s"]

        names = [r[0] for r in server.query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
            "TABLE_SCHEMA = %s", (retired,))]
        assert "clerk_sync_clerkuser" in names
        assert not server.query(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
            " AND TABLE_NAME LIKE 'clerk_sync%%'", (src,))
        s = status(cfg)
        assert s["state"] == "cut_over"
        assert s["last_cutover"]["result"] == "succeeded"
        # Every write the writer got an OK for is in the target.
        t = MySQLdb.connect(unix_socket=server.socket, user="root", db=dst)
        diffs = work.verify(t, mapping=MAPPING)
        # At once: no write reaches an old table after the pause (one
        # RENAME per table, each queued behind it), so nothing is still
        # on its way.
        missing = load.missing_in(t)
        t.close()
        assert not diffs, [str(d) for d in diffs[:5]]
        assert not missing, missing[:5]
        assert work.txns > 50
        assert f.stop() == 0
        # A restart stays cut over: no stream, no error, status answers.
        f = Ferryd(cfg)
        f.wait_log(r"cut over already")
        f.wait_log(r"control socket listening")
        time.sleep(0.5)
        s = status(cfg)
        assert s["state"] == "cut_over" and s["lag_seconds"] == 0, s
        assert f.proc.poll() is None
        assert f.stop() == 0
    finally:
        work.halt.set()
        load.halt.set()
        f.kill()


def test_cutover_gives_up_on_a_long_transaction(server, dbs, tmp_path):
    src, dst = dbs
    retired = src + "_retired"
    grant(server, src, retired)
    insert_users(server, src, 1, 20)
    cfg, f = start(server, src, dst, tmp_path, retired, lock_timeout="1s")
    holder = MySQLdb.connect(unix_socket=server.socket, user="root", db=src)
    try:
        wait_streaming(cfg)
        hc = holder.cursor()
        hc.execute("BEGIN")
        hc.execute("UPDATE clerk_sync_clerkuser SET first_name = 'held' "
                   "WHERE id = 1")
        t0 = time.monotonic()
        r = ferryctl(cfg, "cutover", timeout=120)
        took = time.monotonic() - t0
        assert r.returncode == 1
        assert "could not pause writes" in r.stderr, r.stderr
        # three bounded attempts of lock_timeout/4 plus the online verify
        assert took < 10, took
        holder.rollback()
        # The source stays writable and streaming goes on.
        insert_users(server, src, 100, 5)
        assert converge(server, src, dst) == []
        s = status(cfg)
        assert s["state"] == "streaming"
        assert s["last_cutover"]["result"] == "failed"
        assert f.stop() == 0
    finally:
        holder.close()
        f.kill()


def test_cutover_gives_up_when_the_sink_cannot_catch_up(server, dbs,
                                                        tmp_path):
    """A target row locked by someone else stalls the sink: the cutover
    gives up within drain_timeout, the source stays writable, and once
    the lock goes the stream catches up with nothing lost."""
    src, dst = dbs
    retired = src + "_retired"
    grant(server, src, retired)
    insert_users(server, src, 1, 20)
    cfg, f = start(server, src, dst, tmp_path, retired,
                   drain_timeout="2s", max_lag="5s")
    holder = MySQLdb.connect(unix_socket=server.socket, user="root", db=dst)
    try:
        wait_streaming(cfg)
        assert converge(server, src, dst) == []
        hc = holder.cursor()
        hc.execute("BEGIN")
        hc.execute("SELECT * FROM users_clerkuser WHERE id = 5 FOR UPDATE")
        c = MySQLdb.connect(unix_socket=server.socket, user="root", db=src,
                            autocommit=True)
        c.cursor().execute("UPDATE clerk_sync_clerkuser SET first_name = "
                           "'stuck' WHERE id = 5")
        c.close()
        time.sleep(0.3)
        t0 = time.monotonic()
        r = ferryctl(cfg, "cutover", timeout=120)
        took = time.monotonic() - t0
        assert r.returncode == 1, r.stdout
        assert "did not apply" in r.stderr, r.stderr
        assert took < 8, took
        s = status(cfg)
        assert s["last_cutover"]["result"] == "failed"
        assert s["state"] != "cut_over"
        holder.rollback()
        insert_users(server, src, 100, 3)
        assert converge(server, src, dst) == []
        assert f.stop() == 0
    finally:
        holder.close()
        f.kill()
