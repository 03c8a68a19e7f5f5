# SPDX-License-Identifier: Apache-2.0
"""The core end-to-end flow under valgrind memcheck, zero reports: ferryd
(direct transport, a build without sanitizers: tests/run makes it in
build-plain) backfills, streams the event_finder workload, answers
ferryctl, and drains on SIGTERM."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from tests.conftest import ROOT
from tests.harness.ferry import write_config
from tests.integration.test_control import insert_users
from tests.integration.test_direct_pipeline import (MAPPING, converge,  # noqa
                                                    dbs, workload)

PLAIN = os.environ.get("FERRY_PLAIN_BUILD_DIR",
                       os.path.join(ROOT, "build-plain"))


def test_direct_pipeline_under_memcheck(server, dbs, tmp_path):
    ferryd = os.path.join(PLAIN, "daemon", "ferryd")
    ferryctl = os.path.join(PLAIN, "daemon", "ferryctl")
    valgrind = shutil.which("valgrind")
    if not valgrind or not os.path.exists(ferryd):
        pytest.fail(f"needs valgrind and {ferryd} (tests/run builds it; "
                    "meson setup build-plain && ninja -C build-plain)")
    src, dst = dbs
    insert_users(server, src, 5000, 30)
    cfg = write_config(
        str(tmp_path / "ferryd.conf"), server, src, tables="clerk_sync_%",
        start="snapshot",
        extra={"sink": {"socket": server.socket, "database": dst,
                        "mapping": MAPPING}})
    proc = subprocess.Popen(
        [valgrind, "--error-exitcode=99", "--leak-check=full",
         "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
         "--num-callers=30",
         f"--suppressions={ROOT}/tests/valgrind.supp", ferryd, "-c", cfg],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        start_new_session=True)
    log = []
    threading.Thread(target=lambda: log.extend(proc.stderr),
                     daemon=True).start()

    def wait_log(pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(re.search(pattern, line) for line in list(log)):
                return
            assert proc.poll() is None, "".join(log[-40:])
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r}:\n" + "".join(log[-40:]))

    try:
        wait_log(r"binlog source connected", 120)
        wait_log(r"backfill done table=\S+clerk_sync_clerkuser", 120)
        workload(server, src, 1)
        assert converge(server, src, dst, timeout=120) == [], \
            "".join(log[-30:])
        r = subprocess.run([ferryctl, "-c", cfg, "status", "--json"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([ferryctl, "-c", cfg, "verify"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(log)
    assert rc == 0, text[-4000:]
    assert "Memcheck" in text, text[:2000]
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    assert m and m.group(1) == "0", text[-4000:]
    assert "definitely lost: 0 bytes" in text or \
        "All heap blocks were freed" in text or \
        "definitely lost" not in text, text[-4000:]
