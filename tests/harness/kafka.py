# SPDX-License-Identifier: Apache-2.0
"""A throwaway Kafka cluster for tests: librdkafka's mock cluster, hosted by
ferry-kafka-mock in a process of its own on 127.0.0.1 at random ports.

The helper reads one command per line on stdin and answers one line, "ok
..." or "error REASON"; closing its stdin stops it, so a test that dies
never leaves a cluster behind. Fails loudly, with the helper's stderr, when
the cluster does not come up: a test that needs Kafka never passes
without one.
"""
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time


class KafkaMockError(RuntimeError):
    pass


def _default_binary():
    from tests.conftest import binary
    return binary("ferry-kafka-mock")


class KafkaMock:
    """One mock cluster with brokers 1..N. start() returns self."""

    def __init__(self, brokers=3, binary=None, topics=(), debug=False):
        self.brokers = brokers
        self.binary = binary
        self.topics = dict(topics)  # name -> partitions, made before ready
        self.debug = debug
        self.proc = None
        self.bootstrap = None
        self.basedir = None
        self.errlog = None
        self._lock = threading.Lock()
        self._rbuf = b""

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout=10):
        if self.proc:
            raise KafkaMockError("already started")
        binary = self.binary or _default_binary()
        self.basedir = tempfile.mkdtemp(prefix="ferry-kafka-")
        bsfile = os.path.join(self.basedir, "bootstrap")
        self.errlog = os.path.join(self.basedir, "stderr.log")
        args = [binary, "--brokers", str(self.brokers),
                "--bootstrap-file", bsfile]
        for name, partitions in self.topics.items():
            args += ["--topic", f"{name}:{partitions}"]
        if self.debug:
            args.append("--debug")
        with open(self.errlog, "wb") as err:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise KafkaMockError(
                    f"ferry-kafka-mock exited with {rc} before the cluster "
                    f"was up:\n{self.errlog_tail()}")
            if os.path.exists(bsfile):
                with open(bsfile) as f:
                    self.bootstrap = f.read().strip()
                break
            time.sleep(0.02)
        else:
            self.kill()
            raise KafkaMockError(
                f"ferry-kafka-mock wrote no bootstrap file in {timeout}s:\n"
                + self.errlog_tail())
        return self

    def stop(self, timeout=10):
        """Clean stop: "quit", then EOF, then SIGTERM, then SIGKILL."""
        if not self.proc:
            return
        if self.proc.poll() is None:
            try:
                self.command("quit", timeout=timeout)
            except (KafkaMockError, OSError):
                pass
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
        self._close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self):
        if self.proc:
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        self.proc = None
        self.bootstrap = None
        if self.basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)
            self.basedir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def errlog_tail(self, n=40):
        try:
            with open(self.errlog, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except (OSError, TypeError):
            return "(no stderr log)"

    # -- commands ----------------------------------------------------------
    def command(self, line, timeout=10):
        """Sends one command; returns the text after "ok", raises on error
        or when no answer comes within timeout seconds."""
        if not self.proc or self.proc.poll() is not None:
            raise KafkaMockError(f"mock cluster not running; {line!r} not "
                                 f"sent:\n{self.errlog_tail()}")
        with self._lock:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
            answer = self._readline(timeout, line)
        if answer == "ok":
            return ""
        if answer.startswith("ok "):
            return answer[3:]
        raise KafkaMockError(f"{line!r}: {answer}")

    def _readline(self, timeout, line):
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._rbuf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KafkaMockError(f"{line!r}: no answer in {timeout}s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise KafkaMockError(
                        f"{line!r}: ferry-kafka-mock closed its stdout:\n"
                        + self.errlog_tail())
                self._rbuf += chunk
        answer, self._rbuf = self._rbuf.split(b"\n", 1)
        return answer.decode()

    def create_topic(self, name, partitions, replication=None):
        cmd = f"create {name} {partitions}"
        if replication is not None:
            cmd += f" {replication}"
        self.command(cmd)

    def broker_down(self, broker_id):
        """Closes the broker's connections and refuses new ones. Leaders do
        not move: its partitions stall until broker_up (or set_leader)."""
        self.command(f"down {broker_id}")

    def broker_up(self, broker_id):
        self.command(f"up {broker_id}")

    def set_leader(self, topic, partition, broker_id):
        self.command(f"leader {topic} {partition} {broker_id}")

    def set_rtt(self, broker_id, ms):
        self.command(f"rtt {broker_id} {ms}")

    def push_errors(self, api, count, error, broker=None):
        """The next count requests of api (produce, fetch, heartbeat, ...)
        fail with error (NOT_COORDINATOR, _TRANSPORT, ... or a code), on
        every broker or on one."""
        cmd = f"errors {api} {count} {error}"
        if broker is not None:
            cmd += f" {broker}"
        return self.command(cmd)

    def broker_ids(self):
        return [int(x) for x in self.command("brokers").split()]

    def broker_address(self, broker_id):
        """The bootstrap list is broker 1 first, in id order."""
        return self.bootstrap.split(",")[broker_id - 1]
