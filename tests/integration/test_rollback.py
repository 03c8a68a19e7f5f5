# SPDX-License-Identifier: Apache-2.0
"""Reverse streaming and ferryctl rollback ([cutover] reverse = true): a
cutover under a live writer starts a reverse stream from the target's
position captured in the pause; inserts, updates and deletes on the new
tables reach the retired old tables through the inverted mapping, also
across a ferryd restart; ferryctl rollback renames the old tables back
with every write; a restart stays rolled back. A mapping that cannot be
inverted is refused at start, naming the column."""
import json
import subprocess
import threading
import time

import MySQLdb

from tests.harness import workload as wl
from tests.conftest import binary
from tests.harness.ferry import write_config
from tests.integration.test_control import ferryctl, insert_users, status
from tests.integration.test_cutover import connect, grant, start
from tests.integration.test_direct_pipeline import (MAPPING, Ferryd,  # noqa
                                                    converge, dbs,
                                                    differences)


def wait_for(what, cond, timeout=60):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def reverse_streaming(cfg):
    def ok():
        s = status(cfg)
        rv = s.get("reverse") or {}
        return s if (rv.get("state") == "streaming" and rv.get("ready")
                     and rv.get("lag_seconds", 99) < 1) else None
    return wait_for("reverse streaming", ok)


class NewTableWriter:
    """Inserts, updates and deletes on users_clerkuser in the NEW
    database (what the application does after the cutover), ids from
    base up, autocommit, until stopped."""

    def __init__(self, server, db, base):
        self.server, self.db, self.next = server, db, base
        self.halt = threading.Event()
        self.done = 0
        self.error = None
        self.t = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.t.start()
        return self

    def run(self):
        c = MySQLdb.connect(unix_socket=self.server.socket, user="root",
                            db=self.db, autocommit=True)
        cur = c.cursor()
        try:
            while not self.halt.is_set():
                i = self.next
                self.next += 1
                cur.execute(
                    "INSERT INTO users_clerkuser (id, clerk_id, email,"
                    " first_name, last_name, image_url, is_admin, metadata,"
                    " created_at, updated_at) VALUES (%s, %s, %s, 'n', 'w',"
                    " '', 0, '{}', NOW(6), NOW(6))",
                    (i, f"new{i}", f"new{i}@x.org"))
                if i % 3 == 0:
                    cur.execute("UPDATE users_clerkuser SET first_name ="
                                " CONCAT('upd', id), metadata = '{\"k\": 1}'"
                                " WHERE id = %s", (i - 1,))
                if i % 5 == 0:
                    cur.execute("DELETE FROM users_clerkuser WHERE id = %s",
                                (i - 2,))
                self.done += 1
                time.sleep(0.005)
        except Exception as e:  # reported by stop()
            self.error = e
        finally:
            c.close()

    def stop(self):
        self.halt.set()
        self.t.join(30)
        assert not self.t.is_alive()
        if self.error:
            raise self.error
        return self.done


def write_new_tables(server, dst):
    """A few writes across other new tables: updates and a delete."""
    c = MySQLdb.connect(unix_socket=server.socket, user="root", db=dst,
                        autocommit=True)
    cur = c.cursor()
    cur.execute("UPDATE users_clerkuser SET last_name = 'renamed' "
                "WHERE id BETWEEN 1 AND 50")
    cur.execute("UPDATE calendar_app_event SET title = CONCAT(title, '!') "
                "ORDER BY id LIMIT 20")
    cur.execute("DELETE FROM saved_savedevent ORDER BY id LIMIT 5")
    c.close()


def tables_in(server, db):
    return sorted(r[0] for r in server.query(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
        "TABLE_SCHEMA = %s AND TABLE_NAME LIKE 'clerk_sync%%'", (db,)))


def test_reverse_streaming_and_rollback(server, dbs, tmp_path):
    src, dst = dbs
    retired = src + "_retired"
    grant(server, src, retired)
    insert_users(server, src, 1, 200)
    cfg, f = start(server, src, dst, tmp_path, retired, reverse="true",
                   reverse_grace="168h")
    work = wl.Workload(connect(server, src), rate=300, seed=11).start()
    writer = None
    try:
        s = wait_for("streaming", lambda: (lambda s: s if s["state"] ==
                     "streaming" and s["lag_seconds"] < 1 else None)(
                         status(cfg)))
        assert s["reverse"]["state"] == "waiting", s["reverse"]
        r = ferryctl(cfg, "rollback", timeout=60)
        assert r.returncode == 1 and "not cut over" in r.stderr, r.stderr

        wait_for("writer progress", lambda: work.txns > 60, timeout=30)
        r = ferryctl(cfg, "cutover", "--json", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-30:])
        assert json.loads(r.stdout)["result"] == "succeeded"
        time.sleep(0.3)
        try:
            work.stop()
        except MySQLdb.ProgrammingError as e:
            assert e.args[0] == 1146, e
        assert work.txns > 50
        # the forward copy holds every acknowledged write
        t = MySQLdb.connect(unix_socket=server.socket, user="root", db=dst)
        diffs = work.verify(t, mapping=MAPPING)
        t.close()
        assert not diffs, [str(d) for d in diffs[:5]]
        f.wait_log(r"reverse streaming starts")
        reverse_streaming(cfg)
        r = ferryctl(cfg, "status")
        assert "reverse       streaming, lag" in r.stdout, r.stdout
        # Nothing ferry wrote forward comes back, and the retired tables
        # equal the new ones right after the switch.
        assert converge(server, retired, dst) == []

        # The application now writes to the new tables.
        writer = NewTableWriter(server, dst, 1_000_000).start()
        write_new_tables(server, dst)
        time.sleep(2)
        n = writer.stop()
        writer = None
        assert n > 20
        assert converge(server, retired, dst) == [], "".join(f.log[-20:])
        s = status(cfg)
        assert s["state"] == "cut_over" and s["reverse"]["state"] == \
            "streaming", s

        # A restart resumes the reverse stream where it was: writes made
        # while ferryd is down arrive too.
        assert f.stop() == 0
        write_new_tables(server, dst)
        w2 = NewTableWriter(server, dst, 2_000_000).start()
        time.sleep(0.5)
        w2.stop()
        f = Ferryd(cfg)
        f.wait_log(r"cut over already")
        f.wait_log(r"reverse streaming starts")
        reverse_streaming(cfg)
        assert converge(server, retired, dst) == [], "".join(f.log[-20:])

        r = ferryctl(cfg, "rollback", "--dry-run", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-20:])
        assert "dry_run_succeeded" in r.stdout
        assert tables_in(server, src) == []

        # Writes go on right up to the rollback.
        writer = NewTableWriter(server, dst, 3_000_000).start()
        time.sleep(1)
        r = ferryctl(cfg, "rollback", "--json", timeout=120)
        writer.stop()
        writer = None
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-30:])
        out = json.loads(r.stdout)
        assert out["result"] == "succeeded", out
        assert 0 < out["pause_ms"] < 2000, out
        assert len(tables_in(server, src)) == 9
        assert tables_in(server, retired) == []
        s = status(cfg)
        assert s["state"] == "rolled_back", s
        assert s["reverse"]["last_rollback"]["result"] == "succeeded"
        # Every write made to the new tables before the rollback is in
        # the old ones; writes after the release (the writer did not
        # stop at once) are the only difference allowed.
        c = MySQLdb.connect(unix_socket=server.socket, user="root",
                            autocommit=True)
        cur = c.cursor()
        cur.execute(f"DELETE FROM `{dst}`.users_clerkuser WHERE id >= 3000000"
                    f" AND id NOT IN (SELECT id FROM `{src}`."
                    f"clerk_sync_clerkuser WHERE id >= 3000000)")
        c.close()
        diff = differences(server, src, dst)
        # rows the writer updated or deleted after the release may differ
        # only in users_clerkuser
        assert all(d.startswith("clerk_sync_clerkuser") for d in diff), diff
        rb_rows = server.query(
            f"SELECT COUNT(*) FROM `{src}`.clerk_sync_clerkuser WHERE id < "
            f"3000000")[0][0]
        new_rows = server.query(
            f"SELECT COUNT(*) FROM `{dst}`.users_clerkuser WHERE id < "
            f"3000000")[0][0]
        assert rb_rows == new_rows
        r = ferryctl(cfg, "rollback", timeout=60)
        assert r.returncode == 1 and "already rolled back" in r.stderr

        # A restart stays rolled back: no stream either way.
        assert f.stop() == 0
        f = Ferryd(cfg)
        f.wait_log(r"rolled back already")
        time.sleep(0.5)
        s = status(cfg)
        assert s["state"] == "rolled_back", s
        assert f.proc.poll() is None
        assert f.stop() == 0
    finally:
        work.halt.set()
        if writer:
            writer.halt.set()
        f.kill()


def test_uninvertible_mapping_is_refused(server, dbs, tmp_path):
    src, dst = dbs
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"version": 1, "tables": [
        {"source": "clerk_sync_payment", "target": "billing_payment",
         "values": {"status": {"PENDING": "open", "FAILED": "open",
                               "PAID": "paid"}}}]}))
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": str(mapping)},
               "cutover": {"reverse": "true"}})
    r = subprocess.run([binary("ferryd"), "-c", cfg, "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 78, r.stdout + r.stderr
    assert "clerk_sync_payment" in r.stderr and "status" in r.stderr
    assert "one-to-one" in r.stderr, r.stderr
    p = subprocess.run([binary("ferryd"), "-c", cfg], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 78, p.stderr
    assert "cannot be streamed back" in p.stderr and "status" in p.stderr
    # the same mapping without reverse is fine
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text.replace("reverse = true", "reverse = false"))
    r = subprocess.run([binary("ferryd"), "-c", cfg, "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_rollback_gives_up_on_a_long_transaction(server, dbs, tmp_path):
    """A transaction holding a new table makes the rollback give up
    within lock_timeout; the new tables stay writable, reverse streaming
    goes on and the retired tables keep following."""
    src, dst = dbs
    retired = src + "_retired"
    grant(server, src, retired)
    insert_users(server, src, 1, 20)
    cfg, f = start(server, src, dst, tmp_path, retired, reverse="true",
                   lock_timeout="1s")
    holder = MySQLdb.connect(unix_socket=server.socket, user="root", db=dst)
    try:
        wait_for("streaming", lambda: (lambda s: s if s["state"] ==
                 "streaming" and s["lag_seconds"] < 1 else None)(
                     status(cfg)))
        r = ferryctl(cfg, "cutover", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-30:])
        reverse_streaming(cfg)
        hc = holder.cursor()
        hc.execute("BEGIN")
        hc.execute("UPDATE users_clerkuser SET first_name = 'held' "
                   "WHERE id = 1")
        t0 = time.monotonic()
        r = ferryctl(cfg, "rollback", timeout=120)
        took = time.monotonic() - t0
        assert r.returncode == 1, r.stdout
        assert "could not pause writes on the new tables" in r.stderr, \
            r.stderr + "".join(f.log[-30:])
        assert took < 10, took
        holder.commit()
        s = status(cfg)
        assert s["state"] == "cut_over", s
        assert s["reverse"]["state"] == "streaming", s["reverse"]
        assert s["reverse"]["last_rollback"]["result"] == "failed"
        assert tables_in(server, src) == []
        write_new_tables(server, dst)
        assert converge(server, retired, dst) == []
        row = server.query(f"SELECT first_name FROM `{retired}`."
                           f"clerk_sync_clerkuser WHERE id = 1")
        assert row[0][0] == "held"
        assert f.stop() == 0
    finally:
        holder.close()
        f.kill()


def test_reverse_streaming_ends_after_the_grace_period(server, dbs,
                                                       tmp_path):
    src, dst = dbs
    retired = src + "_retired"
    grant(server, src, retired)
    insert_users(server, src, 1, 10)
    cfg, f = start(server, src, dst, tmp_path, retired, reverse="true",
                   reverse_grace="3s")
    try:
        wait_for("streaming", lambda: (lambda s: s if s["state"] ==
                 "streaming" and s["lag_seconds"] < 1 else None)(
                     status(cfg)))
        r = ferryctl(cfg, "cutover", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-30:])
        s = status(cfg)
        assert s["reverse"]["grace_ends_at"] - s["reverse"]["cut_over_at"] \
            == 3 or s["reverse"]["cut_over_at"] is None, s["reverse"]
        wait_for("expiry", lambda: status(cfg)["reverse"]["state"] ==
                 "expired", timeout=30)
        f.wait_log(r"reverse_grace is over")
        r = ferryctl(cfg, "rollback", timeout=60)
        assert r.returncode == 1 and "reverse_grace is over" in r.stderr
        assert status(cfg)["state"] == "cut_over"
        assert f.stop() == 0
    finally:
        f.kill()


ROUTED = {"version": 1, "tables": [{
    "source": "orders",
    "drop": ["legacy", "kind"],
    "values": {"status": {"P": "pending", "D": "done"}},
    "routes": [
        {"when": {"kind": "gift"}, "target": "gift_orders",
         "rename": {"note": "message"}, "defaults": {"origin": "ferry"}},
        {"target": "plain_orders"}]}]}


def test_reverse_through_a_routed_mapping(server, db, tmp_path):
    """Both routed targets stream back into the one old table: renames
    and the value map inverted, the gift route's dropped predicate column
    restored, the target-only default column left behind, and the column
    the forward mapping dropped keeps its value on update and takes its
    default on insert. Then the rollback moves the table back."""
    dst, retired = db.name + "_n", db.name + "_ret"
    db.execute("CREATE TABLE orders (id INT PRIMARY KEY, kind VARCHAR(10) "
               "NOT NULL DEFAULT 'book', status VARCHAR(10) NOT NULL, "
               "note TEXT, legacy INT NOT NULL DEFAULT 7)")
    server.execute_root(
        f"CREATE DATABASE {dst}",
        f"CREATE TABLE {dst}.gift_orders (id INT PRIMARY KEY, status "
        f"VARCHAR(10) NOT NULL, message TEXT, origin VARCHAR(10) NOT NULL)",
        f"CREATE TABLE {dst}.plain_orders (id INT PRIMARY KEY, status "
        f"VARCHAR(10) NOT NULL, note TEXT)")
    grant(server, db.name, retired)
    c = MySQLdb.connect(unix_socket=server.socket, user="root",
                        autocommit=True)
    cur = c.cursor()
    for i in range(1, 21):
        cur.execute(f"INSERT INTO `{db.name}`.orders VALUES "
                    f"(%s, %s, %s, %s, 42)",
                    (i, "gift" if i % 3 == 0 else "food", "PD"[i % 2],
                     f"n{i}"))
    mpath = tmp_path / "routed.json"
    mpath.write_text(json.dumps(ROUTED))
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, db.name, tables="orders",
        start="snapshot",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": str(mpath)},
               "cutover": {"retired_schema": retired, "max_lag": "2s",
                           "reverse": "true"}})
    # the preflight checks the target's binlog and the inversion too
    r = subprocess.run([binary("ferryctl"), "plan", "-c", cfg],
                       capture_output=True, text=True, timeout=60)
    assert "ok       reverse: the mapping inverts" in r.stdout, r.stdout
    assert "ok       reverse: target binlog_format = ROW" in r.stdout, \
        r.stdout
    assert "reverse: target grant REPLICATION SLAVE" in r.stdout, r.stdout
    f = Ferryd(cfg)
    try:
        f.wait_log(r"backfill done table=\S+\.orders")
        wait_for("streaming", lambda: (lambda s: s if s["state"] ==
                 "streaming" and s["lag_seconds"] < 1 else None)(
                     status(cfg)))
        r = ferryctl(cfg, "cutover", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-30:])
        reverse_streaming(cfg)
        cur.execute(f"USE {dst}")
        cur.execute("INSERT INTO gift_orders VALUES (100, 'pending', 'hi',"
                    " 'web')")
        cur.execute("INSERT INTO plain_orders VALUES (101, 'done', 'x')")
        cur.execute("UPDATE plain_orders SET status = 'pending', note = "
                    "'changed' WHERE id = 2")
        cur.execute("UPDATE gift_orders SET message = 'm', status = "
                    "'unknown' WHERE id = 3")
        cur.execute("DELETE FROM plain_orders WHERE id = 4")
        # a row moves from one route to the other
        cur.execute("BEGIN")
        cur.execute("DELETE FROM plain_orders WHERE id = 5")
        cur.execute("INSERT INTO gift_orders VALUES (5, 'done', 'moved',"
                    " 'web')")
        cur.execute("COMMIT")

        def retired_rows():
            return {r[0]: tuple(r[1:]) for r in server.query(
                f"SELECT id, kind, status, note, legacy FROM "
                f"`{retired}`.orders ORDER BY id")}
        want = {100: ("gift", "P", "hi", 7), 101: ("book", "D", "x", 7),
                2: ("food", "P", "changed", 42),
                3: ("gift", "unknown", "m", 42),
                5: ("gift", "D", "moved", 7)}
        got = wait_for("reverse rows", lambda: (lambda g: g if all(
            g.get(k) == v for k, v in want.items()) and 4 not in g else
            None)(retired_rows()), timeout=30)
        assert len(got) == 20 + 2 - 1, got

        r = ferryctl(cfg, "rollback", "--json", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-30:])
        assert json.loads(r.stdout)["result"] == "succeeded"
        back = {r[0]: tuple(r[1:]) for r in server.query(
            f"SELECT id, kind, status, note, legacy FROM `{db.name}`.orders")}
        assert back == got
        assert f.stop() == 0
    finally:
        c.close()
        f.kill()
        server.execute_root(f"DROP DATABASE IF EXISTS {dst}",
                            f"DROP DATABASE IF EXISTS {retired}")
