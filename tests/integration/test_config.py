# SPDX-License-Identifier: Apache-2.0
"""ferryd --check-config: exit 0 for a good file; 78 with FILE:LINE:
[section] key: reason for every class of bad one; never echoes a
password."""
import os
import subprocess

import pytest

from tests.conftest import ROOT, binary

SECRET = "s3cret-do-not-print"

GOOD = """[daemon]
role = all
transport = direct
log_level = debug

[source]
host = 127.0.0.1
port = 3306
user = ferry
password_file = {pw}
database = event_finder
tables = clerk_sync_%, other
server_id = 4001
start = gtid:0-1-100,1-2-3
heartbeat = 500ms
read_timeout = 5s

[kafka]
brokers = k1:9092
rdkafka.compression.type = zstd
rdkafka.linger.ms = 5

[sink]
user = ferry
database = event_finder
mapping = /etc/ferry/event_finder.json
on_error = dead_letter

[cutover]
max_lag = 1s
lock_timeout = 2s
drain_timeout = 2m
"""


def check(tmp_path, text):
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    cfg = tmp_path / "ferryd.conf"
    cfg.write_text(text.replace("{pw}", str(pw)))
    r = subprocess.run([binary("ferryd"), "--check-config", "-c", str(cfg)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=10)
    assert SECRET not in r.stdout + r.stderr
    return r, str(cfg)


def test_good_config(tmp_path):
    r, cfg = check(tmp_path, GOOD)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{cfg}: ok"


def test_shipped_example_is_valid(tmp_path):
    r = subprocess.run([binary("ferryd"), "--check-config", "-c",
                        os.path.join(ROOT, "deploy", "ferryd.conf.example")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=10)
    # The example points at /etc/ferry/source.password, absent here: that
    # must be the only complaint.
    assert r.returncode == 78
    assert "password_file: cannot read '/etc/ferry/source.password'" in \
        r.stderr, r.stderr


@pytest.mark.parametrize("change,where", [
    (("port = 3306", "port = 33x6"), ":8: [source] port: '33x6' is not"),
    (("heartbeat = 500ms", "heartbeat = 5"), ":15: [source] heartbeat: '5' "
     "is not a duration"),
    (("heartbeat = 500ms", "heartbeat = 5x"), "[source] heartbeat"),
    (("drain_timeout = 2m", "drain_timeout = -1s"), "[cutover] drain_timeout"),
    (("role = all", "role = everything"), ":2: [daemon] role: 'everything' "
     "is not one of all, source, sink"),
    (("log_level = debug", "log_level = loud"), "[daemon] log_level"),
    (("server_id = 4001", "server_id = 4001\nserver_id = 4002"),
     "[source] server_id: set twice (first on line"),
    (("on_error = dead_letter", "on_eror = stop"), "[sink] on_eror: unknown "
     "key"),
    (("[cutover]", "[cutovr]"), ":29: [cutovr]: unknown section"),
    (("[cutover]", "[metrics]\n[cutover]"), ":29: [metrics]: unknown "
     "section"),
    (("user = ferry\npassword_file", "password_file"), ":6: [source] user: "
     "missing required key"),
    (("brokers = k1:9092\n", ""), None),
    (("transport = direct", "transport = kafka"), None),
    (("transport = direct", "transport = kafka\nrole = source"),
     ":4: [daemon] role: set twice (first on line 2)"),
    (("rdkafka.linger.ms = 5", "rdkafka.compression.type = lz4"),
     ":21: [kafka] rdkafka.compression.type: set twice"),
    (("on_error = dead_letter", "workers = 0"), ":27: [sink] workers: '0' "
     "is not a whole number in 1..256"),
    (("mapping = /etc/ferry/event_finder.json", "mapping = event_finder.json"),
     ":26: [sink] mapping: 'event_finder.json' is not an absolute path"),
    (("port = 3306", "port = 3306\n  server_id = 1"), ":9: [source] port: "
     "this line is indented"),
    (("tables = clerk_sync_%, other", "tables = " + "t, " * 70 + "t"),
     ":12: [source]: line is longer than 199 characters"),
    (("mapping = /etc/ferry/event_finder.json\n", ""), "[sink] mapping: "
     "missing required key (role includes the sink)"),
    (("start = gtid:0-1-100,1-2-3", "start = gtid:0-1"), "[source] start: "
     "bad GTID position"),
    (("start = gtid:0-1-100,1-2-3", "start = yesterday"), "[source] start"),
    (("tables = clerk_sync_%, other", "tables = ,"), ":12: [source] tables: "
     "empty item 1"),
    (("transport = direct", "transport = direct\n"), None),
    (("role = all", "role = source"), "[daemon] transport: direct carries "
     "events inside one process"),
    (("read_timeout = 5s", "read_timeout = 500ms"), "[source] read_timeout:"
     " must be longer than heartbeat"),
])
def test_config_errors(tmp_path, change, where):
    old, new = change
    assert old in GOOD
    r, cfg = check(tmp_path, GOOD.replace(old, new, 1))
    if where is None:
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 78, r.stdout
    assert r.stderr.startswith(f"ferryd: {cfg}:"), r.stderr
    assert where in r.stderr, r.stderr


def test_unreadable_password_file(tmp_path):
    r, cfg = check(tmp_path, GOOD.replace("{pw}", "/nonexistent/pw"))
    assert r.returncode == 78
    assert ":10: [source] password_file: cannot read '/nonexistent/pw': No " \
           "such file" in r.stderr, r.stderr


def test_password_file_is_a_directory(tmp_path):
    r, cfg = check(tmp_path, GOOD.replace("{pw}", str(tmp_path)))
    assert r.returncode == 78
    assert f":10: [source] password_file: cannot read '{tmp_path}': Is a " \
           "directory" in r.stderr, r.stderr


def test_password_with_two_lines_is_not_echoed(tmp_path):
    pw = tmp_path / "pw2"
    pw.write_text(SECRET + "\n" + SECRET + "\n")
    r, cfg = check(tmp_path, GOOD.replace("{pw}", str(pw)))
    assert r.returncode == 78
    assert ":10: [source] password_file:" in r.stderr, r.stderr


def test_missing_file_and_usage():
    r = subprocess.run([binary("ferryd"), "--check-config", "-c",
                        "/nonexistent.conf"], stderr=subprocess.PIPE,
                       text=True)
    assert r.returncode == 78 and "/nonexistent.conf" in r.stderr
    r = subprocess.run([binary("ferryd"), "--bogus"], stderr=subprocess.PIPE,
                       text=True)
    assert r.returncode == 64
    r = subprocess.run([binary("ferryd"), "--help"], stdout=subprocess.PIPE,
                       text=True)
    assert r.returncode == 0 and "--check-config" in r.stdout


def test_source_role_target_is_all_or_nothing(tmp_path):
    """role = source needs no [sink]; given one (what the cutover
    verifies), it needs user, database and mapping together."""
    src = GOOD.replace("role = all\ntransport = direct",
                       "role = source\ntransport = kafka")
    r, cfg = check(tmp_path, src)
    assert r.returncode == 0, r.stderr
    r, cfg = check(tmp_path, src.replace(
        "mapping = /etc/ferry/event_finder.json\n", ""))
    assert r.returncode == 78, r.stdout
    assert "[sink] mapping: missing required key (role = source with a " \
           "[sink] target, which the cutover verifies)" in r.stderr, r.stderr
    none = src.replace("user = ferry\ndatabase = event_finder\nmapping = "
                       "/etc/ferry/event_finder.json\n", "")
    assert none != src
    r, cfg = check(tmp_path, none)
    assert r.returncode == 0, r.stderr
