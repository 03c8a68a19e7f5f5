#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Fault torture for the direct transport: the event_finder workload
writes while ferryd backfills and streams, and faults land at random
moments:

  kill9        kill -9 of ferryd, then a restart
  sigterm      SIGTERM (drain and stop), then a restart
  dump_kill    KILL of ferry's replication (binlog dump) connection
  db_restart   restart of the MariaDB server (source and target: one
               server here), writer paused around it
  db_kill      kill -9 of the MariaDB server, then a restart

After every scenario and at the end the target must equal the source
table by table, byte for byte, and every write the writer was told
succeeded must be in the target. Prints scenarios run, faults injected
and divergences found; exits 1 on any divergence or if ferry did not
recover by itself.

  tests/torture/torture.py                      short run (about a minute)
  tests/torture/torture.py --faults 100 --seed 7   the long run (>= 100 kills)

Builds nothing: run after `ninja -C build` (FERRY_BUILD_DIR picks another
build).
"""
import argparse
import os
import random
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.environ.setdefault("FERRY_BUILD_DIR", os.path.join(ROOT, "build"))

import MySQLdb  # noqa: E402

from tests.harness import event_finder as ef  # noqa: E402
from tests.harness import workload as wl  # noqa: E402
from tests.harness.ferry import write_config  # noqa: E402
from tests.harness.mariadb import MariaDB  # noqa: E402
from tests.integration.test_direct_pipeline import (  # noqa: E402
    MAPPING, Ferryd, converge)

FAULTS = ["kill9", "sigterm", "dump_kill", "db_restart", "db_kill"]


def connect(m, db):
    return lambda: MySQLdb.connect(unix_socket=m.socket, user="root", db=db,
                                   charset="utf8mb4", autocommit=False)


class Torture:
    def __init__(self, basedir, seed, scale, rate, log=print):
        self.rng = random.Random(seed)
        self.m = MariaDB(basedir=os.path.join(basedir, "mariadb"))
        self.basedir, self.scale, self.rate = basedir, scale, rate
        self.log = log
        self.f = self.work = None
        self.works = []
        self.injected = {k: 0 for k in FAULTS}
        self.divergences = 0

    def setup(self):
        m = self.m
        m.start()
        m.execute_root("CREATE DATABASE ef_src", "CREATE DATABASE ef_dst")
        src = MySQLdb.connect(unix_socket=m.socket, user="root", db="ef_src",
                              local_infile=1)
        ef.create_source_schema(src)
        ef.generate(src, scale=self.scale, seed=1, log=lambda *a: None)
        src.close()
        dst = MySQLdb.connect(unix_socket=m.socket, user="root", db="ef_dst")
        ef.create_target_schema(dst)
        dst.close()
        self.cfg = write_config(
            os.path.join(self.basedir, "ferryd.conf"), m, "ef_src",
            tables="clerk_sync_%", start="snapshot",
            extra={"sink": {"socket": m.socket, "database": "ef_dst",
                            "mapping": MAPPING}})

    def start_ferryd(self):
        self.f = Ferryd(self.cfg)
        self.f.wait_log(r"pipeline epoch starts", timeout=60)

    def start_writer(self):
        self.work = wl.Workload(connect(self.m, "ef_src"), rate=self.rate,
                                seed=self.rng.randrange(1 << 30)).start()
        self.works.append(self.work)

    def stop_writer(self):
        if self.work:
            self.work.stop()
            self.work = None

    def fault(self, kind):
        self.injected[kind] += 1
        if kind == "kill9":
            self.f.kill()
            self.start_ferryd()
        elif kind == "sigterm":
            rc = self.f.stop(timeout=60)
            if rc != 0:
                raise AssertionError("ferryd exited %d on SIGTERM:\n%s"
                                     % (rc, "".join(self.f.log[-20:])))
            self.start_ferryd()
        elif kind == "dump_kill":
            ids = self.m.query(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE "
                "COMMAND LIKE 'Binlog Dump%%'")
            for (i,) in ids:
                self.m.execute_root(f"KILL {int(i)}")
        elif kind in ("db_restart", "db_kill"):
            self.stop_writer()
            if kind == "db_kill":
                self.m.kill()
                self.m.start()
            else:
                self.m.restart()
            # A killed server may lose what it acknowledged (the harness
            # trades durability for speed), and a new writer's model does
            # not know the old one's rows: from here on, the source is the
            # truth the target must equal.
            self.works = []
            self.start_writer()

    def check(self, what, timeout=120):
        """Target equals source (writer paused while comparing)."""
        self.stop_writer()
        diff = converge(self.m, "ef_src", "ef_dst", timeout=timeout)
        t = MySQLdb.connect(unix_socket=self.m.socket, user="root",
                            db="ef_dst")
        lost = []
        for w in self.works:
            lost += w.verify(t, mapping=MAPPING)
        t.close()
        self.works = []
        if diff or lost:
            self.divergences += len(diff) + len(lost)
            self.log(f"DIVERGED after {what}: {diff[:5]} "
                     f"{[str(x) for x in lost[:5]]}")
        if self.f.proc.poll() is not None:
            raise AssertionError("ferryd is not running after %s:\n%s"
                                 % (what, "".join(self.f.log[-30:])))
        self.start_writer()

    def run(self, faults, every):
        self.setup()
        self.start_writer()
        self.start_ferryd()
        t0 = time.monotonic()
        for i in range(faults):
            time.sleep(self.rng.uniform(0.2, every))
            kind = self.rng.choice(FAULTS)
            self.fault(kind)
            self.log(f"  {time.monotonic() - t0:6.1f}s fault {i + 1}/{faults}"
                     f": {kind}")
            if (i + 1) % 5 == 0:
                self.check(f"fault {i + 1}")
        self.check("the end")
        self.f.stop(timeout=60)
        return self.divergences

    def close(self):
        if self.work:
            self.work.halt.set()
        if self.f:
            self.f.kill()
        self.m.destroy()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--faults", type=int, default=10)
    ap.add_argument("--every", type=float, default=3.0,
                    help="longest pause between faults, seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=0.005)
    ap.add_argument("--rate", type=float, default=150,
                    help="writer transactions per second")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferry-torture-") as d:
        t = Torture(d, args.seed, args.scale, args.rate)
        try:
            div = t.run(args.faults, args.every)
        finally:
            t.close()
        n = sum(t.injected.values())
        print(f"scenarios: {n} faults injected "
              f"({', '.join(f'{k} {v}' for k, v in t.injected.items())}); "
              f"divergences found: {div}")
        return 1 if div else 0


if __name__ == "__main__":
    sys.exit(main())
