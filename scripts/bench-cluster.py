#!/usr/bin/env python3
"""Gossip between real node processes on loopback (see BENCHMARKS.md).

  scripts/bench-cluster.py BIN [N ...]        (default N: 16 32)

For each cluster size N: starts N `node` processes on 127.0.0.1 (fresh keys that trust each other,
an admin token), waits until every node lists all N as alive, then measures
  - at rest (60 s, after 15 s of settling): bytes sent per node per second (from /metrics) and
    CPU per node (utime + stime from /proc/PID/stat), medians and maxima over the nodes;
  - status changes (10, maintenance on/off on different nodes): time from the origin signing the
    change until the last node accepted it. Each node reports, in /cluster/members, how long ago it
    accepted a member's status; with the request time on the same monotonic clock that gives each
    acceptance instant to a few milliseconds, without polling;
  - crashes (3, SIGKILL): time from the kill until the last node lists the victim as dead, from
    each node's state_age_seconds the same way.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = sys.argv[1]
SIZES = [int(n) for n in sys.argv[2:]] or [16, 32]
HTTP_BASE, GOSSIP_BASE = 19100, 19600
TOKEN = "bench-admin-token-0123456789"


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def members(port):
    """(request instant on the monotonic clock, /cluster/members as JSON)."""
    before = time.monotonic()
    body = json.loads(get(f"http://127.0.0.1:{port}/cluster/members"))
    after = time.monotonic()
    return (before + after) / 2, body


def by_id(body):
    return {m.get("node_id") or m["fingerprint"]: m for m in body["members"]}


def maintenance(port, enabled):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/maintenance", method="POST",
        data=json.dumps({"enabled": enabled, "reason": "benchmark"}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def bytes_sent(port):
    total = 0.0
    for line in get(f"http://127.0.0.1:{port}/metrics").decode().splitlines():
        if line.startswith("chorus_gossip_bytes_sent_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out: {what}")


def run(n):
    root = tempfile.mkdtemp(prefix=f"chorus-bench-{n}-")
    keys = []
    for i in range(n):
        out = subprocess.run([BIN, "keygen", "--out", f"{root}/k{i}"], check=True, capture_output=True, text=True)
        keys.append(out.stdout.strip())
    with open(f"{root}/trust", "w") as f:
        f.write("\n".join(keys) + "\n")
    with open(f"{root}/token", "w") as f:
        f.write(TOKEN + "\n")
    procs = []
    for i in range(n):
        args = [BIN, "node", "--node-id", f"b{i}", "--http-host", "127.0.0.1", "--http-port", str(HTTP_BASE + i),
                "--gossip-host", "127.0.0.1", "--gossip-port", str(GOSSIP_BASE + i), "--disk-path", root,
                "--key-file", f"{root}/k{i}/node.key", "--data-dir", f"{root}/d{i}", "--trust", f"{root}/trust",
                "--admin-token-file", f"{root}/token", "--log-level", "warning"]
        if i > 0:
            args += ["--join", f"127.0.0.1:{GOSSIP_BASE}"]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(f"{root}/log{i}", "w")))
    ports = [HTTP_BASE + i for i in range(n)]
    try:
        started = time.monotonic()
        wait_until("all alive", lambda: all(members(p)[1]["counts"]["alive"] == n for p in ports), 60)
        print(f"N={n}: all {n} list each other as alive {time.monotonic() - started:.1f} s after the processes started",
              flush=True)

        time.sleep(15)
        rest = 60
        b0 = [bytes_sent(p) for p in ports]
        c0 = [cpu_seconds(p.pid) for p in procs]
        time.sleep(rest)
        b1 = [bytes_sent(p) for p in ports]
        c1 = [cpu_seconds(p.pid) for p in procs]
        rates = [(b - a) / rest for a, b in zip(b0, b1)]
        cpu = [100 * (b - a) / rest for a, b in zip(c0, c1)]
        print(f"  at rest ({rest} s): bytes sent per node per second median {statistics.median(rates):.1f}, "
              f"max {max(rates):.1f}; CPU per node median {statistics.median(cpu):.2f} %, max {max(cpu):.2f} % of one core",
              flush=True)

        spreads = []
        for j in range(10):
            origin = 1 + j % (n - 1)
            enabled = (j // (n - 1)) % 2 == 0
            level = "unhealthy" if enabled else "healthy"
            oid = f"b{origin}"
            maintenance(ports[origin], enabled)
            wait_until("change everywhere",
                       lambda: all(by_id(members(p)[1])[oid]["status"]["status"] == level for p in ports), 20)
            time.sleep(0.3)
            accepted = {}
            for i, p in enumerate(ports):
                at, body = members(p)
                accepted[i] = at - by_id(body)[oid]["status"]["age_seconds"]
            spreads.append(max(accepted.values()) - accepted[origin])
            time.sleep(1)
        print(f"  status change seen by all {n}: median {statistics.median(spreads) * 1000:.0f} ms, "
              f"max {max(spreads) * 1000:.0f} ms (10 changes: "
              + ", ".join(f"{s * 1000:.0f}" for s in spreads) + " ms)", flush=True)

        deaths = []
        alive = list(range(n))
        for victim in [n - 1, n - 2, n - 3]:
            vid = f"b{victim}"
            killed = time.monotonic()
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            alive.remove(victim)
            wait_until("dead everywhere",
                       lambda: all(by_id(members(ports[i])[1]).get(vid, {}).get("state") == "dead" for i in alive), 30)
            dead_at = []
            for i in alive:
                at, body = members(ports[i])
                dead_at.append(at - by_id(body)[vid]["state_age_seconds"])
            deaths.append(max(dead_at) - killed)
            time.sleep(2)
        print(f"  SIGKILLed node dead everywhere: median {statistics.median(deaths):.2f} s, max {max(deaths):.2f} s "
              f"(3 kills: " + ", ".join(f"{d:.2f}" for d in deaths) + " s)", flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


for size in SIZES:
    run(size)
