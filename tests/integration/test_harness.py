# SPDX-License-Identifier: Apache-2.0
"""The throwaway server has what ferry needs, and a dead server is loud."""
import pytest

from tests.harness.mariadb import MariaDB, ServerError


def test_binlog_settings(server):
    rows = dict(server.query(
        "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM "
        "information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN "
        "('LOG_BIN','BINLOG_FORMAT','BINLOG_ROW_IMAGE',"
        "'BINLOG_ROW_METADATA','SERVER_ID')"))
    assert rows == {"LOG_BIN": "ON", "BINLOG_FORMAT": "ROW",
                    "BINLOG_ROW_IMAGE": "FULL", "BINLOG_ROW_METADATA": "FULL",
                    "SERVER_ID": "1"}


def test_replication_user_grants(server):
    c = server.connect(user=server.repl_user, password=server.repl_password)
    cur = c.cursor()
    cur.execute("SHOW GRANTS")
    grants = " ".join(r[0] for r in cur.fetchall())
    for g in ("REPLICATION SLAVE", "BINLOG MONITOR", "SELECT"):
        assert g in grants
    cur.execute("SHOW BINARY LOGS")
    assert cur.fetchall()
    c.close()


def test_gtid_advances(db):
    before = db.server.gtid_binlog_pos()
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    after = db.server.gtid_binlog_pos()
    assert after != before and after.startswith("0-1-")


def test_start_failure_is_loud(tmp_path):
    m = MariaDB(basedir=str(tmp_path), extra_args=["--no-such-option=1"])
    with pytest.raises(ServerError) as e:
        m.start(timeout=30)
    assert "no-such-option" in str(e.value) or "unknown" in str(e.value)
