# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the bench/ scripts (not a benchmark)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("FERRY_BUILD_DIR", os.path.join(ROOT, "build"))


def machine():
    uname = subprocess.run(["uname", "-sr"], stdout=subprocess.PIPE,
                           text=True).stdout.strip()
    ver = subprocess.run(["mariadbd", "--version"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout.split()
    mver = next((v for v in ver if "MariaDB" in v), "?")
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} cores (shared: figures are "
            f"indicative; load average at the end {load}), {uname}, MariaDB {mver}, "
            f"{writeback()}, build {os.environ['FERRY_BUILD_DIR']}")


def writeback():
    """When the kernel starts writing dirty pages back: it decides how much
    of an unsynced binlog a rotation's fsync must write at once."""
    def read(name):
        with open(f"/proc/sys/vm/{name}") as f:
            return int(f.read())
    nbytes = read("dirty_background_bytes")
    if nbytes:
        return f"vm.dirty_background_bytes = {nbytes >> 20} MiB"
    return f"vm.dirty_background_ratio = {read('dirty_background_ratio')}%"


def proc_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as st:
            for line in st:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssWatch:
    """Samples VmHWM / VmRSS of some pids every `every` seconds."""

    def __init__(self, every=0.05):
        self.pids = {}
        self.hwm = {}
        self.rss_max = {}
        self.every = every
        self.halt = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def add(self, name, pid):
        self.pids[name] = pid

    def _run(self):
        while not self.halt.is_set():
            self.sample()
            time.sleep(self.every)

    def sample(self):
        for name, pid in list(self.pids.items()):
            h = proc_kb(pid, "VmHWM")
            r = proc_kb(pid, "VmRSS")
            self.hwm[name] = max(self.hwm.get(name, 0), h)
            self.rss_max[name] = max(self.rss_max.get(name, 0), r)

    def stop(self):
        self.sample()
        self.halt.set()
        self.t.join(2)

    def mib(self, name):
        return self.hwm.get(name, 0) / 1024


class DiskProbe:
    """What a commit costs the disk by itself: every `every` seconds, one
    4 KiB O_DIRECT write and an fdatasync to a file on the server's
    filesystem, the two calls a small InnoDB commit makes. Its latencies
    in a window show how slow the device was for anyone writing then,
    whoever caused the load."""

    def __init__(self, directory, every=0.02):
        import mmap
        self.path = os.path.join(directory, "ferry-disk-probe")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_DIRECT,
                          0o600)
        os.posix_fallocate(self.fd, 0, 1 << 20)
        os.fsync(self.fd)
        self.buf = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT needs
        self.buf.write(b"p" * 4096)
        self.samples = []  # (monotonic end, seconds)
        self.every = every
        self.halt = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        off = 0
        while not self.halt.is_set():
            t = time.monotonic()
            os.pwrite(self.fd, self.buf, off)
            os.fdatasync(self.fd)
            e = time.monotonic()
            self.samples.append((e, e - t))
            off = (off + 4096) % (1 << 20)
            time.sleep(max(0.0, self.every - (e - t)))

    def window(self, start, end):
        """Latencies (seconds) of the probes that ended in [start, end]."""
        return [x for t, x in self.samples if start <= t <= end]

    def stop(self):
        self.halt.set()
        self.t.join(5)
        os.close(self.fd)
        os.unlink(self.path)


def binlog_files(m):
    return [r[0] for r in m.query("SHOW BINARY LOGS")]


def binlog_bytes(m, files):
    sizes = {r[0]: int(r[1]) for r in m.query("SHOW BINARY LOGS")}
    return sum(sizes[f] for f in files)


def mariadb_binlog_seconds(m, files):
    """Wall time of `mariadb-binlog --read-from-remote-server
    --base64-output=decode-rows -v FILES > /dev/null` (as bench/decode)."""
    cmd = ["mariadb-binlog", "--read-from-remote-server", "--host=127.0.0.1",
           f"--port={m.port}", f"--user={m.repl_user}",
           f"--password={m.repl_password}", "--base64-output=decode-rows",
           "-v"] + list(files)
    t0 = time.monotonic()
    with open(os.devnull, "w") as null:
        subprocess.run(cmd, stdout=null, stderr=subprocess.PIPE, check=True,
                       timeout=1200)
    return time.monotonic() - t0


def high_watermarks(bootstrap, topics):
    """{(topic, partition): (low, high)} from the cluster."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap,
                  "group.id": "wm-" + uuid.uuid4().hex[:6]})
    try:
        out = {}
        for t in topics:
            md = c.list_topics(t, timeout=10).topics[t]
            for p in md.partitions:
                out[(t, p)] = c.get_watermark_offsets(TopicPartition(t, p),
                                                      timeout=10)
        return out
    finally:
        c.close()


def die(msg, ferryds=()):
    for name, f in ferryds:
        msg += f"\n--- {name} log tail ---\n" + "".join(f.log[-25:])
    raise SystemExit(msg)


def pct(xs, p):
    """The p-th percentile (0-100) of xs, nearest rank; None when empty."""
    xs = sorted(xs)
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def fmt(n):
    return f"{n:,.0f}"


def gtid_reached(cur, target):
    """True when GTID position `cur` is at or past `target` in every
    domain of target ("D-S-N[,D-S-N]"). The sink writes ferry.offsets to
    the same server, so its own commits move the position past the last
    source write."""
    def seqs(pos):
        return {g.split("-")[0]: int(g.split("-")[2])
                for g in (pos or "").split(",") if g}
    c = seqs(cur)
    return all(c.get(d, -1) >= n for d, n in seqs(target).items())


def row(name, ferry, unit, baseline=None, baseline_name=None, ratio=None,
        target=None, met=None, rss_mib=None, note=None, ferry_text=None):
    """One line of bench/run's summary table. ferry / baseline are numbers
    in `unit`; ratio is ferry / baseline unless given (False: none);
    target is a string ("≥ 0.50x", "< 300 ms"), met True/False/None;
    ferry_text, if given, is shown instead of the number."""
    if ratio is False:  # a baseline to show, but no meaningful ratio
        ratio = None
    elif ratio is None and baseline and ferry is not None and \
            isinstance(baseline, (int, float)):
        ratio = ferry / baseline
    return {"benchmark": name, "ferry": ferry, "unit": unit,
            "baseline": baseline, "baseline_name": baseline_name,
            "ratio": ratio, "target": target, "met": met,
            "rss_mib": rss_mib, "note": note, "ferry_text": ferry_text}


def add_json_arg(ap):
    ap.add_argument("--json", metavar="FILE",
                    help="also write the results as JSON to FILE (what "
                         "bench/run reads)")


def write_json(path, name, rows, raw=None, ok=True, notes=()):
    """The --json output: {benchmark, command, ok, rows: [row()], notes,
    raw}. Written once, at the end, with ok=False when a check failed; a
    run that dies writes nothing (bench/run then reports its exit status
    and the tail of its output)."""
    if not path:
        return
    out = {"benchmark": name, "command": sys.argv, "ok": ok,
           "rows": rows, "notes": list(notes), "raw": raw or {}}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1, default=str)
    os.replace(tmp, path)


def _term(*_a):
    raise SystemExit(143)


signal.signal(signal.SIGTERM, _term)
