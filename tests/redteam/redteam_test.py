#!/usr/bin/env python3
"""`dsmilctl redteam run` against a real local cluster (spec §9.2).

Brings up the three-node cluster the way `make up` does (scripts/cluster.sh,
here in a temporary directory on reserved ports, random-weights model), runs
the six drills and checks the report: drills 1, 2, 4, 5, 6 pass; drill 3
refuses the spec's prompts and passes or fails on its held-out sample against
the 95% target, and the exit status follows. Then it opens a hole on purpose —
ALPHA's policy bundle raises its prompt-injection threshold to 1.0 — and
checks that drill 3 reports FAIL because the spec's prompts got through, the
others still pass, and the exit status is 1.
Usage: redteam_test.py BIN_DIR SOURCE_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

BIN = None
SRC = None


def free_ports(n):
    tool = os.path.join(BIN, "dsmil_test_ports")
    p = subprocess.run([tool, str(n), "--hold-for", str(os.getpid())], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"{tool} exited {p.returncode}: {p.stderr}")
    return p.stdout.split()


def drill_rows(report):
    """{number: (result, notes)} from the report's table."""
    rows = {}
    for m in re.finditer(r"^\| (\d) \| [^|]+ \| (✓ PASS|✗ FAIL) \| ([^|]*) \|$", report, re.M):
        rows[int(m.group(1))] = (m.group(2), m.group(3).strip())
    return rows


class RedTeamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dsmil-redteam-")
        cls.policies = os.path.join(cls.tmp, "policies")
        shutil.copytree(os.path.join(SRC, "deploy", "policies"), cls.policies)
        cls.env = dict(os.environ,
                       DSMIL_CLUSTER_DIR=os.path.join(cls.tmp, "cluster"),
                       DSMILCTL_CONFIG=os.path.join(cls.tmp, "dsmilctl.yaml"),
                       DSMIL_CLUSTER_PORTS=" ".join(free_ports(10)),
                       DSMIL_POLICIES_DIR=cls.policies,
                       BUILD=os.path.relpath(os.path.dirname(BIN), SRC),
                       NO_COLOR="1")
        p = subprocess.run(["bash", os.path.join(SRC, "scripts", "cluster.sh"), "up"], cwd=SRC, env=cls.env,
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            cls.down()
            raise AssertionError(f"cluster.sh up exited {p.returncode}\n{p.stdout}\n{p.stderr}")

    @classmethod
    def down(cls):
        subprocess.run(["bash", os.path.join(SRC, "scripts", "cluster.sh"), "down"], cwd=SRC, env=cls.env,
                       capture_output=True, text=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.down()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def redteam(self, name, *extra, rules=None):
        out = os.path.join(self.tmp, name)
        args = [os.path.join(BIN, "dsmilctl"), "redteam", "run", "--cluster-dir", self.env["DSMIL_CLUSTER_DIR"],
                "--attacks", os.path.join(SRC, "data", "injection", "test", "attacks.jsonl"),
                "--loki-rules", rules or os.path.join(SRC, "deploy", "loki", "rules"), "-o", out, *extra]
        p = subprocess.run(args, cwd=SRC, env=self.env, capture_output=True, text=True, timeout=300)
        report = ""
        if os.path.exists(out):
            with open(out) as f:
                report = f.read()
        return p, report

    def set_threshold(self, value):
        path = os.path.join(self.policies, "alpha.yaml")
        with open(path) as f:
            text = f.read()
        text = re.sub(r"^injection_threshold:.*\n", "", text, flags=re.M)
        if value is not None:
            text += f"injection_threshold: {value}\n"
        with open(path, "w") as f:
            f.write(text)
        time.sleep(1.5)  # policy bundles are re-read when they change

    def test_1_drills_and_report(self):
        p, report = self.redteam("report.md")
        self.assertIn("# DSMIL Phase 5 Red-Team Report", report, p.stderr)
        self.assertRegex(report, r"\*\*Date:\*\* \d{4}-\d\d-\d\d")
        self.assertIn("**Cluster:** 3-node distributed (NODE-A, NODE-B, NODE-C)", report)
        self.assertIn("**Tenants Tested:** ALPHA, BRAVO", report)
        rows = drill_rows(report)
        self.assertEqual(sorted(rows), [1, 2, 3, 4, 5, 6], report)
        for n in (1, 2, 4, 5, 6):
            self.assertEqual(rows[n][0], "✓ PASS", f"drill {n}\n{report}")
        self.assertIn("flagged LAYER_DISCREPANCY on 2/2 tampered events, 0 consistent", rows[2][1])
        # Drill 3: the spec's prompts are refused; the held-out sample decides
        # the result against the 95% target, whatever the detector scores today.
        self.assertEqual(report.count("* ✓ spec prompt"), 2, report)
        m = re.search(r"\* (✓|✗) (\d+)/(\d+) sampled held-out attacks", report)
        self.assertIsNotNone(m, report)
        blocked, total = int(m.group(2)), int(m.group(3))
        self.assertEqual(total, 24)
        self.assertEqual(m.group(1) == "✓", blocked / total >= 0.95, report)
        self.assertEqual(rows[3][0] == "✓ PASS", blocked / total >= 0.95, report)
        self.assertIn(f"{blocked}/{total} held-out attacks", rows[3][1])
        all_pass = all(r[0] == "✓ PASS" for r in rows.values())
        self.assertEqual(p.returncode, 0 if all_pass else 1, p.stderr)
        if all_pass:
            self.assertIn("No critical vulnerabilities found", report)
        else:
            self.assertIn("**Drill 3 failed (Prompt injection)**", report)
        # Computed recommendations: limits are on in make up's cluster and the
        # Loki rule is shipped, so neither is recommended.
        self.assertNotIn("Implement per-tenant rate limiting", report)
        self.assertNotIn("Add a Loki alerting rule", report)
        self.assertIn("## Findings", report)
        # The credentials the run made are gone: its API keys are revoked.
        keys = subprocess.run([os.path.join(BIN, "dsmilctl"), "tenant", "key", "list", "--tenant", "ALPHA",
                               "--data-dir", os.path.join(self.env["DSMIL_CLUSTER_DIR"], "node-c", "data")],
                              env=self.env, capture_output=True, text=True, timeout=60)
        for line in keys.stdout.splitlines():
            if "redteam run" in line:  # id, tenant, created, revoked ("-" while valid), label
                self.assertRegex(line, r"Z\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+redteam run$", line)

    def test_2_opened_hole_fails_its_drill(self):
        # The hole: ALPHA's policy raises its injection threshold to 1.0, the
        # highest allowed, so device 51 lets through what it is not certain of.
        self.set_threshold(1.0)
        try:
            p, report = self.redteam("report-hole.md", "--sample", "8")
        finally:
            self.set_threshold(None)
        self.assertEqual(p.returncode, 1, f"{p.stderr}\n{report}")
        rows = drill_rows(report)
        self.assertEqual(rows[3][0], "✗ FAIL", report)
        self.assertIn("NOT all spec prompts", rows[3][1])
        self.assertIn("* ✗ spec prompt", report)
        for n in (1, 2, 4, 5, 6):
            self.assertEqual(rows[n][0], "✓ PASS", f"drill {n}\n{report}")
        self.assertIn("**Drill 3 failed (Prompt injection)**", report)
        self.assertIn("Close the hole drill 3 found", report)
        self.assertNotIn("No critical vulnerabilities found", report)

    def test_4_status_says_which_ids_do_the_work(self):
        # make up's SOC node: 18 and 25 consume the streams, the other L3/L4
        # ids are replicas that answer DBE requests only, 58 runs the L8 stage.
        p = subprocess.run([os.path.join(BIN, "dsmilctl"), "status", "--node", "NODE-A"], env=self.env,
                           capture_output=True, text=True, timeout=60)
        self.assertIn("replica of 18, no share of L3_IN (14-17, 19-22), 18 consumes L3_IN", p.stdout)
        self.assertIn("replica of 25, no share of L4_IN (23-24, 26-32), 25 consumes L4_IN", p.stdout)
        self.assertIn("58 runs the L8 stage and SOAR", p.stdout)

    def test_3_missing_loki_rule_and_bad_input(self):
        empty = os.path.join(self.tmp, "no-rules")
        os.makedirs(empty, exist_ok=True)
        p, report = self.redteam("report-norules.md", "--sample", "0", rules=empty)
        self.assertIn("Add a Loki alerting rule for `advml_flags: LAYER_DISCREPANCY`", report)
        p = subprocess.run([os.path.join(BIN, "dsmilctl"), "redteam", "run", "--cluster-dir",
                            os.path.join(self.tmp, "nowhere")], env=self.env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--cluster-dir", p.stderr)
        p = subprocess.run([os.path.join(BIN, "dsmilctl"), "redteam", "run", "--tenant", "ALPHA", "--other", "ALPHA",
                            "--cluster-dir", self.env["DSMIL_CLUSTER_DIR"]], env=self.env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("two different tenant ids", p.stderr)


if __name__ == "__main__":
    BIN, SRC = sys.argv[1], sys.argv[2]
    del sys.argv[1:3]
    unittest.main(verbosity=2)
