# SPDX-License-Identifier: Apache-2.0
"""Startup validation: a mapping that does not fit the real tables stops
ferryd before anything is applied, naming table, column and types."""
import json
import subprocess

from tests.conftest import binary
from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import MAPPING, dbs  # noqa: F401


def run_ferryd(cfg):
    return subprocess.run([binary("ferryd"), "-c", cfg], capture_output=True,
                          text=True, timeout=60)


def test_mapping_checked_against_the_tables(server, dbs, tmp_path):
    src, dst = dbs
    server.execute_root(
        f"ALTER TABLE `{dst}`.users_clerkuser MODIFY first_name VARCHAR(10) "
        f"NOT NULL",
        f"ALTER TABLE `{dst}`.tickets_ticket DROP COLUMN checked_in_at")
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING}})
    r = run_ferryd(cfg)
    assert r.returncode != 0
    err = r.stderr
    assert "users_clerkuser" in err and "first_name" in err, err
    assert "varchar(150)" in err and "varchar(10)" in err, err
    assert "tickets_ticket" in err and "checked_in_at" in err, err
    # nothing was applied, no position stored
    got = server.query("SELECT COUNT(*) FROM information_schema.TABLES "
                       "WHERE TABLE_SCHEMA = 'ferry' AND "
                       "TABLE_NAME = 'offsets'")
    if got[0][0]:
        assert not server.query(
            "SELECT 1 FROM ferry.offsets WHERE pipeline LIKE %s",
            (f"%:{src}:{dst}",))


def test_a_missing_target_table_is_named(server, dbs, tmp_path):
    src, dst = dbs
    m = json.load(open(MAPPING))
    m["tables"][0]["target"] = "users_nosuchtable"
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(m))
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": str(path)}})
    r = run_ferryd(cfg)
    assert r.returncode != 0
    assert "users_nosuchtable" in r.stderr, r.stderr


def test_ferryctl_plan(server, dbs, tmp_path):
    """plan prints ok/PROBLEM per check and exits non-zero on problems."""
    src, dst = dbs
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING}})
    plan = [binary("ferryctl"), "plan", "-c", cfg]
    r = subprocess.run(plan, capture_output=True, text=True, timeout=60)
    out = r.stdout
    for line in ("ok       source binlog_format = ROW",
                 "ok       source binlog_row_metadata = FULL",
                 "ok       source grant REPLICATION SLAVE",
                 f"ok       source table {src}.clerk_sync_clerkuser has a "
                 "primary key",
                 "ok       mapping",
                 # the harness's sink is root: it can keep its text out
                 "ok       sink statements' text stays out of the binlog"):
        assert line in out, out
    # The harness's ferry user lacks LOCK TABLES: plan says so and fails.
    assert "PROBLEM  source grant LOCK TABLES" in out, out
    assert r.returncode == 1

    server.execute_root(f"CREATE TABLE `{src}`.clerk_sync_nokey (a INT)")
    server.execute_root(
        f"ALTER TABLE `{dst}`.users_clerkuser DROP COLUMN image_url")
    r = subprocess.run(plan, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "clerk_sync_nokey has no primary key" in r.stdout, r.stdout
    assert "PROBLEM  mapping:" in r.stdout and "image_url" in r.stdout, \
        r.stdout
    assert "problems found" in r.stdout
