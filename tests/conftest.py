# SPDX-License-Identifier: Apache-2.0
"""pytest fixtures shared by every integration test.

One private MariaDB per pytest worker (session scope): tests stay
parallel-safe by each working in a database of its own (fixture `db`).
Tests that restart or break the server ask for `own_server` instead.
"""
import os
import sys
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.harness.mariadb import MariaDB  # noqa: E402

BUILD = os.environ.get("FERRY_BUILD_DIR", os.path.join(ROOT, "build"))


def binary(name):
    for sub in ("daemon", "tests/kafka_mock", "tests/unit", "bench", ""):
        p = os.path.join(BUILD, sub, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{name} not built under {BUILD}: run "
                            f"meson setup build && ninja -C build")


@pytest.fixture(scope="session")
def server():
    m = MariaDB()
    m.start()
    yield m
    m.destroy()


@pytest.fixture
def own_server():
    m = MariaDB()
    m.start()
    yield m
    m.destroy()


class Database:
    def __init__(self, server, name):
        self.server = server
        self.name = name

    def connect(self, **kw):
        return self.server.connect(db=self.name, **kw)

    def execute(self, *stmts):
        self.server.execute_root(*stmts, db=self.name)

    def query(self, sql, args=None):
        return self.server.query(sql, args, db=self.name)


@pytest.fixture
def db(server):
    name = "t_" + uuid.uuid4().hex[:12]
    server.execute_root(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                        f"COLLATE utf8mb4_unicode_ci")
    yield Database(server, name)
    server.execute_root(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def kafka():
    """A started librdkafka mock cluster (3 brokers) per test; see
    tests/harness/kafka.py. `kafka.bootstrap` is "127.0.0.1:PORT,..."."""
    from tests.harness.kafka import KafkaMock
    k = KafkaMock(binary=binary("ferry-kafka-mock"))
    k.start()
    try:
        yield k
    finally:
        k.stop()
