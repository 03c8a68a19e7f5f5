# SPDX-License-Identifier: Apache-2.0
"""Every byte that needs escaping in SQL text (NUL, newline, CR,
backslash, both quotes, ^Z) and multi-byte UTF-8 arrive in the target
byte for byte, in text and in binary columns, through the sink's quoting
(its own fast path for UTF-8 connections)."""
import json
import time

from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import Ferryd

NASTY = "a\x00b\nc\rd\\e'f\"g\x1ah ' \\' \\\\ Zoë 😀 \u2028 end\\"


def test_special_bytes_round_trip(server, db, tmp_path):
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, s TEXT, "
               "v VARCHAR(200), b BLOB) CHARACTER SET utf8mb4")
    dst = db.name + "_dst"
    server.execute_root(f"CREATE DATABASE {dst} CHARACTER SET utf8mb4")
    try:
        server.execute_root("CREATE TABLE t2 (id INT PRIMARY KEY, s TEXT, "
                            "v VARCHAR(200), b BLOB) CHARACTER SET utf8mb4",
                            db=dst)
        mapping = tmp_path / "m.json"
        mapping.write_text(json.dumps(
            {"version": 1, "tables": [{"source": "t", "target": "t2"}]}))
        cfg = write_config(
            str(tmp_path / "ferryd.conf"), server, db.name, tables="t",
            extra={"sink": {"socket": server.socket, "database": dst,
                            "mapping": str(mapping)}})
        f = Ferryd(cfg)
        try:
            f.wait_log(r"binlog source connected")
            c = db.connect()
            cur = c.cursor()
            raw = NASTY.encode()
            for i in range(1, 4):
                cur.execute("INSERT INTO t VALUES (%s, %s, %s, %s)",
                            (i, NASTY * i, NASTY[:40], raw * i + bytes(
                                range(256))))
            cur.execute("UPDATE t SET s = CONCAT(s, %s) WHERE id = 2",
                        ("\\'\x00",))
            c.close()
            want = server.query("SELECT id, s, v, b FROM t ORDER BY id",
                                db=db.name)
            deadline = time.monotonic() + 20
            got = None
            while time.monotonic() < deadline:
                got = server.query("SELECT id, s, v, b FROM t2 ORDER BY id",
                                   db=dst)
                if got == want:
                    break
                time.sleep(0.2)
            assert got == want, "".join(f.log[-20:])
            assert f.stop() == 0
        finally:
            f.kill()
    finally:
        server.execute_root(f"DROP DATABASE IF EXISTS {dst}")
