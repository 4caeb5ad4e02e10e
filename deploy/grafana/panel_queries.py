#!/usr/bin/env python3
"""Lists the query of every panel target of DSMIL's Grafana dashboards (docs/grafana.md).

  deploy/grafana/panel_queries.py [--all] [--rate-interval 1m] [--range 1h] [DASHBOARD.json|DIR ...]

Prints a JSON list, one object per Prometheus target, template variables substituted
so that each "expr" can be sent as is to Prometheus' /api/v1/query:

  {"dashboard": "dsmil-overview", "panel": "Requests/s (all nodes, all tenants)",
   "panel_id": 1, "ref_id": "A", "datasource": "prometheus", "instant": true,
   "expr": "sum(rate(dsmil_requests_total[5m]))"}

Substitutions: a constant variable becomes its value ($tenant → ALPHA on the SOC
dashboards), a query variable with "All" its allValue (".*"), otherwise its current
value; $__rate_interval and $__interval become --rate-interval (1m), $__range
--range (1h), $__range_s / $__range_ms and $__interval_ms the same in seconds /
milliseconds. An unknown variable is an error (exit 1).

Targets of other datasources (Loki LogQL, PostgreSQL SQL) cannot run on Prometheus:
they are left out, or with --all listed too, each with "skip" saying why (their
"expr" is the LogQL or SQL text, variables substituted the same way).
Default input: every *.json under deploy/grafana/dashboards/.
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "dashboards")

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration):
    m = _DURATION.match(duration)
    if not m:
        raise ValueError("not a duration: " + duration)
    return int(m.group(1)) * _SECONDS[m.group(2)]


def variable_values(dashboard):
    out = {}
    for v in dashboard.get("templating", {}).get("list", []):
        name = v["name"]
        if v.get("type") == "constant":
            out[name] = str(v.get("query", ""))
        elif v.get("includeAll"):
            out[name] = v.get("allValue") or ".*"
        else:
            cur = v.get("current", {}).get("value")
            if isinstance(cur, list):
                cur = "|".join(cur)
            out[name] = "" if cur is None else str(cur)
    return out


_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def substitute(text, values):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise KeyError(name)
        return values[name]

    return _VAR.sub(repl, text)


def builtin_values(rate_interval, range_):
    ri, rg = seconds(rate_interval), seconds(range_)
    return {
        "__rate_interval": rate_interval,
        "__interval": rate_interval,
        "__interval_ms": str(int(ri * 1000)),
        "__range": range_,
        "__range_s": str(int(rg)),
        "__range_ms": str(int(rg * 1000)),
    }


# $__timeFilter(col) and friends of the SQL datasources are macros, not variables.
_SQL_MACRO = re.compile(r"\$__(timeFilter|timeFrom|timeTo|timeGroup\w*|unixEpoch\w*)")


def panels_of(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        for inner in p.get("panels", []) or []:  # panels folded into a row
            yield inner


def queries(dashboard, rate_interval="1m", range_="1h", include_all=False):
    values = variable_values(dashboard)
    values.update(builtin_values(rate_interval, range_))
    uid = dashboard.get("uid", "")
    out = []
    for p in panels_of(dashboard):
        if p.get("type") == "row":
            continue
        panel_ds = (p.get("datasource") or {}).get("type", "")
        for t in p.get("targets", []):
            ds = (t.get("datasource") or {}).get("type", panel_ds)
            entry = {"dashboard": uid, "panel": p.get("title", ""), "panel_id": p.get("id"), "ref_id": t.get("refId", "")}
            if ds == "prometheus":
                entry.update({"datasource": "prometheus", "instant": bool(t.get("instant")), "expr": substitute(t.get("expr", ""), values)})
                out.append(entry)
            elif include_all:
                text = t.get("expr") if "expr" in t else t.get("rawSql", "")
                kind = "loki" if ds == "loki" else ("postgres" if "postgres" in ds else ds)
                if kind == "postgres":
                    text = _SQL_MACRO.sub(lambda m: "\x00" + m.group(1), text)
                    text = substitute(text, values).replace("\x00", "$__")
                else:
                    text = substitute(text, values)
                why = {"loki": "Loki LogQL query, not PromQL", "postgres": "PostgreSQL SQL query, not PromQL"}.get(kind, ds + " query, not PromQL")
                entry.update({"datasource": kind, "expr": text, "skip": why})
                out.append(entry)
    return out


def dashboard_files(paths):
    files = []
    for p in paths or [DEFAULT_DIR]:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, n) for n in names if n.endswith(".json")]
        else:
            files.append(p)
    return sorted(files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="dashboard files or folders (default: %s)" % os.path.relpath(DEFAULT_DIR))
    ap.add_argument("--all", action="store_true", help="also list Loki and PostgreSQL targets, each with a \"skip\" reason")
    ap.add_argument("--rate-interval", default="1m", help="value of $__rate_interval and $__interval (default: %(default)s)")
    ap.add_argument("--range", default="1h", dest="range_", help="value of $__range (default: %(default)s)")
    args = ap.parse_args()
    try:
        builtin_values(args.rate_interval, args.range_)
    except ValueError as e:
        print("panel_queries: " + str(e), file=sys.stderr)
        return 2
    result = []
    for f in dashboard_files(args.paths):
        with open(f, encoding="utf-8") as fh:
            d = json.load(fh)
        try:
            result += queries(d, args.rate_interval, args.range_, args.all)
        except KeyError as e:
            print("panel_queries: %s: unknown template variable $%s" % (f, e.args[0]), file=sys.stderr)
            return 1
    json.dump(result, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
