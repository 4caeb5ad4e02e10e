#!/usr/bin/env python3
"""Generates DSMIL's Grafana dashboards (docs/grafana.md).

Every dashboard under deploy/grafana/dashboards/ is written by this script; the
SOC dashboards of all tenants come from one template (soc_dashboard), so ALPHA
and BRAVO never drift. The generated JSON is committed; tests/grafana checks
that it is up to date.

  deploy/grafana/gen_dashboards.py            # rewrite the JSON files
  deploy/grafana/gen_dashboards.py --check    # exit 1 if a file is stale or missing

Folders (one per provisioning provider, deploy/grafana/provisioning/dashboards):
  Global/     dsmil-overview, dsmil-nodes
  Executive/  dsmil-l9-exec
  ALPHA/      dsmil-soc-alpha       (one folder per tenant, TENANTS below)
  BRAVO/      dsmil-soc-bravo
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "dashboards")

# Tenants that get a SOC dashboard and a folder of their own.
TENANTS = ["ALPHA", "BRAVO"]

# Datasource uids, fixed in provisioning/datasources/dsmil.yaml.
PROM = {"type": "prometheus", "uid": "dsmil-prometheus"}
POSTGRES = {"type": "grafana-postgresql-datasource", "uid": "dsmil-postgres"}


def loki(tenant):
    # One Loki datasource per tenant: each sends its own X-Scope-OrgID.
    return {"type": "loki", "uid": "dsmil-loki-" + tenant.lower()}


SCHEMA_VERSION = 39

# ---------------------------------------------------------------------------
# Panel builders


def prom(expr, legend="__auto", instant=False, ref=None):
    t = {"datasource": PROM, "editorMode": "code", "expr": expr, "legendFormat": legend}
    if instant:
        t.update({"instant": True, "range": False})
    else:
        t.update({"instant": False, "range": True})
    if ref:
        t["refId"] = ref
    return t


def legend_opts(values=None):
    return {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": values or []}


TOOLTIP = {"mode": "multi", "sort": "desc"}
REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def thresholds(*steps):
    """steps: (value or None, color) pairs, the first with None."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


GREEN = thresholds((None, "green"))


def field_defaults(unit=None, min_=None, max_=None, thr=None, no_value=None, custom=None, decimals=None):
    d = {"color": {"mode": "palette-classic"}, "thresholds": thr or GREEN}
    if unit:
        d["unit"] = unit
    if min_ is not None:
        d["min"] = min_
    if max_ is not None:
        d["max"] = max_
    if no_value is not None:
        d["noValue"] = no_value
    if decimals is not None:
        d["decimals"] = decimals
    if custom is not None:
        d["custom"] = custom
    return d


def timeseries(title, targets, desc, unit=None, stack=False, min_=None, max_=None, thr=None, no_value=None):
    custom = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 25 if stack else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "axisPlacement": "auto",
        "thresholdsStyle": {"mode": "line" if thr else "off"},
    }
    return {
        "type": "timeseries",
        "title": title,
        "description": desc,
        "targets": targets,
        "fieldConfig": {
            "defaults": field_defaults(unit, min_, max_, thr, no_value, custom),
            "overrides": [],
        },
        "options": {"legend": legend_opts(["lastNotNull", "max"]), "tooltip": TOOLTIP},
    }


def stat(title, targets, desc, unit=None, thr=None, no_value=None, decimals=None):
    return {
        "type": "stat",
        "title": title,
        "description": desc,
        "targets": targets,
        "fieldConfig": {
            "defaults": field_defaults(unit, thr=thr, no_value=no_value, decimals=decimals),
            "overrides": [],
        },
        "options": {
            "reduceOptions": REDUCE_LAST,
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
            "wideLayout": True,
            "showPercentChange": False,
        },
    }


def bargauge(title, targets, desc, unit=None, thr=None, no_value=None, min_=0):
    return {
        "type": "bargauge",
        "title": title,
        "description": desc,
        "targets": targets,
        "fieldConfig": {
            "defaults": field_defaults(unit, min_=min_, thr=thr, no_value=no_value),
            "overrides": [],
        },
        "options": {
            "reduceOptions": REDUCE_LAST,
            "orientation": "horizontal",
            "displayMode": "gradient",
            "valueMode": "color",
            "namePlacement": "auto",
            "showUnfilled": True,
            "sizing": "auto",
            "minVizWidth": 8,
            "minVizHeight": 16,
            "maxVizHeight": 300,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False, "calcs": []},
        },
    }


def piechart(title, targets, desc, no_value=None):
    return {
        "type": "piechart",
        "title": title,
        "description": desc,
        "targets": targets,
        "fieldConfig": {"defaults": field_defaults(no_value=no_value), "overrides": []},
        "options": {
            "reduceOptions": REDUCE_LAST,
            "pieType": "donut",
            "displayLabels": ["name", "percent"],
            "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "values": ["value", "percent"], "calcs": []},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def state_timeline(title, targets, desc, mappings=None, thr=None):
    d = field_defaults(thr=thr, custom={"fillOpacity": 80, "lineWidth": 0})
    d["color"] = {"mode": "thresholds"}
    if mappings:
        d["mappings"] = mappings
    return {
        "type": "state-timeline",
        "title": title,
        "description": desc,
        "targets": targets,
        "fieldConfig": {"defaults": d, "overrides": []},
        "options": {
            "mergeValues": True,
            "showValue": "auto",
            "alignValue": "left",
            "rowHeight": 0.9,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def heatmap(title, targets, desc):
    return {
        "type": "heatmap",
        "title": title,
        "description": desc,
        "targets": targets,
        "fieldConfig": {"defaults": {"custom": {"hideFrom": {"legend": False, "tooltip": False, "viz": False}}}, "overrides": []},
        "options": {
            "calculate": False,
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential", "exponent": 0.5, "steps": 64, "fill": "dark", "reverse": False},
            "yAxis": {"axisPlacement": "left", "unit": "s", "reverse": False},
            "rowsFrame": {"layout": "auto"},
            "legend": {"show": True},
            "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": False},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "filterValues": {"le": 1e-9},
            "showValue": "auto",
            "cellValues": {"unit": "short"},
        },
    }


def logs(title, datasource, expr, desc):
    return {
        "type": "logs",
        "title": title,
        "description": desc,
        "datasource": datasource,
        "targets": [{"datasource": datasource, "editorMode": "code", "expr": expr, "queryType": "range"}],
        "options": {
            "showTime": True,
            "showLabels": False,
            "showCommonLabels": False,
            "wrapLogMessage": True,
            "prettifyLogMessage": False,
            "enableLogDetails": True,
            "sortOrder": "Descending",
            "dedupStrategy": "none",
        },
    }


def sql_table(title, sql, desc):
    return {
        "type": "table",
        "title": title,
        "description": desc,
        "datasource": POSTGRES,
        "targets": [{"datasource": POSTGRES, "editorMode": "code", "format": "table", "rawQuery": True, "rawSql": sql}],
        "fieldConfig": {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm"},
    }


def layout(rows):
    """rows: list of (height, [(width, panel), ...]). Assigns ids, gridPos and datasources."""
    panels = []
    y = 0
    pid = 1
    for h, row in rows:
        x = 0
        assert sum(w for w, _ in row) <= 24, row
        for w, p in row:
            p = dict(p)
            p["id"] = pid
            p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            p.setdefault("datasource", PROM)
            refs = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            p["targets"] = [dict(t, refId=t.get("refId") or next(refs)) for t in p["targets"]]
            panels.append(p)
            pid += 1
            x += w
        y += h
    return panels


def dashboard(uid, title, tags, description, panels, variables=(), time_from="now-1h", links=()):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["dsmil"] + tags,
        "editable": False,
        "graphTooltip": 1,
        "timezone": "utc",
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": list(links),
        "templating": {"list": list(variables)},
        "panels": panels,
    }


def query_variable(name, label, query, all_value=".*"):
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROM,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": all_value,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
        "options": [],
        "regex": "",
        "skipUrlSync": False,
    }


def constant_variable(name, value):
    # A constant is never shown and cannot be chosen from the dashboard; with
    # skipUrlSync it is not taken from the URL either.
    return {
        "name": name,
        "label": name,
        "type": "constant",
        "query": value,
        "current": {"selected": True, "text": value, "value": value},
        "options": [{"selected": True, "text": value, "value": value}],
        "hide": 2,
        "skipUrlSync": True,
    }


RI = "$__rate_interval"
PCT_THR = thresholds((None, "green"), (0.01, "orange"), (0.05, "red"))
RISK_THR = thresholds((None, "green"), (0.5, "orange"), (0.8, "red"))
UP_MAPPINGS = [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red", "index": 0}, "1": {"text": "UP", "color": "green", "index": 1}}}]
UP_THR = thresholds((None, "red"), (1, "green"))

# ---------------------------------------------------------------------------
# Dashboard 1: Global DSMIL Overview (spec §6.3)


def overview():
    lat = "histogram_quantile({q}, sum by (le, device_id) (rate(dsmil_request_latency_seconds_bucket[" + RI + "])))"
    rows = [
        (5, [
            (6, stat("Requests/s (all nodes, all tenants)", [prom("sum(rate(dsmil_requests_total[5m]))", "requests/s", instant=True)],
                     "dsmil_requests_total over every node and tenant, per second over 5 minutes.", unit="reqps")),
            (6, stat("Error ratio", [prom("(sum(rate(dsmil_errors_total[5m])) or vector(0)) / sum(rate(dsmil_requests_total[5m]))", "errors / requests", instant=True)],
                     "dsmil_errors_total / dsmil_requests_total over 5 minutes (0 while no error was ever counted).",
                     unit="percentunit", thr=PCT_THR, decimals=2, no_value="no requests")),
            (6, stat("Nodes up", [prom("sum(dsmil_node_up)", "nodes up", instant=True)],
                     "Nodes whose /metrics answered with dsmil_node_up = 1.", thr=thresholds((None, "red"), (3, "green")))),
            (6, stat("Active devices (cluster)", [prom("sum(dsmil_active_devices)", "devices", instant=True)],
                     "Devices hosted and running over all nodes (dsmil_active_devices).")),
        ]),
        (8, [
            (12, timeseries("Requests/s by tenant", [prom("sum by (tenant_id) (rate(dsmil_requests_total[" + RI + "]))", "{{tenant_id}}")],
                            "dsmil_requests_total per tenant.", unit="reqps", stack=True)),
            (12, timeseries("Errors/s by device and type", [prom("sum by (device_id, error_type) (rate(dsmil_errors_total[" + RI + "])) or vector(0)", "{{device_id}} {{error_type}}")],
                            "dsmil_errors_total per device and error type (a flat 0 while no error was counted).", unit="reqps")),
        ]),
        (9, [
            (12, timeseries("Latency p50 / p95 / p99 per device", [
                prom(lat.replace("{q}", "0.5"), "p50 device {{device_id}}"),
                prom(lat.replace("{q}", "0.95"), "p95 device {{device_id}}"),
                prom(lat.replace("{q}", "0.99"), "p99 device {{device_id}}"),
            ], "histogram_quantile over sum by (le, device_id) of dsmil_request_latency_seconds; spec §6.1 SLOs are p99 per device.", unit="s")),
            (12, heatmap("Latency heatmap (all devices)", [
                dict(prom("sum by (le) (increase(dsmil_request_latency_seconds_bucket[" + RI + "]))", "{{le}}"), format="heatmap"),
            ], "Requests per latency bucket of dsmil_request_latency_seconds (buckets of spec §6.2).")),
        ]),
        (8, [
            (8, bargauge("Active devices per node", [prom("sum by (node) (dsmil_active_devices)", "{{node}}", instant=True)],
                         "dsmil_active_devices summed over layers, per node.")),
            (16, timeseries("Active devices per node and layer", [prom("sum by (node, layer) (dsmil_active_devices)", "{{node}} {{layer}}")],
                            "dsmil_active_devices{node,layer}.", stack=True)),
        ]),
        (8, [
            (12, timeseries("Memory per node (resident)", [prom("process_resident_memory_bytes and on (instance) dsmil_node_up", "{{instance}}")],
                            "process_resident_memory_bytes of every dsmild target (the join keeps only targets exposing dsmil_node_up).",
                            unit="bytes", stack=True)),
            (12, timeseries("Cross-node DBE messages/s", [prom("sum by (node, peer, direction) (rate(dsmil_dbe_messages_total[" + RI + "]))", "{{node}} {{direction}} {{peer}}")],
                            "DBE envelopes sent and received over the secure sessions between nodes (dsmil_dbe_messages_total).", unit="short")),
        ]),
        (8, [
            (24, timeseries("SOC_EVENTS stream rate by tenant", [prom("sum by (tenant_id) (rate(dsmil_stream_entries_total{stream=\"SOC_EVENTS\"}[" + RI + "]))", "{{tenant_id}}")],
                            "Entries appended to each tenant's SOC_EVENTS stream per second (ALPHA vs BRAVO).", unit="short")),
        ]),
    ]
    return dashboard("dsmil-overview", "DSMIL – Global Overview", ["global"],
                     "All nodes, all tenants: traffic, errors, latency, devices, memory and DBE traffic (spec §6.3 dashboard 1).",
                     layout(rows))


# ---------------------------------------------------------------------------
# Dashboard 2: SOC Operations View, one per tenant from this one template.


def soc_dashboard(tenant):
    t = 'tenant_id="$tenant"'
    flow_streams = ["L3_IN", "L3_OUT", "L4_IN", "L4_OUT", "SOC_EVENTS", "DEAD_LETTER"]
    flow = [prom("sum(rate(dsmil_stream_entries_total{" + t + ",stream=\"" + s + "\"}[5m]))", s, instant=True) for s in flow_streams]
    l8 = "histogram_quantile({q}, sum by (le, device_id) (rate(dsmil_request_latency_seconds_bucket{" + t + ",device_id=~\"5[1-8]\"}[" + RI + "])))"
    rows = [
        (5, [
            (6, stat("SOC_EVENTS/s", [prom("sum(rate(dsmil_stream_entries_total{" + t + ",stream=\"SOC_EVENTS\"}[5m]))", "SOC_EVENTS/s", instant=True)],
                     "Entries appended to the tenant's SOC_EVENTS stream per second over 5 minutes.", unit="short", decimals=2)),
            (6, stat("SOC events in range", [prom("sum(increase(dsmil_soc_events_total{" + t + "}[$__range]))", "events", instant=True)],
                     "SOC events classified in the dashboard's time range (dsmil_soc_events_total).", decimals=0)),
            (6, stat("Dead-lettered in range", [prom("sum(increase(dsmil_stream_entries_total{" + t + ",stream=\"DEAD_LETTER\"}[$__range])) or vector(0)", "dead letters", instant=True)],
                     "Malformed events moved to the tenant's DEAD_LETTER stream.", thr=thresholds((None, "green"), (1, "orange")), decimals=0)),
            (6, stat("Refused requests in range", [prom("sum(increase(dsmil_refusals_total{" + t + "}[$__range])) or vector(0)", "refusals", instant=True)],
                     "Requests aimed at this tenant and refused at an entry point (dsmil_refusals_total; each is a row in the tenant's audit log).",
                     thr=thresholds((None, "green"), (1, "red")), decimals=0)),
        ]),
        (8, [
            (12, timeseries("SOC_EVENTS stream rate", [prom("sum by (stream) (rate(dsmil_stream_entries_total{" + t + ",stream=\"SOC_EVENTS\"}[" + RI + "]))", "{{stream}}")],
                            "rate(dsmil_stream_entries_total{stream=\"SOC_EVENTS\"}); spec §6.1: L8 SOC analytics > 10,000 events/s.", unit="short")),
            (12, timeseries("L8 enrichment latency (devices 51–58)", [
                prom(l8.replace("{q}", "0.5"), "p50 device {{device_id}}"),
                prom(l8.replace("{q}", "0.99"), "p99 device {{device_id}}"),
            ], "dsmil_request_latency_seconds of the L8 devices; spec §6.1: SOAR (58) p99 < 200 ms.", unit="s",
                thr=thresholds((None, "green"), (0.2, "red")))),
        ]),
        (8, [
            (12, bargauge("Pipeline flow L3 → L4 → L8 (entries/s per stream)", flow,
                          "Entries/s of each stream in pipeline order: L3_IN → L3_OUT → L4_IN → L4_OUT → SOC_EVENTS (L8), and DEAD_LETTER. "
                          "A Sankey diagram needs a plugin Grafana does not ship, so the flow is a bar per stage.", unit="short")),
            (12, state_timeline("Pipeline stages active", [prom("sum by (stream) (rate(dsmil_stream_entries_total{" + t + "}[" + RI + "])) > bool 0", "{{stream}}")],
                                "1 while a stream received entries in the interval, per stream.",
                                mappings=[{"type": "value", "options": {"0": {"text": "idle", "color": "text", "index": 0}, "1": {"text": "flowing", "color": "green", "index": 1}}}],
                                thr=thresholds((None, "text"), (1, "green")))),
        ]),
        (8, [
            (8, bargauge("Severities in range", [prom("sum by (severity) (increase(dsmil_soc_events_total{" + t + "}[$__range]))", "{{severity}}", instant=True)],
                         "SOC events by severity (CRITICAL, HIGH, MEDIUM, LOW) in the time range.", no_value="no SOC events")),
            (16, timeseries("SOC events/s by severity", [prom("sum by (severity) (rate(dsmil_soc_events_total{" + t + "}[" + RI + "]))", "{{severity}}")],
                            "dsmil_soc_events_total per severity.", unit="short", stack=True)),
        ]),
        (8, [
            (8, bargauge("SOAR proposals by action (device 58)", [prom("sum by (action) (increase(dsmil_soar_proposals_total{" + t + "}[$__range]))", "{{action}}", instant=True)],
                         "Proposals of SOAR device 58 by action type in the time range (only actions the tenant's policy allows).", no_value="no proposals")),
            (16, timeseries("L8 flags/s", [prom("sum by (flag) (rate(dsmil_l8_flags_total{" + t + "}[" + RI + "]))", "{{flag}}")],
                            "Flags raised by the L8 devices (LAYER_DISCREPANCY, CAMPAIGN_SUSPECTED, NON_PQC_CHANNEL, …).", unit="short", stack=True)),
        ]),
        (8, [
            (12, timeseries("SHRINK risk scores", [
                prom("shrink_risk_acute_stress{" + t + "}", "acute stress"),
                prom("shrink_risk_hyperfocus{" + t + "}", "hyperfocus"),
                prom("shrink_risk_cognitive_load{" + t + "}", "cognitive load"),
            ], "SHRINK's operator risk scores for the tenant, 0–1; the SHRINKHighStress alert fires above 0.8.",
                unit="percentunit", min_=0, max_=1, thr=RISK_THR)),
            (12, logs("L8 log lines", loki(tenant), "{tenant=\"$tenant\", layer=\"L8\"}",
                      "The tenant's L8 log stream from Loki (its own org, X-Scope-OrgID of the tenant's datasource).")),
        ]),
    ]
    return dashboard("dsmil-soc-" + tenant.lower(), "DSMIL – SOC Operations (" + tenant + ")", ["soc", "tenant"],
                     "SOC pipeline of tenant " + tenant + " only (spec §6.3 dashboard 2). Generated by deploy/grafana/gen_dashboards.py from one template for every tenant.",
                     layout(rows), variables=[constant_variable("tenant", tenant)])


# ---------------------------------------------------------------------------
# Dashboard 3: Executive / L9 View


def exec_dashboard():
    t = 'tenant_id=~"$tenant"'
    nc3_all = "sum(increase(dsmil_nc3_queries_total{" + t + "}[$__range]))"
    nc3_ok = "sum(increase(dsmil_nc3_queries_total{" + t + ",outcome=\"ACCEPTED\"}[$__range]))"
    rows = [
        (5, [
            (5, stat("COAs generated in range", [prom("sum(increase(dsmil_coa_generated_total{" + t + "}[$__range])) or vector(0)", "COAs", instant=True)],
                     "Courses of action generated by device 59 in the time range.", decimals=0)),
            (5, stat("COAs awaiting a decision", [prom("sum(dsmil_coa_pending{" + t + "})", "pending", instant=True)],
                     "COAs pending `dsmilctl coa accept|reject` (dsmil_coa_pending).", decimals=0)),
            (5, stat("NC3 queries in range", [prom(nc3_all + " or vector(0)", "NC3 queries", instant=True)],
                     "Queries to device 61, accepted or refused; should be rare or zero in production.",
                     thr=thresholds((None, "green"), (1, "orange")), decimals=0)),
            (5, stat("Two-person authorization success rate", [prom("(" + nc3_ok + " or vector(0)) / (" + nc3_all + " > 0)", "ACCEPTED / all", instant=True)],
                     "Share of NC3 queries accepted (valid ROE token and two ML-DSA-87 signatures by different operators) among all NC3 queries in the range.",
                     unit="percentunit", decimals=1, no_value="no NC3 queries", thr=thresholds((None, "orange"), (1, "green")))),
            (4, stat("COA p99 latency", [prom("histogram_quantile(0.99, sum by (le) (rate(dsmil_coa_latency_seconds_bucket[5m])))", "p99", instant=True)],
                     "Device 59 answer time, p99 over 5 minutes; spec §6.1: < 3 s.", unit="s",
                     thr=thresholds((None, "green"), (3, "red")), no_value="no COA requests")),
        ]),
        (8, [
            (12, timeseries("L9 COA generation rate (device 59)", [prom("sum by (tenant_id) (rate(dsmil_coa_generated_total{" + t + "}[" + RI + "]))", "{{tenant_id}}")],
                            "dsmil_coa_generated_total per tenant.", unit="short")),
            (12, piechart("Threat level distribution", [prom("sum by (threat_level) (increase(dsmil_coa_scenarios_total{" + t + "}[$__range]))", "{{threat_level}}", instant=True)],
                          "COA scenarios by threat level (LOW/MEDIUM/HIGH/CRITICAL) in the time range.", no_value="no scenarios")),
        ]),
        (9, [
            (12, bargauge("COA scenarios by source and threat level", [prom("sum by (source, threat_level) (increase(dsmil_coa_scenarios_total{" + t + "}[$__range]))", "{{source}} / {{threat_level}}", instant=True)],
                          "Scenario types: where the scenario came from (recent events or an analyst's scenario) × threat level.", no_value="no scenarios")),
            (12, bargauge("ROE compliance: COA refusals by reason", [prom("sum by (tenant_id, reason) (increase(dsmil_coa_refusals_total{" + t + "}[$__range])) or vector(0)", "{{tenant_id}} {{reason}}", instant=True)],
                          "COA requests refused by device 59, e.g. an ROE level (ANALYSIS_ONLY, SOC_ASSIST, TRAINING) that is not the tenant's.",
                          thr=thresholds((None, "green"), (1, "orange")))),
        ]),
        (8, [
            (12, bargauge("NC3 queries by outcome (device 61)", [prom("sum by (tenant_id, outcome) (increase(dsmil_nc3_queries_total{" + t + "}[$__range])) or vector(0)", "{{tenant_id}} {{outcome}}", instant=True)],
                          "ACCEPTED or the refusal reason (INVALID_ROE_TOKEN, MISSING_TWO_PERSON_SIGNATURES, …).",
                          thr=thresholds((None, "green"), (1, "orange")))),
            (12, timeseries("Tenant-boundary refusals/s by entry point", [prom("sum by (tenant_id, entry) (rate(dsmil_refusals_total{" + t + "}[" + RI + "])) or vector(0)", "{{tenant_id}} {{entry}}")],
                            "Requests refused because the caller's identity does not cover the tenant (dsmil_refusals_total).", unit="short")),
        ]),
        (9, [
            (24, sql_table("Audit trail (PostgreSQL, latest 100 rows)",
                           "\nUNION ALL\n".join(
                               "SELECT ts AS \"time\", tenant_id, event_type, actor FROM dsmil_" + x.lower() + ".audit_log WHERE $__timeFilter(ts)"
                               for x in TENANTS) + "\nORDER BY 1 DESC LIMIT 100",
                           "Each tenant's hash-chained audit_log read as grafana_ro (deploy/grafana/postgres-grafana-ro.sql); `dsmilctl audit verify` checks the chain.")),
        ]),
    ]
    return dashboard("dsmil-l9-exec", "DSMIL – Executive / L9", ["executive", "l9"],
                     "COA engine, ROE compliance, NC3 gate and threat levels across tenants (spec §6.3 dashboard 3).",
                     layout(rows), variables=[query_variable("tenant", "Tenant", "label_values(dsmil_coa_pending, tenant_id)")],
                     time_from="now-24h")


# ---------------------------------------------------------------------------
# Dashboard 4: Node Health (NODE-A/B/C)


def nodes_dashboard():
    n = 'node=~"$node"'
    dsmild = " and on (instance) dsmil_node_up{" + n + "}"
    rows = [
        (7, [
            (12, state_timeline("Prometheus targets (up)", [prom("up", "{{job}} {{instance}}")],
                                "Every scrape target: 1 when the last scrape succeeded.", mappings=UP_MAPPINGS, thr=UP_THR)),
            (12, state_timeline("DSMIL nodes (dsmil_node_up)", [prom("max by (node, role) (dsmil_node_up{" + n + "})", "{{node}} ({{role}})")],
                                "dsmil_node_up{node,role} as each node reports itself; a node that stops answering disappears (see the targets panel).",
                                mappings=UP_MAPPINGS, thr=UP_THR)),
        ]),
        (8, [
            (12, state_timeline("DBE peer sessions", [prom("dsmil_dbe_peer_session_up{" + n + "}", "{{node}} → {{peer}}")],
                                "Secure DBE session from each node to each peer (1 up).", mappings=UP_MAPPINGS, thr=UP_THR)),
            (12, timeseries("DBE envelopes queued per peer", [prom("dsmil_dbe_peer_queued_envelopes{" + n + "}", "{{node}} → {{peer}}")],
                            "Envelopes waiting for a peer's session (bounded queue per peer).", unit="short",
                            thr=thresholds((None, "green"), (100, "orange")))),
        ]),
        (8, [
            (8, timeseries("CPU per node process", [prom("rate(process_cpu_seconds_total[" + RI + "])" + dsmild, "{{instance}}")],
                           "CPU seconds per second of each dsmild (1 = one core).", unit="short")),
            (8, timeseries("Resident memory per node process", [prom("process_resident_memory_bytes" + dsmild, "{{instance}}")],
                           "process_resident_memory_bytes of each dsmild.", unit="bytes")),
            (8, timeseries("Open file descriptors", [prom("process_open_fds" + dsmild, "{{instance}}")],
                           "process_open_fds of each dsmild.", unit="short")),
        ]),
        (8, [
            (8, bargauge("Node restarts", [prom("max by (node) (dsmil_node_restarts{" + n + "})", "{{node}}", instant=True)],
                         "Restarts of each node's daemon (dsmil_node_restarts).", thr=thresholds((None, "green"), (1, "orange")))),
            (16, timeseries("HTTP requests/s by status code", [prom("sum by (code) (rate(dsmil_http_requests_total[" + RI + "]))", "{{code}}")],
                            "Requests served by the nodes' HTTP servers (health, metrics, control API, OpenAI-compatible API) by status code.",
                            unit="reqps", stack=True)),
        ]),
        (6, [
            (24, state_timeline("Tenant isolation audit", [prom("min by (tenant_id) (dsmil_tenant_isolation_ok)", "{{tenant_id}}")],
                                "1 while the live isolation audit of each tenant passes (dsmil_tenant_isolation_ok).",
                                mappings=[{"type": "value", "options": {"0": {"text": "FAIL", "color": "red", "index": 0}, "1": {"text": "PASS", "color": "green", "index": 1}}}],
                                thr=UP_THR)),
        ]),
    ]
    return dashboard("dsmil-nodes", "DSMIL – Node Health", ["global", "nodes"],
                     "NODE-A/B/C: targets, DBE sessions and queues, process resources, restarts, HTTP codes, tenant isolation.",
                     layout(rows), variables=[query_variable("node", "Node", "label_values(dsmil_node_up, node)")])


# ---------------------------------------------------------------------------


def all_dashboards():
    """{relative path: dashboard} for every dashboard this script writes."""
    out = {
        "Global/dsmil-overview.json": overview(),
        "Global/dsmil-nodes.json": nodes_dashboard(),
        "Executive/dsmil-l9-exec.json": exec_dashboard(),
    }
    for t in TENANTS:
        out[t + "/dsmil-soc-" + t.lower() + ".json"] = soc_dashboard(t)
    return out


def render(d):
    return json.dumps(d, indent=2, ensure_ascii=False) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a committed file differs from what this script writes")
    ap.add_argument("--out", default=OUT_DIR, help="output folder (default: %(default)s)")
    args = ap.parse_args()
    stale = []
    for rel, d in sorted(all_dashboards().items()):
        path = os.path.join(args.out, rel)
        text = render(d)
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(rel)
            except FileNotFoundError:
                stale.append(rel + " (missing)")
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print("wrote", os.path.relpath(path))
    if stale:
        print("stale dashboards (run deploy/grafana/gen_dashboards.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
