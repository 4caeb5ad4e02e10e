#!/usr/bin/env python3
"""The kitty cockpit (spec §8.2, docs/cockpit.md) and shell completion.

LiveCockpitTest brings up the three-node cluster the way `make up` does
(scripts/cluster.sh, in a temporary directory on reserved ports), starts
`dsmilctl cockpit` under xvfb-run with kitty's remote control on a unix
socket, and checks through `kitty @ ls` that every window of the session runs
its dsmilctl command and through `kitty @ get-text` that the windows show live
cluster data: the status views, both tenants' SOC top, the L7 smoke test.
It saves one screenshot per tab (ImageMagick `import`) under OUT_DIR and
prints their paths, then stops kitty, Xvfb and the cluster.

CliTest checks `dsmilctl completion bash|zsh` and `dsmilctl status --watch [SECONDS]`.
Usage: cockpit_test.py BIN_DIR SOURCE_DIR OUT_DIR [unittest args]
Exit 77 (skipped) when kitty, xvfb-run or import is not installed
(scripts/deps.sh test installs them).
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
import urllib.error
import urllib.request

BIN = None
SRC = None
OUT = None

# The model scripts/cluster.sh serves (random weights), the L7 test's profile.
PROFILE = "dsmil-tiny-random-weights"
# Window title -> (dsmilctl arguments its command line holds, text its screen shows).
WINDOWS = {
    "NODE-A status": (["status", "--node", "NODE-A", "--watch"], ["DSMIL Cluster Status", "NODE-A (SOC/Control)"]),
    "ALPHA log": (["logs", "-f", "--tenant", "ALPHA"], ["node-a", '"tenant":"ALPHA"']),
    "NODE-B status": (["status", "--node", "NODE-B", "--watch"], ["DSMIL Cluster Status", "NODE-B (AI/Inference)"]),
    "Cluster status": (["status", "--watch"], ["NODE-A", "NODE-B", "NODE-C", "Overall Cluster Health"]),
    "NODE-C status": (["status", "--node", "NODE-C", "--watch"], ["DSMIL Cluster Status", "NODE-C (Data/Logging)"]),
    "BRAVO log": (["logs", "-f", "--tenant", "BRAVO"], ["node-a", '"tenant":"BRAVO"']),
    "SOC-VIEW ALPHA": (["soc", "top", "--tenant", "ALPHA"], ["DSMIL SOC Top (ALPHA)", "EVENT_ID"]),
    "SOC-VIEW BRAVO": (["soc", "top", "--tenant", "BRAVO"], ["DSMIL SOC Top (BRAVO)", "EVENT_ID"]),
    "L7-TEST": (["l7", "test", "--profile", PROFILE, "--tenant", "ALPHA"], [f"Testing L7 Profile: {PROFILE}",
                                                                         "Test Results:"]),
}
TABS = ["NODE-A (SOC/Control)", "NODE-B (AI/Inference)", "NODE-C (Data/Logging)", "SOC Dashboard",
        "L7 Test Console"]


def free_ports(n):
    tool = os.path.join(BIN, "dsmil_test_ports")
    p = subprocess.run([tool, str(n), "--hold-for", str(os.getpid())], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"{tool} exited {p.returncode}: {p.stderr}")
    return p.stdout.split()


def descendants(root):
    """Every process below pid root (from /proc), deepest last."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for c in children.get(pid, []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid):
    """pid runs (a zombie left for init to reap does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class CliTest(unittest.TestCase):
    def test_status_watch_seconds(self):
        """`status --watch [SECONDS]` redraws every SECONDS until interrupted."""
        with tempfile.TemporaryDirectory() as d:
            ctl = [os.path.join(BIN, "dsmilctl"), "--config", os.path.join(d, "none.yaml"), "status"]
            p = subprocess.run(["timeout", "2.6", *ctl, "--watch", "1"], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 124)  # still redrawing when stopped
            self.assertGreaterEqual(p.stdout.count("DSMIL Cluster Status"), 2, p.stdout)
            p = subprocess.run(["timeout", "2.6", *ctl, "--watch"], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.stdout.count("DSMIL Cluster Status"), 1, p.stdout)  # default 5 s
            p = subprocess.run([*ctl, "--watch", "0.1"], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)

    def top_level_commands(self):
        """The subcommands `dsmilctl --help` lists: an independent source."""
        p = subprocess.run([os.path.join(BIN, "dsmilctl"), "--help"], capture_output=True, text=True, timeout=30)
        section = p.stdout.split("Subcommands:", 1)[1]
        names = re.findall(r"^  (\S+)", section, re.M)
        self.assertGreater(len(names), 10, p.stdout)
        return names

    def complete(self, shell_words, cword):
        words = " ".join(f"'{w}'" for w in shell_words)
        script = (f"source <('{BIN}/dsmilctl' completion bash) && complete -p dsmilctl && "
                  f"COMP_WORDS=({words}) && COMP_CWORD={cword} && _dsmilctl && printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "complete -o default -F _dsmilctl dsmilctl")
        return lines[1:]

    def test_bash_top_level(self):
        p = subprocess.run(["bash", "-c", f"source <('{BIN}/dsmilctl' completion bash); complete -p dsmilctl"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = self.complete(["dsmilctl", ""], 1)
        for name in self.top_level_commands():
            self.assertIn(name, got)
        self.assertIn("cockpit", got)
        self.assertIn("completion", got)

    def test_bash_nested_and_options(self):
        self.assertEqual(self.complete(["dsmilctl", "tenant", "key", "cr"], 3), ["create"])
        self.assertIn("--watch", self.complete(["dsmilctl", "--config", "x.yaml", "status", "--"], 4))
        self.assertIn("--tenant", self.complete(["dsmilctl", "soc", "top", "--t"], 3))
        # After an option that takes a value: file names, not commands.
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "ca.crt"), "w").close()
            got = self.complete(["dsmilctl", "config", "add-node", "--cert", os.path.join(d, "ca")], 4)
            self.assertEqual(got, [os.path.join(d, "ca.crt")])

    def test_zsh(self):
        p = subprocess.run([os.path.join(BIN, "dsmilctl"), "completion", "zsh"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("bashcompinit", p.stdout)
        self.assertIn("complete -o default -F _dsmilctl dsmilctl", p.stdout)
        if shutil.which("zsh"):
            # zsh's bash emulation calls the function with ksharrays set.
            z = subprocess.run(["zsh", "-c", f"source <('{BIN}/dsmilctl' completion zsh) && setopt ksharrays && "
                                "COMP_WORDS=(dsmilctl tenant key cr) && COMP_CWORD=3 && _dsmilctl && "
                                "print -l -- \"${COMPREPLY[@]}\""], capture_output=True, text=True, timeout=30)
            # (zsh's compgen leaves filtering by the typed prefix to zsh itself.)
            self.assertEqual(sorted(z.stdout.split()), ["create", "list", "revoke"], z.stderr)
        bad = subprocess.run([os.path.join(BIN, "dsmilctl"), "completion", "fish"], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(bad.returncode, 2)


class LiveCockpitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.tmp = tempfile.mkdtemp(prefix="dsmil-cockpit-")
        # DSMIL_CLUSTER_PORTS (ten ports, as scripts/cluster.sh takes them) pins the ports.
        cls.ports = os.environ.get("DSMIL_CLUSTER_PORTS", "").split() or free_ports(10)
        cls.env = dict(os.environ,
                       DSMIL_CLUSTER_DIR=os.path.join(cls.tmp, "cluster"),
                       DSMILCTL_CONFIG=os.path.join(cls.tmp, "dsmilctl.yaml"),
                       DSMIL_CLUSTER_PORTS=" ".join(cls.ports),
                       BUILD=os.path.relpath(os.path.dirname(BIN), SRC))
        cls.env.pop("NO_COLOR", None)
        p = subprocess.run(["bash", os.path.join(SRC, "scripts", "cluster.sh"), "up"], cwd=SRC, env=cls.env,
                           capture_output=True, text=True, timeout=180)
        if p.returncode != 0:
            cls.down()
            raise AssertionError(f"cluster.sh up exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        k = subprocess.run([os.path.join(BIN, "dsmilctl"), "tenant", "key", "create", "--tenant", "ALPHA",
                            "--data-dir", os.path.join(cls.env["DSMIL_CLUSTER_DIR"], "node-c", "data")],
                           env=cls.env, capture_output=True, text=True, timeout=60)
        if k.returncode != 0:
            cls.down()
            raise AssertionError(f"tenant key create: {k.stderr}")
        cls.env["DSMIL_API_KEY"] = k.stdout.split()[0]
        cls.l7_url = f"http://127.0.0.1:{cls.ports[9]}"
        cls.post_events()
        print(f"cluster up in {time.monotonic() - t0:.1f}s", flush=True)

    @classmethod
    def post_events(cls):
        """SOC events for both tenants, so the SOC views have rows to show."""
        pki = os.path.join(cls.env["DSMIL_CLUSTER_DIR"], "pki")
        ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        ctx.check_hostname = False
        ctx.load_cert_chain(os.path.join(pki, "operator-admin.crt"), os.path.join(pki, "operator-admin.key"))
        now = int(time.time() * 1000)
        for tenant in ("ALPHA", "BRAVO"):
            events = [{"ts_ms": now, "source": "fw-edge-01",
                       "features": {"src_host": f"ws-{i}", "dst_port": 4444 + i, "kex": "X25519"}} for i in range(6)]
            events += [{"ts_ms": now, "source": "sensor",
                        "features": {"src_host": f"ws-{i}", "dst_domain": "evil.example", "bytes_out": 1000 + i,
                                     "failed_logins": 30, "anomaly_score": 0.9}} for i in range(3)]
            req = urllib.request.Request(f"https://127.0.0.1:{cls.ports[1]}/v1/events?tenant={tenant}",
                                         data=json.dumps(events).encode(),
                                         headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
                    code = r.status
            except urllib.error.HTTPError as e:
                code = e.code
            if code not in (200, 202):
                cls.down()
                raise AssertionError(f"POST /v1/events for {tenant}: HTTP {code}")

    @classmethod
    def down(cls):
        subprocess.run(["bash", os.path.join(SRC, "scripts", "cluster.sh"), "down"], cwd=SRC, env=cls.env,
                       capture_output=True, text=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.down()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def kitty_rc(self, sock, *args, check=True):
        p = subprocess.run(["kitty", "@", "--to", f"unix:{sock}", *args], capture_output=True, text=True, timeout=30)
        if check:
            self.assertEqual(p.returncode, 0, f"kitty @ {' '.join(args)}: {p.stderr}")
        return p

    def screen(self, sock, window):
        """The window's text, scrollback included."""
        return self.kitty_rc(sock, "get-text", "--extent", "all", "--match", f"id:{window['id']}").stdout

    def stop(self, proc):
        """Stops xvfb-run and everything under it (kitty, its windows, Xvfb)."""
        pids = descendants(proc.pid) + [proc.pid]
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        time.sleep(0.5)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        return pids

    def test_1_print(self):
        p = subprocess.run([os.path.join(BIN, "dsmilctl"), "cockpit", "--print", "--l7-url", self.l7_url,
                            "--l7-profile", PROFILE],
                           env=self.env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotRegex(p.stdout, r"@[A-Z0-9_]+@")
        ctl = os.path.realpath(os.path.join(BIN, "dsmilctl"))
        self.assertIn(f"launch --title \"NODE-A status\" {ctl} --config {self.env['DSMILCTL_CONFIG']} status "
                      "--node NODE-A --watch 5", p.stdout)
        self.assertIn(f"--url {self.l7_url}", p.stdout)
        for tab in TABS:
            self.assertIn(f"new_tab {tab}\n", p.stdout)
        keys = subprocess.run([os.path.join(BIN, "dsmilctl"), "cockpit", "--print-keys"], env=self.env,
                              capture_output=True, text=True, timeout=30)
        for key in ("ctrl+shift+s", "ctrl+shift+t", "ctrl+shift+l", "ctrl+shift+g"):
            self.assertRegex(keys.stdout, rf"(?m)^map {re.escape(key)} ")

    def test_2_fails_clearly(self):
        env = {k: v for k, v in self.env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        p = subprocess.run([os.path.join(BIN, "dsmilctl"), "cockpit"], env=env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no display", p.stderr)
        env["DISPLAY"] = ":1"
        env["PATH"] = os.path.join(self.tmp, "empty-path")
        p = subprocess.run([os.path.join(BIN, "dsmilctl"), "cockpit"], env=env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("kitty not found", p.stderr)

    def test_3_live_cockpit(self):
        sock = os.path.join(self.tmp, "kitty.sock")
        auth = os.path.join(self.tmp, "Xauthority")
        display_file = os.path.join(self.tmp, "display")
        run_dir = os.path.join(self.tmp, "cockpit")
        kitty_conf_dir = os.path.join(self.tmp, "kitty-config")  # no user kitty.conf
        os.makedirs(kitty_conf_dir)
        env = dict(self.env, KITTY_CONFIG_DIRECTORY=kitty_conf_dir, LIBGL_ALWAYS_SOFTWARE="1",
                   KITTY_DISABLE_WAYLAND="1")
        env.pop("WAYLAND_DISPLAY", None)
        ctl = os.path.join(BIN, "dsmilctl")
        launcher = (f"echo \"$DISPLAY\" > '{display_file}' && exec '{ctl}' cockpit --dir '{run_dir}' "
                    f"--l7-url {self.l7_url} --l7-profile {PROFILE} --interval 2 -- "
                    f"--listen-on 'unix:{sock}' -o allow_remote_control=yes "
                    "-o initial_window_width=1580 -o initial_window_height=980 -o remember_window_size=no")
        log = open(os.path.join(self.tmp, "kitty.log"), "w")
        proc = subprocess.Popen(["xvfb-run", "-a", "-f", auth, "-s", "-screen 0 1600x1000x24", "sh", "-c", launcher],
                                cwd=SRC, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.check_cockpit(proc, sock, auth, display_file, run_dir)
        finally:
            pids = self.stop(proc)
            log.close()
        self.assertFalse([p for p in pids if alive(p)], "processes left after stopping kitty")

    def check_cockpit(self, proc, sock, auth, display_file, run_dir):
        self.t0 = time.monotonic()
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(self.tmp, "kitty.log")) as f:
                    self.fail(f"kitty did not open {sock} (exit {proc.poll()}):\n{f.read()}")
            time.sleep(0.2)
        printed = subprocess.run([os.path.join(BIN, "dsmilctl"), "cockpit", "--print", "--l7-url", self.l7_url,
                                  "--l7-profile", PROFILE, "--interval", "2"],
                                 cwd=SRC, env=self.env, capture_output=True, text=True, timeout=30).stdout
        with open(os.path.join(run_dir, "dsmil.session")) as f:
            self.assertEqual(f.read(), printed, "the session kitty runs is the one --print writes")

        # Every window runs its command.
        ls = json.loads(self.kitty_rc(sock, "ls").stdout)
        windows = {}
        tabs = []
        for os_window in ls:
            for tab in os_window["tabs"]:
                tabs.append((tab["title"], tab["id"]))
                for w in tab["windows"]:
                    windows[w["title"]] = w
        for title, (args, _) in WINDOWS.items():
            self.assertIn(title, windows, f"no window titled {title!r}: {sorted(windows)}")
            cmd = windows[title]["cmdline"]
            self.assertTrue(any(os.path.basename(c) == "dsmilctl" for c in cmd), f"{title}: {cmd}")
            joined = " ".join(cmd)
            self.assertIn(" ".join(args), joined, f"{title}: {cmd}")
            self.assertIn(self.env["DSMILCTL_CONFIG"], joined)
        self.assertIn("L7 console", windows)
        self.assertEqual(len(tabs), len(TABS), tabs)
        self.tab_ids = [t[1] for t in tabs]

        # Each window shows live cluster data.
        texts = {}
        deadline = time.monotonic() + 60
        for title, (_, want) in WINDOWS.items():
            while True:
                text = self.screen(sock, windows[title])
                texts[title] = text
                if all(w in text for w in want) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            for w in want:
                self.assertIn(w, text, f"window {title!r} shows:\n{text}")
            self.assertNotIn("dsmilctl:", text, f"window {title!r} reports an error:\n{text}")
        self.assertRegex(texts["NODE-A status"], r"NODE-A \(SOC/Control\) - 127\.0\.0\.1\s+✓ HEALTHY")
        self.assertIn("ALPHA", texts["Cluster status"])
        self.assertIn("[1/3] Sending test prompt to L7 Router", texts["L7-TEST"])
        self.assertIn("✓ ROE enforcement working as expected", texts["L7-TEST"])
        self.assertIn("Test Results: 2/3 PASSED, 1/3 DENIED (expected)\n", texts["L7-TEST"])
        # The events posted at set-up reach the SOC view once L8 has enriched them.
        row = re.compile(r"(?m)^[0-9a-f]{8}-\S+\s+\d\d:\d\d:\d\d\s+(LOW|MEDIUM|HIGH|CRITICAL)\s")
        for title in ("SOC-VIEW ALPHA", "SOC-VIEW BRAVO"):
            while not row.search(texts[title]) and time.monotonic() < deadline:
                time.sleep(0.5)
                texts[title] = self.screen(sock, windows[title])
            self.assertRegex(texts[title], row)
        print(f"cockpit checked in {time.monotonic() - self.t0:.1f}s", flush=True)

        # One screenshot per tab, for people to look at.
        with open(display_file) as f:
            display = f.read().strip()
        shot_env = dict(os.environ, DISPLAY=display, XAUTHORITY=auth)
        os.makedirs(OUT, exist_ok=True)
        for i, tab in enumerate(TABS):
            self.kitty_rc(sock, "focus-tab", "--match", f"id:{self.tab_ids[i]}")
            time.sleep(1.0)
            path = os.path.join(OUT, f"cockpit-tab{i + 1}.png")
            s = subprocess.run(["import", "-window", "root", path], env=shot_env, capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(s.returncode, 0, s.stderr)
            self.assertGreater(os.path.getsize(path), 10000, path)
            print(f"screenshot of tab {tab!r}: {path}", flush=True)
        with open(os.path.join(self.tmp, "kitty.log")) as f:
            log = f.read()
        self.assertNotIn("Traceback", log)
        self.assertNotIn("Ignoring invalid config line", log)


if __name__ == "__main__":
    BIN, SRC, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
    del sys.argv[1:4]
    if any("LiveCockpit" in a for a in sys.argv[1:]):
        missing = [t for t in ("kitty", "xvfb-run", "import") if not shutil.which(t)]
        if missing:
            print(f"SKIP: {', '.join(missing)} not installed (scripts/deps.sh test installs them)")
            sys.exit(77)
    unittest.main(verbosity=2)
