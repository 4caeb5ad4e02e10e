#!/usr/bin/env python3
"""A minimal Alertmanager webhook receiver: appends every alert it receives to a file.

Usage: scripts/alert-receiver.py --listen 127.0.0.1:9095 --out alerts.jsonl [--pid-file FILE]

Alertmanager POSTs a JSON document per notification (webhook format version 4:
{"receiver", "status", "alerts": [...], "groupLabels", "commonLabels", ...}).
For each alert in it, one JSON line is appended to --out:
  {"received_ts": 1733616000.123, "path": "/ops-page", "receiver": "ops-page",
   "status": "firing", "labels": {...}, "annotations": {...}, "startsAt": "...",
   "endsAt": "...", "fingerprint": "..."}
and flushed at once, so a test can wait for a line to appear. `path` is the URL
path Alertmanager posted to (deploy/alertmanager/alertmanager.yml gives every
receiver its own). GET /healthz answers 200 "ok". Bad JSON gets 400 and is not
written. Python standard library only; stops on SIGTERM or SIGINT.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 4 << 20
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    out_path = None

    def log_message(self, fmt, *args):  # quiet: the file is the record
        pass

    def reply(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, "ok\n")
        else:
            self.reply(404, "not found\n")

    def do_POST(self):
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY:
            self.reply(400, "bad Content-Length\n")
            return
        try:
            doc = json.loads(self.rfile.read(n))
            alerts = doc["alerts"]
            if not isinstance(alerts, list):
                raise ValueError("alerts is not a list")
        except (ValueError, KeyError, TypeError) as e:
            self.reply(400, f"bad webhook body: {e}\n")
            return
        now = time.time()
        lines = []
        for a in alerts:
            lines.append(json.dumps({
                "received_ts": now,
                "path": self.path,
                "receiver": doc.get("receiver", ""),
                "status": a.get("status", doc.get("status", "")),
                "labels": a.get("labels", {}),
                "annotations": a.get("annotations", {}),
                "startsAt": a.get("startsAt", ""),
                "endsAt": a.get("endsAt", ""),
                "fingerprint": a.get("fingerprint", ""),
            }, sort_keys=True))
        with lock, open(self.out_path, "a") as f:
            for line in lines:
                f.write(line + "\n")
            f.flush()
        self.reply(200, "ok\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:9095", help="HOST:PORT to listen on")
    ap.add_argument("--out", required=True, help="file the alerts are appended to, one JSON line each")
    ap.add_argument("--pid-file", help="write the process id here")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    Handler.out_path = args.out
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
