#!/usr/bin/env python3
"""The supervised local cluster (scripts/cluster.sh + scripts/dsmil-supervise.py).

Brings up the three-node cluster the way `make up` does (in a temporary
directory on reserved ports), kills node-b with SIGKILL twice and checks that
its supervisor brings it back healthy each time (the time to healthy is
printed), that the restart count shows in `dsmilctl status` ("restarted N×")
and as dsmil_node_restarts on /metrics, and that `cluster.sh down` leaves no
supervisor and no node behind.
Usage: supervise_test.py BIN_DIR SOURCE_DIR
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

BIN = None
SRC = None


def free_ports(n):
    tool = os.path.join(BIN, "dsmil_test_ports")
    p = subprocess.run([tool, str(n), "--hold-for", str(os.getpid())], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"{tool} exited {p.returncode}: {p.stderr}")
    return p.stdout.split()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def processes_under(path):
    """pids whose command line mentions path (the cluster's state directory)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if path in cmd and alive(int(d)):
            found.append((int(d), cmd))
    return found


def http_get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


class SupervisedClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dsmil-supervise-")
        cls.dir = os.path.join(cls.tmp, "cluster")
        # DSMIL_CLUSTER_PORTS, when set, picks the ten ports; else free ones are reserved.
        cls.ports = os.environ.get("DSMIL_CLUSTER_PORTS", "").split() or free_ports(10)
        cls.env = dict(os.environ,
                       DSMIL_CLUSTER_DIR=cls.dir,
                       DSMILCTL_CONFIG=os.path.join(cls.tmp, "dsmilctl.yaml"),
                       DSMIL_CLUSTER_PORTS=" ".join(cls.ports),
                       BUILD=os.path.relpath(os.path.dirname(BIN), SRC),
                       NO_COLOR="1")
        p = cls.cluster("up", timeout=300)
        if p.returncode != 0:
            cls.cluster("down")
            raise AssertionError(f"cluster.sh up exited {p.returncode}\n{p.stdout}\n{p.stderr}")

    @classmethod
    def cluster(cls, verb, timeout=120):
        return subprocess.run(["bash", os.path.join(SRC, "scripts", "cluster.sh"), verb], cwd=SRC, env=cls.env,
                              capture_output=True, text=True, timeout=timeout)

    @classmethod
    def tearDownClass(cls):
        cls.cluster("down")
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def pid(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return int(f.read())

    def healthz(self, http_port):
        try:
            return http_get(f"http://127.0.0.1:{http_port}/healthz")[0] == 200
        except OSError:
            return False

    def status_json(self, node):
        p = subprocess.run([os.path.join(BIN, "dsmilctl"), "status", f"--node={node}", "-o", "json"], env=self.env,
                           capture_output=True, text=True, timeout=60)
        return p

    def kill_and_wait(self, expect_restarts):
        http_port = self.ports[3]  # node-b's http port
        old = self.pid("node-b.pid")
        supervisor = self.pid("node-b.supervisor.pid")
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        deadline = t0 + 60
        new = old
        while time.monotonic() < deadline:
            try:
                new = self.pid("node-b.pid")
            except (OSError, ValueError):
                new = old
            if new != old and self.healthz(http_port):
                break
            time.sleep(0.05)
        took = time.monotonic() - t0
        self.assertNotEqual(new, old, "node-b was not restarted within 60 s")
        self.assertTrue(self.healthz(http_port), "node-b restarted but is not healthy")
        self.assertEqual(self.pid("node-b.supervisor.pid"), supervisor, "the supervisor itself changed")
        self.assertFalse(alive(old))
        print(f"node-b killed with SIGKILL: restart {expect_restarts} healthy after {took:.2f} s "
              f"(pid {old} -> {new})", flush=True)
        return took

    def check_visible(self, restarts):
        # /metrics
        _, metrics = http_get(f"http://127.0.0.1:{self.ports[3]}/metrics")
        self.assertRegex(metrics, r'(?m)^dsmil_node_restarts\{node="node-b"\} ' + str(restarts) + r'(\.0+)?$')
        _, metrics_a = http_get(f"http://127.0.0.1:{self.ports[0]}/metrics")
        self.assertRegex(metrics_a, r'(?m)^dsmil_node_restarts\{node="node-a"\} 0(\.0+)?$')
        # dsmilctl status: JSON and the node's line in the text view.
        p = self.status_json("NODE-B")
        doc = json.loads(p.stdout)
        self.assertIn(f'"restarts":{restarts}', json.dumps(doc, separators=(",", ":")), p.stdout)
        text = subprocess.run([os.path.join(BIN, "dsmilctl"), "status"], env=self.env, capture_output=True,
                              text=True, timeout=60).stdout
        node_b_line = next((ln for ln in text.splitlines() if ln.startswith("NODE-B")), "")
        self.assertIn(f"restarted {restarts}×", node_b_line, text)
        node_a_line = next((ln for ln in text.splitlines() if ln.startswith("NODE-A")), "")
        self.assertNotIn("restarted", node_a_line, text)
        print(f"dsmilctl status: {node_b_line.strip()}", flush=True)

    def test_1_kill_restarts(self):
        self.kill_and_wait(1)
        self.check_visible(1)
        # The second crash waits the doubled backoff (1 s) before the restart.
        took = self.kill_and_wait(2)
        self.assertGreaterEqual(took, 1.0)
        self.check_visible(2)
        with open(os.path.join(self.dir, "node-b", "stderr.log")) as f:
            log = f.read()
        self.assertRegex(log, r"supervise\[node-b\]: pid \d+ exited with signal 9 after [\d.]+ s; restarting in 0.5 s")
        self.assertRegex(log, r"supervise\[node-b\]: pid \d+ exited with signal 9 after [\d.]+ s; restarting in 1 s")

    def test_2_down_leaves_nothing(self):
        pids = [self.pid(f"{n}{k}") for n in ("node-a", "node-b", "node-c") for k in (".pid", ".supervisor.pid")]
        p = self.cluster("down")
        self.assertEqual(p.returncode, 0, p.stderr)
        # Supervisors are stopped before the nodes.
        self.assertRegex(p.stdout, r"(?s)stopped node-a supervisor.*stopped node-c supervisor")
        for pid in pids:
            self.assertFalse(alive(pid), f"pid {pid} still runs after cluster.sh down")
        self.assertEqual(processes_under(self.dir), [])
        for n in ("node-a", "node-b", "node-c"):
            self.assertFalse(os.path.exists(os.path.join(self.dir, f"{n}.pid")))
            self.assertFalse(os.path.exists(os.path.join(self.dir, f"{n}.supervisor.pid")))


if __name__ == "__main__":
    BIN, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"])
