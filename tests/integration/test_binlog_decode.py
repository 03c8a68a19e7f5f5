# SPDX-License-Identifier: Apache-2.0
"""Every MariaDB column type, decoded from the binlog by ferry, equals
what SELECT returns, byte for byte (issue 2's acceptance test)."""
import base64

import MySQLdb
import pytest

from tests.conftest import binary
from tests.harness.ferry import PrintEvents, write_config

# (column, type, how SELECT should read it for comparison, kind)
# kind: int | text | bytes | float | double | year | bit
COLUMNS = [
    ("yr", "YEAR", "int"),
    ("tiny_s", "TINYINT", "int"), ("tiny_u", "TINYINT UNSIGNED", "int"),
    ("small_s", "SMALLINT", "int"), ("small_u", "SMALLINT UNSIGNED", "int"),
    ("med_s", "MEDIUMINT", "int"), ("med_u", "MEDIUMINT UNSIGNED", "int"),
    ("int_s", "INT", "int"), ("int_u", "INT UNSIGNED", "int"),
    ("big_s", "BIGINT", "int"), ("big_u", "BIGINT UNSIGNED", "int"),
    ("dec_a", "DECIMAL(10,2)", "text"), ("dec_b", "DECIMAL(65,30)", "text"),
    ("dec_c", "DECIMAL(18,9)", "text"), ("dec_d", "DECIMAL(5,0)", "text"),
    ("dec_e", "DECIMAL(9,6)", "text"), ("dec_u", "DECIMAL(12,4) UNSIGNED",
                                        "text"),
    ("f", "FLOAT", "float"), ("d", "DOUBLE", "double"),
    ("bit1", "BIT(1)", "bit"), ("bit13", "BIT(13)", "bit"),
    ("bit64", "BIT(64)", "bit"),
    ("dte", "DATE", "text"),
    ("t0", "TIME", "text"), ("t1", "TIME(1)", "text"),
    ("t3", "TIME(3)", "text"), ("t6", "TIME(6)", "text"),
    ("dt0", "DATETIME", "text"), ("dt2", "DATETIME(2)", "text"),
    ("dt6", "DATETIME(6)", "text"),
    ("ts0", "TIMESTAMP NULL", "text"), ("ts3", "TIMESTAMP(3) NULL", "text"),
    ("ts6", "TIMESTAMP(6) NULL", "text"),
    ("c_utf", "CHAR(10) CHARACTER SET utf8mb4", "text"),
    ("c_big", "CHAR(100) CHARACTER SET utf8mb4", "text"),
    ("vc_utf", "VARCHAR(300) CHARACTER SET utf8mb4", "text"),
    ("tx_utf", "TEXT CHARACTER SET utf8mb4", "text"),
    ("lt_utf", "LONGTEXT CHARACTER SET utf8mb4", "text"),
    ("c_lat", "CHAR(10) CHARACTER SET latin1", "text"),
    ("vc_lat", "VARCHAR(50) CHARACTER SET latin1", "text"),
    ("tx_lat", "TEXT CHARACTER SET latin1", "text"),
    ("bin", "BINARY(8)", "bytes"), ("vbin", "VARBINARY(300)", "bytes"),
    ("blb", "BLOB", "bytes"), ("mblb", "MEDIUMBLOB", "bytes"),
    ("j", "JSON", "text"),
    ("e", "ENUM('a','b','ünï','')", "text"),
    ("el", "ENUM('x','ÿé') CHARACTER SET latin1", "text"),
    ("s", "SET('x','y','z','ß')", "text"),
    ("u", "UUID", "text"), ("ip", "INET6", "text"),
    ("g", "GEOMETRY", "geom"),
]

ROWS = [
    # minimums and negatives
    dict(yr=1901, tiny_s=-128, tiny_u=0, small_s=-32768, small_u=0,
         med_s=-8388608, med_u=0, int_s=-2147483648, int_u=0,
         big_s=-9223372036854775808, big_u=0,
         dec_a="-99999999.99",
         dec_b="-12345678901234567890123456789012345.123456789012345678901234567891",
         dec_c="-123456789.000000001", dec_d="-99999", dec_e="-122.419416",
         dec_u="0.0000", f=-1.5, d=-2.2250738585072014e-308,
         bit1=0, bit13=0, bit64=0, dte="1000-01-01",
         t0="-838:59:59", t1="-00:00:00.5", t3="-12:34:56.789",
         t6="-00:00:00.000001", dt0="1000-01-01 00:00:00",
         dt2="1999-12-31 23:59:59.99", dt6="2024-02-29 12:00:00.000001",
         ts0="1970-01-01 00:00:01", ts3="2038-01-19 03:14:07.999",
         ts6="2001-09-09 01:46:40.123456",
         c_utf="Zoë 🎉", c_big="Adébáyọ̀ " * 10, vc_utf="Łukasz " + "é" * 250,
         tx_utf="emoji 😀 and NUL \x00 inside", lt_utf="x" * 70000,
         c_lat="€uro ÿ", vc_lat="Ærøskøbing ‰ ž", tx_lat="latin1 text ©",
         bin=b"\x00ab\x00", vbin=b"\x00\x01\xff" * 50, blb=b"\x00" * 10,
         mblb=bytes(range(256)) * 300,
         j='{"b": 1,   "a": [1, 2, {"z": null}]}', e="ünï", el="ÿé",
         s="x,z,ß", u="123e4567-e89b-12d3-a456-426614174000",
         ip="::ffff:192.0.2.1", g="POINT(1.5 -2.25)"),
    # maximums
    dict(yr=2155, tiny_s=127, tiny_u=255, small_s=32767, small_u=65535,
         med_s=8388607, med_u=16777215, int_s=2147483647, int_u=4294967295,
         big_s=9223372036854775807, big_u=18446744073709551615,
         dec_a="99999999.99",
         dec_b="99999999999999999999999999999999999.999999999999999999999999999999",
         dec_c="0.000000001", dec_d="0", dec_e="0.000000",
         dec_u="99999999.9999", f=3.4028234663852886e+38,
         d=1.7976931348623157e+308, bit1=1, bit13=8191,
         bit64=18446744073709551615, dte="9999-12-31", t0="838:59:59",
         t1="838:59:58.9", t3="00:00:00.001", t6="838:59:58.999999",
         dt0="9999-12-31 23:59:59", dt2="2000-01-01 00:00:00.01",
         dt6="9999-12-31 23:59:59.999999", ts0="2038-01-19 03:14:07",
         ts3="1970-01-01 00:00:01.001", ts6="2020-02-02 02:02:02.000002",
         c_utf="", c_big="", vc_utf="", tx_utf="", lt_utf="",
         c_lat="", vc_lat="", tx_lat="", bin=b"", vbin=b"", blb=b"",
         mblb=b"", j="[]", e="", el="x", s="",
         u="00000000-0000-0000-0000-000000000000",
         ip="2001:db8::8a2e:370:7334",
         g="LINESTRING(0 0, 1 1, -2 3.5)"),
    # zero dates and a v4 UUID
    dict(yr=0, dte="0000-00-00", dt0="0000-00-00 00:00:00",
         dt6="0000-00-00 00:00:00.000000", ts0="0000-00-00 00:00:00",
         t6="00:00:00.000000", c_utf="a  ", u="f47ac10b-58cc-4372-a567-0e02b2c3d479",
         ip="::", s="y", e="a", f=0.1, d=0.1, dec_a="-0.01",
         dec_b="-0.000000000000000000000000000001", dec_e="-0.000001",
         bit13=4096),
    # everything NULL
    dict(),
    # UUIDs of other versions and variants, odd IPv6 forms
    dict(u="11223344-5566-1788-c900-aabbccddeeff", ip="::1.2.3.4"),
    dict(u="01223344-5566-7788-9900-aabbccddeeff", ip="fe80::1:0:0:0"),
]


def select_expr(name, kind):
    if kind == "bit":
        return f"CAST(`{name}` AS UNSIGNED)"
    if kind == "geom":
        return f"ST_AsBinary(`{name}`)"
    if kind == "float":
        # SELECT prints FLOAT rounded to 6 digits; its exact value is this.
        return f"CAST(`{name}` AS DOUBLE)"
    return f"`{name}`"


def insert_value(name, kind, v):
    if v is None:
        return "NULL", None
    if kind == "geom":
        return "ST_GeomFromText(%s)", v
    return "%s", v


def expected_rows(db):
    """The rows as SELECT returns them, raw bytes, keyed by id."""
    c = MySQLdb.connect(unix_socket=db.server.socket, user="root",
                        db=db.name, charset="utf8mb4", conv={})
    try:
        cur = c.cursor()
        cur.execute("SET time_zone = '+00:00'")
        cols = ", ".join(select_expr(n, k) for n, _, k in COLUMNS)
        cur.execute(f"SELECT id, {cols} FROM alltypes ORDER BY id")
        return {int(r[0]): r[1:] for r in cur.fetchall()}
    finally:
        c.close()


def check_value(name, kind, raw, got):
    where = f"column {name}: SELECT {raw!r}, event {got!r}"
    if raw is None:
        assert got is None, where
        return
    assert got is not None, where
    if kind in ("int", "bit"):
        assert int(got) == int(raw), where
    elif kind in ("float", "double"):
        assert float(got) == float(raw), where
    elif kind in ("bytes", "geom"):
        assert base64.b64decode(got) == raw, where
    else:
        assert isinstance(got, str), where
        if isinstance(raw, str):  # MySQLdb decodes text columns itself
            raw = raw.encode("utf-8")
        assert got.encode("utf-8") == raw, where


@pytest.fixture
def alltypes(db, tmp_path):
    cols = ",\n".join(f"`{n}` {t} NULL" if "NULL" not in t else f"`{n}` {t}"
                      for n, t, _ in COLUMNS)
    db.execute(f"CREATE TABLE alltypes (id INT NOT NULL PRIMARY KEY,\n{cols}"
               f") CHARACTER SET utf8mb4")
    cfg = write_config(str(tmp_path / "ferryd.conf"), db.server, db.name,
                       tables="alltypes")
    with PrintEvents(binary("ferryd"), cfg) as pe:
        pe.wait_ready()
        yield pe


def insert_rows(db):
    c = db.connect()
    cur = c.cursor()
    cur.execute("SET time_zone = '+00:00', sql_mode = ''")
    for i, row in enumerate(ROWS, start=1):
        names, params, args = ["id"], ["%s"], [i]
        for n, _, k in COLUMNS:
            if n in row:
                p, a = insert_value(n, k, row[n])
                names.append(f"`{n}`")
                params.append(p)
                if a is not None:
                    args.append(a)
        cur.execute(f"INSERT INTO alltypes ({', '.join(names)}) VALUES "
                    f"({', '.join(params)})", args)
    c.close()


def test_every_type_matches_select(db, alltypes):
    insert_rows(db)
    events = alltypes.take(len(ROWS))
    want = expected_rows(db)
    for ev in events:
        assert ev["op"] == "c" and ev["before"] is None
        assert ev["source"]["table"] == "alltypes"
        assert ev["source"]["db"] == db.name
        after = ev["after"]
        raw = want[after["id"]]
        for (name, _, kind), r in zip(COLUMNS, raw):
            check_value(name, kind, r, after[name])


def test_update_delete_and_pk_change(db, alltypes):
    insert_rows(db)
    alltypes.take(len(ROWS))
    db.execute("SET time_zone = '+00:00'",
               "UPDATE alltypes SET dec_a = '-1.05', t6 = '-01:02:03.4', "
               "c_lat = 'Ü' WHERE id = 1",
               "UPDATE alltypes SET id = 40 WHERE id = 2",
               "DELETE FROM alltypes WHERE id = 3")
    up, d2, c40, d3 = alltypes.take(4)
    assert up["op"] == "u" and up["before"]["dec_a"] == "-99999999.99"
    assert up["after"]["dec_a"] == "-1.05"
    assert up["after"]["t6"] == "-01:02:03.400000"
    assert up["after"]["c_lat"] == "Ü"
    assert up["before"]["tx_utf"] == up["after"]["tx_utf"]
    # A primary-key change is a delete of the old key and a create.
    assert d2["op"] == "d" and d2["before"]["id"] == 2 and d2["after"] is None
    assert c40["op"] == "c" and c40["after"]["id"] == 40
    assert c40["after"]["big_u"] == "18446744073709551615"
    assert d3["op"] == "d" and d3["before"]["id"] == 3
    rows = [up["source"]["row"], d2["source"]["row"], c40["source"]["row"]]
    assert rows == [0, 0, 1]
    assert d2["source"]["gtid"] == c40["source"]["gtid"]
    assert up["source"]["gtid"] != d2["source"]["gtid"]
