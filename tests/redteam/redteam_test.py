#!/usr/bin/env python3
"""`dsmilctl redteam run` against a real local cluster (spec §9.2).

Brings up the three-node cluster the way `make up` does (scripts/cluster.sh,
here in a temporary directory on reserved ports, random-weights model), runs
the six drills and checks the report; then opens a hole on purpose — the
tenant's policy bundle raises its prompt-injection threshold so high that the
detector refuses nothing — and checks that drill 3 reports FAIL, the others
still PASS, and the exit status is 1. Finally the hole is closed again and
the run passes.
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
        report = open(out).read() if os.path.exists(out) else ""
        return p, report

    def set_threshold(self, value):
        path = os.path.join(self.policies, "alpha.yaml")
        text = open(path).read()
        text = re.sub(r"^injection_threshold:.*\n", "", text, flags=re.M)
        if value is not None:
            text += f"injection_threshold: {value}\n"
        with open(path, "w") as f:
            f.write(text)
        time.sleep(1.5)  # policy bundles are re-read when they change

    def test_1_all_drills_pass(self):
        p, report = self.redteam("report.md")
        self.assertEqual(p.returncode, 0, f"{p.stderr}\n{report}")
        self.assertIn("# DSMIL Phase 5 Red-Team Report", report)
        self.assertRegex(report, r"\*\*Date:\*\* \d{4}-\d\d-\d\d")
        self.assertIn("**Cluster:** 3-node distributed (NODE-A, NODE-B, NODE-C)", report)
        self.assertIn("**Tenants Tested:** ALPHA, BRAVO", report)
        rows = drill_rows(report)
        self.assertEqual(sorted(rows), [1, 2, 3, 4, 5, 6], report)
        for n, (result, _) in rows.items():
            self.assertEqual(result, "✓ PASS", f"drill {n}\n{report}")
        self.assertIn("flagged LAYER_DISCREPANCY on 2/2 tampered events, 0 consistent", rows[2][1])
        self.assertRegex(rows[3][1], r"held-out attacks")
        # Computed recommendations: limits are on in make up's cluster and the
        # Loki rule is shipped, so neither is recommended.
        self.assertNotIn("Implement per-tenant rate limiting", report)
        self.assertNotIn("Add a Loki alerting rule", report)
        self.assertIn("## Findings", report)
        self.assertIn("No critical vulnerabilities found", report)
        # The credentials the run made are gone: its API keys are revoked.
        keys = subprocess.run([os.path.join(BIN, "dsmilctl"), "tenant", "key", "list", "--tenant", "ALPHA",
                               "--data-dir", os.path.join(self.env["DSMIL_CLUSTER_DIR"], "node-c", "data")],
                              env=self.env, capture_output=True, text=True, timeout=60)
        for line in keys.stdout.splitlines():
            if "redteam run" in line:
                self.assertRegex(line, r"revoked", line)

    def test_2_opened_hole_fails_its_drill(self):
        self.set_threshold(1.0)
        try:
            p, report = self.redteam("report-hole.md", "--sample", "8")
        finally:
            self.set_threshold(None)
        self.assertEqual(p.returncode, 1, f"{p.stderr}\n{report}")
        rows = drill_rows(report)
        self.assertEqual(rows[3][0], "✗ FAIL", report)
        for n in (1, 2, 4, 5, 6):
            self.assertEqual(rows[n][0], "✓ PASS", f"drill {n}\n{report}")
        self.assertIn("**Drill 3 failed (Prompt injection)**", report)
        self.assertIn("Close the hole drill 3 found", report)
        self.assertNotIn("No critical vulnerabilities found", report)

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
