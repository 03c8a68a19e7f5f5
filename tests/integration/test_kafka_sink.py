# SPDX-License-Identifier: Apache-2.0
"""role = sink, transport = kafka: ferryd consumes Debezium-shaped change
messages (as the Kafka source produces them) from the mock cluster and
applies them through the mapping, storing every partition's next offset
in ferry.offsets with the rows. Proves: creates/updates/deletes (with
tombstones) land exactly; kill -9 mid-stream converges with offsets that
match the topics; two processes split a group and one takes over from a
killed one; a malformed message stops loudly or goes to the DLQ; a stored
offset Kafka no longer has is a loud stop.
"""
import json
import os
import queue
import re
import time
import urllib.request
import uuid

import MySQLdb
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.conftest import binary
from tests.harness.ferry import PrintEvents, write_config
from tests.integration.test_direct_pipeline import (MAPPING, Ferryd,  # noqa
                                                     converge, dbs,
                                                     differences, workload)

FAST = {"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
        "retry.backoff.ms": 50}


# -- helpers ---------------------------------------------------------------
def sink_config(tmp_path, server, src_db, dst_db, kafka, prefix, group,
                mapping=MAPPING, workers=1, on_error="stop", name="sink",
                rdkafka=None):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    kafka_sec = {"brokers": kafka.bootstrap, "topic_prefix": prefix,
                 "rdkafka.session.timeout.ms": "6000",
                 "rdkafka.heartbeat.interval.ms": "500",
                 "rdkafka.topic.metadata.refresh.interval.ms": "1000"}
    kafka_sec.update(rdkafka or {})
    return write_config(
        str(d / "ferryd.conf"), server, src_db, tables="%",
        extra={"daemon": {"role": "sink", "transport": "kafka"},
               "kafka": kafka_sec,
               "sink": {"socket": server.socket, "database": dst_db,
                        "mapping": mapping, "workers": str(workers),
                        "group": group, "on_error": on_error}})


def producer(kafka):
    return Producer({"bootstrap.servers": kafka.bootstrap,
                     "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5, **FAST})


def produce_all(p, msgs, partition=None):
    """msgs: (topic, key dict or None, value bytes/str or None)."""
    failed = []

    def dr(err, _msg):
        if err:
            failed.append(err)

    for topic, key, value in msgs:
        kw = {} if partition is None else {"partition": partition}
        p.produce(topic, key=None if key is None else json.dumps(key),
                  value=value, on_delivery=dr, **kw)
        p.poll(0)
    assert p.flush(30) == 0, "messages still queued after 30s"
    assert not failed, failed[:3]


def capture_events(server, src, tmp_path, write):
    """Runs ferryd --print-events on src while write() runs; returns the
    raw JSON lines of every change event."""
    cfg = write_config(str(tmp_path / "print.conf"), server, src,
                       tables="clerk_sync_%", start="now")
    with PrintEvents(binary("ferryd"), cfg) as pe:
        pe.wait_ready()
        write()
        out = []
        while True:
            try:
                line = pe.lines.get(timeout=2.0)
            except queue.Empty:
                break
            if line is None:
                break
            out.append(line.strip())
        pe.stop()
    assert out, "no events captured:\n" + "".join(pe.stderr[-20:])
    return out


def to_messages(lines, prefix):
    """Event lines -> Kafka messages as the source role produces them:
    key = primary key, a tombstone after each delete."""
    msgs = []
    for line in lines:
        ev = json.loads(line)
        row = ev["after"] if ev["after"] is not None else ev["before"]
        topic = f"{prefix}.{ev['source']['db']}.{ev['source']['table']}"
        key = {"id": row["id"]}
        msgs.append((topic, key, line))
        if ev["op"] == "d":
            msgs.append((topic, key, None))
    return msgs


def stored_offsets(server, group):
    try:
        rows = server.query("SELECT part, position FROM ferry.offsets "
                            "WHERE pipeline = %s", (f"kafka:{group}",))
    except MySQLdb.ProgrammingError as e:
        if e.args[0] != 1146:  # ferryd has not created it yet
            raise
        return {}
    return {p: v for p, v in rows}


def high_watermarks(kafka, topics):
    c = Consumer({"bootstrap.servers": kafka.bootstrap,
                  "group.id": "wm-" + uuid.uuid4().hex[:6]})
    try:
        out = {}
        for t in topics:
            md = c.list_topics(t, timeout=10).topics[t]
            for p in md.partitions:
                lo, hi = c.get_watermark_offsets(TopicPartition(t, p),
                                                 timeout=10)
                out[f"kafka:{t}:{p}"] = hi
        return out
    finally:
        c.close()


def wait_until(cond, timeout, what, log=None):
    """log: one ferryd's log lines, or a dict name -> lines for several."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    logs = log if isinstance(log, dict) else {"ferryd": log or []}
    raise AssertionError(f"timed out waiting for {what}" + "".join(
        f"\n--- {name}:\n" + "".join(lines[-40:])
        for name, lines in logs.items()))


def assert_offsets_match(server, kafka, group, topics):
    want = high_watermarks(kafka, topics)
    got = stored_offsets(server, group)
    for part, hi in want.items():
        if hi == 0:
            continue
        assert got.get(part) == str(hi), (part, got.get(part), hi)


# A small table for hand-built streams: no secondary unique keys, so any
# interleaving of partitions converges.
ITEMS_DDL = ("CREATE TABLE items (id BIGINT PRIMARY KEY, v VARCHAR(64), "
             "amount DECIMAL(12,2), blob_col VARBINARY(16))")


def make_items(server, tmp_path):
    tag = uuid.uuid4().hex[:8]
    src, dst = f"ks_{tag}", f"kd_{tag}"
    for d in (src, dst):
        server.execute_root(f"CREATE DATABASE {d} CHARACTER SET utf8mb4")
    server.execute_root(ITEMS_DDL, db=dst)
    m = tmp_path / "items.json"
    m.write_text(json.dumps({"version": 1, "tables": [
        {"source": "items", "target": "items"}]}))
    return src, dst, str(m)


@pytest.fixture
def items(server, tmp_path):
    src, dst, m = make_items(server, tmp_path)
    yield src, dst, m
    for d in (src, dst):
        server.execute_root(f"DROP DATABASE {d}")


def item_msgs(topic, db, n_keys, n_updates, seed=0, delete_every=0):
    """A stream of c/u/d over n_keys; returns (messages, expected rows)."""
    import random
    rng = random.Random(seed)
    state, msgs = {}, []
    for i in range(n_updates):
        k = rng.randrange(n_keys)
        before = state.get(k)
        if before is not None and delete_every and i % delete_every == 0:
            op, after = "d", None
        else:
            op = "u" if before is not None else "c"
            after = {"id": k, "v": f"v{i}-é✓", "amount": f"{i}.{i % 100:02d}",
                     "blob_col": "AAEC/w=="}
        val = json.dumps({"before": before, "after": after,
                          "source": {"connector": "mariadb", "db": db,
                                     "table": "items", "gtid": f"0-1-{i}",
                                     "snapshot": "false"},
                          "op": op, "ts_ms": int(time.time() * 1000)})
        msgs.append((topic, {"id": k}, val))
        if op == "d":
            msgs.append((topic, {"id": k}, None))
            state.pop(k)
        else:
            state[k] = after
    return msgs, state


def item_rows(server, db):
    rows = server.query("SELECT id, v, CAST(amount AS CHAR), "
                        "TO_BASE64(blob_col) FROM items ORDER BY id", db=db)
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


def expected_rows(state):
    return {k: (v["v"], v["amount"], v["blob_col"]) for k, v in state.items()}


def metrics_port(f):
    return int(f.wait_log(r"metrics listening addr=\S+ port=(\d+)").group(1))


def rows_applied(port):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                  timeout=5).read().decode()
    return sum(float(m.group(1)) for m in re.finditer(
        r'^ferry_rows_applied_total\{[^}]*\} (\S+)$', body, re.M))


# -- (a) creates, updates, deletes, tombstones -------------------------------
def test_event_finder_stream_applied_exactly(server, dbs, kafka, tmp_path):
    src, dst = dbs
    prefix = "p" + uuid.uuid4().hex[:6]
    lines = capture_events(server, src, tmp_path,
                           lambda: workload(server, src, 1))
    msgs = to_messages(lines, prefix)
    topics = sorted({t for t, _, _ in msgs})
    # Three partitions per table: the workload swaps unique e-mails
    # between two users, whose changes then cross partitions and workers
    # (connectors/sink_unique.c keeps them from merging).
    for t in topics:
        kafka.create_topic(t, 3)
    produce_all(producer(kafka), msgs)
    assert any(v is None for _, _, v in msgs), "no tombstone in the stream"

    group = "g-" + uuid.uuid4().hex[:6]
    cfg = sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                      workers=2)
    f = Ferryd(cfg)
    try:
        diff = converge(server, src, dst, timeout=45)
        assert diff == [], "".join(f.log[-30:])
        wait_until(lambda: all(stored_offsets(server, group).get(p) == str(h)
                               for p, h in high_watermarks(kafka, topics)
                               .items()), 15, "offsets", f.log)
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    assert_offsets_match(server, kafka, group, topics)

    # Later changes resume from the stored offsets, nothing replayed wrong.
    lines = capture_events(server, src, tmp_path,
                           lambda: workload(server, src, 101))
    produce_all(producer(kafka), to_messages(lines, prefix))
    f = Ferryd(cfg)
    try:
        f.wait_log(r"kafka sink assigned .* offset=\d+")
        assert converge(server, src, dst, timeout=45) == [], \
            "".join(f.log[-30:])
        assert f.stop() == 0
    finally:
        f.kill()
    assert differences(server, src, dst) == []


# -- (b) kill -9 mid-stream ---------------------------------------------------
def test_kill9_mid_stream_converges(server, items, kafka, tmp_path):
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 4)
    msgs, state = item_msgs(topic, src, 400, 30000, seed=1, delete_every=7)
    produce_all(producer(kafka), msgs)

    group = "g-" + uuid.uuid4().hex[:6]
    cfg = sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                      mapping=mapping, workers=2)
    total = len(msgs)
    for round_ in range(2):
        f = Ferryd(cfg)
        try:
            # Kill once some, not all, of the stream is applied.
            def some():
                s = sum(int(v) for k, v in stored_offsets(server, group)
                        .items() if k.startswith("kafka:"))
                return 0 < s < total
            wait_until(some, 40, "a partly applied stream", f.log)
        finally:
            f.kill()  # SIGKILL: no drain
    f = Ferryd(cfg)
    try:
        wait_until(lambda: item_rows(server, dst) == expected_rows(state),
                   50, "convergence after kill -9", f.log)
        wait_until(lambda: sum(int(v) for v in stored_offsets(server, group)
                               .values()) == total, 15, "final offsets", f.log)
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    assert_offsets_match(server, kafka, group, [topic])
    assert item_rows(server, dst) == expected_rows(state)


# -- (c) two processes in one group, one killed ------------------------------
def test_group_split_and_takeover(server, items, kafka, tmp_path):
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 4)
    msgs, state = item_msgs(topic, src, 200, 6000, seed=2, delete_every=11)
    half = len(msgs) // 2
    p = producer(kafka)
    produce_all(p, msgs[:half])

    group = "g-" + uuid.uuid4().hex[:6]
    a = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping, name="a"))
    b = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping, name="b"))
    try:
        pa, pb = metrics_port(a), metrics_port(b)
        # Each ends up with two of the four partitions.
        def split():
            la = [l for l in a.log if "kafka sink assigned" in l]
            lb = [l for l in b.log if "kafka sink assigned" in l]
            return la and lb
        wait_until(split, 60, "both members assigned",
                   {"a": a.log, "b": b.log})
        wait_until(lambda: rows_applied(pa) > 0 and rows_applied(pb) > 0,
                   30, "both members applying rows", {"a": a.log, "b": b.log})
        a.kill()  # kill -9: its partitions move after session.timeout.ms
        produce_all(p, msgs[half:])
        wait_until(lambda: item_rows(server, dst) == expected_rows(state),
                   50, "takeover and convergence", b.log)
        wait_until(lambda: sum(int(v) for v in stored_offsets(server, group)
                               .values()) == len(msgs), 15, "final offsets",
                   b.log)
        assert b.stop() == 0, "".join(b.log[-20:])
    finally:
        a.kill()
        b.kill()
    assert_offsets_match(server, kafka, group, [topic])


# -- (d) a malformed message --------------------------------------------------
def poison_stream(kafka, src, prefix):
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 1)
    msgs, state = item_msgs(topic, src, 20, 60, seed=3)
    bad = (topic, {"id": 1}, '{"before": null, "after": {"id": 1}, "op": ')
    msgs = msgs[:30] + [bad] + msgs[30:]
    produce_all(producer(kafka), msgs)
    return topic, msgs, state


def test_poison_message_stops_loudly(server, items, kafka, tmp_path):
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic, msgs, state = poison_stream(kafka, src, prefix)
    group = "g-" + uuid.uuid4().hex[:6]
    f = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping, on_error="stop"))
    try:
        rc = f.proc.wait(40)
    except Exception:
        f.kill()
        raise AssertionError("ferryd did not stop on a poison message:\n"
                             + "".join(f.log[-20:]))
    assert rc != 0
    log = "".join(f.log)
    assert not re.search(r"Sanitizer|runtime error", log), log
    assert re.search(rf"poison message topic={re.escape(topic)} "
                     r"partition=0 offset=30: value is not JSON", log), log
    # Everything before it is applied and stored; nothing after it.
    assert stored_offsets(server, group) == {f"kafka:{topic}:0": "30"}


def test_poison_message_dead_lettered(server, items, kafka, tmp_path):
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic, msgs, state = poison_stream(kafka, src, prefix)
    group = "g-" + uuid.uuid4().hex[:6]
    f = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping, on_error="dead_letter"))
    try:
        wait_until(lambda: item_rows(server, dst) == expected_rows(state),
                   40, "the rest applied", f.log)
        wait_until(lambda: stored_offsets(server, group).get(
            f"kafka:{topic}:0") == str(len(msgs)), 15, "offsets", f.log)
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    c = Consumer({"bootstrap.servers": kafka.bootstrap,
                  "group.id": "dlq-" + uuid.uuid4().hex[:6],
                  "auto.offset.reset": "earliest"})
    try:
        c.subscribe([f"{prefix}.dlq"])
        got = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m)
        assert len(got) == 1, "nothing on the DLQ"
        h = {k: v.decode() for k, v in got[0].headers()}
        assert h["topic"] == topic and h["partition"] == "0"
        assert h["offset"] == "30" and "not JSON" in h["error"]
        assert got[0].value().decode().startswith('{"before": null')
    finally:
        c.close()


# -- an offset that Kafka no longer has ---------------------------------------
def test_gone_offset_stops_loudly(server, items, kafka, tmp_path):
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 1)
    msgs, _ = item_msgs(topic, src, 5, 10)
    produce_all(producer(kafka), msgs)
    group = "g-" + uuid.uuid4().hex[:6]
    server.execute_root(
        "CREATE DATABASE IF NOT EXISTS ferry",
        "CREATE TABLE IF NOT EXISTS ferry.offsets (pipeline VARCHAR(191) "
        "NOT NULL, part VARCHAR(191) NOT NULL, position TEXT NOT NULL, "
        "updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
        "PRIMARY KEY (pipeline, part))")
    server.query("INSERT INTO ferry.offsets (pipeline, part, position) "
                 "VALUES (%s, %s, '1000')",
                 (f"kafka:{group}", f"kafka:{topic}:0"))
    f = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping))
    try:
        rc = f.proc.wait(40)
    except Exception:
        f.kill()
        raise AssertionError("ferryd did not stop on a gone offset:\n"
                             + "".join(f.log[-20:]))
    assert rc != 0
    log = "".join(f.log)
    assert not re.search(r"Sanitizer|runtime error", log), log
    assert re.search(rf"topic {re.escape(topic)} partition 0: stored offset "
                     r"1000 is gone from Kafka", log), log
    assert item_rows(server, dst) == {}


# -- cutover barriers ---------------------------------------------------------
def test_barrier_recorded_per_partition(server, items, kafka, tmp_path):
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 2)
    msgs, state = item_msgs(topic, src, 30, 200, seed=4, delete_every=5)
    p = producer(kafka)
    produce_all(p, msgs)
    bid = "b-" + uuid.uuid4().hex[:6]
    barrier = json.dumps({"op": "barrier", "barrier": bid,
                          "source": {"gtid": "0-1-200"}})
    for part in (0, 1):
        produce_all(p, [(topic, {"__ferry_barrier": bid}, barrier)],
                    partition=part)
    group = "g-" + uuid.uuid4().hex[:6]
    f = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping))
    try:
        want = {f"barrier:{topic}:0": bid, f"barrier:{topic}:1": bid}
        wait_until(lambda: {k: v for k, v in stored_offsets(server, group)
                            .items() if k.startswith("barrier:")} == want,
                   30, "barriers recorded", f.log)
        assert item_rows(server, dst) == expected_rows(state)
        port = metrics_port(f)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                      timeout=5).read().decode()
        for part in (0, 1):
            assert re.search(
                rf'^ferry_kafka_consumer_lag\{{topic="{re.escape(topic)}",'
                rf'partition="{part}"\}} 0$', body, re.M), body
        assert rows_applied(port) == 200
        ready = urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz",
                                       timeout=5)
        assert ready.status == 200 and ready.read() == b"ready\n"
        assert re.search(r"^ferry_sink_batch_duration_seconds_count [1-9]",
                         body, re.M)
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    assert_offsets_match(server, kafka, group, [topic])


# -- fencing a member that lost its partitions --------------------------------
def test_commit_fenced_when_offsets_moved(server, items, kafka, tmp_path):
    """Simulates another member committing a partition behind this one's
    back (what a takeover during a stall looks like): the stale batch is
    rolled back, and the worker resumes from the newer stored offset."""
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    part = f"kafka:{topic}:0"
    kafka.create_topic(topic, 1)
    msgs, state = item_msgs(topic, src, 10, 40, seed=5)
    p = producer(kafka)
    produce_all(p, msgs)
    group = "g-" + uuid.uuid4().hex[:6]
    f = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping))
    try:
        wait_until(lambda: stored_offsets(server, group).get(part) == "40",
                   30, "first stream applied", f.log)
        server.query("UPDATE ferry.offsets SET position = '45' WHERE "
                     "pipeline = %s AND part = %s", (f"kafka:{group}", part))
        new = [(topic, {"id": 1000 + i}, json.dumps(
            {"before": None, "after": {"id": 1000 + i, "v": "n",
                                       "amount": "1.00", "blob_col": None},
             "source": {"db": src, "table": "items"}, "op": "c"}))
            for i in range(10)]
        produce_all(p, new)
        f.wait_log(r"ferry.offsets moved to 45 while this worker held 40",
                   timeout=30)
        wait_until(lambda: stored_offsets(server, group).get(part) == "50",
                   40, "resumed from the newer offset", f.log)
        got = set(item_rows(server, dst)) - set(state)
        assert got == {1005, 1006, 1007, 1008, 1009}, got
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()


# -- the target server crashes mid-stream -------------------------------------
def test_target_crash_mid_stream_converges(own_server, kafka, tmp_path):
    server = own_server
    src, dst, mapping = make_items(server, tmp_path)
    prefix = "p" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 4)
    msgs, state = item_msgs(topic, src, 300, 20000, seed=6, delete_every=9)
    produce_all(producer(kafka), msgs)
    group = "g-" + uuid.uuid4().hex[:6]
    f = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping, workers=2))
    try:
        def some():
            s = sum(int(v) for v in stored_offsets(server, group).values())
            return 0 < s < len(msgs)
        wait_until(some, 40, "a partly applied stream", f.log)
        server.kill()  # SIGKILL mariadbd: in-flight batches are lost
        time.sleep(1)
        server.start()
        f.wait_log(r"kafka sink worker=\d restarting", timeout=30)
        wait_until(lambda: item_rows(server, dst) == expected_rows(state),
                   60, "convergence after the target crash", f.log)
        wait_until(lambda: sum(int(v) for v in stored_offsets(server, group)
                               .values()) == len(msgs), 15, "final offsets",
                   f.log)
        assert f.proc.poll() is None, "".join(f.log[-20:])
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    assert_offsets_match(server, kafka, group, [topic])


# -- Kafka goes away for a while ---------------------------------------------
def test_kafka_outage_resumes(server, items, kafka, tmp_path):
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 2)
    msgs, state = item_msgs(topic, src, 100, 3000, seed=8, delete_every=13)
    half = len(msgs) // 2
    p = producer(kafka)
    produce_all(p, msgs[:half])
    group = "g-" + uuid.uuid4().hex[:6]
    f = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping))
    try:
        wait_until(lambda: sum(int(v) for v in stored_offsets(server, group)
                               .values()) == half, 40, "first half", f.log)
        kafka.broker_down("all")
        time.sleep(4)
        kafka.broker_up("all")
        produce_all(p, msgs[half:])
        wait_until(lambda: item_rows(server, dst) == expected_rows(state),
                   60, "convergence after the outage", f.log)
        wait_until(lambda: sum(int(v) for v in stored_offsets(server, group)
                               .values()) == len(msgs), 15, "final offsets",
                   f.log)
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    assert_offsets_match(server, kafka, group, [topic])


# -- a member that stalls past the session timeout ----------------------------
def test_stalled_member_rejoins_without_regressing(server, items, kafka,
                                                   tmp_path):
    """SIGSTOP one member mid-stream for longer than session.timeout.ms:
    the other takes its partitions over; when it wakes, its stale batch
    (if any) must not land, and both end up sharing the group again."""
    import signal
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 4)
    msgs, state = item_msgs(topic, src, 150, 8000, seed=9, delete_every=10)
    third = len(msgs) // 3
    p = producer(kafka)
    produce_all(p, msgs[:third])
    group = "g-" + uuid.uuid4().hex[:6]
    a = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping, name="a"))
    b = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping, name="b"))
    try:
        pa, pb = metrics_port(a), metrics_port(b)
        wait_until(lambda: rows_applied(pa) > 0 and rows_applied(pb) > 0,
                   40, "both members applying rows", {"a": a.log, "b": b.log})
        produce_all(p, msgs[third:2 * third])
        a.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(10)  # > session.timeout.ms (6 s)
            produce_all(p, msgs[2 * third:])
        finally:
            a.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: item_rows(server, dst) == expected_rows(state),
                   60, "convergence", {"a": a.log, "b": b.log})
        wait_until(lambda: sum(int(v) for v in stored_offsets(server, group)
                               .values()) == len(msgs), 20, "final offsets",
                   {"a": a.log, "b": b.log})
        time.sleep(2)  # let a rejoin and apply nothing wrong
        assert item_rows(server, dst) == expected_rows(state)
        assert a.stop() == 0, "".join(a.log[-20:])
        assert b.stop() == 0, "".join(b.log[-20:])
    finally:
        a.kill()
        b.kill()
    assert_offsets_match(server, kafka, group, [topic])


def test_value_the_target_rejects_is_dead_lettered(server, items, kafka,
                                                   tmp_path):
    """A well-formed message whose value the target refuses (too long for
    its column): with on_error = dead_letter the batch is replayed one
    message at a time, that one goes to the DLQ with the server's error,
    and every other row is applied."""
    src, dst, mapping = items
    prefix = "p" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 1)
    msgs, state = item_msgs(topic, src, 20, 60, seed=5)
    bad_after = {"id": 999, "v": "x" * 500, "amount": "1.00",
                 "blob_col": "AAEC/w=="}
    bad = (topic, {"id": 999}, json.dumps({
        "before": None, "after": bad_after,
        "source": {"connector": "mariadb", "db": src, "table": "items",
                   "gtid": "0-1-999", "snapshot": "false"},
        "op": "c", "ts_ms": int(time.time() * 1000)}))
    msgs = msgs[:30] + [bad] + msgs[30:]
    produce_all(producer(kafka), msgs)
    group = "g-" + uuid.uuid4().hex[:6]
    f = Ferryd(sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                           mapping=mapping, on_error="dead_letter"))
    try:
        wait_until(lambda: item_rows(server, dst) == expected_rows(state),
                   60, "the rest applied", f.log)
        wait_until(lambda: stored_offsets(server, group).get(
            f"kafka:{topic}:0") == str(len(msgs)), 20, "offsets", f.log)
        f.wait_log(r"replaying it one message at a time")
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    c = Consumer({"bootstrap.servers": kafka.bootstrap,
                  "group.id": "dlq-" + uuid.uuid4().hex[:6],
                  "auto.offset.reset": "earliest"})
    try:
        c.subscribe([f"{prefix}.dlq"])
        got = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m)
        assert len(got) == 1, "nothing on the DLQ"
        h = {k: v.decode() for k, v in got[0].headers()}
        assert h["offset"] == "30" and "too long" in h["error"], h
    finally:
        c.close()


# -- ferryctl pause / resume on the sink role -------------------------------
def test_pause_resume(server, items, kafka, tmp_path):
    """`ferryctl pause` stops every worker applying (they commit what they
    have and stay in the group: messages wait in Kafka); `resume` applies
    them, exactly."""
    from tests.integration.test_control import ferryctl, status
    src, dst, mapping = items
    prefix = "z" + uuid.uuid4().hex[:6]
    topic = f"{prefix}.{src}.items"
    kafka.create_topic(topic, 4)
    msgs, state = item_msgs(topic, src, 400, 30000, seed=5, delete_every=9)
    p = producer(kafka)
    produce_all(p, msgs)
    group = "g-" + uuid.uuid4().hex[:6]
    cfg = sink_config(tmp_path, server, src, dst, kafka, prefix, group,
                      mapping=mapping, workers=2)
    f = Ferryd(cfg)
    try:
        # Paused before the group assigns anything: librdkafka has no
        # position of its own for those partitions on resume.
        f.wait_log(r"control socket listening")
        r = ferryctl(cfg, "pause")
        assert r.returncode == 0, r
        for w in (0, 1):
            f.wait_log(rf"kafka sink assigned worker={w} ")
        time.sleep(2)
        assert item_rows(server, dst) == {}
        assert ferryctl(cfg, "resume").returncode == 0
        # Pause mid-stream, with messages fetched and not yet applied:
        # none may be lost on resume.
        def some():
            s = sum(int(v) for k, v in stored_offsets(server, group)
                    .items() if k.startswith("kafka:"))
            return 0 < s < len(msgs) // 2
        wait_until(some, 40, "a partly applied stream", f.log)
        r = ferryctl(cfg, "pause")
        assert r.returncode == 0, r
        assert status(cfg)["state"] == "paused"
        for w in (0, 1):  # each commits what it applied, then stops
            wait_until(lambda: sum(f"worker={w} paused" in ln
                                   for ln in f.log) == 2, 10,
                       f"worker {w} paused again", f.log)
        offsets = stored_offsets(server, group)
        assert sum(int(v) for v in offsets.values()) < len(msgs)
        # new rows while paused: they wait in Kafka
        more = []
        for k in range(1000, 1100):
            after = {"id": k, "v": f"p{k}", "amount": "1.00",
                     "blob_col": "AAEC/w=="}
            more.append((topic, {"id": k}, json.dumps(
                {"before": None, "after": after, "op": "c",
                 "source": {"connector": "mariadb", "db": src,
                            "table": "items", "gtid": f"0-1-{k}",
                            "snapshot": "false"},
                 "ts_ms": int(time.time() * 1000)})))
            state[k] = after
        produce_all(p, more)
        time.sleep(3)
        assert max(item_rows(server, dst)) < 1000
        assert stored_offsets(server, group) == offsets
        r = ferryctl(cfg, "resume")
        assert r.returncode == 0, r
        try:
            wait_until(lambda: item_rows(server, dst) == expected_rows(state),
                       30, "the rows produced while paused", f.log)
        except AssertionError:
            got, want = item_rows(server, dst), expected_rows(state)
            print("DIFF", len(got), len(want), [k for k in want if got.get(k) != want[k]][:20],
                  stored_offsets(server, group), high_watermarks(kafka, [topic]))
            raise
        wait_until(lambda: sum(int(v) for v in stored_offsets(server, group)
                               .values()) == len(msgs) + len(more), 15,
                   "final offsets", f.log)
        assert status(cfg)["state"] == "streaming"
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    assert_offsets_match(server, kafka, group, [topic])
