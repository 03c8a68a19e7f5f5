# SPDX-License-Identifier: Apache-2.0
"""The event_finder data tooling itself: the generator's sizes and quirks,
its determinism, the live workload's coverage and bookkeeping, and
compare()/verify() catching planted differences. Tests elsewhere trust
these tools to judge ferry, so they are judged here first."""
import json
import re
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import ROOT
from tests.harness import event_finder as ef
from tests.harness.workload import Workload, compare

SCALE = 0.01


def scalar(conn, sql, args=None):
    cur = conn.cursor()
    cur.execute(sql, args)
    return cur.fetchone()[0]


def column(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return [r[0] for r in cur.fetchall()]


@pytest.fixture
def source(db):
    """db with the clerk_sync_* tables filled at SCALE (seed 5)."""
    conn = db.connect(local_infile=1)
    ef.create_source_schema(conn)
    counts = ef.generate(conn, scale=SCALE, seed=5, log=lambda m: None)
    yield db, conn, counts
    conn.close()


def copy_to_target(conn):
    """The reference copy: the new apps' tables beside the old ones,
    filled by INSERT ... SELECT (what ferry must end up equal to)."""
    ef.create_target_schema(conn)
    cur = conn.cursor()
    cur.execute("SET SESSION foreign_key_checks = 0")
    for s, t in ef.TABLE_MAP.items():
        cur.execute(f"DELETE FROM `{t}`")
        cur.execute(f"INSERT INTO `{t}` SELECT * FROM `{s}`")
    cur.execute("SET SESSION foreign_key_checks = 1")


def test_sizes_and_uniqueness(source):
    _, conn, counts = source
    want = ef.Ctx(SCALE).n
    assert counts == want
    for table, n in want.items():
        assert scalar(conn, f"SELECT COUNT(*) FROM `{table}`") == n, table
    assert want["clerk_sync_ticket"] == 10_000
    assert sum(want.values()) == 26_800
    # unique_checks=0 lets InnoDB skip the checks: prove the data itself
    for table, cols in [("clerk_sync_clerkuser", "email"),
                        ("clerk_sync_clerkuser", "clerk_id"),
                        ("clerk_sync_payment", "reference"),
                        ("clerk_sync_ticket", "ticket_id"),
                        ("clerk_sync_savedevent", "user_id, event_id"),
                        ("clerk_sync_notificationsettings", "user_id")]:
        assert scalar(conn, f"SELECT COUNT(DISTINCT {cols}) FROM {table}") \
            == want[table], (table, cols)
    # one settings row per user, and foreign keys point at real rows
    assert scalar(conn, "SELECT COUNT(*) FROM clerk_sync_clerkuser u LEFT "
                  "JOIN clerk_sync_notificationsettings s ON s.user_id = "
                  "u.id WHERE s.id IS NULL") == 0
    for child, col, parent in [
            ("clerk_sync_ticket", "user_id", "clerk_sync_clerkuser"),
            ("clerk_sync_ticket", "ticket_type_id",
             "clerk_sync_eventtickettype"),
            ("clerk_sync_payment", "event_id", "clerk_sync_event"),
            ("clerk_sync_notification", "user_id", "clerk_sync_clerkuser"),
            ("clerk_sync_event", "organizer_id", "clerk_sync_clerkuser")]:
        assert scalar(conn, f"SELECT COUNT(*) FROM {child} c LEFT JOIN "
                      f"{parent} p ON p.id = c.{col} WHERE c.{col} IS NOT "
                      f"NULL AND p.id IS NULL") == 0, (child, col)
    assert scalar(conn, "SELECT COUNT(*) FROM clerk_sync_ticket t JOIN "
                  "clerk_sync_eventtickettype y ON y.id = t.ticket_type_id "
                  "WHERE y.event_id <> t.event_id") == 0


def test_quirks(source):
    _, conn, _ = source
    # utf8mb4: combining marks, non-ASCII letters, 4-byte emoji
    names = set(column(conn, "SELECT first_name FROM clerk_sync_clerkuser"))
    assert {"Zoë", "Adébáyọ̀", "Łukasz"} <= names
    titles = column(conn, "SELECT title FROM clerk_sync_event")
    assert any(ord(ch) > 0xFFFF for t in titles for ch in t)
    # admin notifications, and only they, have no user
    assert scalar(conn, "SELECT COUNT(*) FROM clerk_sync_notification "
                  "WHERE is_admin_notification = 1 AND user_id IS NULL") > 0
    assert scalar(conn, "SELECT COUNT(*) FROM clerk_sync_notification "
                  "WHERE (is_admin_notification = 1) <> (user_id IS NULL)") \
        == 0
    # negative and NULL coordinates, unsigned beyond 2^31
    for cond in ["latitude < 0", "longitude < 0", "latitude IS NULL",
                 "capacity > 2147483647", "capacity IS NULL"]:
        assert scalar(conn, f"SELECT COUNT(*) FROM clerk_sync_event "
                      f"WHERE {cond}") > 0, cond
    assert scalar(conn, "SELECT MAX(quantity) FROM "
                  "clerk_sync_eventtickettype") > 2**31
    # nullable FKs and datetimes are sometimes NULL, sometimes not
    for table, col in [("clerk_sync_ticket", "ticket_type_id"),
                       ("clerk_sync_ticket", "checked_in_at"),
                       ("clerk_sync_payment", "event_id"),
                       ("clerk_sync_calendarevent", "reminder_at")]:
        nulls = scalar(conn, f"SELECT SUM({col} IS NULL) FROM {table}")
        assert 0 < nulls < scalar(conn, f"SELECT COUNT(*) FROM {table}")
    # microseconds, not whole seconds
    assert scalar(conn, "SELECT AVG(MICROSECOND(created_at) <> 0) FROM "
                  "clerk_sync_payment") > 0.99
    # uuid4 hex ticket ids
    for t in column(conn, "SELECT ticket_id FROM clerk_sync_ticket LIMIT 50"):
        assert re.fullmatch(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}", t)
        assert uuid.UUID(t).version == 4


def test_json_is_valid_and_oddly_spaced(source):
    _, conn, _ = source
    payloads = column(conn, "SELECT provider_payload FROM clerk_sync_payment")
    meta = column(conn, "SELECT metadata FROM clerk_sync_clerkuser")
    for doc in payloads + meta:
        json.loads(doc)
    avg = sum(len(p.encode()) for p in payloads) / len(payloads)
    assert 400 < avg < 560, avg  # Paystack-like, about 450 bytes
    odd = [p for p in payloads
           if p != json.dumps(json.loads(p))
           and p != json.dumps(json.loads(p), separators=(",", ":"))]
    assert len(odd) > 0.8 * len(payloads)
    assert any("\n" in p for p in payloads)
    assert any(" :" in p for p in payloads)
    assert any("\\u" in m for m in meta)  # escaped and raw non-ASCII both
    orders = {tuple(json.loads(p)["data"]) for p in payloads}
    assert len(orders) > 1  # key order varies between documents


def checksums(server, dbname):
    conn = server.connect(db=dbname)
    cur = conn.cursor()
    cur.execute("CHECKSUM TABLE " + ", ".join(ef.SIZES))
    out = {r[0].split(".")[1]: r[1] for r in cur.fetchall()}
    conn.close()
    return out


def test_deterministic_for_a_seed(db):
    """Same seed, same bytes: once through the API, once through the CLI."""
    server, small = db.server, 0.002
    conn = db.connect(local_infile=1)
    ef.create_source_schema(conn)
    ef.generate(conn, scale=small, seed=11, log=lambda m: None)
    conn.close()
    other = "t_" + uuid.uuid4().hex[:12]
    server.execute_root(f"CREATE DATABASE `{other}` CHARACTER SET utf8mb4 "
                        f"COLLATE utf8mb4_unicode_ci")
    try:
        base = [sys.executable, "-m", "tests.harness.event_finder",
                "--socket", server.socket, "--database", other]
        for args in (["create-source"],
                     ["generate", "--scale", str(small), "--seed", "11"]):
            r = subprocess.run(base + args, cwd=ROOT, capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        assert "rows/s" in r.stdout
        assert checksums(server, db.name) == checksums(server, other)
        server.execute_root(f"DROP DATABASE `{other}`",
                            f"CREATE DATABASE `{other}`")
        c = server.connect(db=other, local_infile=1)
        ef.create_source_schema(c)
        ef.generate(c, scale=small, seed=12, log=lambda m: None)
        c.close()
        a, b = checksums(server, db.name), checksums(server, other)
        assert all(a[t] != b[t] for t in a)
    finally:
        server.execute_root(f"DROP DATABASE IF EXISTS `{other}`")


def test_workload_and_compare(source):
    """A few seconds of live writes at 300/s: pk changes, unique moves,
    acks; then a copy that compare() and verify() find equal, and
    planted differences that they both find."""
    db, conn, _ = source
    wl = Workload(db.connect, rate=300, duration=3, seed=2, connections=2)
    wl.run()
    s = wl.summary()
    assert 200 <= s["writes"] <= 1000, s  # paced: 900 when unloaded
    assert s["pk_changes"] > 0 and s["unique_moves"] > 0, s
    assert s["acks"] == s["transactions"] == len(wl.acks) > 100, s
    assert 0 < s["p99_ms"] <= s["worst_ms"], s
    assert all(a.latency >= 0 for a in wl.acks)
    assert any(len(a.rows) > 2 for a in wl.acks)  # multi-row transactions
    assert not [e for e in s["errors"] if e not in (1062, 1213, 1205)], s
    moved = {"email_move", "clerk_id_swap", "ticket_id_move",
             "reference_move", "saved_pair_move", "settings_move"}
    assert moved & set(s["ops"]), s
    assert wl.verify(conn) == []  # the model matches the source

    copy_to_target(conn)
    target = db.connect()
    assert compare(conn, target) == []
    assert wl.verify(target, ef.TABLE_MAP) == []

    # a payment the workload wrote gains one trailing space: still the
    # same JSON value, no longer the same bytes
    pk = next(key for (table, key), row in wl.expected().items()
              if row is not None and table == "clerk_sync_payment")
    cur = target.cursor()
    cur.execute("UPDATE billing_payment SET provider_payload = "
                "CONCAT(provider_payload, ' ') WHERE id = %s", (pk,))
    cur.execute("UPDATE tickets_ticket SET purchased_at = purchased_at + "
                "INTERVAL 1 MICROSECOND WHERE id = 7")
    cur.execute("DELETE FROM saved_savedevent WHERE id = 3")
    cur.execute("SET SESSION foreign_key_checks = 0")
    cur.execute("INSERT INTO notifications_notification SELECT id + 10000000,"
                " is_admin_notification, notification_type, title, message,"
                " `read`, created_at, user_id FROM notifications_notification"
                " WHERE id = 5")
    found = {(d.table, d.key, d.kind, d.column)
             for d in compare(conn, target)}
    assert found == {
        ("clerk_sync_payment", (pk,), "different", "provider_payload"),
        ("clerk_sync_ticket", (7,), "different", "purchased_at"),
        ("clerk_sync_savedevent", (3,), "missing", None),
        ("clerk_sync_notification", (10000005,), "extra", None)}
    assert ("clerk_sync_payment", (pk,), "different", "provider_payload") \
        in {(d.table, d.key, d.kind, d.column)
            for d in wl.verify(target, ef.TABLE_MAP)}
    target.close()


def test_workload_stops_promptly(source):
    db, _, _ = source
    wl = Workload(db.connect, rate=50, seed=3).start()
    time.sleep(0.5)
    t0 = time.monotonic()
    wl.stop()
    assert time.monotonic() - t0 < 1.0
    assert 5 <= wl.summary()["writes"] <= 60
