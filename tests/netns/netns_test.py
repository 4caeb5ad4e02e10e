#!/usr/bin/env python3
"""Three hosts in network namespaces: DBE secure sessions between real nodes.

Creates namespaces for node-a (172.20.0.10), node-b (172.20.0.20) and node-c
(172.20.0.30), each with one veth joined by a bridge in a fourth namespace,
and runs dsmild in each with its role, a fresh PKI from `dsmilctl pki init`
and ML-DSA-87 node identities pinned by the others. For QUIC and for TCP + TLS:
  * the sessions between the three nodes come up (/v1/status peers UP);
  * an envelope from node-b reaches device 61 on node-a and its reply comes
    back (ERROR INVALID_ROE_TOKEN: the test token is not a registered ROE token);
  * a node whose identity nobody pinned is refused;
  * node-a killed: node-b queues the envelope; node-a restarted: sessions
    come back and the queued envelope is answered;
  * node-a's link cut (ip link set down) and restored: likewise;
  * `dsmilctl status`, run from the host (which joins the bridge as
    172.20.0.1), shows three healthy nodes and exits 0;
  * attacks from a pinned peer (dbe_inject acting as node-c, from node-c's
    namespace, against node-a): a replayed record, a record with one
    ciphertext bit flipped and a record with a timestamp 10 minutes old are
    each refused and counted on node-a's /metrics with their reason
    (replay, tampered, stale), while the valid envelopes around them are
    answered.
Namespaces and processes are removed in a `finally`, also when a check fails.
Needs root and `ip netns`; without them the test FAILS (it does not skip).
Usage: netns_test.py BIN_DIR DBE_INJECT   (BIN_DIR holds dsmild and dsmilctl;
DBE_INJECT is the tests/netns/dbe_inject program)
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BIN = None
DBE_INJECT = None
TAG = str(os.getpid())
HOST_ADDR = "172.20.0.1"
HOST_IF, HOST_BR_IF = f"d{TAG}hh"[-15:], f"d{TAG}bh"[-15:]
NODES = ["node-a", "node-b", "node-c"]
ROLES = {"node-a": "soc", "node-b": "ai", "node-c": "data"}
ADDR = {"node-a": "172.20.0.10", "node-b": "172.20.0.20", "node-c": "172.20.0.30"}
NS = {n: f"dsmil{TAG}-{n}" for n in NODES}
BRIDGE_NS = f"dsmil{TAG}-br"
# The stranger: a node with a valid certificate whose identity nobody pinned.
STRANGER = "node-x"
STRANGER_PORTS = (9080, 9099, 9100)


class Failure(Exception):
    pass


def sh(*args, check=True, timeout=60, ns=None, env=None):
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def preflight():
    if os.geteuid() != 0:
        raise Failure("netns test needs root (ip netns add); run it as root or exclude the 'netns' label")
    if not shutil.which("ip"):
        raise Failure("netns test needs iproute2's `ip` command")
    probe = f"dsmil{TAG}-probe"
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        raise Failure(f"`ip netns add` is not permitted here: {p.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if not shutil.which("curl"):
        raise Failure("netns test needs curl")


def make_network():
    sh("ip", "netns", "add", BRIDGE_NS)
    sh("ip", "-n", BRIDGE_NS, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", BRIDGE_NS, "link", "set", "br0", "up")
    # The host itself joins the bridge as 172.20.0.1, so operators' tools run
    # from the host (root namespace) reach the nodes, as on a real LAN.
    sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", HOST_BR_IF)
    sh("ip", "link", "set", HOST_BR_IF, "netns", BRIDGE_NS)
    sh("ip", "addr", "add", HOST_ADDR + "/24", "dev", HOST_IF)
    sh("ip", "link", "set", HOST_IF, "up")
    sh("ip", "-n", BRIDGE_NS, "link", "set", HOST_BR_IF, "master", "br0")
    sh("ip", "-n", BRIDGE_NS, "link", "set", HOST_BR_IF, "up")
    for i, n in enumerate(NODES):
        ns = NS[n]
        sh("ip", "netns", "add", ns)
        host_end, br_end = f"d{TAG}h{i}"[-15:], f"d{TAG}b{i}"[-15:]
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", br_end)
        sh("ip", "link", "set", host_end, "netns", ns)
        sh("ip", "link", "set", br_end, "netns", BRIDGE_NS)
        sh("ip", "-n", ns, "link", "set", host_end, "name", "eth0")
        sh("ip", "-n", ns, "addr", "add", ADDR[n] + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", BRIDGE_NS, "link", "set", br_end, "master", "br0")
        sh("ip", "-n", BRIDGE_NS, "link", "set", br_end, "up")


def remove_network():
    subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
    for ns in [NS[n] for n in NODES] + [BRIDGE_NS]:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class Cluster:
    def __init__(self, root):
        self.root = root
        self.pki = os.path.join(root, "pki")
        self.keys = os.path.join(root, "keys")
        self.procs = {}
        self.ctl_env = dict(os.environ, DSMILCTL_CONFIG=os.path.join(root, "dsmilctl.yaml"), NO_COLOR="1")

    def ctl(self, *args, ns=None, check=True, timeout=60):
        return sh(os.path.join(BIN, "dsmilctl"), *args, ns=ns, check=check, timeout=timeout, env=self.ctl_env)

    def setup_pki(self):
        # The operator covers ALPHA: POST /v1/dbe serves only tenants the certificate covers.
        self.ctl("pki", "init", "--dir", self.pki, "--nodes", ",".join(NODES + [STRANGER]),
                 "--ip", f"{STRANGER}=172.20.0.30", "--operators", "admin", "--tenants", "ALPHA")
        os.makedirs(os.path.join(self.keys, "peer_keys"))
        for n in NODES:
            self.ctl("pki", "node-keys", "--dir", self.keys, n)
            shutil.copy(os.path.join(self.keys, f"{n}-mldsa87.pub"), os.path.join(self.keys, "peer_keys"))
        # The stranger has its own key dir: it pins node-a, nobody pins it.
        sk = os.path.join(self.root, "stranger-keys")
        os.makedirs(os.path.join(sk, "peer_keys"))
        self.ctl("pki", "node-keys", "--dir", sk, STRANGER)
        shutil.copy(os.path.join(self.keys, "node-a-mldsa87.pub"), os.path.join(sk, "peer_keys"))
        self.ctl("config", "set-operator", "--cert", os.path.join(self.pki, "operator-admin.crt"),
                 "--key", os.path.join(self.pki, "operator-admin.key"))
        for n in NODES:
            self.ctl("config", "add-node", n.upper(), f"https://{ADDR[n]}:8099", "--cert",
                     os.path.join(self.pki, "ca.crt"))

    def write_config(self, n, transport):
        lines = [
            f"node: {{name: {n}, role: {ROLES[n]}, address: {ADDR[n]}}}",
            f"listen: {{http: '{ADDR[n]}:8080', control: '{ADDR[n]}:8099', dbe: '{ADDR[n]}:8100'}}",
            f"tls: {{ca: pki/ca.crt, cert: pki/{n}.crt, key: pki/{n}.key}}",
            f"dbe: {{transport: {transport}, keys_dir: keys}}",
            "peers:",
        ]
        for p in NODES:
            if p != n:
                lines.append(f"  - {{name: {p}, role: {ROLES[p]}, control: 'https://{ADDR[p]}:8099', "
                             f"dbe: '{ADDR[p]}:8100'}}")
        lines.append("tenants: [{id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC]}]")
        if ROLES[n] == "data":
            os.makedirs(os.path.join(self.root, n, "data"), exist_ok=True)
            lines.append(f"stores: {{kind: embedded, path: {n}/data}}")
        lines.append(f"logging: {{level: info, file: {n}/{n}.log}}")
        path = os.path.join(self.root, f"{n}-{transport}.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def write_stranger_config(self, transport):
        http, control, dbe = STRANGER_PORTS
        a = ADDR["node-c"]
        text = (f"node: {{name: {STRANGER}, role: data}}\n"
                f"listen: {{http: '{a}:{http}', control: '{a}:{control}', dbe: '{a}:{dbe}'}}\n"
                f"tls: {{ca: pki/ca.crt, cert: pki/{STRANGER}.crt, key: pki/{STRANGER}.key}}\n"
                f"dbe: {{transport: {transport}, keys_dir: stranger-keys}}\n"
                f"peers: [{{name: node-a, role: soc, dbe: '{ADDR['node-a']}:8100'}}]\n"
                f"stores: {{kind: embedded, path: {STRANGER}/data}}\n")
        os.makedirs(os.path.join(self.root, STRANGER, "data"), exist_ok=True)
        path = os.path.join(self.root, f"{STRANGER}-{transport}.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, n, config, ns):
        os.makedirs(os.path.join(self.root, n), exist_ok=True)
        log = open(os.path.join(self.root, n, "stderr.log"), "a")
        p = subprocess.Popen(["ip", "netns", "exec", ns, os.path.join(BIN, "dsmild"), "--config", config],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs[n] = p
        return p

    def kill(self, n, sig=signal.SIGKILL):
        p = self.procs.pop(n, None)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def kill_all(self):
        for n in list(self.procs):
            self.kill(n, signal.SIGTERM)

    def status(self, n, via="node-b", port=8099, addr=None):
        """GET /v1/status of node n, fetched from inside namespace `via`."""
        addr = addr or ADDR[n]
        p = sh("curl", "-sS", "--max-time", "5", "--cacert", os.path.join(self.pki, "ca.crt"),
               "--cert", os.path.join(self.pki, "operator-admin.crt"),
               "--key", os.path.join(self.pki, "operator-admin.key"),
               f"https://{addr}:{port}/v1/status", ns=NS[via], check=False)
        if p.returncode != 0:
            return None
        try:
            return json.loads(p.stdout)
        except json.JSONDecodeError:
            return None

    def peers(self, n, **kw):
        s = self.status(n, **kw)
        return {p["name"]: p for p in s["peers"]} if s else {}

    def log_of(self, n):
        try:
            with open(os.path.join(self.root, n, f"{n}.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stderr_of(self, n):
        try:
            with open(os.path.join(self.root, n, "stderr.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def send_dbe(self, timeout=60):
        """dsmilctl test-dbe-message from node-b's namespace via NODE-B to device 61."""
        return self.ctl("test-dbe-message", "--type=0x62", "--tenant=ALPHA", "--device-dst=61",
                        "--device-src=43", "--node", "NODE-B", "--timeout", str(timeout),
                        ns=NS["node-b"], check=False, timeout=timeout + 10)


def wait_for(what, pred, timeout=30, interval=0.3):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise Failure(f"timed out after {timeout}s waiting for: {what} (last: {last!r})")


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def all_up(c, transport):
    for n in NODES:
        peers = c.peers(n)
        if len(peers) != 2:
            return False
        for p in peers.values():
            if p["state"] != "UP" or p["transport"] != transport:
                return False
    return True


def check_round_trip(p, what):
    check(p.returncode == 1 and "result: ERROR INVALID_ROE_TOKEN" in p.stdout
          and "device 61 -> device 43" in p.stdout,
          f"{what}: expected the ERROR INVALID_ROE_TOKEN reply from device 61, got rc {p.returncode}\n"
          f"stdout: {p.stdout}\nstderr: {p.stderr}")


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def session_counters(c, n, via="node-c"):
    """node n's DBE session counters from its /metrics (plain HTTP), fetched in namespace `via`:
    {("refusal", peer, reason): value, ("handshake", peer, role): value}."""
    p = sh("curl", "-sS", "--max-time", "5", f"http://{ADDR[n]}:8080/metrics", ns=NS[via])
    out = {}
    for line in p.stdout.splitlines():
        m = METRIC_LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(LABEL.findall(m.group(2))), float(m.group(3))
        if name == "dsmil_dbe_session_refusals_total":
            out[("refusal", labels.get("peer"), labels.get("reason"))] = value
        elif name == "dsmil_dbe_session_handshakes_total":
            out[("handshake", labels.get("peer"), labels.get("role"))] = value
    return out


def deltas(before, after, kind, peer):
    d = {}
    for k, v in after.items():
        if k[0] == kind and k[1] == peer and v != before.get(k, 0.0):
            d[k[2]] = v - before.get(k, 0.0)
    return d


def check_ctl_status(c, transport):
    # From the host (root namespace), over the bridge.
    p = c.ctl("status", "--timeout", "10", check=False, timeout=40)
    # Three healthy nodes; a layer near its latency SLO may turn the overall line DEGRADED (spec §8.1).
    check(p.returncode == 0 and ("HEALTHY (3 nodes)" in p.stdout or "SLO" in p.stdout)
          and p.stdout.count("✓ HEALTHY   node-") == 3
          and all(f"NODE-{x}" in p.stdout for x in "ABC"),
          f"{transport}: dsmilctl status: expected three healthy nodes and exit 0, got rc {p.returncode}\n"
          f"stdout: {p.stdout}\nstderr: {p.stderr}")
    j = c.ctl("status", "-o", "json", "--timeout", "10", check=False, timeout=40)
    try:
        doc = json.loads(j.stdout)
    except json.JSONDecodeError:
        doc = {}
    check(j.returncode == 0 and doc.get("healthy") is True
          and sorted(n.get("health") for n in doc.get("nodes", [])) == ["HEALTHY"] * 3,
          f"{transport}: dsmilctl status -o json: expected healthy: true and three HEALTHY nodes, "
          f"got rc {j.returncode}\nstdout: {j.stdout}\nstderr: {j.stderr}")


ATTACKS = (("replay", "replay"), ("bitflip", "tampered"), ("stale", "stale"))


def check_attacks(c, transport):
    pki = c.pki
    for mode, reason in ATTACKS:
        before = session_counters(c, "node-a")
        p = sh(DBE_INJECT, "--target", f"{ADDR['node-a']}:8100", "--transport", transport,
               "--cert", os.path.join(pki, "node-c.crt"), "--key", os.path.join(pki, "node-c.key"),
               "--ca", os.path.join(pki, "ca.crt"), "--keys-dir", c.keys, "--node", "node-c",
               "--peer", "node-a", "--mode", mode, ns=NS["node-c"], check=False, timeout=60)
        check(p.returncode == 0,
              f"{transport}: dbe_inject --mode {mode} exited {p.returncode} (0: sent, refused, and the valid "
              f"envelopes around it answered)\nstdout: {p.stdout}\nstderr: {p.stderr}")
        sessions = 2 if mode == "stale" else 1

        def counted():
            after = session_counters(c, "node-a")
            r = deltas(before, after, "refusal", "node-c")
            h = deltas(before, after, "handshake", "node-c").get("responder", 0)
            return (r, h) if r == {reason: 1.0} and h >= sessions else None
        try:
            wait_for(f"{transport}: node-a counts the {mode} refusal", counted, timeout=5)
        except Failure:
            after = session_counters(c, "node-a")
            raise Failure(f"{transport}: {mode}: expected node-a to count exactly one refusal of node-c with "
                          f"reason {reason!r} and at least {sessions} responder handshake(s); refusals changed by "
                          f"{deltas(before, after, 'refusal', 'node-c')}, handshakes by "
                          f"{deltas(before, after, 'handshake', 'node-c')}\ndbe_inject stdout: {p.stdout}")
        for line in p.stdout.splitlines():
            print(f"    dbe_inject: {line}", flush=True)
        print(f"--- {transport}: {mode} from a pinned peer refused by node-a "
              f"(dsmil_dbe_session_refusals_total{{peer=\"node-c\",reason=\"{reason}\"}} +1)", flush=True)


def scenario(c, transport):
    print(f"--- {transport}: starting three nodes", flush=True)
    for n in NODES:
        c.start(n, c.write_config(n, transport), NS[n])
    wait_for(f"{transport}: every node's two peer sessions UP", lambda: all_up(c, transport), timeout=40)
    print(f"--- {transport}: sessions up", flush=True)
    check_ctl_status(c, transport)
    print(f"--- {transport}: dsmilctl status: three healthy nodes, exit 0", flush=True)

    # Round trip node-b -> node-a (device 61) -> node-b.
    p = c.send_dbe(timeout=20)
    check_round_trip(p, f"{transport}: round trip")
    check('"dbe request"' in c.log_of("node-b"), "node-b did not log the routed request")
    print(f"--- {transport}: round trip node-b -> node-a device 61 -> node-b ok", flush=True)

    # An unpinned node is refused by node-a.
    c.start(STRANGER, c.write_stranger_config(transport), NS["node-c"])

    def stranger_refused():
        peers = c.peers(STRANGER, port=STRANGER_PORTS[1], addr=ADDR["node-c"])
        a = peers.get("node-a")
        return a and a["state"] == "DOWN" and "dbe-session" in a["reason"] and a["reason"]
    reason = wait_for(f"{transport}: {STRANGER} refused by node-a", stranger_refused, timeout=30)
    check("unknown_peer" in c.log_of("node-a"), "node-a did not log the unknown_peer refusal")
    c.kill(STRANGER, signal.SIGTERM)
    print(f"--- {transport}: unpinned {STRANGER} refused ({reason})", flush=True)

    # node-a killed: the envelope waits in node-b's queue, then is answered.
    c.kill("node-a")
    wait_for(f"{transport}: node-b sees node-a DOWN",
             lambda: c.peers("node-b").get("node-a", {}).get("state") == "DOWN", timeout=45)
    result = {}
    t = threading.Thread(target=lambda: result.update(p=c.send_dbe(timeout=90)))
    t.start()
    wait_for(f"{transport}: envelope queued on node-b",
             lambda: c.peers("node-b").get("node-a", {}).get("queued", 0) >= 1, timeout=20)
    c.start("node-a", os.path.join(c.root, f"node-a-{transport}.yaml"), NS["node-a"])
    t.join(timeout=100)
    check("p" in result, f"{transport}: dsmilctl did not finish after node-a restarted")
    check_round_trip(result["p"], f"{transport}: queued envelope after node-a restart")
    wait_for(f"{transport}: sessions back after node-a restart", lambda: all_up(c, transport), timeout=40)
    print(f"--- {transport}: node-a restarted, sessions back, queued envelope answered", flush=True)

    # node-a's link cut and restored.
    sh("ip", "-n", NS["node-a"], "link", "set", "eth0", "down")
    result = {}
    t = threading.Thread(target=lambda: result.update(p=c.send_dbe(timeout=90)))
    t.start()
    time.sleep(3)
    check(t.is_alive(), f"{transport}: a reply came while node-a's link was down: {result}")
    sh("ip", "-n", NS["node-a"], "link", "set", "eth0", "up")
    t.join(timeout=100)
    check("p" in result, f"{transport}: dsmilctl did not finish after the link came back")
    check_round_trip(result["p"], f"{transport}: envelope sent while the link was down")
    wait_for(f"{transport}: sessions up after the link came back", lambda: all_up(c, transport), timeout=60)
    print(f"--- {transport}: link cut and restored, envelope answered", flush=True)

    # Replayed, tampered and stale records from a pinned peer.
    check_attacks(c, transport)

    for n in NODES:
        c.kill(n, signal.SIGTERM)


def main():
    global BIN, DBE_INJECT
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    BIN = os.path.abspath(sys.argv[1])
    DBE_INJECT = os.path.abspath(sys.argv[2])
    root = tempfile.mkdtemp(prefix="dsmil-netns-")
    c = Cluster(root)
    try:
        preflight()
        c.setup_pki()
        make_network()
        for transport in ("quic", "tcp"):
            scenario(c, transport)
        print("netns test: OK", flush=True)
        return 0
    except (Failure, subprocess.TimeoutExpired) as e:
        print(f"netns test FAILED: {e}", file=sys.stderr)
        for n in NODES + [STRANGER]:
            out = c.stderr_of(n)
            if out:
                print(f"--- {n} log (tail):\n{out}", file=sys.stderr)
        return 1
    finally:
        c.kill_all()
        remove_network()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
