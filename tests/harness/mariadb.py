# SPDX-License-Identifier: Apache-2.0
"""A throwaway MariaDB for tests, benchmarks and the quickstart.

mariadb-install-db + mariadbd --user=root on a private port and socket
under a temp dir, with the binlog settings ferry needs (ROW, FULL image,
FULL metadata, GTID). Fails loudly, with the server's error log, when the
server cannot start: a test that needs a server never passes without one.

Also a CLI: python3 -m tests.harness.mariadb start DIR | stop DIR
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import MySQLdb

REPL_USER = "ferry"
REPL_PASSWORD = "ferry-test-pw"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _find(prog, *alts):
    for p in (prog,) + alts:
        path = shutil.which(p) or (p if os.path.exists(p) else None)
        if path:
            return path
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin"):
        for p in (prog,) + alts:
            if os.path.exists(os.path.join(d, p)):
                return os.path.join(d, p)
    raise RuntimeError(f"{prog} not found: install mariadb-server")


class ServerError(RuntimeError):
    pass


class MariaDB:
    """One private server. start() installs a fresh datadir on first use."""

    def __init__(self, basedir=None, server_id=1, port=None, extra_args=()):
        self.owns_dir = basedir is None
        self.basedir = basedir or tempfile.mkdtemp(prefix="ferry-mariadb-")
        self.datadir = os.path.join(self.basedir, "data")
        self.socket = os.path.join(self.basedir, "mysqld.sock")
        self.errlog = os.path.join(self.basedir, "error.log")
        self.tmpdir = os.path.join(self.basedir, "tmp")
        self.port = port or free_port()
        self.server_id = server_id
        self.extra_args = list(extra_args)
        self.proc = None
        self.host = "127.0.0.1"
        self.repl_user = REPL_USER
        self.repl_password = REPL_PASSWORD

    # -- lifecycle ---------------------------------------------------------
    def install(self):
        if os.path.isdir(os.path.join(self.datadir, "mysql")):
            return
        os.makedirs(self.datadir, exist_ok=True)
        os.makedirs(self.tmpdir, exist_ok=True)
        # A private tmpdir: concurrent bootstraps sharing /tmp were seen to
        # clash on their temporary tables ("Unknown table tmp_user_sys").
        r = subprocess.run(
            [_find("mariadb-install-db", "mysql_install_db"), "--no-defaults",
             f"--datadir={self.datadir}", "--user=root",
             f"--tmpdir={self.tmpdir}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--skip-name-resolve"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise ServerError(f"mariadb-install-db failed:\n{r.stdout}")

    def args(self):
        return [_find("mariadbd", "mysqld"), "--no-defaults", "--user=root",
                f"--datadir={self.datadir}", f"--socket={self.socket}",
                f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--tmpdir={self.tmpdir}",
                f"--pid-file={os.path.join(self.basedir, 'mysqld.pid')}",
                f"--log-error={self.errlog}",
                f"--log-bin={os.path.join(self.datadir, 'binlog')}",
                "--binlog-format=ROW", "--binlog-row-image=FULL",
                "--binlog-row-metadata=FULL", f"--server-id={self.server_id}",
                "--gtid-strict-mode=ON", "--skip-name-resolve",
                "--innodb-buffer-pool-size=256M",
                "--innodb-log-file-size=256M",
                "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
                "--max-connections=500", "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--default-time-zone=+00:00",
                "--max-allowed-packet=256M"] + self.extra_args

    def start(self, timeout=60):
        self.install()
        os.makedirs(self.tmpdir, exist_ok=True)
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"mariadbd exited with {self.proc.returncode}:\n"
                    + self.errlog_tail())
            try:
                c = MySQLdb.connect(unix_socket=self.socket, user="root",
                                    connect_timeout=2)
                c.close()
                break
            except MySQLdb.Error as e:
                last = e
                time.sleep(0.1)
        else:
            self.kill()
            raise ServerError(f"mariadbd did not accept connections in "
                              f"{timeout}s ({last}):\n" + self.errlog_tail())
        self._ensure_repl_user()
        return self

    def _ensure_repl_user(self):
        self.execute_root(
            f"CREATE USER IF NOT EXISTS '{REPL_USER}'@'%' "
            f"IDENTIFIED BY '{REPL_PASSWORD}'",
            f"CREATE USER IF NOT EXISTS '{REPL_USER}'@'localhost' "
            f"IDENTIFIED BY '{REPL_PASSWORD}'",
            f"GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, "
            f"SELECT ON *.* TO '{REPL_USER}'@'%'",
            f"GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, "
            f"SELECT ON *.* TO '{REPL_USER}'@'localhost'",
            # the backfill's watermark table lives in the ferry schema
            f"GRANT ALL ON ferry.* TO '{REPL_USER}'@'%'",
            f"GRANT ALL ON ferry.* TO '{REPL_USER}'@'localhost'")

    def stop(self, timeout=60):
        """Clean shutdown (SIGTERM), waiting for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def destroy(self):
        self.stop()
        if self.owns_dir:
            shutil.rmtree(self.basedir, ignore_errors=True)

    def errlog_tail(self, n=40):
        try:
            with open(self.errlog, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no error log)"

    # -- clients -----------------------------------------------------------
    def connect(self, db=None, user="root", password="", **kw):
        args = dict(unix_socket=self.socket, user=user, passwd=password,
                    charset="utf8mb4", autocommit=True, **kw)
        if db:
            args["db"] = db
        return MySQLdb.connect(**args)

    def execute_root(self, *stmts, db=None):
        c = self.connect(db=db)
        try:
            cur = c.cursor()
            for s in stmts:
                cur.execute(s)
        finally:
            c.close()

    def query(self, sql, args=None, db=None):
        c = self.connect(db=db)
        try:
            cur = c.cursor()
            cur.execute(sql, args)
            return cur.fetchall()
        finally:
            c.close()

    def gtid_binlog_pos(self):
        return self.query("SELECT @@gtid_binlog_pos")[0][0]


def _cli(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: python3 -m tests.harness.mariadb start|stop DIR",
              file=sys.stderr)
        return 64
    d = os.path.abspath(argv[2])
    os.makedirs(d, exist_ok=True)
    portfile = os.path.join(d, "port")
    if argv[1] == "start":
        port = free_port()
        m = MariaDB(basedir=d, port=port)
        m.start()
        m.proc = None  # leave it running after we exit
        with open(portfile, "w") as f:
            f.write(f"{port}\n")
        print(f"mariadb running: port={port} socket={m.socket}")
        return 0
    pidfile = os.path.join(d, "mysqld.pid")
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGTERM)
        for _ in range(600):
            os.kill(pid, 0)
            time.sleep(0.1)
    except (OSError, ValueError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv))
