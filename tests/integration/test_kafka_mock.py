# SPDX-License-Identifier: Apache-2.0
"""The mock Kafka cluster speaks real Kafka protocol over TCP: kcat and
confluent_kafka produce and consume through it, keys keep their order, a
consumer group commits, and a leader that goes down stalls its partition
without losing anything that was acknowledged.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from tests.conftest import binary
from tests.harness.kafka import KafkaMock, KafkaMockError

N = 1000
KEYS = 20

# Short backoffs: a broker that comes back is found in well under a second.
FAST = {"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
        "retry.backoff.ms": 50, "topic.metadata.refresh.interval.ms": 1000}


def kcat():
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if not path:
        pytest.fail("kcat not found: apt-get install kcat")
    return path


def topic_name():
    return "t_" + uuid.uuid4().hex[:10]


def check_order(records):
    """records: (key, seq, partition) in consumed order. Every key stays
    in one partition and its sequence numbers arrive strictly rising."""
    last, part = {}, {}
    for key, seq, p in records:
        assert part.setdefault(key, p) == p, f"key {key} in two partitions"
        assert seq > last.get(key, -1), f"key {key}: {seq} after {last[key]}"
        last[key] = seq
    return set(part.values())


def consume_all(bootstrap, topic, want, timeout=15, group=None):
    """Reads `want` messages from the beginning; a group consumer commits
    by hand after each batch. Returns (key, value, partition) tuples."""
    conf = {"bootstrap.servers": bootstrap, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", **FAST}
    conf["group.id"] = group or "unused-" + topic
    if group:
        # The mock may hold a first join for a member it never saw again
        # until the session times out (45 s by default): keep it short.
        conf.update({"session.timeout.ms": 6000,
                     "heartbeat.interval.ms": 500})
    c = Consumer(conf)
    out = []
    try:
        if group:
            c.subscribe([topic])
        else:
            md = c.list_topics(topic, timeout=5).topics[topic]
            c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        deadline = time.monotonic() + timeout
        while len(out) < want and time.monotonic() < deadline:
            batch = c.consume(500, timeout=0.5)
            for m in batch:
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, \
                        m.error()
                    continue
                out.append((m.key().decode(), m.value().decode(),
                            m.partition()))
            if group and batch:
                c.commit(asynchronous=False)
        assert len(out) == want, f"consumed {len(out)} of {want} in {timeout}s"
        if group:
            committed = c.committed(c.assignment(), timeout=5)
            assert sum(tp.offset for tp in committed) == want
    finally:
        c.close()
    return out


def test_kcat_round_trip(kafka):
    topic = topic_name()
    kafka.create_topic(topic, 4)
    lines = "".join(f"k{i % KEYS}:{i}\n" for i in range(N))
    r = subprocess.run([kcat(), "-P", "-b", kafka.bootstrap, "-t", topic,
                        "-K:"], input=lines, text=True, timeout=20,
                       capture_output=True)
    assert r.returncode == 0, r.stderr

    r = subprocess.run([kcat(), "-C", "-J", "-e", "-q", "-o", "beginning",
                        "-b", kafka.bootstrap, "-t", topic],
                       text=True, timeout=20, capture_output=True)
    assert r.returncode == 0, r.stderr
    msgs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(msgs) == N
    assert sorted(int(m["payload"]) for m in msgs) == list(range(N))
    assert all(m["key"] == f"k{int(m['payload']) % KEYS}" for m in msgs)
    used = check_order((m["key"], int(m["payload"]), m["partition"])
                       for m in msgs)
    assert len(used) > 1


def test_confluent_kafka_idempotent_producer_and_group(kafka):
    topic = topic_name()
    kafka.create_topic(topic, 4)
    p = Producer({"bootstrap.servers": kafka.bootstrap,
                  "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, **FAST})
    acked, failed = [], []

    def on_delivery(err, msg):
        (failed if err else acked).append(err or msg.value().decode())

    for i in range(N):
        p.produce(topic, key=f"k{i % KEYS}", value=str(i),
                  on_delivery=on_delivery)
        p.poll(0)
    assert p.flush(15) == 0, "messages still queued after 15s"
    assert not failed, failed[:5]
    assert len(acked) == N

    # A group join waits 3 s in the mock and longer under a loaded CI box.
    got = consume_all(kafka.bootstrap, topic, N, group="g-" + topic,
                      timeout=45)
    assert sorted(int(v) for _, v, _ in got) == list(range(N))
    used = check_order((k, int(v), part) for k, v, part in got)
    assert len(used) > 1


def test_leader_down_stalls_then_resumes(kafka):
    topic = topic_name()
    kafka.create_topic(topic, 1)
    p = Producer({"bootstrap.servers": kafka.bootstrap,
                  "enable.idempotence": True, "acks": "all",
                  "message.timeout.ms": 1500, **FAST})
    acked, failed = [], []

    def on_delivery(err, msg):
        if err:
            failed.append(err.code())
        else:
            acked.append(int(msg.value()))

    def produce(values, wait):
        for v in values:
            p.produce(topic, key="k", value=str(v), on_delivery=on_delivery)
        return p.flush(wait)

    assert produce(range(0, 100), 10) == 0
    assert acked == list(range(100))

    leader = p.list_topics(topic, timeout=5).topics[topic].partitions[0].leader
    assert leader in kafka.broker_ids()
    kafka.broker_down(leader)
    try:
        # The mock never moves leadership: the partition is unavailable, so
        # these time out (message.timeout.ms) instead of being acked.
        produce(range(100, 110), 4)
        assert len(failed) == 10, f"acked while the leader was down: {acked}"
        assert set(failed) == {KafkaError._MSG_TIMED_OUT}
    finally:
        kafka.broker_up(leader)

    assert produce(range(110, 210), 15) == 0
    assert len(failed) == 10, failed
    assert acked == list(range(100)) + list(range(110, 210))

    got = [int(v) for _, v, _ in consume_all(kafka.bootstrap, topic,
                                             len(acked))]
    assert got == acked, "acknowledged messages lost or reordered"


def test_start_failure_is_loud():
    with pytest.raises(KafkaMockError) as e:
        KafkaMock(brokers=0).start()
    assert "--brokers must be 1..16" in str(e.value)


def test_commands_and_errors(kafka):
    assert kafka.broker_ids() == [1, 2, 3]
    assert kafka.command("bootstrap") == kafka.bootstrap
    assert all(a.startswith("127.0.0.1:") for a in kafka.bootstrap.split(","))
    kafka.create_topic("dup", 2)
    for bad, reason in [("create dup 2", "already exists"),
                        ("create a/b 2", "invalid topic name"),
                        ("create x 0", "PARTITIONS must be"),
                        ("down 4", "no broker '4'"),
                        ("nope", "unknown command"),
                        ("up", "usage: up"),
                        ("errors bogus 1 7", "unknown API"),
                        ("errors produce 0 7", "COUNT must be"),
                        ("errors produce 1 NOPE", "unknown ERROR"),
                        ("errors produce 1 7 4", "no broker '4'")]:
        with pytest.raises(KafkaMockError, match=reason):
            kafka.command(bad)
    kafka.broker_down("all")
    kafka.broker_up("all")


def test_request_errors(kafka):
    """errors API COUNT ERROR: the next COUNT requests fail, then the
    broker answers again."""
    kafka.create_topic("errs", 1)
    p = Producer({"bootstrap.servers": kafka.bootstrap, "retries": 0,
                  "linger.ms": 0})
    got = []
    p.produce("errs", b"warm", on_delivery=lambda e, m: got.append(e))
    assert p.flush(10) == 0 and got == [None]
    assert kafka.push_errors("produce", 1, "MSG_SIZE_TOO_LARGE") == \
        "1 produce requests fail with MSG_SIZE_TOO_LARGE"
    for v in (b"one", b"two"):  # one request each
        p.produce("errs", v, on_delivery=lambda e, m: got.append(e))
        assert p.flush(10) == 0
    assert [e and e.code() for e in got[1:]] == [
        KafkaError.MSG_SIZE_TOO_LARGE, None], got
    kafka.push_errors("fetch", 2, "_TRANSPORT", broker=1)


def test_control_socket_sigterm_and_bootstrap_file(tmp_path):
    bs = tmp_path / "bootstrap"
    sock = tmp_path / "ctl.sock"
    proc = subprocess.Popen([binary("ferry-kafka-mock"), "--brokers", "1",
                             "--bootstrap-file", str(bs), "--control",
                             str(sock), "--no-stdin", "--clean-exit"],
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not bs.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.02)
        assert bs.read_text().startswith("127.0.0.1:")
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(sock))
            s.sendall(b"brokers\ncreate t 2\n")
            got = b""
            while got.count(b"\n") < 2:
                chunk = s.recv(1024)
                assert chunk, got
                got += chunk
        assert got == b"ok 1\nok created t partitions=2\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not bs.exists() and not sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
