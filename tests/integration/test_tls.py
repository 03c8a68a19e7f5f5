# SPDX-License-Identifier: Apache-2.0
"""TLS to MariaDB: with [source]/[sink] ssl_ca the connections are
encrypted and the server's certificate checked; a server that requires
secure transport refuses ferry without it; a wrong CA is refused."""
import os
import subprocess

from tests.conftest import ROOT, binary
from tests.harness.ferry import write_config
from tests.harness.mariadb import MariaDB
from tests.integration.test_direct_pipeline import (MAPPING, Ferryd, converge,
                                                    load_sql, workload)


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out",
            f"{name}.pem", cwd=d)


def make_server_cert(d, ca):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", f"{ca}.pem",
            "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "2",
            "-extfile", "san.ext", "-out", "server.pem", cwd=d)


def plan(cfg):
    return subprocess.run([binary("ferryctl"), "plan", "-c", cfg],
                          capture_output=True, text=True, timeout=60)


def test_tls_to_mariadb(tmp_path):
    d = str(tmp_path / "pki")
    os.makedirs(d)
    make_ca(d, "ca")
    make_ca(d, "other")
    make_server_cert(d, "ca")
    m = MariaDB(extra_args=(f"--ssl-ca={d}/ca.pem",
                            f"--ssl-cert={d}/server.pem",
                            f"--ssl-key={d}/server.key",
                            "--require-secure-transport=ON"))
    m.start()
    f = None
    try:
        m.execute_root("CREATE DATABASE src", "CREATE DATABASE dst")
        load_sql(m, "src", os.path.join(ROOT,
                                        "schemas/event_finder/clerk_sync.sql"))
        load_sql(m, "dst", os.path.join(ROOT, "schemas/event_finder/new.sql"))
        pw = tmp_path / "sink.password"
        pw.write_text("")

        def cfg(name, ca):
            tls = {"ssl_ca": ca} if ca else {}
            return write_config(
                str(tmp_path / f"{name}.conf"), m, "src",
                tables="clerk_sync_%",
                extra={"source": dict(tls),
                       "sink": {"host": "127.0.0.1", "port": str(m.port),
                                "user": "ferry",
                                "password_file": str(tmp_path /
                                                     "source.password"),
                                "database": "dst", "mapping": MAPPING,
                                **tls}})
        for host in ("%", "localhost"):
            m.execute_root(f"GRANT ALL ON dst.* TO 'ferry'@'{host}'")

        # Without TLS the server refuses, and plan says so.
        r = plan(cfg("plain", None))
        assert r.returncode == 1
        assert "PROBLEM  source connect" in r.stdout, r.stdout
        # (MariaDB 10.11 answers "Access denied" to a plain connection
        # when secure transport is required.)
        # A CA that did not sign the server's certificate is refused.
        r = plan(cfg("wrong", f"{d}/other.pem"))
        assert r.returncode == 1 and "PROBLEM  source connect" in r.stdout
        # The right CA: connected over TLS, name checked.
        good = cfg("good", f"{d}/ca.pem")
        r = plan(good)
        assert "ok       source connect as ferry" in r.stdout, r.stdout
        assert "TLS " in r.stdout and "no TLS" not in r.stdout, r.stdout

        f = Ferryd(good)
        f.wait_log(r"binlog source connected")
        workload(m, "src", 1)
        assert converge(m, "src", "dst") == [], "".join(f.log[-20:])
        assert f.stop() == 0
    finally:
        if f:
            f.kill()
        m.destroy()
