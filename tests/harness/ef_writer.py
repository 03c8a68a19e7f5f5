# SPDX-License-Identifier: Apache-2.0
"""A steady event_finder writer for tests and the quickstart: inserts,
JSON updates, deletes and primary-key changes on clerk_sync_clerkuser and
clerk_sync_notification, until stopped. Deterministic for a seed."""
import random
import threading
import time

import MySQLdb


class Writer(threading.Thread):
    """Inserts, updates, deletes and primary-key changes on two tables,
    until stopped; every statement is its own transaction or a small
    multi-statement one."""

    def __init__(self, server, db, seed, existing=(), first_id=1):
        super().__init__(daemon=True)
        self.server, self.db = server, db
        self.rng = random.Random(seed)
        self.halt = threading.Event()
        self.ops = 0
        self.worst = 0.0  # slowest operation, seconds
        self.error = None
        self.existing = list(existing)
        self.first_id = first_id

    def run(self):
        c = MySQLdb.connect(unix_socket=self.server.socket, user="root",
                            db=self.db, charset="utf8mb4", autocommit=True)
        cur = c.cursor()
        ids = list(self.existing)
        next_id = self.first_id
        try:
            while not self.halt.is_set() and self.ops < 20000:
                t0 = time.monotonic()
                r = self.rng.random()
                if r < 0.5 or len(ids) < 10:
                    i = next_id
                    next_id += 1
                    cur.execute(
                        "INSERT INTO clerk_sync_clerkuser VALUES (%s, %s, %s,"
                        " 'Zoë', 'X', 'u', 0, '{\"n\": 1}', NOW(6), NOW(6))",
                        (i, f"c{i}", f"e{i}@x"))
                    cur.execute(
                        "INSERT INTO clerk_sync_notification VALUES (%s, 0, "
                        "'t', 'title', 'msg', 0, NOW(6), %s)", (i, i))
                    ids.append(i)
                elif r < 0.8:
                    i = self.rng.choice(ids)
                    cur.execute("BEGIN")
                    cur.execute("UPDATE clerk_sync_clerkuser SET metadata = "
                                "%s, updated_at = NOW(6) WHERE id = %s",
                                (f'{{"n": {self.ops}}}', i))
                    cur.execute("UPDATE clerk_sync_notification SET `read` ="
                                " 1 - `read` WHERE user_id = %s", (i,))
                    cur.execute("COMMIT")
                elif r < 0.9:
                    i = ids.pop(self.rng.randrange(len(ids)))
                    cur.execute("DELETE FROM clerk_sync_notification WHERE "
                                "user_id = %s", (i,))
                    cur.execute("DELETE FROM clerk_sync_clerkuser WHERE id = "
                                "%s", (i,))
                else:
                    k = self.rng.randrange(len(ids))
                    i, j = ids[k], next_id
                    next_id += 1
                    cur.execute("UPDATE clerk_sync_notification SET id = %s "
                                "WHERE user_id = %s", (j + 1000000, i))
                    ids[k] = i  # the user keeps its id
                self.ops += 1
                self.worst = max(self.worst, time.monotonic() - t0)
                time.sleep(0.001)
        except Exception as e:  # surfaced by the test
            self.error = e
        finally:
            c.close()
