#!/usr/bin/env python3
"""The DSMIL images and the single-host compose stack on a real Docker engine.

Starts a private dockerd (data root, exec root, pid file and socket in a temporary
directory; no iptables, no default bridge), makes the local Debian base image
(scripts/make-base-image.sh: debootstrap + docker import), builds the runtime image from
the test build's programs (deploy/docker/Dockerfile, target runtime-prebuilt) and the
Redis 7 / PostgreSQL 15 images, and checks `dsmild --version` and the health check as
the image's non-root user. Then deploy/compose/docker-compose.yml: the three nodes
healthy in `dsmilctl status`, a SOC event through the pipeline into the PostgreSQL
archive, a chat completion, `dsmilctl tenant list` PASS against the real Redis ACLs and
PostgreSQL row-level security, and a node whose process is killed (SIGKILL) restarted
by the engine. Times and image sizes are printed. Everything is torn down and the
engine stopped at the end.
Usage: containers_test.py BIN_DIR SOURCE_DIR
"""
import ipaddress
import json
import os
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
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
BASE_TAG = "dsmil-base:bookworm"


def run(cmd, env=None, timeout=600, check=True, **kw):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def free_ports(n):
    tool = os.path.join(BIN, "dsmil_test_ports")
    return run([tool, str(n), "--hold-for", str(os.getpid())], timeout=60).stdout.split()


def free_prefix():
    """A /24 inside 172.16.0.0/12 (pg_hba.conf admits it) that no host route uses."""
    routes = run(["ip", "-4", "route", "show"]).stdout
    nets = [ipaddress.ip_network(w, strict=False) for line in routes.splitlines() for w in line.split()[:1]
            if "/" in w or w[0].isdigit()]
    for second in range(29, 15, -1):
        for third in range(200, 250):
            cand = ipaddress.ip_network(f"172.{second}.{third}.0/24")
            if not any(cand.overlaps(n) for n in nets if n.prefixlen > 0):
                return f"172.{second}.{third}"
    raise AssertionError("no free /24 in 172.16.0.0/12")


def http(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except OSError as e:
        return 0, str(e)


class ContainersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t_start = time.monotonic()
        cls.tmp = tempfile.mkdtemp(prefix="dsmil-containers-")
        os.chmod(cls.tmp, 0o755)
        cls.sock = os.path.join(cls.tmp, "docker.sock")
        cls.env = dict(os.environ, DOCKER_HOST=f"unix://{cls.sock}", DOCKER=DOCKER, NO_COLOR="1",
                       DSMILCTL_CONFIG=os.path.join(cls.tmp, "dsmilctl.yaml"))
        cls.dockerd = None
        cls.compose_up = False
        log = cls.dockerd_log = open(os.path.join(cls.tmp, "dockerd.log"), "w")
        cls.dockerd = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(cls.tmp, "root"), "--exec-root", os.path.join(cls.tmp, "exec"),
             "--pidfile", os.path.join(cls.tmp, "dockerd.pid"), "-H", f"unix://{cls.sock}", "--bridge=none",
             "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(150):
            if run([DOCKER, "info"], env=cls.env, check=False, timeout=30).returncode == 0:
                break
            if cls.dockerd.poll() is not None:
                raise AssertionError(f"dockerd exited {cls.dockerd.returncode}: see {log.name}")
            time.sleep(0.2)
        else:
            cls.tearDownClass()
            raise AssertionError("dockerd did not answer within 30 s")

    @classmethod
    def tearDownClass(cls):
        if cls.compose_up:
            run(cls.compose_cmd("down", "-v", "--remove-orphans"), env=cls.compose_env, check=False, timeout=180)
        if cls.dockerd and cls.dockerd.poll() is None:
            # Containers left by a failed step go with the engine.
            ids = run([DOCKER, "ps", "-aq"], env=cls.env, check=False).stdout.split()
            if ids:
                run([DOCKER, "rm", "-f", *ids], env=cls.env, check=False, timeout=120)
            cls.dockerd.send_signal(signal.SIGTERM)
            try:
                cls.dockerd.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(cls.dockerd.pid, signal.SIGKILL)
                cls.dockerd.wait()
        cls.dockerd_log.close()
        # What the engine left mounted (its netns file), then the directory.
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f if line.split()[1].startswith(cls.tmp + "/")]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], check=False)
        subprocess.run(["rm", "-rf", cls.tmp], check=False)
        if os.path.exists(cls.tmp):
            print(f"containers test: could not remove {cls.tmp}", flush=True)
        print(f"containers test: {time.monotonic() - cls.t_start:.0f} s in total", flush=True)

    @classmethod
    def compose_cmd(cls, *args):
        return ["docker-compose", "-p", "dsmiltest", "-f", os.path.join(SRC, "deploy", "compose", "docker-compose.yml"),
                *args]

    def docker(self, *args, timeout=600, check=True):
        return run([DOCKER, *args], env=self.env, timeout=timeout, check=check)

    def size_mb(self, tag):
        return int(self.docker("image", "inspect", "-f", "{{.Size}}", tag).stdout) / 1e6

    def test_1_images(self):
        t = time.monotonic()
        run(["bash", os.path.join(SRC, "scripts", "make-base-image.sh"), BASE_TAG], env=self.env, timeout=600)
        print(f"base image {BASE_TAG}: {time.monotonic() - t:.0f} s, {self.size_mb(BASE_TAG):.0f} MB", flush=True)
        # The runtime image from the test build's programs (stripped) — no second compile.
        ctx = os.path.join(self.tmp, "context")
        os.makedirs(os.path.join(ctx, "bin"))
        os.makedirs(os.path.join(ctx, "deploy", "docker"))
        for prog in ("dsmild", "dsmilctl"):
            run(["strip", "-o", os.path.join(ctx, "bin", prog), os.path.join(BIN, prog)])
        for f in ("entrypoint.sh", "healthcheck.sh"):
            shutil.copy(os.path.join(SRC, "deploy", "docker", f), os.path.join(ctx, "deploy", "docker", f))
        t = time.monotonic()
        self.docker("build", "--network=host", "-f", os.path.join(SRC, "deploy", "docker", "Dockerfile"),
                    "--target", "runtime-prebuilt", "--build-arg", f"BASE={BASE_TAG}", "-t", "dsmil:5.0", ctx)
        print(f"image dsmil:5.0 (runtime-prebuilt): {time.monotonic() - t:.0f} s, {self.size_mb('dsmil:5.0'):.0f} MB",
              flush=True)
        for name, tag in (("redis", "dsmil-redis:7"), ("postgres", "dsmil-postgres:15")):
            t = time.monotonic()
            self.docker("build", "--network=host", "-f", os.path.join(SRC, "deploy", "docker", f"Dockerfile.{name}"),
                        "--build-arg", f"BASE={BASE_TAG}", "-t", tag, os.path.join(SRC, "deploy", "docker"))
            print(f"image {tag}: {time.monotonic() - t:.0f} s, {self.size_mb(tag):.0f} MB", flush=True)

        out = self.docker("run", "--rm", "--network=none", "dsmil:5.0", "--version").stdout
        self.assertEqual(out.strip(), "dsmild 5.0.0")
        self.assertEqual(self.docker("run", "--rm", "--network=none", "dsmil:5.0", "id", "-u").stdout.strip(), "10001")
        none = self.docker("run", "--rm", "--network=none", "dsmil:5.0", "bash", "-c",
                           "command -v gcc cc g++ c++ make cmake || echo none").stdout.strip()
        self.assertEqual(none, "none")
        # The image's health check against a node started with a minimal config, read-only root.
        cfg = os.path.join(self.tmp, "solo")
        os.makedirs(cfg)
        run([os.path.join(BIN, "dsmilctl"), "pki", "init", "--dir", os.path.join(cfg, "pki"), "--nodes", "node-a"])
        with open(os.path.join(cfg, "node.yaml"), "w") as f:
            f.write("node: {name: node-a, role: ai, address: 127.0.0.1}\n"
                    "listen: {http: \"0.0.0.0:8080\", control: \"127.0.0.1:8099\"}\n"
                    "tls: {ca: /etc/dsmil/pki/ca.crt, cert: /etc/dsmil/pki/node-a.crt, key: /etc/dsmil/pki/node-a.key}\n"
                    "logging: {level: warn}\n")
        subprocess.run(["chown", "-R", "10001:10001", cfg], check=True)
        self.docker("run", "-d", "--name", "solo", "--network=none", "--read-only", "--tmpfs", "/tmp",
                    "-v", f"{cfg}:/etc/dsmil:ro", "dsmil:5.0")
        ok = False
        for _ in range(100):
            if self.docker("exec", "solo", "/usr/local/bin/dsmil-healthcheck", check=False).returncode == 0:
                ok = True
                break
            time.sleep(0.2)
        logs = self.docker("logs", "solo", check=False)
        self.docker("rm", "-f", "solo")
        self.assertTrue(ok, f"health check never passed\n{logs.stdout}\n{logs.stderr}")

    def test_2_compose_stack(self):
        prefix = free_prefix()
        ports = free_ports(7)
        etc = os.path.join(self.tmp, "etc")
        run(["bash", os.path.join(SRC, "deploy", "compose", "init.sh"), etc],
            env=dict(self.env, DSMILCTL=os.path.join(BIN, "dsmilctl"), DSMIL_NET_PREFIX=prefix), timeout=120)
        names = ["A_HTTP", "A_CONTROL", "B_HTTP", "B_CONTROL", "B_L7", "C_HTTP", "C_CONTROL"]
        cls = type(self)
        cls.compose_env = dict(self.env, DSMIL_ETC=etc, DSMIL_NET_PREFIX=prefix,
                               **{f"DSMIL_PORT_{n}": p for n, p in zip(names, ports)})
        port = dict(zip(names, ports))
        t0 = time.monotonic()
        cls.compose_up = True
        run(self.compose_cmd("up", "-d"), env=self.compose_env, timeout=300)
        containers = ["dsmil-node-a", "dsmil-node-b", "dsmil-node-c", "dsmil-redis", "dsmil-postgres"]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            states = [self.docker("inspect", "-f", "{{.State.Health.Status}}", c, check=False).stdout.strip()
                      for c in containers]
            if all(s == "healthy" for s in states):
                break
            time.sleep(1)
        self.assertEqual(states, ["healthy"] * 5, self.docker("ps", "-a").stdout)
        print(f"compose up -> 5 containers healthy: {time.monotonic() - t0:.1f} s", flush=True)

        ctl = os.path.join(BIN, "dsmilctl")
        pki = os.path.join(etc, "pki")
        run([ctl, "config", "set-operator", "--cert", f"{pki}/operator-admin.crt", "--key",
             f"{pki}/operator-admin.key"], env=self.env)
        for n, p in (("NODE-A", "A_CONTROL"), ("NODE-B", "B_CONTROL"), ("NODE-C", "C_CONTROL")):
            run([ctl, "config", "add-node", n, f"https://127.0.0.1:{port[p]}", "--cert", f"{pki}/ca.crt"],
                env=self.env)
        st = run([ctl, "status"], env=self.env, check=False)
        self.assertEqual(st.returncode, 0, st.stdout + st.stderr)
        for n in ("NODE-A", "NODE-B", "NODE-C"):
            self.assertRegex(st.stdout, rf"(?m)^{n} .*✓ HEALTHY")

        # A SOC event through L3 -> L4 -> L8 into PostgreSQL (ALPHA's schema).
        ev = json.dumps([{"ts_ms": int(time.time() * 1000), "source": "fw-edge-01",
                          "features": {"src_host": "ws-17", "dst_port": 4444, "kex": "X25519"}}])
        r = run(["curl", "-sS", "--cacert", f"{pki}/ca.crt", "--cert", f"{pki}/operator-admin.crt", "--key",
                 f"{pki}/operator-admin.key", f"https://127.0.0.1:{port['A_CONTROL']}/v1/events?tenant=ALPHA",
                 "-H", "content-type: application/json", "-d", ev])
        self.assertEqual(json.loads(r.stdout)["accepted"], 1, r.stdout)
        archived = "0"
        for _ in range(60):
            archived = self.docker("exec", "dsmil-postgres", "psql", "-h", "/tmp", "-d", "dsmil", "-Atc",
                                   "SELECT count(*) FROM dsmil_alpha.events", check=False).stdout.strip()
            if archived not in ("", "0"):
                break
            time.sleep(0.5)
        self.assertEqual(archived, "1")

        # A chat completion on NODE-B with an ALPHA key.
        key = self.docker("exec", "dsmil-node-b", "dsmilctl", "tenant", "key", "create", "--tenant", "ALPHA",
                          "--data-dir", "/var/lib/dsmil/data").stdout.split()[0]
        body = json.dumps({"model": "dsmil-tiny-random-weights", "max_tokens": 8,
                           "messages": [{"role": "user", "content": "hello"}]})
        req = urllib.request.Request(f"http://127.0.0.1:{port['B_L7']}/v1/chat/completions", data=body.encode(),
                                     headers={"Authorization": f"Bearer {key}", "content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            chat = json.loads(resp.read())
        self.assertEqual(chat["object"], "chat.completion")
        self.assertEqual(chat["usage"]["completion_tokens"], 8)

        # Tenant isolation against the real Redis ACLs and PostgreSQL RLS.
        tl = self.docker("exec", "-e", "NO_COLOR=1", "dsmil-node-c", "dsmilctl", "tenant", "list", "--node-config",
                         "/etc/dsmil/node.yaml", check=False)
        self.assertEqual(tl.returncode, 0, tl.stdout + tl.stderr)
        self.assertEqual(tl.stdout.count("Isolation Status: ✓ PASS"), 2, tl.stdout)
        self.assertIn("dsmil_alpha (1 events archived)", tl.stdout)

        # A crash: SIGKILL to NODE-B's process; restart: always brings the container back.
        pid = int(self.docker("inspect", "-f", "{{.State.Pid}}", "dsmil-node-b").stdout)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        answered = None
        deadline = t0 + 120
        while time.monotonic() < deadline:
            state = self.docker("inspect", "-f", "{{.State.Running}} {{.RestartCount}} {{.State.Pid}}",
                                "dsmil-node-b").stdout.split()
            if answered is None and state[0] == "true" and state[1] == "1" and \
                    http(f"http://127.0.0.1:{port['B_HTTP']}/healthz", timeout=1)[0] == 200:
                answered = time.monotonic() - t0
            if answered is not None and self.docker("inspect", "-f", "{{.State.Health.Status}}",
                                                    "dsmil-node-b").stdout.strip() == "healthy":
                break
            time.sleep(0.2)
        healthy = time.monotonic() - t0
        self.assertIsNotNone(answered, "NODE-B was not restarted")
        print(f"NODE-B process killed (SIGKILL): restarted by the engine, /healthz 200 after {answered:.1f} s, "
              f"container healthy after {healthy:.1f} s", flush=True)
        st = run([ctl, "status"], env=self.env, check=False)
        self.assertEqual(st.returncode, 0, st.stdout + st.stderr)


if __name__ == "__main__":
    BIN, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"], failfast=True)
