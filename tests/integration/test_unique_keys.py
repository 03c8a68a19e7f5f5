# SPDX-License-Identifier: Apache-2.0
"""Secondary unique keys across Kafka partitions (DESIGN, Guarantees):
a unique value that leaves one row and arrives at another may reach the
target in either order when the two rows travel in different
partitions. The sink must never merge the two rows (what a plain
INSERT ... ON DUPLICATE KEY UPDATE does) nor lose either, and the target
must end equal to the source. See connectors/sink_unique.c.

  - staged orders, one worker: a claim before the release, a stale claim
    over the newest row, a displaced row deleted meanwhile;
  - a random stream of e-mail moves, swaps and re-used values over four
    partitions and two workers;
  - direct mode: a target row that already holds a value is a loud stop
    naming the table, never a merge.
"""
import json
import random
import time
import uuid

import pytest

from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import Ferryd
from tests.integration.test_kafka_sink import (producer, produce_all,
                                               sink_config, wait_until)

# AUTO_INCREMENT as Django makes ids: such a key takes NULL as 0.
DDL = ("CREATE TABLE people (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
       "email VARCHAR(64) NOT NULL, ref VARCHAR(32) NULL, n INT NOT NULL, "
       "UNIQUE KEY email (email), UNIQUE KEY ref (ref)) "
       "CHARACTER SET utf8mb4")


@pytest.fixture
def people(server, tmp_path):
    tag = uuid.uuid4().hex[:8]
    src, dst = f"us_{tag}", f"ud_{tag}"
    for d in (src, dst):
        server.execute_root(f"CREATE DATABASE {d} CHARACTER SET utf8mb4")
        server.execute_root(DDL, db=d)
    m = tmp_path / "people.json"
    m.write_text(json.dumps({"version": 1, "tables": [
        {"source": "people", "target": "people"}]}))
    yield src, dst, str(m)
    for d in (src, dst):
        server.execute_root(f"DROP DATABASE {d}")
    server.execute_root(f"DROP TABLE IF EXISTS ferry.`{dst}.people`")


class Stream:
    """Change messages as the source role writes them, with the model of
    the source table they describe."""

    def __init__(self, topic, db):
        self.topic, self.db = topic, db
        self.state, self.seq = {}, 0

    def msg(self, op, k, after):
        before = self.state.get(k)
        self.seq += 1
        val = json.dumps({"before": before, "after": after,
                          "source": {"connector": "mariadb", "db": self.db,
                                     "table": "people",
                                     "gtid": f"0-1-{self.seq}",
                                     "snapshot": "false"},
                          "op": op, "ts_ms": int(time.time() * 1000)})
        out = [(self.topic, {"id": k}, val)]
        if op == "d":
            out.append((self.topic, {"id": k}, None))
            self.state.pop(k)
        else:
            self.state[k] = after
        return out

    def put(self, k, email, ref=None, n=0):
        self.check_unique(k, email, ref)
        op = "u" if k in self.state else "c"
        return self.msg(op, k, {"id": k, "email": email, "ref": ref, "n": n})

    def delete(self, k):
        return self.msg("d", k, None)

    def check_unique(self, k, email, ref):
        for j, r in self.state.items():
            if j != k:
                assert r["email"] != email, "model broke uniqueness"
                assert ref is None or r["ref"] != ref


def target_rows(server, db):
    rows = server.query("SELECT id, email, ref, n FROM people", db=db)
    return {int(r[0]): (r[1], r[2], int(r[3])) for r in rows}


def expected(state):
    return {k: (r["email"], r["ref"], r["n"]) for k, r in state.items()}


def displaced(server, dst):
    return server.query(f"SELECT id FROM ferry.`{dst}.people` ORDER BY id")


def start_sink(tmp_path, server, src, dst, kafka, prefix, mapping, workers):
    group = "g-" + uuid.uuid4().hex[:6]
    cfg = sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                      mapping=mapping, workers=workers)
    return Ferryd(cfg)


def test_staged_orders_converge(server, people, kafka, tmp_path):
    src, dst, mapping = people
    prefix = "u" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.people"
    kafka.create_topic(topic, 2)
    s = Stream(topic, src)
    p = producer(kafka)
    # Rows 1, 3, 5 travel in partition 0; rows 2, 4, 6 in partition 1.
    # Each stage is produced only once the target shows the one before,
    # so the order the sink sees is the one written here.
    a_x, a_y = s.put(1, "x@e"), s.put(1, "y@e")          # A: x -> y
    b_x = s.put(2, "x@e")                                # B takes x
    c_p, c_q = s.put(3, "p@e", "R1"), s.put(3, "q@e")    # C: p -> q
    d_p = s.put(4, "p@e", "R1")                          # D takes p, R1
    e_m, e_del = s.put(5, "m@e"), s.delete(5)            # E gone
    f_m = s.put(6, "m@e")                                # F takes m
    stages = [
        # 1. the newest rows first: A=x, D=p (C's older images follow)
        ((a_x, 0), (d_p, 1), (e_m, 0)),
        # 2. B claims x before A's release arrives; C's stale image
        #    claims p and R1 over the newest D; F claims m over E
        ((b_x, 1), (c_p, 0), (f_m, 1)),
        # 3. the releases and the delete arrive
        ((a_y, 0), (c_q, 0), (e_del, 0)),
    ]
    f = start_sink(tmp_path, server, src, dst, kafka, prefix, mapping, 1)
    try:
        want_after = [
            {1: ("x@e", None, 0), 4: ("p@e", "R1", 0), 5: ("m@e", None, 0)},
            # A, D and E moved aside (not merged into B, C and F)
            {2: ("x@e", None, 0), 3: ("p@e", "R1", 0), 6: ("m@e", None, 0)},
            expected(s.state),
        ]
        for (stage, want) in zip(stages, want_after):
            for msgs, part in stage:
                produce_all(p, msgs, partition=part)
            wait_until(lambda: target_rows(server, dst) == want, 30,
                       f"target {want}", f.log)
        assert displaced(server, dst) == (), "displaced rows left behind"
        assert any("replaying the batch with each row checked first" in line
                   for line in f.log), "the conflict path never ran"
        assert f.proc.poll() is None, "".join(f.log[-30:])
    finally:
        f.kill()


def random_stream(s, rng, n_rows, n_ops):
    """Moves, swaps and re-used values, each a valid source history."""
    msgs, fresh = [], [0]

    def new_email():
        fresh[0] += 1
        return f"u{fresh[0]}@e"

    for k in range(n_rows):
        msgs += s.put(k, new_email(), f"r{k}" if k % 3 else None, 0)
    for i in range(n_ops):
        live = sorted(s.state)
        r = rng.random()
        if r < 0.35 and len(live) >= 2:       # move j's e-mail to k
            j, k = rng.sample(live, 2)
            v = s.state[j]["email"]
            msgs += s.put(j, new_email(), s.state[j]["ref"], i)
            msgs += s.put(k, v, s.state[k]["ref"], i)
        elif r < 0.55 and len(live) >= 2:     # swap through a temporary
            j, k = rng.sample(live, 2)
            ej, ek = s.state[j]["email"], s.state[k]["email"]
            msgs += s.put(j, new_email(), s.state[j]["ref"], i)
            msgs += s.put(k, ej, s.state[k]["ref"], i)
            msgs += s.put(j, ek, s.state[j]["ref"], i)
        elif r < 0.70 and live:               # delete; a new row reuses it
            j = rng.choice(live)
            v, ref = s.state[j]["email"], s.state[j]["ref"]
            msgs += s.delete(j)
            msgs += s.put(n_rows + i, v, ref, i)
        elif r < 0.80 and len(live) >= 2:     # move a ref
            j, k = rng.sample(live, 2)
            ref = s.state[j]["ref"]
            msgs += s.put(j, s.state[j]["email"], None, i)
            msgs += s.put(k, s.state[k]["email"], ref, i)
        elif live:                            # a plain update
            j = rng.choice(live)
            msgs += s.put(j, s.state[j]["email"], s.state[j]["ref"], i)
    return msgs


@pytest.mark.parametrize("seed", [1, 2])
def test_random_moves_two_workers(server, people, kafka, tmp_path, seed):
    src, dst, mapping = people
    prefix = "v" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.people"
    parts = 4
    kafka.create_topic(topic, parts)
    s = Stream(topic, src)
    msgs = random_stream(s, random.Random(seed), 24, 600)
    p = producer(kafka)
    # Each row's messages in its own partition, all of them at once: the
    # sink reads the partitions in whatever order the fetches return.
    for part in range(parts):
        produce_all(p, [m for m in msgs if m[1]["id"] % parts == part],
                    partition=part)
    f = start_sink(tmp_path, server, src, dst, kafka, prefix, mapping, 2)
    try:
        want = expected(s.state)
        wait_until(lambda: target_rows(server, dst) == want, 60,
                   "target equal to the source", f.log)
        assert displaced(server, dst) == (), "displaced rows left behind"
        assert f.proc.poll() is None, "".join(f.log[-30:])
    finally:
        f.kill()


def test_direct_conflict_is_a_loud_stop(server, people, tmp_path):
    """A target row already holding a value (someone wrote to the new
    table) stops the flow naming the table; nothing is merged."""
    src, dst, mapping = people
    server.execute_root("INSERT INTO people VALUES (99, 'x@e', NULL, 7)",
                        db=dst)
    cfg = write_config(str(tmp_path / "direct.conf"), server, src,
                       tables="people", start="now",
                       extra={"sink": {"socket": server.socket,
                                       "database": dst,
                                       "mapping": mapping}})
    f = Ferryd(cfg)
    try:
        f.wait_log(r"binlog source connected", timeout=30)
        server.execute_root("INSERT INTO people VALUES (1, 'x@e', NULL, 1)",
                            db=src)
        f.wait_log(r"table people: a row's secondary unique key value is "
                   r"held by another row", timeout=30)
        assert target_rows(server, dst) == {99: ("x@e", None, 7)}
    finally:
        f.kill()
