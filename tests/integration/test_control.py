# SPDX-License-Identifier: Apache-2.0
"""The control socket and ferryctl: status fields, pause/resume moving
the lag, backfill on request, malformed requests answered (never a
crash), socket permissions and peer checks."""
import json
import os
import socket
import stat
import subprocess
import time
import urllib.request

import MySQLdb

from tests.conftest import binary
from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import (MAPPING, Ferryd, converge,
                                                    dbs, rows)  # noqa: F401


def ferryctl(cfg, *args, timeout=60):
    return subprocess.run([binary("ferryctl"), "-c", cfg, *args],
                          capture_output=True, text=True, timeout=timeout)


def status(cfg):
    r = ferryctl(cfg, "status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def raw(path, payload, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(payload)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf


def start(server, src, dst, tmp_path, start="now"):
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        start=start,
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING}})
    f = Ferryd(cfg)
    f.wait_log(r"control socket listening")
    f.wait_log(r"binlog source connected")
    return cfg, f


def insert_users(server, src, first, n):
    c = MySQLdb.connect(unix_socket=server.socket, user="root", db=src,
                        autocommit=True)
    cur = c.cursor()
    for i in range(first, first + n):
        cur.execute(
            "INSERT INTO clerk_sync_clerkuser (id, clerk_id, email,"
            " first_name, last_name, image_url, is_admin, metadata,"
            " created_at, updated_at) VALUES (%s, %s, %s, 'a', 'b', '', 0,"
            " '{}', NOW(6), NOW(6))",
            (i, f"clerk{i}", f"u{i}@x.org"))
    c.close()


def test_status_pause_resume_and_protocol_errors(server, dbs, tmp_path):
    src, dst = dbs
    cfg, f = start(server, src, dst, tmp_path)
    sock = str(tmp_path / "ferryd.sock")
    try:
        st = os.stat(sock)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600

        s = status(cfg)
        for k in ("state", "lag_seconds", "backfill", "last_cutover",
                  "position", "role", "transport"):
            assert k in s, s
        assert s["state"] == "streaming"
        assert s["transport"] == "direct" and s["role"] == "all"

        human = ferryctl(cfg, "status")
        assert human.returncode == 0 and "state" in human.stdout

        r = ferryctl(cfg, "pause")
        assert r.returncode == 0, r.stderr
        assert status(cfg)["state"] == "paused"
        insert_users(server, src, 1, 20)
        # The sink is paused: rows wait, and the lag grows.
        deadline = time.monotonic() + 15
        lag = 0
        while time.monotonic() < deadline and lag < 1.5:
            time.sleep(0.3)
            lag = status(cfg)["lag_seconds"]
        assert lag >= 1.5, status(cfg)
        assert rows(server, dst, "users_clerkuser") == ()

        r = ferryctl(cfg, "resume")
        assert r.returncode == 0, r.stderr
        assert converge(server, src, dst) == []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and status(cfg)["lag_seconds"]:
            time.sleep(0.3)
        assert status(cfg)["lag_seconds"] == 0

        # Idle and caught up reads 0, and stays there.
        time.sleep(2.5)
        for _ in range(3):
            assert status(cfg)["lag_seconds"] == 0
            time.sleep(0.4)

        # A client that half-closes after its request still gets the
        # answer (echo ... | socat).
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sock)
        s.sendall(b'{"v":1,"cmd":"status"}\n')
        s.shutdown(socket.SHUT_WR)
        reply = s.makefile().readline()
        s.close()
        assert json.loads(reply)["ok"] is True

        # Malformed and unknown requests get an error reply; the daemon
        # keeps serving.
        for payload, want in [
                (b"not json\n", "malformed"),
                (b"[1,2]\n", "malformed"),
                (b'{"v":1,"cmd":"explode"}\n', "unknown command"),
                (b'{"v":99,"cmd":"status"}\n', "version"),
                (b'{"v":1,"cmd":"status","args":[]}\n', "args"),
                (b'{"v":1,"cmd":"snapshot","args":{"tables":["nope"]}}\n',
                 "not one"),
                (b'{"v":1,"cmd":"abort"}\n', "no cutover"),
                (b"x" * 70000 + b"\n", "too long")]:
            reply = json.loads(raw(sock, payload))
            assert reply["ok"] is False and want in reply["error"], reply
        r = ferryctl(cfg, "frobnicate")
        assert r.returncode == 2 and "unknown command" in r.stderr
        assert status(cfg)["state"] == "streaming"
        assert f.proc.poll() is None
        assert f.stop() == 0
    finally:
        f.kill()
    # The socket goes away with the daemon.
    assert not os.path.exists(sock)
    r = ferryctl(cfg, "status")
    assert r.returncode == 1 and "cannot reach ferryd" in r.stderr


def test_snapshot_on_request(server, dbs, tmp_path):
    """Rows that existed before ferry started (start = now) arrive once a
    backfill of their table is asked for, by ferryctl or by a signal row."""
    src, dst = dbs
    insert_users(server, src, 1, 50)
    cfg, f = start(server, src, dst, tmp_path)
    try:
        time.sleep(0.5)
        assert rows(server, dst, "users_clerkuser") == ()
        r = ferryctl(cfg, "snapshot", "clerk_sync_clerkuser")
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and \
                len(rows(server, dst, "users_clerkuser")) < 50:
            time.sleep(0.2)
        assert len(rows(server, dst, "users_clerkuser")) == 50, \
            "".join(f.log[-20:])
        bf = {t["table"]: t for t in status(cfg)["backfill"]}
        assert bf["clerk_sync_clerkuser"]["done"] is True
        assert bf["clerk_sync_clerkuser"]["rows_copied"] == 50

        # The same progress on /metrics, and the rows by table and op.
        port = int(f.wait_log(r"metrics listening .* port=(\d+)").group(1))
        deadline = time.monotonic() + 10
        want = ['ferry_snapshot_rows_copied_total{table='
                '"clerk_sync_clerkuser"} 50',
                'ferry_snapshot_done{table="clerk_sync_clerkuser"} 1',
                'ferry_events_total{table="clerk_sync_clerkuser",op="r"} 50',
                'ferry_rows_applied_total{table="users_clerkuser",'
                'op="upsert"} 50']
        while True:
            text = urllib.request.urlopen(
                f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            missing = [w for w in want if w not in text]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert not missing, text

        r = ferryctl(cfg, "snapshot", "not_watched")
        assert r.returncode == 1 and "not one" in r.stderr
        assert f.stop() == 0
    finally:
        f.kill()


def test_control_socket_refuses_a_live_twin(server, dbs, tmp_path):
    src, dst = dbs
    cfg, f = start(server, src, dst, tmp_path)
    try:
        twin = subprocess.run([binary("ferryd"), "-c", cfg],
                              capture_output=True, text=True, timeout=30)
        assert twin.returncode != 0
        assert "another ferryd is running" in twin.stderr
        assert f.proc.poll() is None
        assert f.stop() == 0
    finally:
        f.kill()
