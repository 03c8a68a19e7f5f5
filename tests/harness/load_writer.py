# SPDX-License-Identifier: Apache-2.0
"""A steady stream of simple writes from separate processes, for tests
that need a write rate one Python thread pool cannot reach (the GIL):
inserts of admin notifications (no user: nothing else deletes them) and
updates of the ones already written, each carrying a version, so that
"every write that got an OK is in the target" is checkable row by row.

    lw = LoadWriter(server.socket, src_db, rate=1200).start()
    ...
    res = lw.stop()        # acked {id: version}, writes/s, errors
"""
import multiprocessing as mp
import queue
import time

import MySQLdb

TABLE_GONE = 1146  # after a rename cutover: expected, ends the writer
ID_BASE = 10**12   # far above anything the event_finder workload makes


def _run(socket, db, k, rate, halt, out):
    c = MySQLdb.connect(unix_socket=socket, user="root", db=db,
                        charset="utf8mb4", autocommit=True)
    cur = c.cursor()
    acked, errors, worst = {}, {}, 0.0
    n, first, last = 0, None, None
    gap = 1.0 / rate
    nxt = time.monotonic()
    try:
        while not halt.is_set():
            now = time.monotonic()
            if now < nxt:
                time.sleep(nxt - now)
            nxt += gap
            ids = list(acked)
            t0 = time.monotonic()
            try:
                if n % 3 == 2 and ids:
                    i = ids[(n * 7919) % len(ids)]
                    v = acked[i] + 1
                    cur.execute("UPDATE clerk_sync_notification SET title "
                                "= %s WHERE id = %s", (f"v{v}", i))
                else:
                    i, v = ID_BASE + k * 10**9 + n, 0
                    cur.execute(
                        "INSERT INTO clerk_sync_notification (id, "
                        "is_admin_notification, notification_type, title, "
                        "message, `read`, created_at, user_id) VALUES "
                        "(%s, 1, 'load', 'v0', 'load writer', 0, "
                        "NOW(6), NULL)", (i,))
            except MySQLdb.Error as e:
                code = e.args[0]
                errors[code] = errors.get(code, 0) + 1
                if code == TABLE_GONE or code not in (1205, 1213):
                    break
                continue
            t1 = time.monotonic()
            worst = max(worst, t1 - t0)
            acked[i] = v
            n += 1
            first = first or t0
            last = t1
    finally:
        c.close()
        out.put({"acked": acked, "writes": n, "first": first, "last": last,
                 "errors": errors, "worst_s": worst})


class LoadWriter:
    def __init__(self, socket, db, rate=1200.0, processes=2):
        self.socket, self.db = socket, db
        self.rate, self.nproc = rate, processes
        self.ctx = mp.get_context("fork")
        self.halt = self.ctx.Event()
        self.out = self.ctx.Queue()
        self.procs = []

    def start(self):
        for k in range(self.nproc):
            p = self.ctx.Process(target=_run, daemon=True, args=(
                self.socket, self.db, k, self.rate / self.nproc, self.halt,
                self.out))
            p.start()
            self.procs.append(p)
        return self

    def stop(self, timeout=30):
        """Stops the writers; returns what they acknowledged."""
        self.halt.set()
        parts = []
        deadline = time.monotonic() + timeout
        for _ in self.procs:
            try:
                parts.append(self.out.get(
                    timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                break
        for p in self.procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
        assert len(parts) == len(self.procs), "a load writer did not report"
        acked, errors = {}, {}
        for r in parts:
            acked.update(r["acked"])
            for code, cnt in r["errors"].items():
                errors[code] = errors.get(code, 0) + cnt
        self._acked = acked
        firsts = [r["first"] for r in parts if r["first"]]
        lasts = [r["last"] for r in parts if r["last"]]
        writes = sum(r["writes"] for r in parts)
        wall = (max(lasts) - min(firsts)) if firsts else 0.0
        return {"acked": acked, "writes": writes, "seconds": wall,
                "writes_per_s": writes / wall if wall else 0.0,
                "errors": errors,
                "worst_ms": 1000 * max((r["worst_s"] for r in parts),
                                       default=0.0)}

    def missing_in(self, conn):
        """Acknowledged writes the target lacks: [(id, version, found)]."""
        cur = conn.cursor()
        cur.execute("SELECT id, title FROM notifications_notification "
                    "WHERE id >= %s", (ID_BASE,))
        have = {int(i): int(t[1:]) for i, t in cur.fetchall()}
        return [(i, v, have.get(i)) for i, v in self._acked.items()
                if have.get(i, -1) < v]
