#!/usr/bin/env python3
"""Every alert of deploy/prometheus/rules/alerts.yml has a promtool unit test
case where it fires and one where it stays quiet (deploy/prometheus/tests/*.yml).
Exit 1 with one line per alert that lacks either.
Usage: alert_coverage.py SOURCE_DIR"""
import glob
import os
import re
import sys

src = sys.argv[1]
with open(os.path.join(src, "deploy", "prometheus", "rules", "alerts.yml")) as f:
    alerts = sorted(set(re.findall(r"^\s*- alert:\s*(\S+)", f.read(), re.M)))
fires, quiet = set(), set()
for path in glob.glob(os.path.join(src, "deploy", "prometheus", "tests", "*.yml")):
    with open(path) as f:
        text = f.read()
    # Each alert_rule_test entry: "- eval_time: ...\n  alertname: X\n [exp_alerts: ... - exp_labels]"
    for entry in re.split(r"\n\s*- eval_time:", text)[1:]:
        m = re.search(r"^\s*alertname:\s*(\S+)", entry, re.M)
        if not m:
            continue
        body = re.split(r"\n\s*- (?:name|series):", entry)[0]
        (fires if re.search(r"exp_labels:", body) else quiet).add(m.group(1))
problems = [f"{a}: no promtool case where it fires" for a in alerts if a not in fires]
problems += [f"{a}: no promtool case where it stays quiet" for a in alerts if a not in quiet]
problems += [f"{a}: tested but not in alerts.yml" for a in sorted((fires | quiet) - set(alerts))]
for p in problems:
    print(p)
print(f"{len(alerts)} alerts, {len(problems)} problems")
sys.exit(1 if problems else 0)
