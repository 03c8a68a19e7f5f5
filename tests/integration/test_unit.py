# SPDX-License-Identifier: Apache-2.0
"""Runs every C unit test meson knows about, one pytest item each."""
import json
import os
import subprocess

import pytest

from tests.conftest import BUILD


def unit_tests():
    r = subprocess.run(["meson", "introspect", BUILD, "--tests"],
                       stdout=subprocess.PIPE, text=True, check=True)
    tests = [t for t in json.loads(r.stdout)
             if any(s.split(":")[-1] == "unit" for s in t["suite"])]
    if not tests:
        raise RuntimeError("meson lists no unit tests: is the build set up?")
    return tests


@pytest.mark.parametrize("t", unit_tests(), ids=lambda t: t["name"])
def test_unit(t):
    env = dict(os.environ)
    env.update(t.get("env") or {})
    r = subprocess.run(t["cmd"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, env=env,
                       timeout=t.get("timeout", 30) or 30,
                       cwd=t.get("workdir") or BUILD)
    assert r.returncode == 0, r.stdout
