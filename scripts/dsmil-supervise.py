#!/usr/bin/env python3
"""Keeps one process running: restarts it when it exits, with exponential backoff.

  dsmil-supervise.py --name node-a --pidfile DIR/node-a.pid -- dsmild --config node-a.yaml

The child gets DSMIL_RESTARTS=N in its environment (0 at the first start, then
how often it was restarted; dsmild shows it as dsmil_node_restarts and in
`dsmilctl status`) and writes its pid to --pidfile at every start. After a
crash the next start waits --backoff-min seconds, doubling up to --backoff-max;
a child that ran --stable seconds or longer resets the wait to --backoff-min.
SIGTERM or SIGINT to the supervisor stops the child (SIGTERM, then SIGKILL
after --stop-timeout seconds) and exits; if the supervisor itself is killed,
the kernel sends the child SIGTERM (PR_SET_PDEATHSIG), so no orphan is left.
Restarts are logged as one line each on stderr.
"""
import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1


def log(name, text):
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    print(f"{ts} supervise[{name}]: {text}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="name used in the log lines")
    ap.add_argument("--pidfile", required=True, help="file that holds the child's pid")
    ap.add_argument("--backoff-min", type=float, default=0.5)
    ap.add_argument("--backoff-max", type=float, default=8.0)
    ap.add_argument("--stable", type=float, default=60.0, help="seconds of running that reset the backoff")
    ap.add_argument("--stop-timeout", type=float, default=5.0)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command to supervise")

    libc = ctypes.CDLL(None, use_errno=True)

    def child_setup():
        # The child dies with the supervisor; its own process group keeps
        # terminal signals meant for the supervisor away from it.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the supervisor died before prctl took effect
            os._exit(1)

    stopping = False
    child = None

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    restarts = 0
    backoff = a.backoff_min
    while not stopping:
        env = dict(os.environ, DSMIL_RESTARTS=str(restarts))
        started = time.monotonic()
        child = subprocess.Popen(cmd, env=env, preexec_fn=child_setup, stdin=subprocess.DEVNULL)
        tmp = a.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{child.pid}\n")
        os.replace(tmp, a.pidfile)
        if stopping:  # a signal that came while the child was starting
            child.send_signal(signal.SIGTERM)
        if restarts:
            log(a.name, f"restart {restarts}: pid {child.pid}")
        while True:
            try:
                rc = child.wait()
                break
            except InterruptedError:
                continue
        ran = time.monotonic() - started
        if stopping:
            break
        if ran >= a.stable:
            backoff = a.backoff_min
        how = f"signal {-rc}" if rc < 0 else f"status {rc}"
        log(a.name, f"pid {child.pid} exited with {how} after {ran:.1f} s; restarting in {backoff:g} s")
        deadline = time.monotonic() + backoff
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        backoff = min(backoff * 2, a.backoff_max)
        restarts += 1

    if child is not None and child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=a.stop_timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    try:
        os.unlink(a.pidfile)
    except FileNotFoundError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
