# SPDX-License-Identifier: Apache-2.0
"""What the sink's own writes put into the target's binlog.

MariaDB logs each statement's text in an Annotate_rows event beside its
row events. A sink statement holds thousands of rows of VALUES, so the
sink turns that off for its session (it needs BINLOG ADMIN): the rows are
still logged, the text is not. Without the privilege it works as before
and says so once."""
import re
import subprocess

import pytest

from tests.conftest import binary
from tests.harness.ferry import write_config
from tests.integration.test_direct_pipeline import (MAPPING, PAIRS, Ferryd,
                                                    converge, dbs, workload)

assert dbs  # the fixture, imported for pytest

TARGETS = sorted({t for _, t in PAIRS})


def binlog_since(server, start):
    """mariadb-binlog -vv of everything the server logged after start."""
    file, pos = start
    r = subprocess.run(
        ["mariadb-binlog", "--read-from-remote-server", "-S", server.socket,
         "-u", "root", "-vv", "--base64-output=decode-rows",
         f"--start-position={pos}", "--to-last-log", file],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def position(server):
    row = server.query("SHOW MASTER STATUS")[0]
    return row[0], row[1]


def annotated(text, table):
    """The annotations (#Q> lines) of statements writing to table."""
    return [ln for ln in text.splitlines()
            if ln.startswith("#Q>") and re.search(
                rf"(INSERT INTO|UPDATE|DELETE FROM|REPLACE INTO) `?{table}\b",
                ln)]


def run_pipeline(server, src, dst, tmp_path, user="root"):
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        start="now",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING, "user": user}})
    f = Ferryd(cfg)
    try:
        f.wait_log(r"binlog source connected")
        workload(server, src, 1)
        diff = converge(server, src, dst)
        assert diff == [], "".join(f.log[-30:])
        assert f.stop() == 0, "".join(f.log[-20:])
    finally:
        f.kill()
    return f


def test_sink_rows_are_logged_without_their_statement_text(server, dbs,
                                                           tmp_path):
    src, dst = dbs
    start = position(server)
    f = run_pipeline(server, src, dst, tmp_path)
    text = binlog_since(server, start)
    # The server annotates as usual: the workload's statements are there.
    assert annotated(text, "clerk_sync_clerkuser"), text[-3000:]
    for t in TARGETS:
        # The sink's rows reached the binlog, for replicas and readers...
        assert f"Table_map: `{dst}`.`{t}`" in text, t
        # ...without the multi-row statement that wrote them.
        assert annotated(text, t) == [], (t, annotated(text, t)[:1])
    assert not any("binlog_annotate_row_events" in ln for ln in f.log)


@pytest.fixture
def plain_user(server):
    """A sink user with what the runbook requires, but no BINLOG ADMIN."""
    user = "sink_plain"
    for host in ("localhost", "%"):
        server.execute_root(f"CREATE USER IF NOT EXISTS '{user}'@'{host}'",
                            f"GRANT ALL ON *.* TO '{user}'@'{host}'",
                            f"REVOKE BINLOG ADMIN, SUPER ON *.* FROM "
                            f"'{user}'@'{host}'")
    yield user
    for host in ("localhost", "%"):
        server.execute_root(f"DROP USER '{user}'@'{host}'")


def test_without_binlog_admin_the_sink_warns_once_and_applies(
        server, dbs, tmp_path, plain_user):
    src, dst = dbs
    start = position(server)
    f = run_pipeline(server, src, dst, tmp_path, user=plain_user)
    warnings = [ln for ln in f.log if "binlog_annotate_row_events" in ln]
    assert len(warnings) == 1, "".join(f.log[-30:])
    assert "BINLOG ADMIN" in warnings[0] and "SUPER" in warnings[0]
    r = subprocess.run([binary("ferryctl"), "plan", "-c",
                        str(tmp_path / "ferryd.conf")],
                       capture_output=True, text=True, timeout=60)
    assert "advice   sink: GRANT BINLOG ADMIN" in r.stdout, r.stdout
    assert "PROBLEM  sink" not in r.stdout, r.stdout
    text = binlog_since(server, start)
    # The session kept annotating, so the sink's statements are there.
    assert any(annotated(text, t) for t in TARGETS), text[-3000:]
