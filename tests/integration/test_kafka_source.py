# SPDX-License-Identifier: Apache-2.0
"""role = source, transport = kafka: a real MariaDB, the librdkafka mock
cluster and ferryd on loopback. Changes land on <prefix>.<db>.<table>
keyed by primary key, in per-key order, with tombstones after deletes;
kill -9 and a full broker outage lose nothing; the checkpoint file is
valid JSON and moves forward."""
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import MySQLdb
import pytest
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,
                             TopicPartition)

from tests.conftest import binary
from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import Ferryd

PARTITIONS = 3


class Topic:
    """Reads every message of a topic from the beginning, by assignment
    (no group rebalance to wait for)."""

    def __init__(self, bootstrap, name, partitions=PARTITIONS):
        self.c = Consumer({"bootstrap.servers": bootstrap,
                           "group.id": "t-" + uuid.uuid4().hex[:8],
                           "enable.auto.commit": False,
                           "auto.offset.reset": "earliest",
                           # the outage test takes brokers down on purpose
                           "log_level": 0})
        self.c.assign([TopicPartition(name, p, OFFSET_BEGINNING)
                       for p in range(partitions)])
        self.msgs = []  # (partition, offset, key dict, value dict|None)

    def poll(self, seconds=0.5):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            m = self.c.poll(0.1)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                continue  # transient (broker down): librdkafka retries
            self.msgs.append((m.partition(), m.offset(),
                              json.loads(m.key()),
                              json.loads(m.value()) if m.value() else None))

    def wait(self, pred, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(0.3)
            if pred(self.msgs):
                return True
        return False

    def close(self):
        self.c.close()


def by_key(msgs):
    out = {}
    for _, _, k, v in msgs:
        out.setdefault(json.dumps(k, sort_keys=True), []).append(v)
    return out


def kafka_config(tmp_path, server, db, kafka, prefix, start="now",
                 rdkafka=None):
    kv = {"brokers": kafka.bootstrap, "topic_prefix": prefix}
    for k, v in (rdkafka or {}).items():
        kv["rdkafka." + k] = v
    return write_config(
        str(tmp_path / "ferryd.conf"), server, db, tables="t%",
        start=start,
        extra={"daemon": {"role": "source", "transport": "kafka"},
               "kafka": kv})


def checkpoint(tmp_path):
    with open(tmp_path / "state" / "source-checkpoint.json") as f:
        return json.load(f)


def gtid_seq(pos):
    return sum(int(g.split("-")[2]) for g in pos.split(",") if g)


def connect(server, db):
    return MySQLdb.connect(unix_socket=server.socket, user="root", db=db,
                           charset="utf8mb4", autocommit=True)


def seq_table(db, kafka, prefix, name, n):
    """Table name with ids and values 1..n, and its topic; returns the
    topic's name."""
    topic = f"{prefix}.{db.name}.{name}"
    kafka.create_topic(topic, PARTITIONS)
    db.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, v INT)",
               f"INSERT INTO {name} SELECT seq, seq FROM seq_1_to_{n}")
    return topic


def started(f):
    f.wait_log(r"binlog source connected")


# -- (a) + (d): keys, order, tombstones, Debezium fields, checkpoint ------
def test_rows_keys_order_tombstones_checkpoint(server, db, kafka, tmp_path):
    prefix = "f" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{db.name}.t1"
    kafka.create_topic(topic, PARTITIONS)
    db.execute("CREATE TABLE t1 (id INT PRIMARY KEY, v VARCHAR(20), "
               "d DECIMAL(10,2))",
               "INSERT INTO t1 VALUES (900, 'old', '1.50')")
    cfg = kafka_config(tmp_path, server, db.name, kafka, prefix,
                       start="snapshot")
    f = Ferryd(cfg)
    t = Topic(kafka.bootstrap, topic)
    try:
        started(f)
        # the pre-existing row arrives by backfill (op r)
        assert t.wait(lambda m: any(v and v["op"] == "r" for *_, v in m)), \
            "".join(f.log[-20:])
        c = connect(server, db.name)
        cur = c.cursor()
        for i in range(1, 11):
            cur.execute("INSERT INTO t1 VALUES (%s, %s, %s)",
                        (i, f"v{i}", f"{i}.25"))
        for i in range(1, 11, 2):
            cur.execute("UPDATE t1 SET v = %s WHERE id = %s", (f"u{i}", i))
        cur.execute("DELETE FROM t1 WHERE id IN (2, 4)")
        cur.execute("UPDATE t1 SET id = 105 WHERE id = 5")  # PK change
        cur.execute("BEGIN")
        cur.execute("UPDATE t1 SET v = 'tx' WHERE id = 3")
        cur.execute("UPDATE t1 SET v = 'tx2' WHERE id = 3")
        cur.execute("COMMIT")
        c.close()
        # 1 r + 10 c + 5 u + 2*(d+tomb) + (d+tomb+c) + 2 u
        assert t.wait(lambda m: len(m) >= 25), \
            f"{len(t.msgs)} messages\n" + "".join(f.log[-20:])
        t.poll(1.0)  # nothing extra
        assert len(t.msgs) == 25, t.msgs

        keys = by_key(t.msgs)
        ops = {k: [v["op"] if v else None for v in vs]
               for k, vs in keys.items()}
        k = lambda i: json.dumps({"id": i})  # noqa: E731
        assert ops[k(900)] == ["r"]
        assert ops[k(1)] == ["c", "u"]
        assert ops[k(2)] == ["c", "d", None]   # tombstone after delete
        assert ops[k(3)] == ["c", "u", "u", "u"]
        assert ops[k(5)] == ["c", "u", "d", None]
        assert ops[k(105)] == ["c"]
        assert ops[k(6)] == ["c"]
        # one key, one partition
        parts = {}
        for p, _, key, _ in t.msgs:
            parts.setdefault(json.dumps(key), set()).add(p)
        assert all(len(s) == 1 for s in parts.values())

        v3 = keys[k(3)]
        assert [x["after"]["v"] for x in v3] == ["v3", "u3", "tx", "tx2"]
        u = v3[1]
        assert set(u) >= {"before", "after", "source", "op", "ts_ms"}
        assert u["before"] == {"id": 3, "v": "v3", "d": "3.25"}
        assert u["after"] == {"id": 3, "v": "u3", "d": "3.25"}
        src = u["source"]
        assert src["db"] == db.name and src["table"] == "t1"
        assert src["name"] == prefix and re.match(r"\d+-\d+-\d+",
                                                  src["gtid"])
        d2 = keys[k(2)][1]
        assert d2["after"] is None and d2["before"]["id"] == 2

        port = f.wait_log(r"metrics listening .* port=(\d+)").group(1)
        with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert f'ferry_kafka_messages_produced_total{{topic="{topic}"}} 25' \
            in metrics, metrics
        assert 'ferry_events_total{table="t1",op="c"} 11' in metrics
        assert "ferry_kafka_messages_in_flight 0" in metrics
        assert "ferry_source_connected 1" in metrics

        # (d) the checkpoint is JSON, covers the snapshot, and advances
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cp = checkpoint(tmp_path)
            if cp["snapshot"].get("t1") == "done" and \
                    cp["gtid"] == v3[-1]["source"]["gtid"]:
                break
            time.sleep(0.2)
        assert cp["snapshot"] == {"t1": "done"}, cp
        assert cp["gtid"] == v3[-1]["source"]["gtid"], cp
        first = gtid_seq(cp["gtid"])
        db.execute("INSERT INTO t1 VALUES (50, 'later', '0.00')")
        deadline = time.monotonic() + 10
        while gtid_seq(checkpoint(tmp_path)["gtid"]) <= first:
            assert time.monotonic() < deadline, checkpoint(tmp_path)
            time.sleep(0.2)
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
        t.close()


# -- steady writer with a per-key model ---------------------------------
class Writer:
    """Autocommit writes to t2: keys 1..KEYS inserted, then updated round
    robin with a unique, increasing v. expected[key] is the commit-order
    list of v (one writer: commit order = call order)."""
    KEYS = 20

    def __init__(self, server, db, rate=200):
        self.c = connect(server, db)
        self.cur = self.c.cursor()
        self.expected = {}
        self.n = 0
        self.rate = rate
        self.stop_ev = threading.Event()
        self.error = None
        for k in range(1, self.KEYS + 1):
            self._write(k, insert=True)
        self.th = threading.Thread(target=self._run, daemon=True)

    def _write(self, k, insert=False):
        self.n += 1
        if insert:
            self.cur.execute("INSERT INTO t2 VALUES (%s, %s)", (k, self.n))
        else:
            self.cur.execute("UPDATE t2 SET v = %s WHERE id = %s",
                             (self.n, k))
        self.expected.setdefault(k, []).append(self.n)

    def _run(self):
        try:
            while not self.stop_ev.is_set():
                self._write(self.n % self.KEYS + 1)
                time.sleep(1.0 / self.rate)
        except Exception as e:  # surfaced by stop()
            self.error = e

    def start(self):
        self.th.start()

    def stop(self):
        self.stop_ev.set()
        self.th.join(10)
        self.c.close()
        assert self.error is None, self.error


def check_at_least_once(expected, msgs):
    """Every expected value present, per key in order; a repeat may only
    rewind to an earlier value (replay after a restart) and then go on
    in order. Returns a problem string, or None."""
    got = {}
    for _, _, k, v in msgs:
        got.setdefault(k["id"], []).append(v["after"]["v"])
    for key, exp in expected.items():
        idx = {x: i for i, x in enumerate(exp)}
        pos = 0
        for x in got.get(key, []):
            if x not in idx:
                return f"key {key}: unexpected value {x}"
            if pos < len(exp) and exp[pos] == x:
                pos += 1
            elif idx[x] < pos:
                pos = idx[x] + 1  # replay rewinds
            else:
                return (f"key {key}: gap before {x} (expected "
                        f"{exp[pos] if pos < len(exp) else 'end'})")
        if pos != len(exp):
            return f"key {key}: {len(exp) - pos} changes missing"
    return None


def setup_t2(db, kafka, prefix):
    topic = f"{prefix}.{db.name}.t2"
    kafka.create_topic(topic, PARTITIONS)
    db.execute("CREATE TABLE t2 (id INT PRIMARY KEY, v BIGINT)")
    return topic


# -- (b) kill -9 mid-stream ---------------------------------------------
def test_kill9_restart_at_least_once(server, db, kafka, tmp_path):
    prefix = "f" + uuid.uuid4().hex[:6]
    topic = setup_t2(db, kafka, prefix)
    cfg = kafka_config(tmp_path, server, db.name, kafka, prefix)
    f = Ferryd(cfg)
    t = Topic(kafka.bootstrap, topic)
    w = None
    try:
        started(f)
        w = Writer(server, db.name)
        w.start()
        assert t.wait(lambda m: len(m) > 200, timeout=20), \
            "".join(f.log[-20:])
        f.proc.kill()  # SIGKILL mid-stream
        f.proc.wait()
        time.sleep(1.0)  # the writer goes on without ferryd
        f = Ferryd(cfg)
        started(f)
        m = f.wait_log(r"kafka source epoch starts gtid=(\S+)")
        assert gtid_seq(m.group(1)) > 0
        assert not any("first start" in line for line in f.log)
        time.sleep(2.0)
        w.stop()
        ok = t.wait(lambda m: check_at_least_once(w.expected, m) is None,
                    timeout=30)
        assert ok, (check_at_least_once(w.expected, t.msgs) + "\n" +
                    "".join(f.log[-20:]))
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        if w and not w.stop_ev.is_set():
            w.stop_ev.set()
        f.kill()
        t.close()


def readyz(f):
    port = f.wait_log(r"metrics listening .* port=(\d+)").group(1)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz",
                                    timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# -- (c) all brokers down for ~10 s under writes ------------------------
def test_broker_outage_pauses_and_recovers(server, db, kafka, tmp_path,
                                           monkeypatch):
    prefix = "f" + uuid.uuid4().hex[:6]
    topic = setup_t2(db, kafka, prefix)
    # Under ASan, freed memory waits in a quarantine (256 MB by default)
    # and RSS would measure that; keep it small so RSS measures ferryd.
    asan = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS",
                       (asan + ":" if asan else "") + "quarantine_size_mb=16")
    # A small queue makes the outage reach the reader within seconds.
    cfg = kafka_config(tmp_path, server, db.name, kafka, prefix,
                       rdkafka={"queue.buffering.max.messages": "200"})
    f = Ferryd(cfg)
    t = Topic(kafka.bootstrap, topic)
    w = None
    try:
        started(f)
        w = Writer(server, db.name, rate=300)
        w.start()
        assert t.wait(lambda m: len(m) > 100, timeout=20)
        rss_before = rss_kb(f.proc.pid)
        ids = kafka.broker_ids()
        for b in ids:
            kafka.broker_down(b)
        peak = rss_before
        for _ in range(20):  # ~10 s
            time.sleep(0.5)
            peak = max(peak, rss_kb(f.proc.pid))
            assert f.proc.poll() is None, "".join(f.log[-20:])
        assert readyz(f) == 503, "".join(f.log[-20:])  # Kafka is away
        for b in ids:
            kafka.broker_up(b)
        time.sleep(2.0)
        w.stop()
        ok = t.wait(lambda m: check_at_least_once(w.expected, m) is None,
                    timeout=40)
        assert ok, (check_at_least_once(w.expected, t.msgs) + "\n" +
                    "".join(f.log[-30:]))
        log = "".join(f.log)
        assert log.count("all brokers are down") == 1, log[-3000:]
        assert log.count("brokers reachable again") == 1, log[-3000:]
        assert "producer queue full" in log, log[-3000:]
        # Bounded: the queue limit, not the outage length, caps memory.
        assert peak - rss_before < 100 * 1024, (rss_before, peak, w.n)
        assert readyz(f) == 200, log[-3000:]
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        if w and not w.stop_ev.is_set():
            w.stop_ev.set()
        f.kill()
        t.close()


# -- (d) backfill progress is checkpointed and resumed after kill -9 ----
def test_backfill_resumes_from_checkpoint(server, db, kafka, tmp_path):
    n = 30000
    prefix = "f" + uuid.uuid4().hex[:6]
    topic = seq_table(db, kafka, prefix, "t3", n)
    # Slow acknowledgements make the backfill last long enough to be
    # killed half way.
    kafka.command("rtt all 50")
    cfg = kafka_config(tmp_path, server, db.name, kafka, prefix,
                       start="snapshot",
                       rdkafka={"queue.buffering.max.messages": "300"})
    f = Ferryd(cfg)
    t = Topic(kafka.bootstrap, topic)
    try:
        started(f)
        deadline = time.monotonic() + 30
        pos = ""
        while time.monotonic() < deadline:
            pos = checkpoint(tmp_path)["snapshot"].get("t3", "")
            if pos not in ("", "done"):
                break
            time.sleep(0.05)
        assert pos not in ("", "done"), (pos, "".join(f.log[-20:]))
        f.proc.kill()
        f.proc.wait()
        cp = checkpoint(tmp_path)
        last = json.loads(cp["snapshot"]["t3"])[0]
        assert 0 < last < n, cp
        time.sleep(1.0)
        t.poll(2.0)  # everything run 1 got into Kafka
        before = len(t.msgs)

        kafka.command("rtt all 0")
        f = Ferryd(cfg)
        m = f.wait_log(r"kafka source epoch starts gtid=\S+ backfill=(\w+)")
        assert m.group(1) == "yes"
        ok = t.wait(lambda msgs: {v["after"]["id"] for *_, v in msgs}
                    >= set(range(1, n + 1)), timeout=40)
        assert ok, (len(t.msgs), "".join(f.log[-20:]))
        # Run 2 went on after the checkpointed key, not from the start.
        run2 = [v["after"]["id"] for *_, v in t.msgs[before:]]
        assert run2 and min(run2) > last, (min(run2), last)
        assert all(v["op"] == "r" for *_, v in t.msgs)
        deadline = time.monotonic() + 10
        while checkpoint(tmp_path)["snapshot"]["t3"] != "done":
            assert time.monotonic() < deadline, checkpoint(tmp_path)
            time.sleep(0.2)
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        kafka.command("rtt all 0")
        f.kill()
        t.close()



def test_backfill_throttle(server, db, kafka, tmp_path):
    """[source] backfill_max_rows_per_second holds with transport = kafka
    too (the Kafka source used to ignore it and copy at full speed)."""
    n = 8000
    prefix = "b" + uuid.uuid4().hex[:6]
    topic = seq_table(db, kafka, prefix, "t4", n)
    cfg = kafka_config(tmp_path, server, db.name, kafka, prefix,
                       start="snapshot")
    text = open(cfg).read().replace(
        "[source]\n", "[source]\nbackfill_max_rows_per_second = 1000\n")
    open(cfg, "w").write(text)
    f = Ferryd(cfg)
    t = Topic(kafka.bootstrap, topic)
    try:
        f.wait_log(r"backfill starts table=\S+t4")
        t0 = time.monotonic()
        time.sleep(2.0)
        t.poll(0.5)
        rate = len(t.msgs) / (time.monotonic() - t0)
        # 1000 rows/s, give or take the first chunk and the acks
        assert 300 < rate < 1600, (len(t.msgs), rate)
        ok = t.wait(lambda msgs: len({v["after"]["id"] for *_, v in msgs})
                    >= n, timeout=40)
        assert ok, (len(t.msgs), "".join(f.log[-20:]))
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
        t.close()

def test_snapshot_on_request(server, db, kafka, tmp_path):
    """`ferryctl snapshot T` on the source role: the request row in
    ferry.signal ends the epoch at its commit, the checkpoint carries the
    table from the start, and the next epoch copies it into Kafka. A
    row written meanwhile still arrives as a change."""
    n = 2000
    prefix = "s" + uuid.uuid4().hex[:6]
    topic = seq_table(db, kafka, prefix, "t6", n)
    cfg = kafka_config(tmp_path, server, db.name, kafka, prefix, start="now")
    f = Ferryd(cfg)
    t = Topic(kafka.bootstrap, topic)
    try:
        started(f)
        assert checkpoint_or_none(tmp_path, "t6") is None
        r = ferryctl(cfg, "snapshot", "t6")
        assert r.returncode == 0, r.stderr + r.stdout
        f.wait_log(r"backfill of \S+t6 requested: starting it")
        # a second epoch, planned from the checkpoint
        f.wait_log(r"kafka source epoch starts gtid=\S+ backfill=yes")
        db.execute(f"INSERT INTO t6 VALUES ({n + 1}, 7)")
        # (the new row may be read by the copy too, after its change)
        ok = t.wait(lambda msgs: {v["after"]["id"] for *_, v in msgs
                                  if v["op"] == "r"} >= set(range(1, n + 1))
                    and any(v["op"] == "c" and v["after"]["id"] == n + 1
                            for *_, v in msgs), timeout=40)
        assert ok, (len(t.msgs), "".join(f.log[-20:]))
        assert all(v["source"]["snapshot"] in ("true", True)
                   for *_, v in t.msgs if v["op"] == "r"), t.msgs[:2]
        deadline = time.monotonic() + 10
        while checkpoint_or_none(tmp_path, "t6") != "done":
            assert time.monotonic() < deadline, checkpoint(tmp_path)
            time.sleep(0.2)
        # the source role has nothing to pause
        r = ferryctl(cfg, "pause")
        assert r.returncode != 0 and "kafka source" in r.stderr + r.stdout, r
        # a table [source] tables does not select is refused by name
        r = ferryctl(cfg, "snapshot", "x6")
        assert r.returncode != 0 and "not one [source] tables selects" in \
            (r.stderr + r.stdout), r
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
        t.close()


def checkpoint_or_none(tmp_path, table):
    try:
        return checkpoint(tmp_path)["snapshot"].get(table)
    except FileNotFoundError:
        return None


def ferryctl(cfg, *args, timeout=60):
    return subprocess.run([binary("ferryctl"), "-c", cfg, *args],
                          capture_output=True, text=True, timeout=timeout)


# -- messages the cluster never took: restart from the checkpoint -------
def test_delivery_timeout_restarts_from_checkpoint(server, db, kafka,
                                                   tmp_path):
    prefix = "f" + uuid.uuid4().hex[:6]
    topic = setup_t2(db, kafka, prefix)
    cfg = kafka_config(tmp_path, server, db.name, kafka, prefix,
                       rdkafka={"message.timeout.ms": "2000"})
    f = Ferryd(cfg)
    t = Topic(kafka.bootstrap, topic)
    w = None
    try:
        started(f)
        w = Writer(server, db.name)
        w.start()
        assert t.wait(lambda m: len(m) > 100, timeout=20)
        ids = kafka.broker_ids()
        for b in ids:
            kafka.broker_down(b)
        f.wait_log(r"delivery failed, restarting from the checkpoint",
                   timeout=15)
        time.sleep(1.0)
        for b in ids:
            kafka.broker_up(b)
        time.sleep(2.0)
        w.stop()
        ok = t.wait(lambda m: check_at_least_once(w.expected, m) is None,
                    timeout=40)
        assert ok, (check_at_least_once(w.expected, t.msgs) + "\n" +
                    "".join(f.log[-30:]))
        assert any("kafka source restarting" in line for line in f.log)
        assert f.proc.poll() is None
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        if w and not w.stop_ev.is_set():
            w.stop_ev.set()
        f.kill()
        t.close()


# -- an outage while idle is noticed, and so is the recovery ------------
def test_idle_outage_readiness(server, db, kafka, tmp_path):
    prefix = "f" + uuid.uuid4().hex[:6]
    setup_t2(db, kafka, prefix)
    cfg = kafka_config(tmp_path, server, db.name, kafka, prefix)
    f = Ferryd(cfg)
    try:
        started(f)
        db.execute("INSERT INTO t2 VALUES (1, 1)")
        deadline = time.monotonic() + 10
        while readyz(f) != 200:
            assert time.monotonic() < deadline, "".join(f.log[-20:])
            time.sleep(0.2)
        ids = kafka.broker_ids()
        for b in ids:
            kafka.broker_down(b)
        f.wait_log(r"all brokers are down", timeout=15)
        assert readyz(f) == 503
        for b in ids:
            kafka.broker_up(b)
        f.wait_log(r"brokers reachable again", timeout=15)
        assert readyz(f) == 200
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()


# -- a transaction far larger than the queue streams through ------------
def test_large_transaction_streams(server, db, kafka, tmp_path):
    n = 20000
    prefix = "f" + uuid.uuid4().hex[:6]
    topic = setup_t2(db, kafka, prefix)
    cfg = kafka_config(tmp_path, server, db.name, kafka, prefix,
                       rdkafka={"queue.buffering.max.messages": "500"})
    f = Ferryd(cfg)
    t = Topic(kafka.bootstrap, topic)
    try:
        started(f)
        db.execute(f"INSERT INTO t2 SELECT seq, seq FROM seq_1_to_{n}")
        gtid = server.query("SELECT @@gtid_binlog_pos")[0][0]
        assert t.wait(lambda m: len(m) >= n, timeout=40), len(t.msgs)
        ids = [v["after"]["id"] for *_, v in t.msgs]
        assert sorted(ids) == list(range(1, n + 1))
        assert len({v["source"]["gtid"] for *_, v in t.msgs}) == 1
        deadline = time.monotonic() + 10
        while checkpoint(tmp_path)["gtid"] != gtid:
            assert time.monotonic() < deadline, (checkpoint(tmp_path), gtid)
            time.sleep(0.2)
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
        t.close()


# -- a bad rdkafka.* property stops the start, naming it ----------------
def test_bad_rdkafka_property_refused(server, db, kafka, tmp_path):
    cfg = kafka_config(tmp_path, server, db.name, kafka, "fx",
                       rdkafka={"no.such.thing": "1"})
    f = Ferryd(cfg)
    try:
        assert f.proc.wait(20) == 78
        f.wait_log(r"rdkafka\.no\.such\.thing")
    finally:
        f.kill()

