#!/usr/bin/env python3
"""Failure detection on a live three-node cluster (loopback, real mTLS, real DBE sessions).

For each DBE transport (tcp, quic), node-a, node-b and node-c run with their
default keep-alive settings (docs/dbe-session.md §6b), then:
  * node-c is stopped with SIGSTOP (its sockets stay open, nothing answers):
    node-a's /metrics shows dsmil_dbe_peer_session_up{peer="node-c"} 0, and
    its /v1/status shows node-c DOWN, within BOUND_S seconds (node-b too);
  * SIGCONT: both come back to 1 / UP by themselves;
  * node-c is killed with SIGKILL: node-a marks it down within BOUND_S too,
    and a restarted node-c is back up by itself.
The measured times are printed. Usage: failure_detection_test.py BIN_DIR
(BIN_DIR holds dsmild, dsmilctl and dsmil_test_ports). DSMIL_TEST_PORT_BASE=N
uses the ports N.. instead of dsmil_test_ports; DSMIL_FAILDET_DBE="keepalive_ms: 0"
adds keys to the nodes' dbe section.
"""
import json
import os
import re
import shutil
import signal
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
BOUND_S = 3.0  # peer_timeout is 1.5 s; the rest is room for a loaded machine
# Extra keys for the nodes' dbe section, e.g. "keepalive_ms: 0" to see how long
# detection takes without keep-alives (the assertions then fail).
DBE_EXTRA = (", " + os.environ["DSMIL_FAILDET_DBE"]) if os.environ.get("DSMIL_FAILDET_DBE") else ""


def run(args, env=None, check=True, timeout=60):
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def ports(n):
    base = os.environ.get("DSMIL_TEST_PORT_BASE")
    if base:
        return list(range(int(base), int(base) + n))
    tool = os.path.join(BIN, "dsmil_test_ports")
    p = run([tool, str(n), "--hold-for", str(os.getpid())])
    return [int(x) for x in p.stdout.split()]


class Cluster:
    def __init__(self, root, transport, port_list):
        self.root = root
        self.transport = transport
        self.pki = os.path.join(root, "pki")
        self.keys = os.path.join(root, "keys")
        self.ports = {n: port_list[3 * i:3 * i + 3] for i, n in enumerate(NODES)}
        self.procs = {}

    def write_config(self, n):
        http, control, dbe = self.ports[n]
        lines = [
            f"node: {{name: {n}, role: {ROLES[n]}, address: 127.0.0.1}}",
            f"listen: {{http: '127.0.0.1:{http}', control: '127.0.0.1:{control}', dbe: '127.0.0.1:{dbe}'}}",
            f"tls: {{ca: pki/ca.crt, cert: pki/{n}.crt, key: pki/{n}.key}}",
            f"dbe: {{transport: {self.transport}, keys_dir: keys{DBE_EXTRA}}}",
            "peers:",
        ]
        for p in NODES:
            if p != n:
                lines.append(f"  - {{name: {p}, role: {ROLES[p]}, control: 'https://127.0.0.1:{self.ports[p][1]}', "
                             f"dbe: '127.0.0.1:{self.ports[p][2]}'}}")
        lines.append("tenants: [{id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC]}]")
        if ROLES[n] == "data":
            os.makedirs(os.path.join(self.root, n, "data"), exist_ok=True)
            lines.append(f"stores: {{kind: embedded, path: {n}/data}}")
        lines.append(f"logging: {{level: info, file: {n}-{self.transport}.log}}")
        path = os.path.join(self.root, f"{n}-{self.transport}.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, n):
        cfg = self.write_config(n)
        err = open(os.path.join(self.root, f"{n}-{self.transport}.stderr"), "a")
        self.procs[n] = subprocess.Popen([os.path.join(BIN, "dsmild"), "--config", cfg],
                                         stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        err.close()

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()

    def metrics(self, n):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[n][0]}/metrics", timeout=2) as r:
                return r.read().decode()
        except OSError:
            return ""

    def session_up(self, n, peer):
        m = re.search(r'^dsmil_dbe_peer_session_up\{node="%s",peer="%s"\} (\S+)$' % (n, peer), self.metrics(n),
                      re.M)
        return float(m.group(1)) if m else None

    def peer_state(self, n, peer):
        ctx = ssl.create_default_context(cafile=os.path.join(self.pki, "ca.crt"))
        ctx.check_hostname = False
        ctx.load_cert_chain(os.path.join(self.pki, "operator-admin.crt"), os.path.join(self.pki, "operator-admin.key"))
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self.ports[n][1]}/v1/status", context=ctx,
                                        timeout=2) as r:
                s = json.loads(r.read())
        except (OSError, ValueError):
            return None
        return next((p for p in s.get("peers", []) if p["name"] == peer), None)


def wait_for(pred, timeout, interval=0.05):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(interval)
    return None


class FailureDetectionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dsmil-faildet-")
        pki = os.path.join(cls.tmp, "pki")
        keys = os.path.join(cls.tmp, "keys")
        env = dict(os.environ, DSMILCTL_CONFIG=os.path.join(cls.tmp, "dsmilctl.yaml"))
        run([os.path.join(BIN, "dsmilctl"), "pki", "init", "--dir", pki, "--nodes", ",".join(NODES),
             "--operators", "admin"], env=env)
        os.makedirs(os.path.join(keys, "peer_keys"))
        for n in NODES:
            run([os.path.join(BIN, "dsmilctl"), "pki", "node-keys", "--dir", keys, n], env=env)
            shutil.copy(os.path.join(keys, f"{n}-mldsa87.pub"), os.path.join(keys, "peer_keys"))
        cls.ports = ports(18)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check_transport(self, transport, port_list):
        c = Cluster(self.tmp, transport, port_list)
        try:
            for n in NODES:
                c.start(n)

            def all_up():
                return all(c.session_up(n, p) == 1 for n in NODES for p in NODES if p != n)

            self.assertIsNotNone(wait_for(all_up, 60), f"{transport}: sessions did not come up")
            self.assertEqual(c.peer_state("node-a", "node-c")["state"], "UP")

            # SIGSTOP: sockets stay open, nothing answers.
            c.procs["node-c"].send_signal(signal.SIGSTOP)
            t_a = wait_for(lambda: c.session_up("node-a", "node-c") == 0, 15)
            t_b = wait_for(lambda: c.session_up("node-b", "node-c") == 0, 15)
            print(f"[ measured ] {transport}: SIGSTOP node-c -> node-a gauge 0 after "
                  f"{t_a if t_a is None else round(t_a, 2)} s", flush=True)
            self.assertIsNotNone(t_a, f"{transport}: node-a never marked the stopped node-c down")
            self.assertIsNotNone(t_b, f"{transport}: node-b never marked the stopped node-c down")
            self.assertLess(t_a, BOUND_S)
            # Status and gauge agree.
            st = c.peer_state("node-a", "node-c")
            self.assertEqual(st["state"], "DOWN", st)
            self.assertIn("nothing received from node-c", st["reason"])

            c.procs["node-c"].send_signal(signal.SIGCONT)
            back = wait_for(lambda: c.session_up("node-a", "node-c") == 1 and c.session_up("node-b", "node-c") == 1,
                            30)
            print(f"[ measured ] {transport}: SIGCONT node-c -> node-a gauge 1 after "
                  f"{back if back is None else round(back, 2)} s", flush=True)
            self.assertIsNotNone(back, f"{transport}: the session to node-c did not come back after SIGCONT")
            self.assertEqual(c.peer_state("node-a", "node-c")["state"], "UP")
            self.assertIsNotNone(wait_for(all_up, 30))

            # SIGKILL: the kernel closes TCP sockets; QUIC sends nothing.
            c.procs["node-c"].kill()
            c.procs["node-c"].wait()
            t_k = wait_for(lambda: c.session_up("node-a", "node-c") == 0, 15)
            print(f"[ measured ] {transport}: SIGKILL node-c -> node-a gauge 0 after "
                  f"{t_k if t_k is None else round(t_k, 2)} s", flush=True)
            self.assertIsNotNone(t_k)
            self.assertLess(t_k, BOUND_S)
            self.assertEqual(c.peer_state("node-a", "node-c")["state"], "DOWN")
            t0 = time.monotonic()
            c.start("node-c")
            self.assertIsNotNone(wait_for(all_up, 60), f"{transport}: restarted node-c did not come back")
            print(f"[ measured ] {transport}: restarted node-c, all sessions up after "
                  f"{round(time.monotonic() - t0, 2)} s", flush=True)
        finally:
            c.stop_all()

    def test_tcp(self):
        self.check_transport("tcp", self.ports[0:9])

    def test_quic(self):
        self.check_transport("quic", self.ports[9:18])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    BIN = os.path.abspath(sys.argv.pop())
    unittest.main(verbosity=2)
