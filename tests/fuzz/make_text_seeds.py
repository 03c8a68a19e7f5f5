# SPDX-License-Identifier: Apache-2.0
"""Writes the seed inputs of the text-protocol fuzz targets (fuzz_change_msg,
fuzz_config, fuzz_mapping, fuzz_control): valid inputs from the shipped
files and the unit tests, plus edge cases, so the fuzzer starts deep.
Run from the repository root: python3 tests/fuzz/make_text_seeds.py"""
import glob
import json
import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def change_msg(key, value):
    k = key.encode() if key is not None else b""
    # the target takes the key length mod (rest + 1)
    return bytes([len(k)]) + k + value.encode()


def change_msg_seeds():
    src = {"version": "0.1.0", "connector": "ferry", "name": "ferry",
           "ts_ms": 1700000000000, "db": "event_finder",
           "table": "t", "server_id": 1, "gtid": "0-1-5",
           "file": "mariadb-bin.000001", "pos": 4}
    row = {"id": 7, "v": "a", "s": "A", "e": "  X@Y.COM ",
           "j": "{\"a\":[1,2]}", "k": "x", "d": "1.50", "n": None}
    row2 = dict(row, v="b", s=1, k=1)

    def val(op, before, after, table="t"):
        return json.dumps({"before": before, "after": after,
                           "source": dict(src, table=table), "op": op,
                           "ts_ms": 1700000000001})
    write("fuzz_change_msg", "create", change_msg('{"id":7}',
          val("c", None, row)))
    write("fuzz_change_msg", "update", change_msg('{"id":7}',
          val("u", row, row2)))
    write("fuzz_change_msg", "delete", change_msg('{"id":7}',
          val("d", row, None)))
    write("fuzz_change_msg", "read_other_table", change_msg('{"id":7}',
          val("r", None, row, table="u")))
    write("fuzz_change_msg", "tombstone", change_msg('{"id":7}', ""))
    write("fuzz_change_msg", "barrier", change_msg(
        '{"__ferry_barrier":"x1"}',
        '{"op":"barrier","barrier":"x1","source":{"gtid":"0-1-9"}}'))
    write("fuzz_change_msg", "no_key", change_msg(None, val("c", None, row)))
    write("fuzz_change_msg", "bad_op", change_msg(
        '{"id":1}', '{"op":"x","source":{"table":"t"}}'))


def config_seeds():
    example = open(os.path.join(ROOT, "deploy", "ferryd.conf.example")).read()
    write("fuzz_config", "example", example)
    minimal = """[daemon]
metrics_listen =
[source]
user = ferry
password_file = /dev/null
database = s
tables = a, b%
[sink]
user = ferry
database = t
mapping = /m.json
"""
    write("fuzz_config", "minimal", minimal)
    write("fuzz_config", "kafka_source", """\ufeff; BOM, comments
# hash comment
[daemon]
role = source
transport = kafka
metrics_listen = [::1]:0
log_level = debug
[source]
socket = /run/mysqld/mysqld.sock
user = u
database = d
tables = t
start = gtid:0-1-100,1-2-5
heartbeat = 250ms
read_timeout = 2m
backfill_max_rows_per_second = 1000
backfill_max_lag = 1h
server_id = 4294967295
[kafka]
brokers = k1:9092,k2:9092
topic_prefix = p
rdkafka.acks = all
rdkafka.linger.ms = 5
""")
    write("fuzz_config", "kafka_sink", """[daemon]\r
role = sink\r
transport = kafka\r
[source]\r
user = u\r
database = d\r
tables = t\r
[kafka]\r
brokers = k:9092\r
[sink]\r
port = 65535\r
user = u\r
password_file = /dev/null\r
database = d\r
mapping = /m.json\r
workers = 256\r
on_error = dead_letter\r
[cutover]\r
action = exec:/bin/true\r
max_lag = 0s\r
""")
    write("fuzz_config", "errors", minimal.replace(
        "database = t", "database = t\n  indented = 1\n[nope]\nport = x"))
    write("fuzz_config", "long_line", minimal + "[cutover]\nretired_schema = "
          + "r" * 220 + "\n")


def mapping_seeds():
    write("fuzz_mapping", "event_finder",
          open(os.path.join(ROOT, "schemas", "event_finder.json")).read())
    for p in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "mapping",
                                           "*.json"))):
        text = open(p).read()
        name = os.path.basename(p)[:-5]
        if name.startswith("bad_") and name not in (
                "bad_shadowed", "bad_fn_bad_arg", "bad_json",
                "bad_after_fallback"):
            continue
        write("fuzz_mapping", name, text)
    # a mapping, a NUL, and one more row
    write("fuzz_mapping", "with_row", json.dumps({
        "version": 1, "tables": [{
            "source": "s", "values": {"k": {"1": "one", "x": None}},
            "routes": [
                {"when": {"k": ["a", 1, True]}, "target": "ta",
                 "rename": {"id": "pk"}},
                {"when": {"k": None}, "target": "tn", "drop": ["v"]},
                {"target": "tz", "defaults": {"z": False},
                 "transforms": [{"column": "c", "fn": "concat",
                                 "columns": ["id", "k"]},
                                {"column": "j", "fn": "json_get",
                                 "path": "$.a.b[1]", "default": 0}]}]}]})
          + "\0" + '{"id":"5","k":"x","j":"{\\"a\\":{\\"b\\":[0,[1]]}}"}')
    # checked against the target's fixed tables s -> t
    write("fuzz_mapping", "validate", json.dumps({
        "version": 1, "tables": [{
            "source": "s", "target": "t", "drop": ["kind", "meta"],
            "rename": {"name": "label"}}]})
          + "\0" + json.dumps({"id": 1, "src_type": "enum('a','b''c')",
                                "dst_type": "varchar(3) CHARACTER SET utf8mb4"}))
    # an enum type without its list (found by the fuzzer)
    write("fuzz_mapping", "enum_without_list", json.dumps({
        "version": 1, "tables": [{"source": "s", "target": "t"}]})
          + "\0" + json.dumps({"src_type": "enum 'a')",
                                "dst_type": "varchar(3)"}))


def control_seeds():
    # even length gets a newline added by the target; pad to choose
    def line(obj, newline=True):
        s = json.dumps(obj, separators=(",", ":"))
        return s + ("\n" if newline else "")
    write("fuzz_control", "status", line({"v": 1, "cmd": "now"}))
    write("fuzz_control", "args", line({"v": 1, "cmd": "now",
                                        "args": {"tables": ["a", "b"]}}))
    write("fuzz_control", "later_twice", line({"v": 1, "cmd": "later"})
          + line({"cmd": "later"}) + line({"cmd": "now"}))
    write("fuzz_control", "fail", line({"v": 1, "cmd": "fail",
                                        "args": {"table": "zoë" * 20}}))
    write("fuzz_control", "unknown", line({"v": 1, "cmd": "é" * 40}))
    # "unknown command '%.60s'" cuts this name inside a character
    write("fuzz_control", "unknown_cut",
          line({"v": 1, "cmd": "a" + "é" * 40}))
    # jansson's error text quotes the bad escape: not valid UTF-8 by itself
    write("fuzz_control", "bad_escape", b'{"v":1,"cmd":"\\u00e\xc7\x9du00e9'
          + b'\\u00e9\\u00e9\\u00e8\\u00e9\\u00e9\\u00e9\\u00e99"}\n')
    write("fuzz_control", "malformed", "{\"v\":2,\"cmd\":\"now\"}\n"
          "{\"cmd\":1}\n{\"cmd\":\"now\",\"args\":[]}\n[1]\n{\"cmd\n\n")
    write("fuzz_control", "no_newline", '{"v":1,"cmd":"later"}')
    # odd length, a multiple of 3: sent as is, then half-closed
    write("fuzz_control", "half_close",
          '{"cmd":"later"}\n{"cmd":"now"}\n   ')
    write("fuzz_control", "long_line", b"\xff" + b'{"cmd":"now","x":"'
          + b"a" * 64)


if __name__ == "__main__":
    change_msg_seeds()
    config_seeds()
    mapping_seeds()
    control_seeds()
