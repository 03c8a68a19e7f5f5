# SPDX-License-Identifier: Apache-2.0
"""Short, bounded libFuzzer runs of every fuzz target (built by tests/run
in build-fuzz/ with clang, ASan and UBSan), from the corpus kept in
tests/fuzz/corpus/<target>. A crash, leak or sanitizer report fails.
Longer runs: FERRY_FUZZ_SECONDS=600 tests/run -k fuzz."""
import glob
import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

FUZZ_BUILD = os.environ.get("FERRY_FUZZ_BUILD_DIR",
                            os.path.join(ROOT, "build-fuzz"))
SECONDS = int(os.environ.get("FERRY_FUZZ_SECONDS", "20"))
TARGETS = sorted(os.path.basename(p) for p in
                 glob.glob(os.path.join(ROOT, "tests", "fuzz", "fuzz_*.c")))


@pytest.mark.parametrize("target", [t[:-2] for t in TARGETS])
def test_fuzz_target(target, tmp_path):
    exe = os.path.join(FUZZ_BUILD, "tests", "fuzz", target)
    assert os.path.exists(exe), (
        f"{exe} is not built: tests/run builds it with clang "
        f"(CC=clang meson setup build-fuzz -Dfuzz=true)")
    corpus = tmp_path / "corpus"
    shutil.copytree(os.path.join(ROOT, "tests", "fuzz", "corpus", target),
                    corpus)
    r = subprocess.run([exe, str(corpus), f"-max_total_time={SECONDS}",
                        "-timeout=10", "-rss_limit_mb=2048",
                        f"-artifact_prefix={tmp_path}/"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=SECONDS + 120)
    assert r.returncode == 0, r.stdout[-4000:]
    assert "Done" in r.stdout
