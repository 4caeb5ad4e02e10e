#!/usr/bin/env python3
"""Sets up the Grafana teams and folder permissions of spec §8.3 (docs/grafana.md).

  deploy/grafana/rbac.py --url http://grafana.dsmil.local:3000 --user admin --password-file admin.pass
  deploy/grafana/rbac.py --dry-run            # print the requests, send nothing

Grafana's file provisioning creates the folders (deploy/grafana/provisioning/dashboards,
fixed folder uids) but cannot set who may see them; this script does, through
Grafana's HTTP API, as an org admin:

  team SOC_ANALYST_<T>   views folder <T> only (one team per tenant)
  team EXEC              views Executive, Global and every tenant folder
  org Admins             view and edit everything (Grafana's built-in rule)

Each folder's permission list is replaced by exactly these team entries, which
removes Grafana's default "Viewer: view, Editor: edit" entries: a user who is
only an org Viewer sees no DSMIL folder until a team gives one. Users keep the
org role Viewer; add them to teams with --member TEAM=LOGIN (repeatable) or in
Grafana's UI. Safe to run again: existing teams and folders are reused and the
permission lists are set to the same content.

Requests (Grafana HTTP API, basic auth or --token):
  GET  /api/teams/search?name=TEAM         POST /api/teams {"name"}
  GET  /api/folders/UID                    POST /api/folders {"uid","title"} when missing
  POST /api/folders/UID/permissions {"items":[{"teamId":N,"permission":1}, ...]}
  GET  /api/users/lookup?loginOrEmail=L    POST /api/teams/N/members {"userId"}
--dry-run prints each as one JSON line {"method","path","body"}; ids that only a
live Grafana knows are written "<id of team NAME>" / "<id of user LOGIN>".
"""

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

VIEW = 1  # Grafana folder permission levels: 1 View, 2 Edit, 4 Admin


def plan(tenants):
    """Returns (teams, {folder_uid: (title, [team, ...])}) for the given tenants."""
    teams = ["SOC_ANALYST_" + t for t in tenants] + ["EXEC"]
    folders = {
        "dsmil-global": ("Global", ["EXEC"]),
        "dsmil-executive": ("Executive", ["EXEC"]),
    }
    for t in tenants:
        folders["dsmil-" + t.lower()] = (t, ["SOC_ANALYST_" + t, "EXEC"])
    return teams, folders


class Api:
    def __init__(self, url, auth_header, dry_run, out):
        self.url = url.rstrip("/")
        self.auth = auth_header
        self.dry_run = dry_run
        self.out = out

    def call(self, method, path, body=None, missing_ok=False):
        if self.dry_run:
            self.out.write(json.dumps({"method": method, "path": path, "body": body}, sort_keys=True) + "\n")
            return None
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read().decode() or "null"
                return json.loads(text)
        except urllib.error.HTTPError as e:
            if missing_ok and e.code == 404:
                return None
            detail = e.read().decode(errors="replace")[:300]
            raise SystemExit("rbac: %s %s: HTTP %d %s" % (method, path, e.code, detail))
        except urllib.error.URLError as e:
            raise SystemExit("rbac: %s %s: %s" % (method, self.url, e.reason))


def ensure_team(api, name):
    found = api.call("GET", "/api/teams/search?" + urllib.parse.urlencode({"name": name}))
    if api.dry_run:
        api.call("POST", "/api/teams", {"name": name})
        return "<id of team %s>" % name
    for t in (found or {}).get("teams", []):
        if t.get("name") == name:
            return t["id"]
    created = api.call("POST", "/api/teams", {"name": name})
    return created["teamId"]


def ensure_folder(api, uid, title):
    found = api.call("GET", "/api/folders/" + uid, missing_ok=True)
    if found is None:  # missing (or dry run): provisioning normally made it already
        api.call("POST", "/api/folders", {"uid": uid, "title": title})


def add_member(api, team_ids, team, login):
    user = api.call("GET", "/api/users/lookup?" + urllib.parse.urlencode({"loginOrEmail": login}))
    user_id = "<id of user %s>" % login if api.dry_run else user["id"]
    api.call("POST", "/api/teams/%s/members" % team_ids[team], {"userId": user_id})


def run(api, tenants, members):
    teams, folders = plan(tenants)
    team_ids = {t: ensure_team(api, t) for t in teams}
    for uid, (title, viewers) in folders.items():
        ensure_folder(api, uid, title)
        items = [{"teamId": team_ids[t], "permission": VIEW} for t in viewers]
        api.call("POST", "/api/folders/%s/permissions" % uid, {"items": items})
    for team, login in members:
        if team not in team_ids:
            raise SystemExit("rbac: --member %s=%s: no such team (teams: %s)" % (team, login, ", ".join(teams)))
        add_member(api, team_ids, team, login)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--url", default="http://grafana.dsmil.local:3000", help="Grafana base URL (default: %(default)s)")
    ap.add_argument("--user", default="admin", help="org admin login for basic auth (default: %(default)s)")
    ap.add_argument("--password-file", help="file holding that user's password (else $GRAFANA_PASSWORD)")
    ap.add_argument("--token-file", help="file holding a service account token with org admin rights (instead of --user)")
    ap.add_argument("--tenants", default="ALPHA,BRAVO", help="comma-separated tenant ids (default: %(default)s)")
    ap.add_argument("--member", action="append", default=[], metavar="TEAM=LOGIN", help="add a Grafana user to a team (repeatable)")
    ap.add_argument("--dry-run", action="store_true", help="print the requests as JSON lines and send nothing")
    args = ap.parse_args(argv)

    tenants = [t.strip() for t in args.tenants.split(",") if t.strip()]
    for t in tenants:
        if not t.isalnum() or t.upper() != t:
            ap.error("tenant ids are upper-case letters and digits: %r" % t)
    members = []
    for m in args.member:
        team, sep, login = m.partition("=")
        if not sep or not team or not login:
            ap.error("--member takes TEAM=LOGIN, got %r" % m)
        members.append((team, login))

    auth = None
    if not args.dry_run:
        if args.token_file:
            with open(args.token_file, encoding="utf-8") as f:
                auth = "Bearer " + f.read().strip()
        else:
            if args.password_file:
                with open(args.password_file, encoding="utf-8") as f:
                    password = f.read().rstrip("\n")
            else:
                password = os.environ.get("GRAFANA_PASSWORD")
            if not password:
                ap.error("give --password-file, $GRAFANA_PASSWORD or --token-file (or --dry-run)")
            auth = "Basic " + base64.b64encode(("%s:%s" % (args.user, password)).encode()).decode()
    run(Api(args.url, auth, args.dry_run, sys.stdout), tenants, members)
    if not args.dry_run:
        print("rbac: teams %s and permissions of folders %s set on %s" % (
            ", ".join(plan(tenants)[0]), ", ".join(plan(tenants)[1]), args.url), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
