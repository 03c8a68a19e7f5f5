# SPDX-License-Identifier: Apache-2.0
"""End-to-end check of the operations HTTP endpoint.

Starts tests/unit/metrics_http_demo (the real registry and evhttp server
with every catalog metric registered), scrapes /metrics, /healthz, /readyz
and an unknown path, and runs the scrape through `promtool check metrics`.
Every wait is bounded; every process started is stopped.
"""
import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time

import pytest

from tests.conftest import ROOT, binary

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class Demo:
    def __init__(self, listen="127.0.0.1:0", max_seconds=60):
        self.proc = subprocess.Popen(
            [binary("metrics_http_demo"), listen, str(max_seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.host = "::1" if listen.startswith("[") else "127.0.0.1"
        self.port = self._read_port(timeout=10)

    def _read_port(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                m = re.match(r"port (\d+)$", line.strip())
                if m:
                    return int(m.group(1))
            if self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError("demo did not report a port: "
                             + self.proc.stderr.read())

    def request(self, method, path):
        c = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode()
        finally:
            c.close()

    def get(self, path):
        return self.request("GET", path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        return self.proc.returncode


@pytest.fixture
def demo():
    d = Demo()
    yield d
    d.stop()


def catalog_names():
    with open(os.path.join(ROOT, "daemon", "metric_names.h")) as f:
        text = f.read()
    names = re.findall(r'#define FERRY_M_\w+\s+(?:\\\s*)?"(ferry_\w+)",',
                       text)
    assert len(names) >= 20
    return names


def sample(body, name, labels=""):
    m = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", body,
                  re.MULTILINE)
    assert m, f"{name}{labels} missing"
    return float(m.group(1))


def test_metrics_passes_promtool(demo):
    status, headers, body = demo.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    if not os.path.exists(PROMTOOL):
        pytest.skip("promtool not installed")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout


def test_metrics_content(demo):
    _, _, body = demo.get("/metrics")
    for name in catalog_names() + ["process_resident_memory_bytes",
                                   "process_start_time_seconds",
                                   "ferry_uptime_seconds"]:
        assert f"# HELP {name} " in body
        assert re.search(rf"^# TYPE {name} (counter|gauge|histogram)$",
                         body, re.MULTILINE), name
    assert sample(body, "process_resident_memory_bytes") > 100_000
    assert sample(body, "ferry_source_lag_seconds") == 0.25
    assert sample(body, "ferry_cutover_state", '{state="streaming"}') == 1
    assert sample(body, "ferry_cutover_state", '{state="error"}') == 0
    # Escaped label values: quote, backslash, newline.
    assert ('ferry_events_total{table="odd \\"table\\"\\\\with\\nnewline",'
            'op="c"} 10') in body
    assert sample(body, "ferry_sink_batch_duration_seconds_bucket",
                  '{le="+Inf"}') == sample(
                      body, "ferry_sink_batch_duration_seconds_count")


def test_counters_move_between_scrapes(demo):
    key = ("ferry_events_total", '{table="clerk_sync_ticket",op="c"}')
    first = sample(demo.get("/metrics")[2], *key)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if sample(demo.get("/metrics")[2], *key) > first:
            return
        time.sleep(0.1)
    pytest.fail("counter did not move in 5 s")


def test_healthz(demo):
    status, _, body = demo.get("/healthz")
    assert (status, body) == (200, "ok\n")


def test_readyz_follows_the_callback(demo):
    status, _, body = demo.get("/readyz")
    assert (status, body) == (503, "not ready: source not connected\n")
    demo.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status, _, body = demo.get("/readyz")
        if status == 200:
            assert body == "ready\n"
            return
        time.sleep(0.05)
    pytest.fail("/readyz never turned ready")


def test_unknown_path_and_method(demo):
    assert demo.get("/nope")[0] == 404
    assert demo.get("/metrics/extra")[0] == 404
    status, headers, _ = demo.request("POST", "/metrics")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert demo.request("DELETE", "/healthz")[0] == 405
    status, _, body = demo.request("HEAD", "/metrics")
    assert (status, body) == (200, "")
    # A query string does not change the path.
    assert demo.get("/metrics?x=1")[0] == 200


def test_sigterm_stops_cleanly(demo):
    assert demo.stop() == 0


def run_bad(listen):
    r = subprocess.run([binary("metrics_http_demo"), listen, "5"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=10)
    return r.returncode, r.stderr


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999",
                                    "[::1", "127.0.0.1:"])
def test_bad_listen_address_is_named(listen):
    rc, err = run_bad(listen)
    assert rc == 78
    assert f"metrics_listen '{listen}'" in err


def test_port_in_use_is_named(demo):
    listen = f"127.0.0.1:{demo.port}"
    rc, err = run_bad(listen)
    assert rc == 78
    assert f"'{listen}'" in err and "in use" in err


def ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_listen():
    d = Demo("[::1]:0")
    try:
        assert d.get("/healthz")[0] == 200
    finally:
        d.stop()


def docs_text():
    with open(os.path.join(ROOT, "docs", "metrics.md")) as f:
        return f.read()


def test_docs_list_every_metric():
    text = docs_text()
    for name in catalog_names():
        assert f"`{name}`" in text, f"{name} missing from docs/metrics.md"


def test_docs_alert_rules_pass_promtool(tmp_path):
    if not os.path.exists(PROMTOOL):
        pytest.skip("promtool not installed")
    m = re.search(r"```yaml\n(.*?)```", docs_text(), re.DOTALL)
    assert m
    rules = tmp_path / "rules.yml"
    rules.write_text(m.group(1))
    r = subprocess.run([PROMTOOL, "check", "rules", str(rules)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout
