# SPDX-License-Identifier: Apache-2.0
"""Every MariaDB column type through the whole direct pipeline: rows
inserted (the sink's typed fast path), then updated (its JSON path), end
up in an identical target table equal to the source, value for value, as
SELECT reads them."""
import json
import time

from tests.harness.ferry import write_config
from tests.integration.test_binlog_decode import COLUMNS, ROWS, insert_rows
from tests.integration.test_direct_pipeline import Ferryd

import MySQLdb


def select_all(server, db, table):
    c = MySQLdb.connect(unix_socket=server.socket, user="root", db=db,
                        charset="utf8mb4", conv={})
    try:
        cur = c.cursor()
        cur.execute("SET time_zone = '+00:00'")
        cols = ", ".join(
            f"ST_AsBinary(`{n}`)" if k == "geom" else
            f"CAST(`{n}` AS DOUBLE)" if k == "float" else f"`{n}`"
            for n, _, k in COLUMNS)
        cur.execute(f"SELECT id, {cols} FROM `{table}` ORDER BY id")
        return cur.fetchall()
    finally:
        c.close()


import pytest


@pytest.mark.parametrize("path", ["fast", "json"])
def test_every_type_through_the_sink(server, db, tmp_path, path):
    cols = ",\n".join(f"`{n}` {t} NULL" if "NULL" not in t else f"`{n}` {t}"
                      for n, t, _ in COLUMNS)
    ddl = (f"(id INT NOT NULL PRIMARY KEY,\n{cols}) CHARACTER SET utf8mb4")
    db.execute(f"CREATE TABLE alltypes {ddl}")
    dst = db.name + "_t"
    server.execute_root(f"CREATE DATABASE {dst}",
                        f"CREATE TABLE {dst}.alltypes2 {ddl}")
    try:
        mapping = tmp_path / "m.json"
        table = {"source": "alltypes", "target": "alltypes2"}
        if path == "json":
            # a value map that never matches: the general path
            table["values"] = {"c_utf": {"no such value": "x"}}
        mapping.write_text(json.dumps({"version": 1, "tables": [table]}))
        cfg = write_config(
            str(tmp_path / "ferryd.conf"), server, db.name,
            tables="alltypes",
            extra={"sink": {"socket": server.socket, "database": dst,
                            "mapping": str(mapping)}})
        f = Ferryd(cfg)
        try:
            f.wait_log(r"binlog source connected")
            insert_rows(db)
            c = db.connect()
            cur = c.cursor()
            # and the general path: every row's non-key columns rewritten
            cur.execute("UPDATE alltypes SET yr = yr WHERE id > 0")
            cur.execute("UPDATE alltypes SET tiny_s = -tiny_s WHERE "
                        "tiny_s IS NOT NULL AND tiny_s > -128")
            c.close()
            want = select_all(server, db.name, "alltypes")
            deadline = time.monotonic() + 20
            got = None
            while time.monotonic() < deadline:
                got = select_all(server, dst, "alltypes2")
                if got == want:
                    break
                time.sleep(0.2)
            assert len(got) == len(want) == len(ROWS), "".join(f.log[-15:])
            for a, b in zip(want, got):
                for (n, _, _), x, y in zip([("id", "", "")] + COLUMNS, a, b):
                    assert x == y, f"row {a[0]} column {n}: {x!r} vs {y!r}"
            assert f.stop() == 0
        finally:
            f.kill()
    finally:
        server.execute_root(f"DROP DATABASE IF EXISTS {dst}")
