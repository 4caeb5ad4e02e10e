#!/usr/bin/env python3
"""Checks DSMIL's Grafana dashboards, provisioning, query extractor and RBAC script.

  python3 tests/grafana/dashboards_test.py SOURCE_DIR [unittest args]

No Grafana runs here: the dashboards are checked as files (and type-checked by
typecheck_dashboards.mjs), rbac.py against a stub of Grafana's HTTP API.
"""

import glob
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

SRC = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GRAFANA = os.path.join(SRC, "deploy", "grafana")
DASH_DIR = os.path.join(GRAFANA, "dashboards")
sys.dont_write_bytecode = True  # keep deploy/grafana free of __pycache__
sys.path.insert(0, GRAFANA)

import gen_dashboards  # noqa: E402
import panel_queries  # noqa: E402
import rbac  # noqa: E402

EXPECTED = {
    "Global/dsmil-overview.json": "dsmil-overview",
    "Global/dsmil-nodes.json": "dsmil-nodes",
    "Executive/dsmil-l9-exec.json": "dsmil-l9-exec",
    "ALPHA/dsmil-soc-alpha.json": "dsmil-soc-alpha",
    "BRAVO/dsmil-soc-bravo.json": "dsmil-soc-bravo",
}
TENANT_DASHBOARDS = {"ALPHA": "ALPHA/dsmil-soc-alpha.json", "BRAVO": "BRAVO/dsmil-soc-bravo.json"}
# Metrics a tenant dashboard may select without tenant_id (none today: every
# SOC panel is per tenant). Anything added here is visible to every tenant.
GLOBAL_METRIC_ALLOW_LIST = set()
# Metrics named by the dashboards that other changes add to the daemon; every
# other metric a dashboard names must be registered somewhere under src/.
PENDING_METRICS = set()  # metrics a dashboard may name before any node exports them
PROMETHEUS_BUILTIN = {"up"}

PROMQL_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                   "bool", "offset", "inf", "nan",
                   # aggregation operators, also written `sum by (x) (...)`
                   "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                   "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)'
                    r'|(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*)|(?P<op>[{}()\[\],]|[^\sA-Za-z0-9_{}()\[\],"\']+))')


def tokens(expr):
    pos, out = 0, []
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            if expr[pos:].strip() == "":
                break
            raise ValueError("cannot tokenize %r at %d" % (expr, pos))
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def selectors(expr):
    """[(metric, {label: (op, value)})] for every vector selector of a PromQL expression."""
    toks = tokens(expr)
    out, i = [], 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "ident" and text in ("by", "without", "on", "ignoring", "group_left", "group_right") and nxt == "(":
            i += 2
            while toks[i][1] != ")":  # a label list, not selectors
                i += 1
            i += 1
            continue
        if kind == "op" and text == "[":  # a range or subquery duration
            while toks[i][1] != "]":
                i += 1
            i += 1
            continue
        if kind == "ident" and text.lower() not in PROMQL_KEYWORDS and nxt != "(":
            labels, i = {}, i + 1
            if i < len(toks) and toks[i][1] == "{":
                i += 1
                while toks[i][1] != "}":
                    if toks[i][1] == ",":
                        i += 1
                        continue
                    name, op, val = toks[i][1], toks[i + 1][1], toks[i + 2][1]
                    labels[name] = (op, json.loads(val) if val.startswith('"') else val.strip("'"))
                    i += 3
                i += 1
            out.append((text, labels))
            continue
        i += 1
    return out


def balanced(expr):
    stack, pairs, quote = [], {")": "(", "]": "[", "}": "{"}, None
    prev = ""
    for c in expr:
        if quote:
            if c == quote and prev != "\\":
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "([{":
            stack.append(c)
        elif c in ")]}":
            if not stack or stack.pop() != pairs[c]:
                return False
        prev = c
    return not stack and quote is None


def load(rel):
    with open(os.path.join(DASH_DIR, rel), encoding="utf-8") as f:
        return json.load(f)


def prom_targets(d):
    for p in d["panels"]:
        for t in p["targets"]:
            if (t.get("datasource") or p.get("datasource", {})).get("type") == "prometheus":
                yield p, t


def registered_metrics():
    names = set()
    pat = re.compile(r'Add(Counter|Gauge|Histogram)\(\s*"([a-z_:][a-z0-9_:]*)"')
    for path in glob.glob(os.path.join(SRC, "src", "**", "*.cc"), recursive=True) + \
            glob.glob(os.path.join(SRC, "src", "**", "*.h"), recursive=True):
        with open(path, encoding="utf-8", errors="replace") as f:
            for kind, name in pat.findall(f.read()):
                names.add(name)
                if kind == "Histogram":
                    names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def yaml_or_none(path):
    try:
        import yaml  # python3-yaml; the checks that need it are skipped without it
    except ImportError:
        return None
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


class Dashboards(unittest.TestCase):
    def test_files_and_uids(self):
        found = sorted(os.path.relpath(p, DASH_DIR) for p in glob.glob(os.path.join(DASH_DIR, "**", "*.json"), recursive=True))
        self.assertEqual(found, sorted(EXPECTED))
        for rel, uid in EXPECTED.items():
            d = load(rel)
            self.assertEqual(d["uid"], uid, rel)
            self.assertIsInstance(d["schemaVersion"], int)
            self.assertTrue(d["title"].startswith("DSMIL"), rel)

    def test_generated_files_are_up_to_date(self):
        r = subprocess.run([sys.executable, os.path.join(GRAFANA, "gen_dashboards.py"), "--check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        # And the check notices a stale file.
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "dash")
            shutil.copytree(DASH_DIR, out)
            path = os.path.join(out, TENANT_DASHBOARDS["ALPHA"])
            with open(path, encoding="utf-8") as f:
                text = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace("5[1-8]", "5[1-7]"))
            r = subprocess.run([sys.executable, os.path.join(GRAFANA, "gen_dashboards.py"), "--check", "--out", out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("dsmil-soc-alpha.json", r.stderr)

    def test_every_panel_has_targets_ids_and_known_datasources(self):
        ds_uids = {"dsmil-prometheus", "dsmil-postgres"} | {"dsmil-loki-" + t.lower() for t in gen_dashboards.TENANTS}
        for rel in EXPECTED:
            d = load(rel)
            ids = [p["id"] for p in d["panels"]]
            self.assertEqual(len(ids), len(set(ids)), rel)
            for p in d["panels"]:
                self.assertTrue(p.get("targets"), "%s: panel %r has no target" % (rel, p.get("title")))
                self.assertTrue(p.get("title") and p.get("description"), rel)
                self.assertLessEqual(p["gridPos"]["x"] + p["gridPos"]["w"], 24)
                refs = [t["refId"] for t in p["targets"]]
                self.assertEqual(len(refs), len(set(refs)), (rel, p["title"]))
                for t in p["targets"]:
                    ds = t.get("datasource") or p["datasource"]
                    self.assertIn(ds["uid"], ds_uids, (rel, p["title"]))
                    if ds["type"] == "prometheus":
                        self.assertTrue(t["expr"].strip(), (rel, p["title"]))

    def test_metrics_exist(self):
        known = registered_metrics() | PENDING_METRICS | PROMETHEUS_BUILTIN
        self.assertIn("dsmil_requests_total", known)  # the scan of src/ works
        for rel in EXPECTED:
            for p, t in prom_targets(load(rel)):
                for metric, _ in selectors(t["expr"]):
                    self.assertIn(metric, known, "%s: panel %r names unknown metric %s" % (rel, p["title"], metric))

    def test_spec_panels_present(self):
        def exprs(rel):
            return " ".join(t["expr"] for _, t in prom_targets(load(rel)))
        ov = exprs("Global/dsmil-overview.json")
        for s in ["sum(rate(dsmil_requests_total[5m]))", "dsmil_errors_total", "sum by (le, device_id) (rate(dsmil_request_latency_seconds_bucket",
                  "dsmil_active_devices", "process_resident_memory_bytes", "sum by (node, peer, direction) (rate(dsmil_dbe_messages_total"]:
            self.assertIn(s, ov)
        for q in ("0.5", "0.95", "0.99"):
            self.assertIn("histogram_quantile(%s, sum by (le, device_id)" % q, ov)
        soc = exprs(TENANT_DASHBOARDS["ALPHA"])
        for s in ['dsmil_stream_entries_total{tenant_id="$tenant",stream="SOC_EVENTS"}', 'device_id=~"5[1-8]"',
                  'dsmil_soar_proposals_total{tenant_id="$tenant"}', 'shrink_risk_acute_stress{tenant_id="$tenant"}',
                  'shrink_risk_hyperfocus{tenant_id="$tenant"}', 'shrink_risk_cognitive_load{tenant_id="$tenant"}',
                  'sum by (severity) (increase(dsmil_soc_events_total{tenant_id="$tenant"}', 'dsmil_l8_flags_total{tenant_id="$tenant"}']:
            self.assertIn(s, soc)
        for stream in ("L3_IN", "L3_OUT", "L4_IN", "L4_OUT", "SOC_EVENTS", "DEAD_LETTER"):
            self.assertIn('stream="%s"' % stream, soc)
        ex = exprs("Executive/dsmil-l9-exec.json")
        for s in ["dsmil_coa_generated_total", "sum by (source, threat_level) (increase(dsmil_coa_scenarios_total",
                  "sum by (tenant_id, reason) (increase(dsmil_coa_refusals_total", "sum by (tenant_id, outcome) (increase(dsmil_nc3_queries_total",
                  'outcome="ACCEPTED"', "sum by (threat_level)"]:
            self.assertIn(s, ex)
        nodes = exprs("Global/dsmil-nodes.json")
        for m in ["up", "dsmil_node_up", "dsmil_dbe_peer_session_up", "dsmil_dbe_peer_queued_envelopes", "process_cpu_seconds_total",
                  "process_resident_memory_bytes", "process_open_fds", "dsmil_node_restarts", "sum by (code) (rate(dsmil_http_requests_total",
                  "dsmil_tenant_isolation_ok"]:
            self.assertIn(m, nodes)


class TenantIsolation(unittest.TestCase):
    def test_tenant_variable_is_locked(self):
        for tenant, rel in TENANT_DASHBOARDS.items():
            vs = load(rel)["templating"]["list"]
            self.assertEqual([v["name"] for v in vs], ["tenant"], rel)
            v = vs[0]
            self.assertEqual((v["type"], v["query"], v["hide"], v["skipUrlSync"]), ("constant", tenant, 2, True), rel)
            self.assertEqual(v["current"]["value"], tenant)

    def test_no_other_tenant_mentioned(self):
        for tenant, rel in TENANT_DASHBOARDS.items():
            with open(os.path.join(DASH_DIR, rel), encoding="utf-8") as f:
                text = f.read().lower()
            self.assertIn(tenant.lower(), text)
            for other in TENANT_DASHBOARDS:
                if other != tenant:
                    self.assertNotIn(other.lower(), text, "%s mentions %s" % (rel, other))

    def test_every_selector_is_tenant_scoped(self):
        for tenant, rel in TENANT_DASHBOARDS.items():
            d = load(rel)
            for p in d["panels"]:
                for t in p["targets"]:
                    ds = t.get("datasource") or p["datasource"]
                    if ds["type"] == "prometheus":
                        sels = selectors(t["expr"])
                        self.assertTrue(sels, t["expr"])
                        for metric, labels in sels:
                            if metric in GLOBAL_METRIC_ALLOW_LIST:
                                continue
                            self.assertEqual(labels.get("tenant_id"), ("=", "$tenant"), "%s: %r: %s%s" % (rel, p["title"], metric, labels))
                    elif ds["type"] == "loki":
                        self.assertEqual(ds["uid"], "dsmil-loki-" + tenant.lower())
                        self.assertRegex(t["expr"], r'^\{tenant="\$tenant"[,}]')
                    else:
                        self.fail("%s: panel %r uses datasource %s, not allowed on a tenant dashboard" % (rel, p["title"], ds["type"]))

    def test_selector_parser(self):
        self.assertEqual(selectors('sum by (le, device_id) (rate(x_bucket{a="1",b=~"5[1-8]"}[5m])) / on (instance) group_left (node) y or vector(0)'),
                         [("x_bucket", {"a": ("=", "1"), "b": ("=~", "5[1-8]")}), ("y", {})])
        self.assertEqual(selectors("up"), [("up", {})])


class PanelQueries(unittest.TestCase):
    def run_tool(self, *args):
        r = subprocess.run([sys.executable, os.path.join(GRAFANA, "panel_queries.py")] + list(args), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_lists_every_prometheus_target(self):
        out = self.run_tool()
        want = set()
        for rel, uid in EXPECTED.items():
            for p, t in prom_targets(load(rel)):
                want.add((uid, p["id"], t["refId"]))
        got = [(q["dashboard"], q["panel_id"], q["ref_id"]) for q in out]
        self.assertEqual(len(got), len(set(got)))
        self.assertEqual(set(got), want)
        panels = {(uid, p["id"]) for rel, uid in EXPECTED.items() for p in load(rel)["panels"] if p["datasource"]["type"] == "prometheus"}
        self.assertEqual({(q["dashboard"], q["panel_id"]) for q in out}, panels)
        for q in out:
            self.assertEqual(set(q) >= {"dashboard", "panel", "expr"}, True)
            self.assertNotIn("$", q["expr"], q)
            self.assertTrue(balanced(q["expr"]), q)
            self.assertNotIn("skip", q)
        alpha = [q["expr"] for q in out if q["dashboard"] == "dsmil-soc-alpha"]
        self.assertTrue(alpha and all('tenant_id="ALPHA"' in e for e in alpha))
        self.assertIn('rate(dsmil_stream_entries_total{tenant_id="ALPHA",stream="SOC_EVENTS"}[1m])', " ".join(alpha))
        self.assertTrue(any('tenant_id=~".*"' in q["expr"] for q in out if q["dashboard"] == "dsmil-l9-exec"))

    def test_all_lists_other_datasources_with_skip(self):
        out = self.run_tool("--all", "--rate-interval", "2m", "--range", "6h")
        skipped = [q for q in out if "skip" in q]
        self.assertEqual(sorted(q["datasource"] for q in skipped), ["loki", "loki", "postgres"])
        self.assertIn('{tenant="BRAVO", layer="L8"}', [q["expr"] for q in skipped])
        sql = [q["expr"] for q in skipped if q["datasource"] == "postgres"][0]
        self.assertIn("$__timeFilter(ts)", sql)
        self.assertTrue(any("[2m]" in q["expr"] for q in out) and any("[6h]" in q["expr"] for q in out))

    def test_unknown_variable_fails(self):
        d = {"uid": "x", "panels": [{"id": 1, "title": "t", "type": "stat", "datasource": gen_dashboards.PROM,
                                     "targets": [{"refId": "A", "datasource": gen_dashboards.PROM, "expr": "up{job=\"$nope\"}"}]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(d, f)
        try:
            r = subprocess.run([sys.executable, os.path.join(GRAFANA, "panel_queries.py"), f.name], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("$nope", r.stderr)
        finally:
            os.unlink(f.name)

    def test_balanced_checker(self):
        self.assertTrue(balanced('sum(rate(x{a="(}"}[5m]))'))
        self.assertFalse(balanced("sum(rate(x[5m])"))
        self.assertFalse(balanced("x{a=\"1\"]"))

    def test_promtool_parses_every_query(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed (Debian package prometheus)")
        out = self.run_tool()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rules.yml")
            with open(path, "w", encoding="utf-8") as f:
                f.write("groups:\n- name: dsmil_dashboard_queries\n  rules:\n")
                for i, q in enumerate(out):
                    f.write("  - record: dsmil:dashboard_query:%d\n    expr: %s\n" % (i, json.dumps(q["expr"])))
            r = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("SUCCESS: %d rules found" % len(out), r.stdout)


class Provisioning(unittest.TestCase):
    def test_datasources(self):
        path = os.path.join(GRAFANA, "provisioning", "datasources", "dsmil.yaml")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for s in ["http://prometheus.dsmil.local:9090", "http://loki.dsmil.local:3100", "user: grafana_ro", "$__file{"]:
            self.assertIn(s, text)
        doc = yaml_or_none(path)
        if doc is None:
            self.skipTest("python3-yaml not installed: only the text was checked")
        by_uid = {d["uid"]: d for d in doc["datasources"]}
        want = {"dsmil-prometheus", "dsmil-postgres"} | {"dsmil-loki-" + t.lower() for t in gen_dashboards.TENANTS}
        self.assertEqual(set(by_uid), want)
        self.assertEqual(by_uid["dsmil-prometheus"]["type"], "prometheus")
        self.assertEqual(by_uid["dsmil-postgres"]["type"], "grafana-postgresql-datasource")
        self.assertTrue(by_uid["dsmil-postgres"]["secureJsonData"]["password"].startswith("$__file{"))
        for t in gen_dashboards.TENANTS:
            loki = by_uid["dsmil-loki-" + t.lower()]
            self.assertEqual(loki["jsonData"]["httpHeaderName1"], "X-Scope-OrgID")
            self.assertEqual(loki["secureJsonData"]["httpHeaderValue1"], t)

    def test_dashboard_providers_cover_every_folder(self):
        path = os.path.join(GRAFANA, "provisioning", "dashboards", "dsmil.yaml")
        doc = yaml_or_none(path)
        if doc is None:
            self.skipTest("python3-yaml not installed")
        folders = {p["folderUid"]: (p["folder"], p["options"]["path"]) for p in doc["providers"]}
        _, planned = rbac.plan(gen_dashboards.TENANTS)
        self.assertEqual(set(folders), set(planned))
        for uid, (title, path_) in folders.items():
            self.assertEqual(title, planned[uid][0])
            self.assertEqual(os.path.basename(path_), title)
            self.assertTrue(os.path.isdir(os.path.join(DASH_DIR, title)), title)
        for p in doc["providers"]:
            self.assertEqual((p["type"], p["allowUiUpdates"]), ("file", False))


class Rbac(unittest.TestCase):
    def dry_run(self, *args):
        r = subprocess.run([sys.executable, os.path.join(GRAFANA, "rbac.py"), "--dry-run"] + list(args), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()]

    def permissions(self, reqs):
        out = {}
        for r in reqs:
            m = re.fullmatch(r"/api/folders/([a-z0-9-]+)/permissions", r["path"])
            if m:
                self.assertEqual(r["method"], "POST")
                out[m.group(1)] = sorted((i.get("teamId"), i["permission"], tuple(sorted(i))) for i in r["body"]["items"])
        return out

    def test_dry_run_requests(self):
        reqs = self.dry_run()
        created = [r["body"]["name"] for r in reqs if r["method"] == "POST" and r["path"] == "/api/teams"]
        self.assertEqual(created, ["SOC_ANALYST_ALPHA", "SOC_ANALYST_BRAVO", "EXEC"])
        team = lambda n: "<id of team %s>" % n  # noqa: E731
        view = lambda *ts: sorted((team(t), 1, ("permission", "teamId")) for t in ts)  # noqa: E731
        self.assertEqual(self.permissions(reqs), {
            "dsmil-alpha": view("SOC_ANALYST_ALPHA", "EXEC"),
            "dsmil-bravo": view("SOC_ANALYST_BRAVO", "EXEC"),
            "dsmil-executive": view("EXEC"),
            "dsmil-global": view("EXEC"),
        })
        # No role-wide entries (Viewer/Editor) survive, no edit or admin grants.
        for r in reqs:
            self.assertNotIn('"role"', json.dumps(r["body"]))

    def test_more_tenants_and_members(self):
        reqs = self.dry_run("--tenants", "ALPHA,BRAVO,CHARLIE", "--member", "SOC_ANALYST_CHARLIE=dana")
        perms = self.permissions(reqs)
        self.assertEqual(perms["dsmil-charlie"], sorted(("<id of team %s>" % t, 1, ("permission", "teamId")) for t in ("SOC_ANALYST_CHARLIE", "EXEC")))
        self.assertEqual(reqs[-1], {"method": "POST", "path": "/api/teams/<id of team SOC_ANALYST_CHARLIE>/members", "body": {"userId": "<id of user dana>"}})
        r = subprocess.run([sys.executable, os.path.join(GRAFANA, "rbac.py"), "--dry-run", "--member", "NOPE=x"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        r = subprocess.run([sys.executable, os.path.join(GRAFANA, "rbac.py")], capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "GRAFANA_PASSWORD"})
        self.assertEqual(r.returncode, 2)

    def test_against_api_stub(self):
        """The live path: ids from responses, basic auth, existing team and folder reused."""
        seen = []

        class Stub(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                seen.append(("GET", self.path, None, self.headers.get("Authorization")))
                if self.path.startswith("/api/teams/search"):
                    teams = [{"id": 7, "name": "EXEC"}] if "name=EXEC" in self.path else []
                    self.reply(200, {"totalCount": len(teams), "teams": teams})
                elif self.path == "/api/folders/dsmil-alpha":
                    self.reply(404, {"message": "folder not found"})
                elif self.path.startswith("/api/folders/"):
                    self.reply(200, {"uid": self.path.rsplit("/", 1)[1]})
                else:
                    self.reply(404, {})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append(("POST", self.path, body, self.headers.get("Authorization")))
                if self.path == "/api/teams":
                    self.reply(200, {"message": "Team created", "teamId": {"SOC_ANALYST_ALPHA": 11, "SOC_ANALYST_BRAVO": 12}[body["name"]]})
                else:
                    self.reply(200, {"message": "ok"})

        srv = http.server.HTTPServer(("127.0.0.1", 0), Stub)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        try:
            with tempfile.NamedTemporaryFile("w", delete=False) as f:
                f.write("s3cret\n")
            r = subprocess.run([sys.executable, os.path.join(GRAFANA, "rbac.py"), "--url", "http://127.0.0.1:%d" % srv.server_port,
                                "--user", "admin", "--password-file", f.name], capture_output=True, text=True, timeout=60)
            os.unlink(f.name)
        finally:
            srv.shutdown()
            srv.server_close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(all(a == "Basic YWRtaW46czNjcmV0" for *_, a in seen))  # admin:s3cret
        posts = [(p, b) for m, p, b, _ in seen if m == "POST"]
        self.assertEqual([b["name"] for p, b in posts if p == "/api/teams"], ["SOC_ANALYST_ALPHA", "SOC_ANALYST_BRAVO"])
        self.assertEqual([b for p, b in posts if p == "/api/folders"], [{"uid": "dsmil-alpha", "title": "ALPHA"}])
        perms = {p: b["items"] for p, b in posts if p.endswith("/permissions")}
        self.assertEqual(perms, {
            "/api/folders/dsmil-global/permissions": [{"teamId": 7, "permission": 1}],
            "/api/folders/dsmil-executive/permissions": [{"teamId": 7, "permission": 1}],
            "/api/folders/dsmil-alpha/permissions": [{"teamId": 11, "permission": 1}, {"teamId": 7, "permission": 1}],
            "/api/folders/dsmil-bravo/permissions": [{"teamId": 12, "permission": 1}, {"teamId": 7, "permission": 1}],
        })


if __name__ == "__main__":
    unittest.main(verbosity=2)
