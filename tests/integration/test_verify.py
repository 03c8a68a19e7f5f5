# SPDX-License-Identifier: Apache-2.0
"""The verify engine (connectors/verify.c) through tests/verify_tool:
source and target compared through the mapping by checksums each server
computes. Identical tables are clean; a changed, a missing and an extra
row are each named by key; renames, value maps, route splits and
defaults are followed; the event_finder schema verifies clean; a
re-check after the target caught up drops differences that are gone."""
import base64
import json
import os
import subprocess
import time
import uuid

import pytest

from tests.conftest import BUILD, ROOT
from tests.harness import event_finder as ef

TOOL = os.path.join(BUILD, "tests", "verify_tool")


@pytest.fixture
def pair(server):
    tag = uuid.uuid4().hex[:8]
    src, dst = f"vsrc_{tag}", f"vdst_{tag}"
    for d in (src, dst):
        server.execute_root(f"CREATE DATABASE {d} CHARACTER SET utf8mb4 "
                            f"COLLATE utf8mb4_unicode_ci")
    yield src, dst
    for d in (src, dst):
        server.execute_root(f"DROP DATABASE IF EXISTS {d}")


def write_mapping(tmp_path, tables):
    p = tmp_path / "mapping.json"
    p.write_text(json.dumps({"version": 1, "tables": tables}))
    return str(p)


def tool_args(server, src, dst, mapping, *extra):
    return [TOOL, "--socket", server.socket, "--user", "root",
            "--src-db", src, "--dst-db", dst, "--mapping", mapping,
            *extra]


def verify(server, src, dst, mapping, *extra):
    r = subprocess.run(tool_args(server, src, dst, mapping, *extra),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=300)
    assert r.returncode in (0, 1) and r.stdout, r.stderr
    rep = json.loads(r.stdout)
    assert (r.returncode == 0) == rep["clean"]
    return rep


def table(rep, target):
    return next(t for t in rep["tables"] if t["target"] == target)


SIMPLE = """CREATE TABLE {} (
  id bigint NOT NULL PRIMARY KEY,
  name varchar(50) NOT NULL,
  note text NULL,
  amount decimal(10,2) NOT NULL,
  at datetime(6) NOT NULL,
  data longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
       CHECK (json_valid(data)),
  bin varbinary(16) NULL)"""

FILL = ("INSERT INTO {} SELECT seq, CONCAT('n', seq, ' Zoë ✓'), "
        "IF(seq % 3 = 0, NULL, IF(seq % 3 = 1, '', 'x')), seq * 1.25, "
        "'2024-01-01 00:00:00.000001' + INTERVAL seq SECOND, "
        "CONCAT('{{\"k\": ', seq, '}}'), IF(seq % 5 = 0, NULL, "
        "UNHEX(MD5(seq))) FROM seq_1_to_{}")


def simple(server, src, dst, n, tmp_path):
    server.execute_root(SIMPLE.format(f"{src}.t"), SIMPLE.format(f"{dst}.t"),
                        FILL.format(f"{src}.t", n),
                        f"INSERT INTO {dst}.t SELECT * FROM {src}.t", db=src)
    return write_mapping(tmp_path, [{"source": "t", "target": "t"}])


def test_identical_is_clean(server, pair, tmp_path):
    src, dst = pair
    m = simple(server, src, dst, 1000, tmp_path)
    rep = verify(server, src, dst, m, "--chunk-rows", "100")
    t = table(rep, "t")
    assert rep["clean"], rep
    assert (t["rows_source"], t["rows_target"]) == (1000, 1000)
    assert t["chunks"] == 11  # ten full chunks and the open-ended tail
    assert t["chunks_differing"] == 0 and t["differing_keys"] == []
    assert t["unverified_columns"] == []


def plant(server, dst):
    server.execute_root(
        f"UPDATE {dst}.t SET name = 'changed' WHERE id = 5",
        f"DELETE FROM {dst}.t WHERE id = 77",
        f"INSERT INTO {dst}.t SELECT 5000, name, note, amount, at, data, "
        f"bin FROM {dst}.t WHERE id = 1",
        # NULL and '' must differ, and so must a microsecond and a cent
        f"UPDATE {dst}.t SET note = '' WHERE id = 9",
        f"UPDATE {dst}.t SET at = at + INTERVAL 1 MICROSECOND WHERE id = 300",
        f"UPDATE {dst}.t SET amount = amount + 0.01 WHERE id = 301",
        f"UPDATE {dst}.t SET bin = UNHEX('00') WHERE id = 302",
        f"UPDATE {dst}.t SET data = '{{\"k\":  303}}' WHERE id = 303")


PLANTED = [5, 9, 77, 300, 301, 302, 303, 5000]


def test_planted_differences_are_named(server, pair, tmp_path):
    src, dst = pair
    m = simple(server, src, dst, 1000, tmp_path)
    plant(server, dst)
    rep = verify(server, src, dst, m, "--chunk-rows", "100")
    t = table(rep, "t")
    assert not rep["clean"]
    assert sorted(k["id"] for k in t["differing_keys"]) == PLANTED
    assert t["rows_differing"] == len(PLANTED)
    assert (t["rows_source"], t["rows_target"]) == (1000, 1000)
    # 5, 9 | 77 | 300-303 | 5000 (in the open tail chunk)
    assert t["chunks_differing"] == 4
    # a single chunk over the whole table finds the same keys
    rep = verify(server, src, dst, m, "--chunk-rows", "100000")
    assert sorted(k["id"] for k in table(rep, "t")["differing_keys"]) \
        == PLANTED


def test_key_list_is_capped(server, pair, tmp_path):
    src, dst = pair
    m = simple(server, src, dst, 500, tmp_path)
    server.execute_root(f"UPDATE {dst}.t SET name = 'x' WHERE id <= 50")
    t = table(verify(server, src, dst, m, "--max-keys", "10"), "t")
    assert len(t["differing_keys"]) == 10 and t["keys_truncated"]
    assert t["rows_differing"] == 50


def test_recheck_keeps_only_persistent_differences(server, pair, tmp_path):
    src, dst = pair
    m = simple(server, src, dst, 1000, tmp_path)
    plant(server, dst)
    p = subprocess.Popen(tool_args(server, src, dst, m, "--chunk-rows",
                                   "100", "--recheck"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline())
        assert sorted(k["id"] for k in table(first, "t")["differing_keys"]) \
            == PLANTED
        # the stream catches up on some rows (and a new one differs in a
        # chunk that was clean: a re-check only looks where it differed)
        server.execute_root(
            f"UPDATE {dst}.t d JOIN {src}.t s USING (id) SET d.name = s.name "
            f"WHERE id = 5",
            f"INSERT INTO {dst}.t SELECT * FROM {src}.t WHERE id = 77",
            f"DELETE FROM {dst}.t WHERE id = 5000",
            f"UPDATE {dst}.t SET name = 'new' WHERE id = 600")
        out, err = p.communicate("\n", timeout=120)
    finally:
        p.kill()
    assert p.returncode == 1, err
    second = json.loads(out)
    t = table(second, "t")
    assert sorted(k["id"] for k in t["differing_keys"]) == \
        [9, 300, 301, 302, 303]
    assert t["chunks"] == 11 and t["rows_source"] == 1000


def test_hostile_names(server, pair, tmp_path):
    src, dst = pair
    name, col = "we`ird'; --", "co`l'"
    for d in (src, dst):
        server.execute_root(
            f"CREATE TABLE {d}.`we``ird'; --` (`co``l'` varchar(20) "
            f"PRIMARY KEY, v int)")
    server.execute_root(
        f"INSERT INTO {src}.`we``ird'; --` VALUES ('a''b', 1), ('c`d', 2), "
        f"('e\\\\f', 3)",
        f"INSERT INTO {dst}.`we``ird'; --` SELECT * FROM "
        f"{src}.`we``ird'; --`",
        f"UPDATE {dst}.`we``ird'; --` SET v = 9 WHERE `co``l'` = 'c`d'")
    m = write_mapping(tmp_path, [{"source": name, "target": name}])
    t = table(verify(server, src, dst, m, "--chunk-rows", "1"), name)
    assert t["differing_keys"] == [{col: "c`d"}]
    assert t["rows_source"] == 3 and t["chunks"] == 4


MAPPED_DDL = [
    """CREATE TABLE {db}.orders (id int PRIMARY KEY, status varchar(10),
       kind varchar(10) NULL, qty int NOT NULL, note varchar(20) NULL,
       legacy tinyint(1) NOT NULL)""",
]
TARGET_DDL = """CREATE TABLE {db}.{t} (id int PRIMARY KEY,
       state varchar(10), kind varchar(10) NULL, qty int NOT NULL,
       note varchar(20) NULL, origin varchar(20) NOT NULL,
       price decimal(8,2) NOT NULL)"""

MAPPING = {
    "source": "orders",
    "rename": {"status": "state"},
    "drop": ["legacy"],
    "values": {"status": {"NEW": "new", "DONE": "done"}},
    "defaults": {"origin": "legacy-app", "price": 0},
    "routes": [
        {"when": {"kind": ["A", "AA"]}, "target": "orders_a"},
        {"target": "orders_other"}]}


def mapped_copy(server, src, dst, t, where):
    """What the sink would write: the mapping done by hand in SQL."""
    server.execute_root(
        f"INSERT INTO {dst}.{t} SELECT id, CASE BINARY status WHEN 'NEW' "
        f"THEN 'new' WHEN 'DONE' THEN 'done' ELSE status END, kind, qty, "
        f"note, 'legacy-app', 0 FROM {src}.orders WHERE {where}")


def test_mapping_rename_values_routes_defaults(server, pair, tmp_path):
    src, dst = pair
    server.execute_root(MAPPED_DDL[0].format(db=src))
    for t in ("orders_a", "orders_other"):
        server.execute_root(TARGET_DDL.format(db=dst, t=t))
    # 'Done' is not 'DONE': value maps compare bytes, not the collation
    server.execute_root(
        f"INSERT INTO {src}.orders SELECT seq, ELT(seq % 5 + 1, 'NEW', "
        f"'DONE', 'Done', 'other', NULL), ELT(seq % 4 + 1, 'A', 'B', 'AA', "
        f"NULL), seq, IF(seq % 7 = 0, NULL, ''), seq % 2 FROM seq_1_to_2000",
        db=src)
    mapped_copy(server, src, dst, "orders_a", "BINARY kind IN ('A', 'AA')")
    mapped_copy(server, src, dst, "orders_other",
                "kind IS NULL OR BINARY kind NOT IN ('A', 'AA')")
    m = write_mapping(tmp_path, [MAPPING])
    rep = verify(server, src, dst, m, "--chunk-rows", "300")
    assert rep["clean"], rep
    a, o = table(rep, "orders_a"), table(rep, "orders_other")
    assert a["rows_source"] == a["rows_target"] == 1000
    assert o["rows_source"] == o["rows_target"] == 1000
    assert a["chunks"] == o["chunks"] == 7

    # ids: kind is A/AA (orders_a) for even ids, B/NULL (orders_other)
    # for odd ones. A wrong mapped value, a row also in the wrong target,
    # a default changed twice.
    server.execute_root(
        f"UPDATE {dst}.orders_other SET state = 'NEW' WHERE id = 1001",
        f"INSERT INTO {dst}.orders_other SELECT * FROM {dst}.orders_a "
        f"WHERE id = 2",
        f"UPDATE {dst}.orders_a SET origin = 'x' WHERE id = 1202",
        f"UPDATE {dst}.orders_a SET price = 0.01 WHERE id = 1204")
    rep = verify(server, src, dst, m, "--chunk-rows", "300")
    assert sorted(k["id"] for k in table(rep, "orders_other")
                  ["differing_keys"]) == [2, 1001]
    assert sorted(k["id"] for k in table(rep, "orders_a")
                  ["differing_keys"]) == [1202, 1204]
    # one table only
    rep = verify(server, src, dst, m, "--table", "orders")
    assert len(rep["tables"]) == 2


def test_transform_columns_are_reported_unverified(server, pair, tmp_path):
    src, dst = pair
    for d in (src, dst):
        server.execute_root(f"CREATE TABLE {d}.u (id int PRIMARY KEY, "
                            f"email varchar(50), n int)")
    server.execute_root(
        f"INSERT INTO {src}.u VALUES (1, 'A@X', 1), (2, 'b@y', 2)",
        f"INSERT INTO {dst}.u VALUES (1, 'a@x', 1), (2, 'b@y', 2)")
    m = write_mapping(tmp_path, [{"source": "u", "target": "u",
                                  "transforms": [{"column": "email",
                                                  "fn": "lowercase"}]}])
    rep = verify(server, src, dst, m)
    t = table(rep, "u")
    assert rep["clean"]
    assert [c["column"] for c in t["unverified_columns"]] == ["email"]
    assert "lowercase" in t["unverified_columns"][0]["reason"]
    server.execute_root(f"UPDATE {dst}.u SET n = 3 WHERE id = 2")
    assert table(verify(server, src, dst, m), "u")["differing_keys"] == \
        [{"id": 2}]


def test_value_map_on_key_checks_whole_table(server, pair, tmp_path):
    src, dst = pair
    for d in (src, dst):
        server.execute_root(f"CREATE TABLE {d}.k (code varchar(10) "
                            f"PRIMARY KEY, n int)")
    server.execute_root(
        f"INSERT INTO {src}.k VALUES ('OLD', 1), ('b', 2), ('c', 3)",
        f"INSERT INTO {dst}.k VALUES ('new', 1), ('b', 2), ('c', 4)")
    m = write_mapping(tmp_path, [{"source": "k", "target": "k",
                                  "values": {"code": {"OLD": "new"}}}])
    t = table(verify(server, src, dst, m, "--chunk-rows", "1"), "k")
    assert t["whole_table"] and t["chunks"] == 1 and t["notes"]
    assert t["differing_keys"] == [{"code": "c"}]


def copy_event_finder(server, src, dst):
    c = server.connect(db=src, local_infile=1)
    try:
        ef.create_source_schema(c)
        ef.generate(c, scale=0.002, seed=7, log=lambda m: None)
    finally:
        c.close()
    c = server.connect(db=dst)
    try:
        ef.create_target_schema(c)
        cur = c.cursor()
        cur.execute("SET SESSION foreign_key_checks = 0")
        for s, t in ef.TABLE_MAP.items():
            cur.execute(f"INSERT INTO {dst}.{t} SELECT * FROM {src}.{s}")
    finally:
        c.close()


def test_event_finder_clean_and_planted(server, pair):
    src, dst = pair
    copy_event_finder(server, src, dst)
    m = os.path.join(ROOT, "schemas", "event_finder.json")
    rep = verify(server, src, dst, m, "--chunk-rows", "500")
    assert rep["clean"], json.dumps(rep, indent=1)
    assert len(rep["tables"]) == 9
    for t in rep["tables"]:
        assert t["rows_source"] == t["rows_target"] > 0, t
        assert t["unverified_columns"] == []
    # the data carries the quirks the checksum must keep apart
    assert server.query(f"SELECT COUNT(*) FROM {src}.clerk_sync_notification "
                        f"WHERE user_id IS NULL")[0][0] > 0
    server.execute_root(
        f"UPDATE {dst}.tickets_ticket SET checked_in_at = checked_in_at + "
        f"INTERVAL 1 MICROSECOND WHERE checked_in_at IS NOT NULL "
        f"ORDER BY id LIMIT 1",
        f"UPDATE {dst}.billing_payment SET provider_payload = "
        f"CONCAT(provider_payload, ' ') ORDER BY id DESC LIMIT 1",
        f"UPDATE {dst}.calendar_app_event SET latitude = NULL WHERE "
        f"latitude IS NOT NULL ORDER BY id LIMIT 1")
    rep = verify(server, src, dst, m, "--chunk-rows", "500")
    bad = {t["target"]: t["rows_differing"] for t in rep["tables"]
           if t["chunks_differing"]}
    assert bad == {"tickets_ticket": 1, "billing_payment": 1,
                   "calendar_app_event": 1}


def test_timing_200k_rows(server, pair, tmp_path):
    """Figures, not assertions: how long verifying 200k rows takes."""
    src, dst = pair
    t0 = time.monotonic()
    m = simple(server, src, dst, 200000, tmp_path)
    load = time.monotonic() - t0
    t0 = time.monotonic()
    rep = verify(server, src, dst, m)
    wall = time.monotonic() - t0
    assert rep["clean"]
    t = table(rep, "t")
    print(f"\nverify 200k rows: {t['chunks']} chunks, engine "
          f"{rep['seconds']:.2f}s, wall {wall:.2f}s "
          f"({200000 / rep['seconds']:,.0f} rows/s); load {load:.1f}s")


def test_errors_are_reported(server, pair, tmp_path):
    src, dst = pair
    m = simple(server, src, dst, 10, tmp_path)
    r = subprocess.run(tool_args(server, src, dst, m, "--table", "nope"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert r.returncode == 2 and "not mapped" in r.stderr
    server.execute_root(f"DROP TABLE {dst}.t")
    r = subprocess.run(tool_args(server, src, dst, m),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert r.returncode == 2 and "does not exist" in r.stderr, r.stderr


def test_composite_key_chunks_cover_every_row(server, pair, tmp_path):
    src, dst = pair
    for d in (src, dst):
        server.execute_root(f"CREATE TABLE {d}.c (a int, b varchar(10), "
                            f"v int, PRIMARY KEY (a, b))")
    server.execute_root(
        f"INSERT INTO {src}.c SELECT seq DIV 7, CONCAT('k', seq % 7), seq "
        f"FROM seq_1_to_700",
        f"INSERT INTO {dst}.c SELECT * FROM {src}.c",
        f"UPDATE {dst}.c SET v = 0 WHERE a = 50 AND b = 'k3'",
        f"DELETE FROM {dst}.c WHERE a = 99 AND b = 'k6'", db=src)
    m = write_mapping(tmp_path, [{"source": "c", "target": "c"}])
    for chunk in ("1", "13", "100000"):
        t = table(verify(server, src, dst, m, "--chunk-rows", chunk), "c")
        assert t["rows_source"] == 700 and t["rows_target"] == 699
        assert sorted(t["differing_keys"], key=lambda k: k["a"]) == [
            {"a": 50, "b": "k3"}, {"a": 99, "b": "k6"}]


def test_two_routes_into_one_target_and_null_when(server, pair, tmp_path):
    src, dst = pair
    server.execute_root(f"CREATE TABLE {src}.n (id int PRIMARY KEY, "
                        f"kind varchar(5) NULL, v int)")
    for t in ("x", "y"):
        server.execute_root(f"CREATE TABLE {dst}.{t} (id int PRIMARY KEY, "
                            f"kind varchar(5) NULL, v int, tag varchar(5))")
    server.execute_root(
        f"INSERT INTO {src}.n SELECT seq, ELT(seq % 3 + 1, 'A', 'B', NULL), "
        f"seq FROM seq_1_to_300", db=src)
    server.execute_root(
        f"INSERT INTO {dst}.x SELECT id, kind, v, 'a' FROM {src}.n "
        f"WHERE kind = 'A'",
        f"INSERT INTO {dst}.x SELECT id, kind, v, 'rest' FROM {src}.n "
        f"WHERE kind = 'B'",
        f"INSERT INTO {dst}.y SELECT id, kind, v, 'null' FROM {src}.n "
        f"WHERE kind IS NULL")
    m = write_mapping(tmp_path, [{"source": "n", "routes": [
        {"when": {"kind": "A"}, "target": "x", "defaults": {"tag": "a"}},
        {"when": {"kind": None}, "target": "y", "defaults": {"tag": "null"}},
        {"target": "x", "defaults": {"tag": "rest"}}]}])
    rep = verify(server, src, dst, m, "--chunk-rows", "50")
    assert rep["clean"], rep
    assert table(rep, "x")["rows_source"] == 200
    assert table(rep, "y")["rows_source"] == 100
    server.execute_root(f"UPDATE {dst}.x SET tag = 'a' WHERE id = 1")
    rep = verify(server, src, dst, m, "--chunk-rows", "50")
    assert table(rep, "x")["differing_keys"] == [{"id": 1}]


# -- the cutover's targeted checks: verify_keys and verify_counts ------------

def verify_keys(server, src, dst, mapping, tmp_path, table_name, keys,
                *extra):
    f = tmp_path / f"keys_{uuid.uuid4().hex[:6]}.json"
    f.write_text(json.dumps(keys))
    return verify(server, src, dst, mapping, "--table", table_name,
                  "--keys", str(f), *extra)


def tool_fails(server, src, dst, mapping, *extra):
    r = subprocess.run(tool_args(server, src, dst, mapping, *extra),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    return r.stderr


def test_keys_changed_missing_extra_and_deleted(server, pair, tmp_path):
    src, dst = pair
    m = simple(server, src, dst, 1000, tmp_path)
    plant(server, dst)
    # deleted on both sides since the last full verify: fine
    server.execute_root(f"DELETE FROM {src}.t WHERE id = 10",
                        f"DELETE FROM {dst}.t WHERE id = 10")
    keys = [{"id": i} for i in (5, 77, 5000, 10, 20, 9999, 20)]
    t = table(verify_keys(server, src, dst, m, tmp_path, "t", keys), "t")
    # changed (5), missing on the target (77), extra on the target (5000)
    assert sorted(k["id"] for k in t["differing_keys"]) == [5, 77, 5000]
    assert t["rows_differing"] == 3
    assert (t["rows_source"], t["rows_target"]) == (3, 3)  # 5 77 20 | 5 20 5000
    assert t["chunks"] == 1 and t["chunks_differing"] == 1
    assert any("keyed check of 7 source keys" in n for n in t["notes"])
    # planted differences whose keys are not listed are not looked at
    t = table(verify_keys(server, src, dst, m, tmp_path, "t",
                          [{"id": 20}, {"id": 10}]), "t")
    assert t["differing_keys"] == [] and t["chunks_differing"] == 0
    # every key, in batches of 1000: the same keys as the full verify, so
    # both paths hash rows alike
    every = [{"id": i} for i in range(1, 1001)] + [{"id": 5000}]
    rep = verify_keys(server, src, dst, m, tmp_path, "t", every)
    t = table(rep, "t")
    assert not rep["clean"] and t["chunks"] == 2
    assert sorted(k["id"] for k in t["differing_keys"]) == PLANTED
    full = table(verify(server, src, dst, m, "--chunk-rows", "100"), "t")
    assert sorted(k["id"] for k in full["differing_keys"]) == PLANTED
    # a clean key set is clean
    rep = verify_keys(server, src, dst, m, tmp_path, "t",
                      [{"id": i} for i in range(400, 500)])
    assert rep["clean"] and table(rep, "t")["rows_source"] == 100


def test_keys_binary_and_composite(server, pair, tmp_path):
    src, dst = pair
    for d in (src, dst):
        server.execute_root(
            f"CREATE TABLE {d}.b (k varbinary(16) PRIMARY KEY, v int)",
            f"CREATE TABLE {d}.c (a bigint unsigned, b varbinary(8), "
            f"c decimal(6,2), d varchar(10), v int, PRIMARY KEY (a, b, c, d))")
    raw = [b"\x00\x27\x5c\xff", b"plain", b"\xe9\x00", b"'; --", b"gone"]
    rows = ", ".join(f"(X'{k.hex()}', {i})" for i, k in enumerate(raw))
    big = 18446744073709551615
    server.execute_root(
        f"INSERT INTO {src}.b VALUES {rows}",
        f"INSERT INTO {dst}.b SELECT * FROM {src}.b",
        f"UPDATE {dst}.b SET v = 99 WHERE k = X'{raw[0].hex()}'",
        f"DELETE FROM {dst}.b WHERE k = X'{raw[2].hex()}'",
        f"DELETE FROM {src}.b WHERE k = X'{raw[4].hex()}'",
        f"DELETE FROM {dst}.b WHERE k = X'{raw[4].hex()}'",
        f"INSERT INTO {src}.c VALUES ({big}, X'00ff', 1.50, 'x''y', 1), "
        f"(1, X'5c', 0.05, 'z', 2), (1, X'5c', 0.06, 'z', 3)",
        f"INSERT INTO {dst}.c SELECT * FROM {src}.c",
        f"UPDATE {dst}.c SET v = 7 WHERE a = {big}",
        f"INSERT INTO {dst}.c VALUES (2, X'01', 9.99, 'e', 4)")
    m = write_mapping(tmp_path, [{"source": "b", "target": "b"},
                                 {"source": "c", "target": "c"}])

    def b64(x):
        return base64.b64encode(x).decode()
    t = table(verify_keys(server, src, dst, m, tmp_path, "b",
                          [{"k": b64(k)} for k in raw]), "b")
    # binary keys are reported as text when UTF-8, else as 0x hex
    assert sorted(k["k"] for k in t["differing_keys"]) == \
        sorted(["0x" + raw[0].hex(), "0x" + raw[2].hex()])
    assert (t["rows_source"], t["rows_target"]) == (4, 3)
    # as change events carry them: BIGINT UNSIGNED above 2^63 and DECIMAL
    # as strings, binary as base64
    keys = [{"a": str(big), "b": b64(b"\x00\xff"), "c": "1.50", "d": "x'y"},
            {"a": 1, "b": b64(b"\\"), "c": "0.05", "d": "z"},
            {"a": 1, "b": b64(b"\\"), "c": "0.06", "d": "z"},
            {"a": 2, "b": b64(b"\x01"), "c": "9.99", "d": "e"}]
    t = table(verify_keys(server, src, dst, m, tmp_path, "c", keys), "c")
    # (BIGINT UNSIGNED above 2^63 reported as a string, like events)
    assert sorted(t["differing_keys"], key=lambda k: str(k["a"])) == [
        {"a": str(big), "b": "0x00ff", "c": "1.50", "d": "x'y"},
        {"a": 2, "b": "\x01", "c": "9.99", "d": "e"}]
    assert (t["rows_source"], t["rows_target"]) == (3, 4)
    # input errors are errors, not differences
    assert "not base64" in tool_fails(
        server, src, dst, m, "--table", "b", "--keys",
        str(write_keys(tmp_path, [{"k": "@@@"}])))
    assert "lacks primary-key column b" in tool_fails(
        server, src, dst, m, "--table", "c", "--keys",
        str(write_keys(tmp_path, [{"a": 1}])))


def write_keys(tmp_path, keys):
    f = tmp_path / f"keys_{uuid.uuid4().hex[:6]}.json"
    f.write_text(json.dumps(keys))
    return f


def test_keys_follow_routes_and_refuse_mapped_keys(server, pair, tmp_path):
    src, dst = pair
    server.execute_root(MAPPED_DDL[0].format(db=src))
    for t in ("orders_a", "orders_other"):
        server.execute_root(TARGET_DDL.format(db=dst, t=t))
    server.execute_root(
        f"INSERT INTO {src}.orders SELECT seq, ELT(seq % 5 + 1, 'NEW', "
        f"'DONE', 'Done', 'other', NULL), ELT(seq % 4 + 1, 'A', 'B', 'AA', "
        f"NULL), seq, IF(seq % 7 = 0, NULL, ''), seq % 2 FROM seq_1_to_200",
        db=src)
    mapped_copy(server, src, dst, "orders_a", "BINARY kind IN ('A', 'AA')")
    mapped_copy(server, src, dst, "orders_other",
                "kind IS NULL OR BINARY kind NOT IN ('A', 'AA')")
    m = write_mapping(tmp_path, [MAPPING])
    keys = [{"id": i} for i in range(1, 21)]
    rep = verify_keys(server, src, dst, m, tmp_path, "orders", keys)
    assert rep["clean"], rep
    a, o = table(rep, "orders_a"), table(rep, "orders_other")
    assert a["rows_source"] == a["rows_target"] == 10
    assert o["rows_source"] == o["rows_target"] == 10
    # id 2 goes to orders_a; a copy in orders_other is extra there only
    server.execute_root(
        f"INSERT INTO {dst}.orders_other SELECT * FROM {dst}.orders_a "
        f"WHERE id = 2",
        f"UPDATE {dst}.orders_a SET state = 'NEW' WHERE id = 4")
    rep = verify_keys(server, src, dst, m, tmp_path, "orders", keys)
    assert table(rep, "orders_other")["differing_keys"] == [{"id": 2}]
    assert table(rep, "orders_a")["differing_keys"] == [{"id": 4}]
    # a value map on a key column: no target key to look up
    for d in (src, dst):
        server.execute_root(f"CREATE TABLE {d}.k (code varchar(10) "
                            f"PRIMARY KEY, n int)")
    m = write_mapping(tmp_path, [{"source": "k", "target": "k",
                                  "values": {"code": {"OLD": "new"}}}])
    err = tool_fails(server, src, dst, m, "--table", "k", "--keys",
                     str(write_keys(tmp_path, [{"code": "OLD"}])))
    assert "verify_tool: config: " in err, err
    assert "needs a full verify" in err
    err = tool_fails(server, src, dst, m, "--table", "nope", "--keys",
                     str(write_keys(tmp_path, [])))
    assert "not mapped" in err


def test_keys_event_finder(server, pair, tmp_path):
    src, dst = pair
    copy_event_finder(server, src, dst)
    m = os.path.join(ROOT, "schemas", "event_finder.json")
    planted = {}
    for s, t in (("clerk_sync_ticket", "tickets_ticket"),
                 ("clerk_sync_payment", "billing_payment")):
        ids = [r[0] for r in server.query(
            f"SELECT id FROM {src}.{s} ORDER BY id LIMIT 30")]
        planted[s] = ids[3]
        server.execute_root(f"DELETE FROM {dst}.{t} WHERE id = {ids[3]}")
    for s in ef.TABLE_MAP:
        ids = [r[0] for r in server.query(
            f"SELECT id FROM {src}.{s} ORDER BY id LIMIT 30")]
        # and a key deleted on both sides (never existed here)
        rep = verify_keys(server, src, dst, m, tmp_path, s,
                          [{"id": i} for i in ids] + [{"id": 10 ** 12}])
        t = rep["tables"][0]
        assert t["rows_source"] == len(ids) > 0, t
        if s in planted:
            assert t["differing_keys"] == [{"id": planted[s]}], t
        else:
            assert rep["clean"], t
    rep = verify(server, src, dst, m, "--counts")
    bad = {t["source"]: t["notes"][-1] for t in rep["tables"]
           if t["chunks_differing"]}
    assert set(bad) == set(planted)
    assert all(n.startswith("row counts differ: ") for n in bad.values())


def test_counts_clean_and_mismatched(server, pair, tmp_path):
    src, dst = pair
    server.execute_root(MAPPED_DDL[0].format(db=src))
    for t in ("orders_a", "orders_other"):
        server.execute_root(TARGET_DDL.format(db=dst, t=t))
    server.execute_root(
        f"INSERT INTO {src}.orders SELECT seq, 'NEW', ELT(seq % 4 + 1, 'A', "
        f"'B', 'AA', NULL), seq, NULL, 0 FROM seq_1_to_1000", db=src)
    mapped_copy(server, src, dst, "orders_a", "BINARY kind IN ('A', 'AA')")
    mapped_copy(server, src, dst, "orders_other",
                "kind IS NULL OR BINARY kind NOT IN ('A', 'AA')")
    m = write_mapping(tmp_path, [MAPPING])
    rep = verify(server, src, dst, m, "--counts")
    assert rep["clean"], rep
    for t in ("orders_a", "orders_other"):
        r = table(rep, t)
        assert r["rows_source"] == r["rows_target"] == 500
        assert r["differing_keys"] == []
    # a changed row does not change counts; a missing and an extra do
    server.execute_root(
        f"UPDATE {dst}.orders_a SET qty = 0 WHERE id = 2",
        f"DELETE FROM {dst}.orders_a WHERE id = 4",
        f"INSERT INTO {dst}.orders_other SELECT * FROM {dst}.orders_a "
        f"WHERE id = 6")
    rep = verify(server, src, dst, m, "--counts", "--table", "orders")
    assert not rep["clean"]
    a, o = table(rep, "orders_a"), table(rep, "orders_other")
    assert "row counts differ: 500 vs 499" in a["notes"]
    assert "row counts differ: 500 vs 501" in o["notes"]
    assert a["differing_keys"] == [] and o["differing_keys"] == []
    assert a["rows_differing"] == o["rows_differing"] == 1
