# SPDX-License-Identifier: Apache-2.0
"""ferryd as a systemd service: the unit file verifies, and the daemon
speaks sd_notify (READY, STATUS, WATCHDOG, STOPPING) and serves
/metrics that promtool accepts, with lag that moves."""
import os
import socket
import subprocess
import time
import urllib.request

from tests.conftest import ROOT, binary
from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import (MAPPING, Ferryd,  # noqa
                                                     dbs, workload)


def test_unit_file_verifies(tmp_path):
    unit = open(os.path.join(ROOT, "deploy", "ferryd.service")).read()
    unit = unit.replace("/usr/sbin/ferryd", binary("ferryd"))
    path = tmp_path / "ferryd.service"
    path.write_text(unit)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    assert "ferryd.service" not in r.stdout, r.stdout


def test_notify_and_metrics(server, dbs, tmp_path):
    src, dst = dbs
    sock_path = str(tmp_path / "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(sock_path)
    ns.settimeout(0.2)
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING}})
    os.environ["NOTIFY_SOCKET"] = sock_path
    try:
        f = Ferryd(cfg)
    finally:
        del os.environ["NOTIFY_SOCKET"]
    msgs = []
    try:
        port = int(f.wait_log(r"metrics listening .* port=(\d+)").group(1))
        f.wait_log(r"binlog source connected")
        workload(server, src, 1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(
                m.startswith("STATUS=streaming") for m in msgs):
            try:
                msgs.append(ns.recv(4096).decode())
            except socket.timeout:
                pass
        base = f"http://127.0.0.1:{port}"
        body = urllib.request.urlopen(base + "/metrics", timeout=5).read()
        r = subprocess.run(["promtool", "check", "metrics"], input=body,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        assert r.returncode == 0, r.stdout.decode()
        text = body.decode()
        assert "ferry_source_connected 1" in text
        assert "ferry_replication_lag_seconds" in text
        assert urllib.request.urlopen(base + "/readyz",
                                      timeout=5).status == 200
        assert f.stop() == 0
        while True:
            try:
                msgs.append(ns.recv(4096).decode())
            except socket.timeout:
                break
    finally:
        f.kill()
        ns.close()
    joined = "\n".join(msgs)
    for want in ("READY=1", "WATCHDOG=1", "STATUS=streaming", "STOPPING=1"):
        assert want in joined, joined
