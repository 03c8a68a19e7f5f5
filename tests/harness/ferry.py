# SPDX-License-Identifier: Apache-2.0
"""Running ferry binaries from tests: config files and --print-events.

Every wait is bounded; every process started is stopped by the caller's
context manager or fixture.
"""
import json
import os
import queue
import signal
import subprocess
import threading
import time


def write_config(path, server, database, tables="%", start="now",
                 server_id=None, extra=None, state_dir=None):
    """Writes an INI config for a source on the harness server."""
    d = os.path.dirname(path)
    pwfile = os.path.join(d, "source.password")
    with open(pwfile, "w") as f:
        f.write(server.repl_password + "\n")
    os.chmod(pwfile, 0o600)
    sections = {
        "daemon": {"role": "all", "transport": "direct",
                   "state_dir": state_dir or os.path.join(d, "state"),
                   "metrics_listen": "127.0.0.1:0",
                   "control_socket": os.path.join(d, "ferryd.sock"),
                   "log_level": "info"},
        "source": {"host": "127.0.0.1", "port": str(server.port),
                   "user": server.repl_user, "password_file": pwfile,
                   "database": database, "tables": tables,
                   "server_id": str(server_id or (4000 + os.getpid() % 1000)),
                   "start": start, "heartbeat": "500ms",
                   "read_timeout": "3s"},
        "sink": {"host": "127.0.0.1", "port": str(server.port),
                 "user": "root", "database": database,
                 "mapping": os.path.join(d, "mapping.json")},
    }
    for sec, kv in (extra or {}).items():
        sections.setdefault(sec, {}).update(kv)
    with open(path, "w") as f:
        for sec, kv in sections.items():
            f.write(f"[{sec}]\n")
            for k, v in kv.items():
                f.write(f"{k} = {v}\n")
            f.write("\n")
    return path


class PrintEvents:
    """ferryd --print-events as a child; events() yields parsed lines."""

    def __init__(self, ferryd, config):
        self.proc = subprocess.Popen(
            [ferryd, "--print-events", "-c", config],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, True),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, False),
                         daemon=True).start()

    def _pump(self, stream, is_out):
        for line in stream:
            if is_out:
                self.lines.put(line)
            else:
                self.stderr.append(line.decode(errors="replace"))
        if is_out:
            self.lines.put(None)

    def take(self, n, timeout=30):
        """Returns exactly n events or fails with what arrived and stderr."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            out.append(json.loads(line))
        if len(out) != n:
            raise AssertionError(
                f"expected {n} events, got {len(out)}; ferryd "
                f"rc={self.proc.poll()} stderr:\n" + "".join(self.stderr[-30:]))
        return out

    def drain(self, quiet=0.5):
        """Events arriving until `quiet` seconds pass with none."""
        out = []
        while True:
            try:
                line = self.lines.get(timeout=quiet)
            except queue.Empty:
                return out
            if line is None:
                return out
            out.append(json.loads(line))

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any("binlog source connected" in l for l in self.stderr):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("ferryd --print-events did not connect:\n"
                             + "".join(self.stderr[-30:]))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("ferryd did not stop on SIGTERM")
        return self.proc.returncode

    def stopped_gtid(self):
        for line in reversed(self.stderr):
            if "stopped gtid=" in line:
                return line.split("stopped gtid=")[1].split()[0]
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
