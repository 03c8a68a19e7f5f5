# SPDX-License-Identifier: Apache-2.0
"""transport = kafka end to end: the source role and the sink role, in
one process (role = all) and as two processes, through the mock Kafka
cluster over TCP; the event_finder workload's changes arrive in the new
tables exactly, and a restart of the pair loses nothing."""
import json
import subprocess

from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import (MAPPING, PAIRS, Ferryd,
                                                    converge, dbs,  # noqa
                                                    workload)


def config(tmp_path, server, src, dst, kafka, role, name):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    return write_config(
        str(d / "ferryd.conf"), server, src, tables="clerk_sync_%",
        start="now",
        extra={"daemon": {"role": role, "transport": "kafka"},
               "kafka": {"brokers": kafka.bootstrap, "topic_prefix": "ef",
                         "rdkafka.session.timeout.ms": "6000",
                         "rdkafka.heartbeat.interval.ms": "500",
                         "rdkafka.topic.metadata.refresh.interval.ms":
                             "1000"},
               "sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING, "group": "g-" + src}})


def topics(kafka, src):
    # Several partitions per table: a unique value moving between two
    # rows crosses partitions (connectors/sink_unique.c).
    for s, _ in PAIRS:
        kafka.create_topic(f"ef.{src}.{s}", 3)


def test_role_all_in_one_process(server, dbs, kafka, tmp_path):
    src, dst = dbs
    topics(kafka, src)
    cfg = config(tmp_path, server, src, dst, kafka, "all", "all")
    f = Ferryd(cfg)
    try:
        f.wait_log(r"starting the kafka source and sink")
        f.wait_log(r"binlog source connected")
        workload(server, src, 1)
        assert converge(server, src, dst, timeout=60) == [], \
            "".join(f.log[-30:])
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    # The pair resumes from the checkpoint and the stored offsets.
    workload(server, src, 101)
    f = Ferryd(cfg)
    try:
        assert converge(server, src, dst, timeout=60) == [], \
            "".join(f.log[-30:])
        stored = server.query(
            "SELECT part, position FROM ferry.offsets WHERE pipeline = %s "
            "AND part LIKE 'kafka:%%'", ("kafka:g-" + src,))
        # Every table's topic has offsets stored (for the partitions
        # that carried messages).
        assert len({p.rsplit(":", 1)[0] for p, _ in stored}) == \
            len(PAIRS), stored
        assert f.stop() == 0
    finally:
        f.kill()
    cp = json.load(open(tmp_path / "all" / "state" /
                        "source-checkpoint.json"))
    assert cp["gtid"].startswith("0-1-")


def test_source_and_sink_processes(server, dbs, kafka, tmp_path):
    src, dst = dbs
    topics(kafka, src)
    fs = Ferryd(config(tmp_path, server, src, dst, kafka, "source", "src"))
    fk = Ferryd(config(tmp_path, server, src, dst, kafka, "sink", "sink"))
    try:
        fs.wait_log(r"binlog source connected")
        workload(server, src, 1)
        assert converge(server, src, dst, timeout=60) == [], \
            "".join(fs.log[-15:] + fk.log[-15:])
        assert fs.stop() == 0 and fk.stop() == 0
        # kcat reads the same topics as JSON with the Debezium fields.
        r = subprocess.run(
            ["kcat", "-C", "-J", "-e", "-q", "-o", "beginning", "-b",
             kafka.bootstrap, "-t", f"ef.{src}.clerk_sync_clerkuser"],
            capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        msgs = [json.loads(line) for line in r.stdout.splitlines()]
        values = [json.loads(m["payload"]) for m in msgs if m["payload"]]
        assert values, r.stdout[:500]
        for m, v in zip((m for m in msgs if m["payload"]), values):
            assert set(v) >= {"before", "after", "source", "op", "ts_ms"}
            assert v["source"]["table"] == "clerk_sync_clerkuser"
            row = v["after"] or v["before"]
            assert json.loads(m["key"]) == {"id": row["id"]}
    finally:
        fs.kill()
        fk.kill()
