#!/usr/bin/env python3
"""Local three-node cluster test: real dsmild processes on loopback, real mTLS.

Starts node-a (SOC), node-b (AI) and node-c (DATA) from a fresh PKI made by
`dsmilctl pki init`, then checks what an operator sees:
  * `dsmilctl status` shows three healthy nodes and exits 0 (text and JSON);
  * /healthz answers 200 + JSON; /metrics passes `promtool check metrics`;
  * the control API refuses a client certificate from another CA, and none;
  * after node-b is killed, status shows NODE-B DOWN and exits 1;
  * SIGTERM stops a node cleanly (exit 0, "node stopped" logged);
  * bad configs and a private key readable by others are refused;
  * the data directory, what the stores write in it and the node logs are
    readable by the node's user only.
Usage: cluster_test.py BIN_DIR   (BIN_DIR holds dsmild and dsmilctl)
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

BIN = None
NODES = ["node-a", "node-b", "node-c"]
ROLES = {"node-a": "soc", "node-b": "ai", "node-c": "data"}


def free_ports(n):
    """n loopback ports for dsmild, reserved (tests/support/ports.h) until this process ends."""
    tool = os.path.join(BIN, "dsmil_test_ports")
    p = subprocess.run([tool, str(n), "--hold-for", str(os.getpid())], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"{tool} exited {p.returncode}: {p.stderr}")
    return [int(x) for x in p.stdout.split()]


def run(args, env=None, check=True, timeout=60):
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


class Cluster:
    def __init__(self, root):
        self.root = root
        self.pki = os.path.join(root, "pki")
        self.ports = {}
        self.procs = {}
        self.env = dict(os.environ, DSMILCTL_CONFIG=os.path.join(root, "dsmilctl.yaml"), NO_COLOR="1")

    def ctl(self, *args, check=True):
        return run([os.path.join(BIN, "dsmilctl"), *args], env=self.env, check=check)

    def write_config(self, n):
        http, control, dbe = self.ports[n]
        lines = [
            f"node: {{name: {n}, role: {ROLES[n]}, address: 127.0.0.1}}",
            f"listen: {{http: '127.0.0.1:{http}', control: '127.0.0.1:{control}', dbe: '127.0.0.1:{dbe}'}}",
            f"tls: {{ca: pki/ca.crt, cert: pki/{n}.crt, key: pki/{n}.key}}",
            "tenants:",
            "  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC, SIGNALS]}",
            "  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}",
            f"logging: {{level: info, file: {n}.log}}",
        ]
        if ROLES[n] == "data":
            os.makedirs(os.path.join(self.root, n, "data"), exist_ok=True)
            lines.append(f"stores: {{kind: embedded, path: {n}/data}}")
        path = os.path.join(self.root, f"{n}.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, n):
        cfg = self.write_config(n)
        err_path = os.path.join(self.root, f"{n}.stderr")
        with open(err_path, "w") as err:
            self.procs[n] = subprocess.Popen([os.path.join(BIN, "dsmild"), "--config", cfg],
                                             stdout=subprocess.DEVNULL, stderr=err)
        url = f"http://127.0.0.1:{self.ports[n][0]}/healthz"
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.procs[n].poll() is not None:
                with open(err_path) as f:
                    raise AssertionError(f"{n} exited {self.procs[n].returncode}: " + f.read())
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{n} did not answer {url}")

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dsmil-cluster-")
        cls.c = Cluster(cls.tmp)
        c = cls.c
        c.ctl("pki", "init", "--dir", c.pki, "--nodes", ",".join(NODES), "--operators", "admin")
        other = os.path.join(cls.tmp, "other-pki")
        c.ctl("pki", "init", "--dir", other, "--nodes", "node-a", "--operators", "mallory")
        cls.other = other
        ports = free_ports(9)
        for i, n in enumerate(NODES):
            c.ports[n] = ports[3 * i:3 * i + 3]
        try:
            for n in NODES:
                c.start(n)
        except BaseException:
            # tearDownClass does not run when setUpClass fails: stop what started.
            c.stop_all()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        c.ctl("config", "set-operator", "--cert", f"{c.pki}/operator-admin.crt", "--key", f"{c.pki}/operator-admin.key")
        for n in NODES:
            c.ctl("config", "add-node", n.upper(), f"https://127.0.0.1:{c.ports[n][1]}", "--cert", f"{c.pki}/ca.crt")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop_all()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_1_status_all_healthy(self):
        p = self.c.ctl("status", check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for n in NODES:
            line = next((l for l in p.stdout.splitlines() if l.startswith(n.upper() + " (")), None)
            self.assertIsNotNone(line, f"{n} missing from:\n{p.stdout}")
            self.assertIn("✓ HEALTHY", line)
        # Healthy nodes; a layer near its latency SLO on a loaded machine may say so (spec §8.1).
        self.assertRegex(p.stdout, r"Overall Cluster Health: (✓ HEALTHY \(3 nodes\)|⚠ DEGRADED \(.*SLO.*\))")
        self.assertIn("L7 Extended", p.stdout)
        self.assertIn("NOT IMPLEMENTED", p.stdout)  # devices not built yet say so
        self.assertIn("ALPHA", p.stdout)
        self.assertNotIn("\033[", p.stdout)  # no colour when not a terminal

    def test_2_status_json_and_node_filter(self):
        p = self.c.ctl("status", "-o", "json", check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertTrue(doc["healthy"])
        self.assertEqual([n["name"] for n in doc["nodes"]], ["NODE-A", "NODE-B", "NODE-C"])
        a = doc["nodes"][0]["status"]
        self.assertEqual(a["role"], "soc")
        ids = {d["id"] for d in a["devices"]}
        self.assertTrue(set(range(14, 33)) <= ids and set(range(51, 63)) <= ids)
        d43 = next(d for d in doc["nodes"][1]["status"]["devices"] if d["id"] == 43)
        self.assertEqual(d43["token_base"], "0x8081")
        self.assertEqual(d43["layer"], "L7")
        self.assertEqual(d43["health"], "NOT_IMPLEMENTED")
        p = self.c.ctl("status", "--node=NODE-B", check=False)
        self.assertEqual(p.returncode, 0)
        self.assertIn("NODE-B (AI/Inference)", p.stdout)
        self.assertNotIn("NODE-A (", p.stdout)
        p = self.c.ctl("status", "--node=NODE-Z", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no node named NODE-Z", p.stderr)

    def test_3_healthz_and_metrics(self):
        port = self.c.ports["node-a"][0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            self.assertEqual(r.status, 200)
            body = json.loads(r.read())
            self.assertEqual(body["status"], "healthy")
            self.assertEqual(body["node"], "node-a")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        for name in ["dsmil_requests_total", "dsmil_errors_total", "dsmil_request_latency_seconds",
                     "dsmil_active_devices", "dsmil_memory_usage_bytes", "dsmil_llm_tokens_per_second"]:
            self.assertIn(f"# TYPE {name} ", text)
        self.assertIn('dsmil_active_devices{node="node-a",layer="L8"} 8', text)  # devices 51-58
        self.assertIn('dsmil_active_devices{node="node-a",layer="L9"} 0', text)  # not implemented yet
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is required")
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def _tls_get(self, cert=None, key=None):
        ctx = ssl.create_default_context(cafile=f"{self.c.pki}/ca.crt")
        ctx.check_hostname = False
        if cert:
            ctx.load_cert_chain(cert, key)
        port = self.c.ports["node-a"][1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                t.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                return data

    def test_4_control_api_requires_cluster_client_cert(self):
        data = self._tls_get(f"{self.c.pki}/operator-admin.crt", f"{self.c.pki}/operator-admin.key")
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            data = self._tls_get(f"{self.other}/operator-mallory.crt", f"{self.other}/operator-mallory.key")
            if not data:  # TLS 1.3: the refusal may arrive as a closed connection
                raise ssl.SSLError("closed")
        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            data = self._tls_get()
            if not data:
                raise ssl.SSLError("closed")
        # dsmilctl with the foreign operator certificate: node shown DOWN with the TLS reason.
        env = dict(self.c.env, DSMILCTL_CONFIG=os.path.join(self.tmp, "mallory.yaml"))
        run([os.path.join(BIN, "dsmilctl"), "config", "set-operator", "--cert", f"{self.other}/operator-mallory.crt",
             "--key", f"{self.other}/operator-mallory.key"], env=env)
        run([os.path.join(BIN, "dsmilctl"), "config", "add-node", "NODE-A",
             f"https://127.0.0.1:{self.c.ports['node-a'][1]}", "--cert", f"{self.c.pki}/ca.crt"], env=env)
        p = run([os.path.join(BIN, "dsmilctl"), "status"], env=env, check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("✗ DOWN", p.stdout)

    def test_5_killed_node_shows_down(self):
        self.c.procs["node-b"].kill()
        self.c.procs["node-b"].wait()
        p = self.c.ctl("status", check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        line = next(l for l in p.stdout.splitlines() if l.startswith("NODE-B"))
        self.assertIn("✗ DOWN", line)
        self.assertIn("connection refused", p.stdout)
        self.assertIn("NODE-A (SOC/Control)", p.stdout)
        self.assertIn("Overall Cluster Health: ✗ DEGRADED (1 of 3 nodes down)", p.stdout)
        self.c.start("node-b")
        p = self.c.ctl("status", check=False)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_6_sigterm_stops_cleanly(self):
        proc = self.c.procs["node-c"]
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0)
        with open(os.path.join(self.tmp, "node-c.log")) as f:
            log = f.read().splitlines()
        events = [json.loads(l)["msg"] for l in log]
        self.assertIn("node started", events)
        self.assertEqual(events[-1], "node stopped")
        first = json.loads(log[0])
        self.assertEqual(first["node"], "node-c")
        self.c.start("node-c")

    def test_7_bad_config_and_readable_key_refused(self):
        dsmild = os.path.join(BIN, "dsmild")
        bad = os.path.join(self.tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write("node: {name: node-x, role: gpu}\ntls: {ca: a, cert: b, key: c}\n")
        p = run([dsmild, "--config", bad], check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("node.role: unknown role 'gpu'", p.stderr)
        key = os.path.join(self.tmp, "loose.key")
        shutil.copy(f"{self.c.pki}/node-a.key", key)
        os.chmod(key, 0o644)
        http, control, dbe = free_ports(3)
        with open(bad, "w") as f:
            f.write(f"node: {{name: node-x, role: soc}}\n"
                    f"listen: {{http: '127.0.0.1:{http}', control: '127.0.0.1:{control}', dbe: '127.0.0.1:{dbe}'}}\n"
                    f"tls: {{ca: pki/ca.crt, cert: pki/node-a.crt, key: loose.key}}\n")
        p = run([dsmild, "--config", bad], check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("FAILED_PRECONDITION", p.stderr)
        self.assertIn("loose.key", p.stderr)

    def test_8_state_files_private(self):
        # The node's data directory (made 0755 by this test under umask 022) and
        # everything the stores wrote in it, and each node's log: no group/other bits.
        open_to_others = []
        paths = [os.path.join(self.tmp, f"{n}.log") for n in NODES]
        data = os.path.join(self.tmp, "node-c", "data")
        paths.append(data)
        for d, dirs, files in os.walk(data):
            paths += [os.path.join(d, x) for x in dirs + files]
        for p in paths:
            st = os.lstat(p)
            if st.st_mode & 0o077 and not os.path.islink(p):
                open_to_others.append(f"{p} {oct(st.st_mode & 0o7777)}")
        self.assertEqual(open_to_others, [])
        self.assertGreater(len(paths), 5)


if __name__ == "__main__":
    BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
