# SPDX-License-Identifier: Apache-2.0
"""Routed rows end to end (direct transport): one source table split
across two targets by a column predicate, with a rename, a value map, a
dropped column and a default on the way; rows that change route move
(deleted from the old target, written to the new), deletes follow the
route the row was in, and the backfill and the stream agree. Then
`ferryctl verify` through the same mapping reports clean, and a planted
difference by key."""
import json
import subprocess
import time

import MySQLdb

from tests.conftest import binary
from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import Ferryd

MAPPING = {"version": 1, "tables": [{
    "source": "orders",
    "drop": ["legacy"],
    "values": {"status": {"P": "pending", "D": "done"}},
    "routes": [
        {"when": {"kind": ["gift", "promo"]}, "target": "gift_orders",
         "rename": {"note": "message"}, "defaults": {"origin": "ferry"}},
        {"target": "plain_orders"}]}]}


def expected(src_rows):
    gift, plain = {}, {}
    for id_, kind, status, note, legacy in src_rows:
        st = {"P": "pending", "D": "done"}.get(status, status)
        if kind in ("gift", "promo"):
            gift[id_] = (id_, kind, st, note, "ferry")
        else:
            plain[id_] = (id_, kind, st, note)
    return gift, plain


def rows(c, sql):
    cur = c.cursor()
    cur.execute(sql)
    return {r[0]: tuple(r) for r in cur.fetchall()}


def test_routes_end_to_end(server, db, tmp_path):
    dst = db.name + "_r"
    db.execute("CREATE TABLE orders (id INT PRIMARY KEY, kind VARCHAR(10) "
               "NOT NULL, status VARCHAR(10) NOT NULL, note TEXT, "
               "legacy INT)")
    server.execute_root(
        f"CREATE DATABASE {dst}",
        f"CREATE TABLE {dst}.gift_orders (id INT PRIMARY KEY, kind "
        f"VARCHAR(10) NOT NULL, status VARCHAR(10) NOT NULL, message TEXT, "
        f"origin VARCHAR(10) NOT NULL)",
        f"CREATE TABLE {dst}.plain_orders (id INT PRIMARY KEY, kind "
        f"VARCHAR(10) NOT NULL, status VARCHAR(10) NOT NULL, note TEXT)")
    for host in ("%", "localhost"):
        server.execute_root(f"GRANT ALL ON `{db.name}`.* TO "
                            f"'ferry'@'{host}'")
    c = db.connect()
    c.autocommit(True)
    opened = [c]
    try:
        cur = c.cursor()
        # rows that exist before ferry starts: the backfill routes them
        for i in range(1, 41):
            cur.execute("INSERT INTO orders VALUES (%s, %s, %s, %s, 7)",
                        (i, ["gift", "book", "promo", "food"][i % 4],
                         "PD"[i % 2], f"n{i}"))
        mpath = tmp_path / "mapping.json"
        mpath.write_text(json.dumps(MAPPING))
        cfg = write_config(
            str(tmp_path / "ferryd.conf"), server, db.name, tables="orders",
            start="snapshot",
            extra={"sink": {"socket": server.socket, "database": dst,
                            "mapping": str(mpath)}})
        f = Ferryd(cfg)
        try:
            f.wait_log(r"backfill done table=\S+\.orders")
            # the stream: inserts, route changes both ways, value-mapped
            # updates, deletes in each route, a key change across routes
            cur.execute("INSERT INTO orders VALUES (100, 'promo', 'P', "
                        "'x', NULL), (101, 'book', 'D', NULL, 1)")
            cur.execute("UPDATE orders SET kind = 'book' WHERE id = 4")
            cur.execute("UPDATE orders SET kind = 'gift' WHERE id = 1")
            cur.execute("UPDATE orders SET status = 'D' WHERE id IN "
                        "(2, 3)")
            cur.execute("DELETE FROM orders WHERE id IN (8, 9)")
            cur.execute("UPDATE orders SET id = 200, kind = 'promo' "
                        "WHERE id = 5")
            src = rows(c, "SELECT id, kind, status, note, legacy FROM "
                          "orders")
            gift, plain = expected(src.values())
            t = MySQLdb.connect(unix_socket=server.socket, user="root",
                                db=dst, autocommit=True)
            opened.append(t)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                got_g = rows(t, "SELECT * FROM gift_orders")
                got_p = rows(t, "SELECT * FROM plain_orders")
                if got_g == gift and got_p == plain:
                    break
                time.sleep(0.2)
            assert got_g == gift, (sorted(got_g), sorted(gift))
            assert got_p == plain, (sorted(got_p), sorted(plain))
            assert 4 in got_p and 1 in got_g and 200 in got_g
            assert 5 not in got_g and 5 not in got_p

            r = subprocess.run([binary("ferryctl"), "-c", cfg, "verify"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
            t.cursor().execute("UPDATE gift_orders SET message = 'planted' "
                               "WHERE id = 1")
            r = subprocess.run([binary("ferryctl"), "-c", cfg, "verify",
                                "--json"], capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 1, r.stdout + r.stderr
            keys = [k for x in json.loads(r.stdout)["tables"]
                    for k in x["differing_keys"]]
            assert keys == [{"id": 1}], r.stdout
            assert f.stop() == 0
        finally:
            f.kill()
    finally:
        for x in opened:
            x.close()
        server.execute_root(f"DROP DATABASE IF EXISTS {dst}")
