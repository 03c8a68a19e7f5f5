#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Fault torture: the event_finder workload writes while ferry backfills
and streams, and faults land at random moments.

--transport direct (the default), one ferryd (role all):

  kill9        kill -9 of ferryd, then a restart
  sigterm      SIGTERM (drain and stop), then a restart
  dump_kill    KILL of ferry's replication (binlog dump) connection
  db_restart   restart of the MariaDB server (source and target: one
               server here), writer paused around it
  db_kill      kill -9 of the MariaDB server, then a restart

--transport kafka: a source-role ferryd producing to the mock Kafka
cluster (tests/kafka_mock, three brokers) and two sink-role ferryd in one
consumer group:

  backfill_sigterm  SIGTERM of the source or a sink while the source is
                    still backfilling, then a restart (the first faults)
  source_kill9      kill -9 of the source, then a restart
  sink_kill9        kill -9 of one sink worker (the group waits out its
                    session timeout before the other takes over)
  both_kill9        kill -9 of the source and a sink at once
  source_sigterm    SIGTERM of the source, then a restart
  sink_sigterm      SIGTERM of one sink worker, then a restart
  dump_kill, db_restart, db_kill   as above
  broker_down       one broker (or, one time in four, all three) down for
                    --down seconds, writes going on, then up again
  outage_restart    every broker down, SIGTERM of the source and a sink
                    and a restart of both while it lasts, then up
  kafka_errors      the next requests of three APIs (fetch, heartbeat,
                    offset commit, join, sync, metadata) fail with errors
                    a real cluster gives (not leader, not coordinator,
                    timeouts, dropped connections)

After every scenario and at the end the target must equal the source
table by table, byte for byte, and every write the writer was told
succeeded must be in the target. Prints scenarios run, faults injected
and divergences found; exits 1 on any divergence or if ferry did not
recover by itself.

  tests/torture/torture.py                      short run (about a minute)
  tests/torture/torture.py --faults 100 --seed 7   the long run (>= 100 kills)
  tests/torture/torture.py --transport kafka --faults 100 --seed 7

Builds nothing: run after `ninja -C build` (FERRY_BUILD_DIR picks another
build).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.environ.setdefault("FERRY_BUILD_DIR", os.path.join(ROOT, "build"))

import MySQLdb  # noqa: E402

from tests.harness import event_finder as ef  # noqa: E402
from tests.harness import workload as wl  # noqa: E402
from tests.harness.ferry import write_config  # noqa: E402
from tests.harness.kafka import KafkaMock  # noqa: E402
from tests.harness.mariadb import MariaDB  # noqa: E402
from tests.integration.test_direct_pipeline import (  # noqa: E402
    MAPPING, Ferryd, converge)

FAULTS = ["kill9", "sigterm", "dump_kill", "db_restart", "db_kill"]


def connect(m, db):
    return lambda: MySQLdb.connect(unix_socket=m.socket, user="root", db=db,
                                   charset="utf8mb4", autocommit=False)


class Torture:
    def __init__(self, basedir, seed, scale, rate, log=print):
        self.rng = random.Random(seed)
        self.m = MariaDB(basedir=os.path.join(basedir, "mariadb"))
        self.basedir, self.scale, self.rate = basedir, scale, rate
        self.log = log
        self.f = self.work = None
        self.works = []
        self.injected = {k: 0 for k in FAULTS}
        self.divergences = self.checks = self.acked = 0

    def setup_db(self):
        """The server, ef_src filled at --scale, an empty ef_dst."""
        m = self.m
        m.start()
        m.execute_root("CREATE DATABASE ef_src", "CREATE DATABASE ef_dst")
        src = MySQLdb.connect(unix_socket=m.socket, user="root", db="ef_src",
                              local_infile=1)
        ef.create_source_schema(src)
        ef.generate(src, scale=self.scale, seed=1, log=lambda *a: None)
        src.close()
        dst = MySQLdb.connect(unix_socket=m.socket, user="root", db="ef_dst")
        ef.create_target_schema(dst)
        dst.close()

    def setup(self):
        self.setup_db()
        m = self.m
        self.cfg = write_config(
            os.path.join(self.basedir, "ferryd.conf"), m, "ef_src",
            tables="clerk_sync_%", start="snapshot",
            extra={"sink": {"socket": m.socket, "database": "ef_dst",
                            "mapping": MAPPING}})

    def start_ferryd(self):
        self.f = Ferryd(self.cfg)
        self.f.wait_log(r"pipeline epoch starts", timeout=60)

    def start_writer(self):
        self.work = wl.Workload(connect(self.m, "ef_src"), rate=self.rate,
                                seed=self.rng.randrange(1 << 30)).start()
        self.works.append(self.work)

    def stop_writer(self):
        if self.work:
            self.work.stop()
            self.work = None

    def fault(self, kind):
        self.injected[kind] += 1
        if kind == "kill9":
            self.f.kill()
            self.start_ferryd()
        elif kind == "sigterm":
            rc = self.f.stop(timeout=60)
            if rc != 0:
                raise AssertionError("ferryd exited %d on SIGTERM:\n%s"
                                     % (rc, "".join(self.f.log[-20:])))
            self.start_ferryd()
        elif kind == "dump_kill":
            ids = self.m.query(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE "
                "COMMAND LIKE 'Binlog Dump%%'")
            for (i,) in ids:
                self.m.execute_root(f"KILL {int(i)}")
        elif kind in ("db_restart", "db_kill"):
            self.stop_writer()
            if kind == "db_kill":
                self.m.kill()
                self.m.start()
            else:
                self.m.restart()
            # A killed server may lose what it acknowledged (the harness
            # trades durability for speed), and a new writer's model does
            # not know the old one's rows: from here on, the source is the
            # truth the target must equal.
            self.works = []
            self.start_writer()

    def procs(self):
        return [("ferryd", self.f)]

    def logs(self, n=25):
        return "".join(f"\n--- {name}:\n" + "".join(f.log[-n:])
                       for name, f in self.procs() if f)

    def alive(self, what):
        for name, f in self.procs():
            if f.proc.poll() is not None:
                raise AssertionError(
                    f"{name} is not running (exit {f.proc.returncode}) "
                    f"after {what}:{self.logs(30)}")

    def check(self, what, timeout=120):
        """Target equals source and holds every acknowledged write (writer
        paused while comparing); every ferryd still running."""
        self.checks += 1
        self.stop_writer()
        diff = converge(self.m, "ef_src", "ef_dst", timeout=timeout)
        t = MySQLdb.connect(unix_socket=self.m.socket, user="root",
                            db="ef_dst")
        lost = []
        for w in self.works:
            lost += w.verify(t, mapping=MAPPING)
            self.acked += len(w.acks)
        t.close()
        self.works = []
        if diff or lost:
            self.divergences += len(diff) + len(lost)
            self.log(f"DIVERGED after {what}: {diff[:5]} "
                     f"{[str(x) for x in lost[:5]]}{self.logs(15)}")
            self.explain()
        self.alive(what)
        self.start_writer()

    def explain(self):
        """Logs the rows that differ, for the post-mortem."""
        a = MySQLdb.connect(unix_socket=self.m.socket, user="root",
                            db="ef_src", charset="utf8mb4")
        b = MySQLdb.connect(unix_socket=self.m.socket, user="root",
                            db="ef_dst", charset="utf8mb4")
        try:
            self.diffs = wl.compare(a, b, mapping=MAPPING, max_diffs=10)
        finally:
            a.close()
            b.close()
        for d in self.diffs[:10]:
            self.log(f"  {d}")

    def run(self, faults, every):
        self.setup()
        self.start_writer()
        self.start_ferryd()
        t0 = time.monotonic()
        for i in range(faults):
            time.sleep(self.rng.uniform(0.2, every))
            kind = self.rng.choice(FAULTS)
            self.fault(kind)
            self.log(f"  {time.monotonic() - t0:6.1f}s fault {i + 1}/{faults}"
                     f": {kind}")
            if (i + 1) % 5 == 0:
                self.check(f"fault {i + 1}")
        self.check("the end")
        self.f.stop(timeout=60)
        return self.divergences

    def close(self):
        if self.work:
            self.work.halt.set()
        for _, f in self.procs():
            if f:
                f.kill()
        self.m.destroy()


KAFKA_FAULTS = ["source_kill9", "sink_kill9", "both_kill9", "source_sigterm",
                "sink_sigterm", "dump_kill", "db_restart", "db_kill",
                "broker_down", "kafka_errors", "outage_restart"]

# (API, error) pairs a real cluster answers during leader moves,
# coordinator changes and network trouble: retriable, so librdkafka and
# ferry must ride them out. No produce errors: the mock (librdkafka
# 2.0.2) does not check an idempotent producer's sequence numbers, so
# after a failed ProduceRequest it appends the next batch over the gap,
# and librdkafka, seeing a later sequence succeed, counts the failed
# message as delivered ("implicitly acked by subsequent batch success"):
# a real broker answers OUT_OF_ORDER_SEQUENCE_NUMBER instead. Torture
# runs with produce errors lost such messages (found with --kinds
# kafka_errors and rdkafka.debug = eos,msg,protocol).
REQUEST_ERRORS = [
    ("fetch", "NOT_LEADER_FOR_PARTITION"), ("fetch", "_TRANSPORT"),
    ("heartbeat", "NOT_COORDINATOR"), ("heartbeat", "REBALANCE_IN_PROGRESS"),
    ("offsetcommit", "NOT_COORDINATOR"), ("offsetcommit", "REQUEST_TIMED_OUT"),
    ("joingroup", "COORDINATOR_LOAD_IN_PROGRESS"),
    ("syncgroup", "NOT_COORDINATOR"), ("metadata", "_TRANSPORT"),
]

# Every topic has several partitions, split between the two sink
# processes: the workload moves unique values (e-mail and clerk id,
# ticket id, payment reference, (user, event), settings' user) between
# rows, so such moves cross partitions and sinks (connectors/
# sink_unique.c keeps them from merging rows).

KAFKA_RDKAFKA = {
    # A killed member blocks the group's next rebalance until its session
    # times out: keep that short (the mock cluster accepts 6 s).
    "rdkafka.session.timeout.ms": "6000",
    "rdkafka.heartbeat.interval.ms": "500",
    "rdkafka.topic.metadata.refresh.interval.ms": "1000",
    "rdkafka.reconnect.backoff.ms": "50",
    "rdkafka.reconnect.backoff.max.ms": "1000",
}


class KafkaTorture(Torture):
    """transport = kafka: a source-role ferryd and two sink-role ferryd in
    one consumer group, through the mock Kafka cluster."""

    SINKS = 2

    def __init__(self, basedir, seed, scale, rate, log=print, partitions=3,
                 down=(10.0, 30.0), backfill_faults=2):
        super().__init__(basedir, seed, scale, rate, log)
        self.partitions, self.down = partitions, down
        self.backfill_faults = backfill_faults
        self.kinds = list(KAFKA_FAULTS)
        # slow enough for faults to land during the backfill
        self.backfill_rate = 1500
        self.kafka = None
        self.src = None
        self.sinks = [None] * self.SINKS
        self.injected = {k: 0 for k in ["backfill_sigterm"] + KAFKA_FAULTS}
        self.bag = []

    def setup(self):
        self.setup_db()
        m = self.m
        self.kafka = KafkaMock(brokers=3).start()
        for table in ef.COLUMNS:
            self.kafka.create_topic(f"ef.ef_src.{table}", self.partitions)
        sink = {"socket": m.socket, "database": "ef_dst", "mapping": MAPPING,
                "group": "torture"}
        kafka = dict(KAFKA_RDKAFKA, brokers=self.kafka.bootstrap,
                     topic_prefix="ef")

        def conf(name, role, workers=1):
            d = os.path.join(self.basedir, name)
            os.makedirs(d)
            return write_config(
                os.path.join(d, "ferryd.conf"), m, "ef_src",
                tables="clerk_sync_%", start="snapshot",
                extra={"daemon": {"role": role, "transport": "kafka"},
                       "source": {"backfill_max_rows_per_second":
                                  str(self.backfill_rate)},
                       "kafka": kafka,
                       "sink": dict(sink, workers=str(workers))})
        self.src_cfg = conf("source", "source")
        # sink0 runs two worker threads: three members in the group
        self.sink_cfgs = [conf(f"sink{i}", "sink", workers=2 - min(i, 1))
                          for i in range(self.SINKS)]
        self.checkpoint = os.path.join(self.basedir, "source", "state",
                                       "source-checkpoint.json")

    def procs(self):
        return [("source", self.src)] + [
            (f"sink{i}", f) for i, f in enumerate(self.sinks)]

    def start_source(self):
        self.src = Ferryd(self.src_cfg)
        self.src.wait_log(r"kafka source epoch starts", timeout=60)

    def start_sink(self, i):
        self.sinks[i] = Ferryd(self.sink_cfgs[i])
        self.sinks[i].wait_log(r"kafka sink started", timeout=60)

    def start_ferryd(self):
        self.start_source()
        for i in range(self.SINKS):
            self.start_sink(i)

    def sigterm(self, name, f):
        try:
            rc = f.stop(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} ferryd did not stop in 60 s on "
                                 f"SIGTERM:{self.logs()}") from None
        if rc != 0:
            raise AssertionError(f"{name} ferryd exited {rc} on SIGTERM:"
                                 f"{self.logs()}")

    def backfilling(self):
        """Whether the source has tables left to copy (its checkpoint
        names every table 'done' once the backfill is over)."""
        try:
            with open(self.checkpoint) as f:
                marks = json.load(f).get("snapshot") or {}
        except (OSError, ValueError):
            return True
        return any(marks.get(t) != "done" for t in ef.COLUMNS)

    def fault(self, kind):
        self.alive(kind)
        if kind in FAULTS:  # the server faults: as with direct
            super().fault(kind)
            self.alive(kind)
            return
        self.injected[kind] += 1
        i = self.rng.randrange(self.SINKS)
        if kind == "backfill_sigterm":
            if self.rng.random() < 0.5:
                self.sigterm("source", self.src)
                self.start_source()
            else:
                self.sigterm(f"sink{i}", self.sinks[i])
                self.start_sink(i)
        elif kind == "source_kill9":
            self.src.kill()
            self.start_source()
        elif kind == "sink_kill9":
            self.sinks[i].kill()
            self.start_sink(i)
        elif kind == "both_kill9":
            self.src.kill()
            self.sinks[i].kill()
            self.start_source()
            self.start_sink(i)
        elif kind == "source_sigterm":
            self.sigterm("source", self.src)
            self.start_source()
        elif kind == "sink_sigterm":
            self.sigterm(f"sink{i}", self.sinks[i])
            self.start_sink(i)
        elif kind == "broker_down":
            broker = "all" if self.rng.random() < 0.25 else \
                str(self.rng.randint(1, 3))
            secs = self.rng.uniform(*self.down)
            self.log(f"          broker {broker} down for {secs:.0f}s")
            self.kafka.broker_down(broker)
            try:
                time.sleep(secs)
            finally:
                self.kafka.broker_up(broker)
        elif kind == "outage_restart":
            # Restarted by an operator while Kafka is away: both must
            # stop within the bound and come back with no broker.
            self.kafka.broker_down("all")
            try:
                time.sleep(self.rng.uniform(1.0, 4.0))
                t0 = time.monotonic()
                self.sigterm("source", self.src)
                t1 = time.monotonic()
                self.sigterm(f"sink{i}", self.sinks[i])
                self.log(f"          every broker down: source stopped in "
                         f"{t1 - t0:.1f}s, sink{i} in "
                         f"{time.monotonic() - t1:.1f}s")
                self.start_source()
                self.start_sink(i)
                time.sleep(self.rng.uniform(1.0, 4.0))
            finally:
                self.kafka.broker_up("all")
        elif kind == "kafka_errors":
            picked = self.rng.sample(REQUEST_ERRORS, 3)
            for api, err in picked:
                self.kafka.push_errors(api, self.rng.randint(3, 30), err)
            self.log(f"          requests fail: {picked}")
            time.sleep(self.rng.uniform(2.0, 5.0))
        self.alive(kind)

    def next_kind(self):
        """Every kind once, in random order, then again: a short run sees
        as many kinds as it has faults."""
        if not self.bag:
            self.bag = list(self.kinds)
            self.rng.shuffle(self.bag)
        return self.bag.pop()

    def check(self, what, timeout=180):
        # a killed member holds its partitions for a session timeout
        super().check(what, timeout)

    def explain(self):
        """The differing rows, then every message of their keys in Kafka
        and the stored offsets."""
        super().explain()
        from confluent_kafka import Consumer, TopicPartition
        keys = {}
        for d in self.diffs[:10]:
            keys.setdefault(d.table, set()).add(json.dumps(
                {"id": int(d.key[0])}))
        for table, want in keys.items():
            topic = f"ef.ef_src.{table}"
            c = Consumer({"bootstrap.servers": self.kafka.bootstrap,
                          "group.id": "explain", "enable.auto.commit": False,
                          "enable.partition.eof": True})
            try:
                parts = c.list_topics(topic, timeout=10).topics[topic]
                c.assign([TopicPartition(topic, p, 0)
                          for p in parts.partitions])
                eof, deadline = set(), time.monotonic() + 30
                n = 0
                while len(eof) < len(parts.partitions) and \
                        time.monotonic() < deadline:
                    m = c.poll(0.5)
                    if m is None:
                        continue
                    if m.error():
                        eof.add(m.partition())
                        continue
                    n += 1
                    if m.key() and json.dumps(json.loads(m.key())) in want:
                        self.log(f"  {topic}[{m.partition()}]@{m.offset()}"
                                 f" {m.key()} {(m.value() or b'')[:400]}")
                self.log(f"  {topic}: {n} messages read")
            finally:
                c.close()
        for row in self.m.query("SELECT part, position FROM ferry.offsets"):
            self.log(f"  offsets {row}")
        keep = os.environ.get("FERRY_TORTURE_KEEP")
        if keep:  # whole logs and the decoded binlog, for a post-mortem
            os.makedirs(keep, exist_ok=True)
            for name, f in self.procs():
                with open(os.path.join(keep, name + ".log"), "w") as out:
                    out.writelines(f.log)
            import glob
            logs = sorted(glob.glob(os.path.join(self.m.datadir,
                                                 "binlog.[0-9]*")))
            with open(os.path.join(keep, "binlog.txt"), "w") as out:
                subprocess.run(["mariadb-binlog", "-v",
                                "--base64-output=decode-rows"] + logs,
                               stdout=out, stderr=subprocess.STDOUT)
            self.dump_topics(os.path.join(keep, "kafka.txt"))
            self.log(f"  kept logs and the binlog in {keep}")

    def dump_topics(self, path):
        from confluent_kafka import Consumer, TopicPartition
        with open(path, "w") as out:
            for table in ef.COLUMNS:
                topic = f"ef.ef_src.{table}"
                c = Consumer({"bootstrap.servers": self.kafka.bootstrap,
                              "group.id": "dump",
                              "enable.partition.eof": True})
                try:
                    parts = c.list_topics(topic, timeout=10).topics[topic]
                    c.assign([TopicPartition(topic, p, 0)
                              for p in parts.partitions])
                    eof, deadline = set(), time.monotonic() + 30
                    while len(eof) < len(parts.partitions) and \
                            time.monotonic() < deadline:
                        m = c.poll(0.5)
                        if m is None:
                            continue
                        if m.error():
                            eof.add(m.partition())
                            continue
                        v = json.loads(m.value()) if m.value() else None
                        src = v["source"] if v else {}
                        out.write(f"{table} {m.partition()} {m.offset()} "
                                  f"{src.get('gtid')} {src.get('row')} "
                                  f"{v and v['op']} {m.key()}\n")
                finally:
                    c.close()

    def run(self, faults, every):
        self.setup()
        self.start_writer()
        self.start_ferryd()
        t0 = time.monotonic()
        n = 0
        # SIGTERM while the source is still copying (ferry.offsets and the
        # checkpoint carry the backfill's progress across restarts).
        while n < min(faults, self.backfill_faults) and self.backfilling():
            time.sleep(self.rng.uniform(0.2, 1.0))
            if not self.backfilling():
                break
            self.fault("backfill_sigterm")
            n += 1
            self.log(f"  {time.monotonic() - t0:6.1f}s fault {n}/{faults}"
                     f": backfill_sigterm")
        while n < faults:
            time.sleep(self.rng.uniform(0.2, every))
            kind = self.next_kind()
            self.fault(kind)
            n += 1
            self.log(f"  {time.monotonic() - t0:6.1f}s fault {n}/{faults}"
                     f": {kind}")
            if n % 5 == 0:
                self.check(f"fault {n}")
        self.check("the end")
        for name, f in self.procs():
            self.sigterm(name, f)
        return self.divergences

    def close(self):
        try:
            super().close()
        finally:
            if self.kafka:
                self.kafka.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--transport", choices=["direct", "kafka"],
                    default="direct")
    ap.add_argument("--faults", type=int, default=10)
    ap.add_argument("--every", type=float, default=3.0,
                    help="longest pause between faults, seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float,
                    help="source size (default 0.005 direct, 0.003 kafka)")
    ap.add_argument("--rate", type=float,
                    help="writer transactions per second (default 150 "
                         "direct, 60 kafka: the mock keeps about 5 MiB per "
                         "partition)")
    ap.add_argument("--down", type=float, nargs=2, default=(10.0, 30.0),
                    metavar=("MIN", "MAX"),
                    help="kafka: seconds a broker stays down (10 30)")
    ap.add_argument("--partitions", type=int, default=3,
                    help="kafka: partitions of every topic (3)")
    ap.add_argument("--kinds",
                    help="kafka: only these fault kinds (comma list)")
    args = ap.parse_args()
    kafka = args.transport == "kafka"
    scale = args.scale or (0.003 if kafka else 0.005)
    rate = args.rate or (60 if kafka else 150)
    with tempfile.TemporaryDirectory(prefix="ferry-torture-") as d:
        if kafka:
            t = KafkaTorture(d, args.seed, scale, rate,
                             partitions=args.partitions,
                             down=tuple(args.down))
            if args.kinds:
                t.kinds = args.kinds.split(",")
                bad = set(t.kinds) - set(KAFKA_FAULTS)
                if bad:
                    ap.error(f"unknown kinds: {', '.join(sorted(bad))}")
        else:
            t = Torture(d, args.seed, scale, rate)
        try:
            div = t.run(args.faults, args.every)
        finally:
            t.close()
        n = sum(t.injected.values())
        print(f"scenarios: {t.checks} checks, {n} faults injected "
              f"({', '.join(f'{k} {v}' for k, v in t.injected.items())}); "
              f"{t.acked} acknowledged transactions checked; "
              f"divergences found: {div}")
        return 1 if div else 0

if __name__ == "__main__":
    sys.exit(main())
