# SPDX-License-Identifier: Apache-2.0
"""Security checks: passwords never show in argv, logs, /metrics or
ferryctl status; the control socket refuses other users even when its
mode is loosened; the metrics endpoint binds loopback by default."""
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

from tests.harness.ferry import write_config
from tests.integration.test_control import ferryctl
from tests.integration.test_direct_pipeline import (MAPPING, Ferryd,  # noqa
                                                    dbs)


def test_no_secret_leaks_and_peer_check(server, dbs, tmp_path):
    src, dst = dbs
    # A directory other users may enter (pytest's are 0700), so that only
    # the socket's own protections stand between them and ferryd.
    open_dir = tempfile.mkdtemp(prefix="ferry-sec-")
    os.chmod(open_dir, 0o755)
    sock = os.path.join(open_dir, "ferryd.sock")
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING},
               "daemon": {"control_socket": sock}})
    secret = server.repl_password
    f = Ferryd(cfg)
    try:
        port = int(f.wait_log(r"metrics listening .* port=(\d+)").group(1))
        f.wait_log(r"binlog source connected")
        argv = open(f"/proc/{f.proc.pid}/cmdline", "rb").read()
        assert secret.encode() not in argv
        environ = open(f"/proc/{f.proc.pid}/environ", "rb").read()
        assert secret.encode() not in environ
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert secret not in metrics
        st = ferryctl(cfg, "status", "--json")
        assert st.returncode == 0 and secret not in st.stdout

        # Loopback only by default: the socket is bound to 127.0.0.1.
        conns = subprocess.run(["ss", "-ltnp"], capture_output=True,
                               text=True).stdout
        mine = [l for l in conns.splitlines() if f":{port} " in l]
        assert mine and all("127.0.0.1:" in l for l in mine), mine

        # Another user cannot use the socket, even with its mode opened:
        # the daemon checks the peer's uid.
        probe_as_nobody = ["setpriv", "--reuid=65534", "--regid=65534",
                           "--clear-groups", "/usr/bin/python3", "-c"]
        # As created (0600): the kernel refuses.
        r = subprocess.run(probe_as_nobody + [
            f"import socket;socket.socket(socket.AF_UNIX).connect({sock!r})"],
            capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and "Permission denied" in r.stderr
        os.chmod(sock, 0o666)
        # ferryd answers the refusal at once and hangs up, so the
        # request may meet a closed socket: the reply is what counts.
        probe = ("import socket;s=socket.socket(socket.AF_UNIX);"
                 f"s.connect({sock!r});\n"
                 "try: s.sendall(b'{\"v\":1,\"cmd\":\"pause\"}\\n')\n"
                 "except OSError: pass\n"
                 "print(s.recv(4096).decode())")
        r = subprocess.run(probe_as_nobody + [probe], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        reply = json.loads(r.stdout)
        assert reply["ok"] is False and "permission denied" in reply["error"]
        assert json.loads(ferryctl(cfg, "status", "--json").stdout)[
            "state"] != "paused"
        assert f.stop() == 0
    finally:
        f.kill()
        shutil.rmtree(open_dir, ignore_errors=True)
    log = "".join(f.log)
    assert secret not in log
    assert "refused a connection from uid 65534" in log
