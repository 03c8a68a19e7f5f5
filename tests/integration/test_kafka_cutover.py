# SPDX-License-Identifier: Apache-2.0
"""ferryctl cutover with transport = kafka: the ferryd of the source role
(alone, or role = all) pauses the source's writes, puts a barrier on
every partition of every topic and waits until the sink workers, here or
on other machines, recorded it for each partition in the target's
ferry.offsets; then verifies and switches as with the direct transport.
A sink that is down makes it give up within drain_timeout, with the
source writable again and nothing lost once the sink is back."""
import json
import threading
import time

import MySQLdb

from tests.harness import workload as wl
from tests.harness.ferry import write_config
from tests.integration.test_control import ferryctl, insert_users, status
from tests.integration.test_cutover import connect, grant
from tests.integration.test_direct_pipeline import (MAPPING, PAIRS,  # noqa
                                                    Ferryd, converge, dbs)

PARTITIONS = 2

# The whole event_finder mix: unique values moving between rows and
# primary-key changes cross partitions (connectors/sink_unique.c).
MIX = dict(wl.MIX)


def topics(kafka, src):
    for s, _ in PAIRS:
        kafka.create_topic(f"ef.{src}.{s}", PARTITIONS)


def config(tmp_path, server, src, dst, kafka, role, name, sink=True,
           **cutover):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    path = write_config(
        str(d / "ferryd.conf"), server, src, tables="clerk_sync_%",
        start="snapshot",
        extra={"daemon": {"role": role, "transport": "kafka"},
               "kafka": {"brokers": kafka.bootstrap, "topic_prefix": "ef",
                         "rdkafka.session.timeout.ms": "6000",
                         "rdkafka.heartbeat.interval.ms": "500",
                         "rdkafka.topic.metadata.refresh.interval.ms":
                             "1000"},
               "sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING, "group": "g-" + src,
                        "workers": "2"},
               "cutover": {"retired_schema": src + "_retired",
                           "max_lag": "3s", **cutover}})
    if not sink:
        # A source role that only streams: no [sink] section at all.
        text = open(path).read()
        head, rest = text.split("[sink]\n", 1)
        open(path, "w").write(head + rest.split("\n\n", 1)[1])
    return path


def drop_retired(server, src):
    server.execute_root(f"DROP DATABASE IF EXISTS `{src}_retired`")


def cutover(cfg, *args, timeout=120):
    """ferryctl cutover, again while the source is still settling
    (backfill not produced yet, lag): bounded."""
    deadline = time.monotonic() + 60
    while True:
        r = ferryctl(cfg, "cutover", *args, timeout=timeout)
        settling = r.returncode and ("backfill is not done" in r.stderr or
                                     "is over max_lag" in r.stderr or
                                     "not streaming" in r.stderr)
        if not settling or time.monotonic() > deadline:
            return r
        time.sleep(0.5)


def test_role_all_cutover_under_writes(server, dbs, kafka, tmp_path):
    src, dst = dbs
    retired = src + "_retired"
    grant(server, src, retired)
    insert_users(server, src, 1, 200)
    topics(kafka, src)
    # drain_timeout bounds the whole cutover, online steps included: a
    # group rebalance then (a member late on a loaded machine) must not
    # fail it. The pause is still bounded by lock_timeout.
    cfg = config(tmp_path, server, src, dst, kafka, "all", "all",
                 drain_timeout="30s")
    f = Ferryd(cfg)
    work = None
    try:
        f.wait_log(r"binlog source connected")
        assert converge(server, src, dst, timeout=60) == [], \
            "".join(f.log[-30:])
        work = wl.Workload(connect(server, src), rate=200, seed=11,
                           mix=MIX).start()
        time.sleep(2)
        r = cutover(cfg, "--json")
        assert r.returncode == 0, r.stdout + r.stderr + "".join(f.log[-40:])
        out = json.loads(r.stdout)
        assert out["result"] == "succeeded", out
        assert 0 < out["pause_ms"] < 2000, out
        assert out["barrier"].startswith("barrier-"), out
        # The barrier went to every partition of every topic, and each
        # one's sink recorded it.
        parts = server.query(
            "SELECT part FROM ferry.offsets WHERE pipeline = %s AND part "
            "LIKE 'barrier:%%' AND position = %s",
            ("kafka:g-" + src, out["barrier"]))
        assert len(parts) == len(PAIRS) * PARTITIONS, parts
        time.sleep(0.3)
        try:
            work.stop()
        except MySQLdb.ProgrammingError as e:
            assert e.args[0] == 1146, e  # the tables are gone: fail fast
        assert work.txns > 50, work.txns
        assert not server.query(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
            " AND TABLE_NAME LIKE 'clerk_sync%%'", (src,))
        # The retired tables equal the new ones, and every write the
        # writer got an OK for is in the target.
        # (A writer queued on a table late in the RENAME's lock order can
        # still commit between the release and the RENAME; the stream
        # carries it, as it ends only at the RENAME: wait for it.)
        assert converge(server, retired, dst, timeout=30) == []
        t = MySQLdb.connect(unix_socket=server.socket, user="root", db=dst)
        diffs = work.verify(t, mapping=MAPPING)
        t.close()
        assert not diffs, [str(d) for d in diffs[:5]]
        s = status(cfg)
        assert s["state"] == "cut_over", s
        assert s["last_cutover"]["result"] == "succeeded"
        assert f.stop() == 0, "".join(f.log[-20:])
        # A restart stays cut over (recorded in the target): no stream,
        # no error about the RENAME, status answers.
        f = Ferryd(cfg)
        f.wait_log(r"cut over already")
        f.wait_log(r"control socket listening")
        time.sleep(0.5)
        s = status(cfg)
        assert s["state"] == "cut_over" and s["lag_seconds"] == 0, s
        assert f.proc.poll() is None
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        if work:
            work.halt.set()
        f.kill()
        drop_retired(server, src)


def test_source_and_sink_processes_dry_run(server, dbs, kafka, tmp_path):
    src, dst = dbs
    grant(server, src, src + "_retired")
    insert_users(server, src, 1, 50)
    topics(kafka, src)
    cs = config(tmp_path, server, src, dst, kafka, "source", "src")
    ck = config(tmp_path, server, src, dst, kafka, "sink", "sink")
    fs, fk = Ferryd(cs), Ferryd(ck)
    try:
        fs.wait_log(r"binlog source connected")
        assert converge(server, src, dst, timeout=60) == [], \
            "".join(fs.log[-15:] + fk.log[-15:])
        r = ferryctl(ck, "cutover", "--dry-run")
        assert r.returncode == 1
        assert "this ferryd is a kafka sink" in r.stderr, r.stderr
        insert_users(server, src, 1000, 10)
        r = cutover(cs, "--dry-run", "--json")
        assert r.returncode == 0, \
            r.stdout + r.stderr + "".join(fs.log[-20:] + fk.log[-20:])
        out = json.loads(r.stdout)
        assert out["result"] == "dry_run_succeeded", out
        assert out["pause_ms"] > 0, out
        # Nothing switched: both keep streaming.
        insert_users(server, src, 2000, 10)
        assert converge(server, src, dst, timeout=60) == []
        assert status(cs)["state"] == "streaming"
        # ferryctl verify on the source role, its barriers passing
        # through the other process's sink workers.
        r = ferryctl(cs, "verify", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "verify clean" in r.stdout
        server.execute_root(
            "INSERT INTO users_clerkuser (id, clerk_id, email, first_name,"
            " last_name, image_url, is_admin, metadata, created_at,"
            " updated_at) SELECT 900000001, 'planted', 'planted@x.org',"
            " first_name, last_name, image_url, is_admin, metadata,"
            " created_at, updated_at FROM users_clerkuser WHERE id = 3",
            db=dst)
        r = ferryctl(cs, "verify", "--json", timeout=120)
        assert r.returncode == 1, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        keys = [k for t in rep["tables"] for k in t["differing_keys"]]
        assert keys == [{"id": 900000001}], rep
        r = ferryctl(ck, "verify")
        assert r.returncode == 1 and "this ferryd is a kafka sink" in \
            r.stderr, r.stderr
        server.execute_root("DELETE FROM users_clerkuser WHERE id = 900000001",
                            db=dst)
        assert fs.stop() == 0 and fk.stop() == 0
        # Without a [sink] target the source role streams, and a cutover
        # refuses with one line saying what to add.
        cs = config(tmp_path, server, src, dst, kafka, "source", "bare",
                    sink=False)
        fs = Ferryd(cs)
        fs.wait_log(r"binlog source connected")
        r = ferryctl(cs, "cutover", "--dry-run")
        assert r.returncode == 1
        err = r.stderr.strip()
        assert len(err.splitlines()) == 1, err
        assert "add [sink] user, database, mapping" in err, err
        assert fs.stop() == 0
    finally:
        fs.kill()
        fk.kill()


def test_cutover_gives_up_when_a_sink_is_down(server, dbs, kafka, tmp_path):
    src, dst = dbs
    grant(server, src, src + "_retired")
    insert_users(server, src, 1, 30)
    topics(kafka, src)
    cs = config(tmp_path, server, src, dst, kafka, "source", "src",
                lock_timeout="1500ms", drain_timeout="2s")
    ck = config(tmp_path, server, src, dst, kafka, "sink", "sink")
    fs, fk = Ferryd(cs), Ferryd(ck)
    try:
        fs.wait_log(r"binlog source connected")
        assert converge(server, src, dst, timeout=60) == []
        assert fk.stop() == 0
        t0 = time.monotonic()
        r = cutover(cs)
        took = time.monotonic() - t0
        assert r.returncode == 1, r.stdout
        assert "draining" in r.stderr and "did not apply" in r.stderr, \
            r.stderr
        assert took < 10, took
        s = status(cs)
        assert s["last_cutover"]["result"] == "failed", s
        assert s["last_cutover"]["pause_ms"] < 2500, s
        assert s["state"] == "streaming", s
        # The source is writable again at once.
        c = MySQLdb.connect(unix_socket=server.socket, user="root", db=src,
                            autocommit=True)
        cur = c.cursor()
        cur.execute("SET SESSION lock_wait_timeout = 5")
        cur.execute("UPDATE clerk_sync_clerkuser SET first_name = 'after' "
                    "WHERE id = 3")
        c.close()
        insert_users(server, src, 100, 5)
        # The sink comes back and catches up: nothing was lost.
        fk = Ferryd(ck)
        assert converge(server, src, dst, timeout=60) == [], \
            "".join(fs.log[-15:] + fk.log[-15:])
        assert fs.stop() == 0 and fk.stop() == 0
    finally:
        fs.kill()
        fk.kill()


def test_abort_while_draining(server, dbs, kafka, tmp_path):
    """ferryctl abort ends a drain that waits for a sink at once: the
    pause is released long before lock_timeout."""
    src, dst = dbs
    grant(server, src, src + "_retired")
    insert_users(server, src, 1, 10)
    topics(kafka, src)
    cs = config(tmp_path, server, src, dst, kafka, "source", "src",
                lock_timeout="20s", drain_timeout="30s")
    ck = config(tmp_path, server, src, dst, kafka, "sink", "sink")
    fs, fk = Ferryd(cs), Ferryd(ck)
    try:
        fs.wait_log(r"binlog source connected")
        assert converge(server, src, dst, timeout=60) == []
        assert fk.stop() == 0
        result = {}
        t = threading.Thread(
            target=lambda: result.update(r=cutover(cs, "--dry-run")),
            daemon=True)
        t.start()
        deadline = time.monotonic() + 30
        while status(cs).get("cutover_step") != "draining":
            assert time.monotonic() < deadline, status(cs)
            time.sleep(0.05)
        t0 = time.monotonic()
        r = ferryctl(cs, "abort")
        assert r.returncode == 0, r.stderr
        t.join(15)
        assert not t.is_alive()
        assert time.monotonic() - t0 < 5
        r = result["r"]
        assert r.returncode == 1 and "aborted" in r.stderr, r.stderr
        s = status(cs)
        assert s["last_cutover"]["result"] == "aborted", s
        assert s["last_cutover"]["pause_ms"] < 5000, s
        insert_users(server, src, 100, 3)
        fk = Ferryd(ck)
        assert converge(server, src, dst, timeout=60) == []
        assert fs.stop() == 0 and fk.stop() == 0
    finally:
        fs.kill()
        fk.kill()
