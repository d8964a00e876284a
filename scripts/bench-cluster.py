#!/usr/bin/env python3
"""Gossip between real node processes on loopback, optionally beside hashicorp/memberlist (see BENCHMARKS.md).

  scripts/bench-cluster.py BIN [--memberlist ML_BIN] [--rest SECONDS] [--settle SECONDS|quiet] [N ...]     (default N: 16 32)

For each cluster size N: starts N `node` processes on 127.0.0.1 (fresh keys that trust each other,
an admin token, the default checks and probes), waits until every node lists all N as alive, then
measures
  - at rest (--rest, 60 s, after --settle, 15 s, or `quiet`: until no status changed for 60 s): bytes sent per node per second (from /metrics: every
    datagram, probes included; for ours also by datagram type), CPU per node (utime + stime from /proc/PID/stat) and RSS per node,
    medians and maxima over the nodes;
  - status changes (10, maintenance on/off on different nodes): time from the origin signing the
    change until the last node accepted it. Each node reports, in /cluster/members, how long ago it
    accepted a member's status; with the request time on the same monotonic clock that gives each
    acceptance instant to a few milliseconds, without polling;
  - crashes (3, SIGKILL): time from the kill until the last node lists the victim as dead, from
    each node's state_age_seconds the same way.
With --memberlist, the same size then runs as N `memberlist-node` processes (Benchmarks/memberlist-node:
memberlist's LAN defaults, its bytes counted in its transport, UDP and TCP), measured the same
way: a change is a metadata update (UpdateNode), dead is memberlist's NotifyLeave.
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

args = sys.argv[1:]
BIN = args.pop(0)
MEMBERLIST = None
REST = 60
# Seconds between "all alive" and the rest window: the join's rumours and the first probes'
# status changes (at 64 processes the DHT probe fails once on ~20 nodes while the views converge,
# each a re-signed status to everyone) are still spreading for ~30 s.
SETTLE = 15
# With `--settle quiet`: after "all alive", wait until no node signed a new status for QUIET seconds
# (at most QUIET_LIMIT); memberlist then settles as long at that size. At 128 processes on 2 cores the
# first probes fail while the cluster forms, and their scores recover over minutes, each recovery step
# a re-signed status to everyone: that is the start's tail, not the cluster at rest.
# 60 s: a check's second run now comes at a random point of its first interval (60 s for the DHT
# probe), so a probe that failed while the cluster formed may recover, and re-sign, later than 30 s
# after the last change (one 32-node run's rest window caught 91 B/s of such statuses).
QUIET, QUIET_LIMIT = 60, 600
settled_for = {}
while args and args[0].startswith("--"):
    flag = args.pop(0)
    if flag == "--memberlist":
        MEMBERLIST = args.pop(0)
    elif flag == "--rest":
        REST = int(args.pop(0))
    elif flag == "--settle":
        value = args.pop(0)
        SETTLE = value if value == "quiet" else int(value)
    else:
        raise SystemExit(f"unknown option {flag}")
SIZES = [int(n) for n in args] or [16, 32]
# Ports: HTTP from 19100, gossip from 21000 (room for 1000 nodes below 23000).
HTTP_BASE, GOSSIP_BASE = 19100, 21000
TOKEN = "bench-admin-token-0123456789"


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def timed_json(port, path):
    """(request instant on the monotonic clock, the answer to GET path as JSON)."""
    before = time.monotonic()
    body = json.loads(get(f"http://127.0.0.1:{port}{path}"))
    after = time.monotonic()
    return (before + after) / 2, body


def members(port):
    return timed_json(port, "/cluster/members")


def by_id(body):
    return {m.get("node_id") or m["fingerprint"]: m for m in body["members"]}


def maintenance(port, enabled):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/maintenance", method="POST",
        data=json.dumps({"enabled": enabled, "reason": "benchmark"}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def bytes_by_type(port):
    """This node's chorus_gossip_bytes_sent_total, by datagram type."""
    by_type = {}
    for line in get(f"http://127.0.0.1:{port}/metrics").decode().splitlines():
        if line.startswith("chorus_gossip_bytes_sent_total"):
            kind = line.split('type="', 1)[1].split('"', 1)[0] if 'type="' in line else "-"
            by_type[kind] = by_type.get(kind, 0.0) + float(line.rsplit(" ", 1)[1])
    return by_type


def bytes_sent(port):
    return sum(bytes_by_type(port).values())


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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
        args = [BIN, "node", "--node-id", f"b{i}", "--http-host", "127.0.0.1", "--no-grpc", "--http-port", str(HTTP_BASE + i),
                "--gossip-host", "127.0.0.1", "--gossip-port", str(GOSSIP_BASE + i), "--disk-path", root,
                "--key-file", f"{root}/k{i}/node.key", "--data-dir", f"{root}/d{i}", "--trust", f"{root}/trust",
                "--admin-token-file", f"{root}/token", "--log-level", "warning"]
        if i > 0:
            args += ["--join", f"127.0.0.1:{GOSSIP_BASE}"]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(f"{root}/log{i}", "w")))
    ports = [HTTP_BASE + i for i in range(n)]
    try:
        started = time.monotonic()
        try:
            # 128 of our processes starting at once on 2 cores took 110–140 s to form (CPU-bound:
            # signatures, the history database, and the false suspicions of starved processes):
            # allow 3 s per node, so that the join time is measured rather than the run given up.
            wait_until("all alive", lambda: all(members(p)[1]["counts"]["alive"] == n for p in ports), max(60, 3 * n))
        except SystemExit:
            # What each node held instead: how many it lists alive, suspect and dead.
            held = {}
            for p in ports:
                try:
                    counts = members(p)[1]["counts"]
                    key = (counts.get("alive", 0), counts.get("suspect", 0), counts.get("dead", 0))
                except OSError as error:
                    key = str(error)
                held[key] = held.get(key, 0) + 1
            print(f"N={n}: not all alive; (alive, suspect, dead) listed → nodes: {held}", flush=True)
            raise
        print(f"N={n}: all {n} list each other as alive {time.monotonic() - started:.1f} s after the processes started",
              flush=True)

        settle_ours(n, ports[0])
        at_rest(ports, procs, bytes_sent, bytes_by_type)

        view = lambda port, name: (lambda at, body: (at, by_id(body).get(name, {})))(*members(port))
        spreads = []
        for j in range(10):
            origin = 1 + j % (n - 1)
            enabled = (j // (n - 1)) % 2 == 0
            level = "unhealthy" if enabled else "healthy"
            maintenance(ports[origin], enabled)
            spreads.append(spread(ports, origin, f"b{origin}", view,
                                  lambda m: m.get("status", {}).get("status") == level, lambda m: m["status"]["age_seconds"]))
        report_spreads(n, spreads)
        kills(n, procs, ports, view, "b", 30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def settle_ours(n, port):
    """Waits SETTLE seconds, or with `--settle quiet` until the statuses `port` holds stop changing."""
    if SETTLE != "quiet":
        time.sleep(SETTLE)
        return
    started = time.monotonic()
    versions = lambda: sum((m.get("status") or {}).get("version", 0) for m in members(port)[1]["members"])
    last, since = versions(), time.monotonic()
    while time.monotonic() - since < QUIET and time.monotonic() - started < QUIET_LIMIT:
        time.sleep(2)
        now = versions()
        if now != last:
            last, since = now, time.monotonic()
    settled_for[n] = time.monotonic() - started
    quiet = time.monotonic() - since >= QUIET
    print(f"N={n}: statuses {'quiet' if quiet else 'still changing'} (no new version for {QUIET} s) "
          f"{settled_for[n]:.0f} s after forming", flush=True)


def spread(ports, origin, name, view, changed, age):
    """Seconds from the origin taking a change until the last node had it: `view(port, name)` gives
    (request instant, the member as that node lists it), `changed(member)` whether it has the
    change, `age(member)` how long ago it got it."""
    wait_until("change everywhere", lambda: all(changed(view(p, name)[1]) for p in ports), 20)
    time.sleep(0.3)
    seen = {}
    for i, p in enumerate(ports):
        at, member = view(p, name)
        seen[i] = at - age(member)
    time.sleep(1)
    return max(seen.values()) - seen[origin]


def report_spreads(n, spreads):
    print(f"  change seen by all {n}: median {statistics.median(spreads) * 1000:.0f} ms, "
          f"max {max(spreads) * 1000:.0f} ms (10 changes: " + ", ".join(f"{s * 1000:.0f}" for s in spreads) + " ms)",
          flush=True)


def kills(n, procs, ports, view, prefix, timeout):
    """3 SIGKILLs: from each kill until the last survivor lists the victim dead (its state_age_seconds)."""
    deaths = []
    alive = list(range(n))
    for victim in [n - 1, n - 2, n - 3]:
        name = f"{prefix}{victim}"
        killed = time.monotonic()
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        alive.remove(victim)
        try:
            wait_until("dead everywhere", lambda: all(view(ports[i], name)[1].get("state") == "dead" for i in alive), timeout)
        except SystemExit:
            # What the survivors list instead (state, or "absent"), so that a slow burial can be told
            # from a member missing from /cluster/members.
            held = {}
            for i in alive:
                try:
                    state = view(ports[i], name)[1].get("state", "absent")
                except OSError as error:
                    state = f"unreachable ({error})"
                held[state] = held.get(state, 0) + 1
            print(f"  {name} not dead everywhere within {timeout} s of its SIGKILL; survivors list it: {held}", flush=True)
            raise
        dead_at = []
        for i in alive:
            at, member = view(ports[i], name)
            dead_at.append(at - member["state_age_seconds"])
        deaths.append(max(dead_at) - killed)
        time.sleep(2)
    print(f"  SIGKILLed node dead everywhere: median {statistics.median(deaths):.2f} s, max {max(deaths):.2f} s "
          f"(3 kills: " + ", ".join(f"{d:.2f}" for d in deaths) + " s)", flush=True)


def at_rest(ports, procs, sent, breakdown=None):
    """Bytes per node per second, CPU and RSS per node over REST seconds, printed as medians and
    maxima; with `breakdown` (port → bytes by type) also the mean per node of each type."""
    t0 = [breakdown(p) for p in ports] if breakdown else []
    b0 = [sent(p) for p in ports]
    c0 = [cpu_seconds(p.pid) for p in procs]
    time.sleep(REST)
    b1 = [sent(p) for p in ports]
    t1 = [breakdown(p) for p in ports] if breakdown else []
    c1 = [cpu_seconds(p.pid) for p in procs]
    rss = [rss_mib(p.pid) for p in procs]
    rates = [(b - a) / REST for a, b in zip(b0, b1)]
    cpu = [100 * (b - a) / REST for a, b in zip(c0, c1)]
    print(f"  at rest ({REST} s): bytes sent per node per second median {statistics.median(rates):.1f}, "
          f"max {max(rates):.1f}; CPU per node median {statistics.median(cpu):.2f} %, max {max(cpu):.2f} % of one core; "
          f"RSS per node median {statistics.median(rss):.1f} MiB, max {max(rss):.1f} MiB", flush=True)
    if breakdown:
        totals = {}
        for before, after in zip(t0, t1):
            for kind, value in after.items():
                totals[kind] = totals.get(kind, 0.0) + value - before.get(kind, 0.0)
        top = sorted(totals.items(), key=lambda kv: -kv[1])[:6]
        print("    by type (B/s per node, mean): " + ", ".join(
            f"{kind} {value / REST / len(ports):.1f}" for kind, value in top), flush=True)


def ml_members(port):
    return timed_json(port, "/members")


def ml_by_name(body):
    return {m["name"]: m for m in body["members"]}


def run_memberlist(n):
    procs = []
    for i in range(n):
        args = [MEMBERLIST, "-name", f"m{i}", "-port", str(GOSSIP_BASE + i), "-http", str(HTTP_BASE + i)]
        if i > 0:
            args += ["-join", f"127.0.0.1:{GOSSIP_BASE}"]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    ports = [HTTP_BASE + i for i in range(n)]
    try:
        started = time.monotonic()
        wait_until("all alive", lambda: all(
            sum(m["state"] == "alive" for m in ml_members(p)[1]["members"]) == n for p in ports), max(60, 3 * n))
        print(f"memberlist N={n}: all {n} list each other as alive {time.monotonic() - started:.1f} s after the processes started",
              flush=True)
        time.sleep(settled_for.get(n, 30) if SETTLE == "quiet" else SETTLE)
        at_rest(ports, procs, lambda p: float(ml_members(p)[1]["bytes_sent"]))

        view = lambda port, name: (lambda at, body: (at, ml_by_name(body).get(name, {})))(*ml_members(port))
        spreads = []
        for j in range(10):
            origin = 1 + j % (n - 1)
            value = f"change-{j}"
            request = urllib.request.Request(f"http://127.0.0.1:{ports[origin]}/meta?value={value}", method="POST", data=b"")
            urllib.request.urlopen(request, timeout=10).read()
            spreads.append(spread(ports, origin, f"m{origin}", view,
                                  lambda m: m.get("meta") == value, lambda m: m["meta_age_seconds"]))
        report_spreads(n, spreads)
        kills(n, procs, ports, view, "m", 60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()


failed = []
for size in SIZES:
    # One implementation not forming at a size does not stop the other's run at it.
    for name, runner in [("ours", run)] + ([("memberlist", run_memberlist)] if MEMBERLIST else []):
        try:
            runner(size)
        except SystemExit as stop:
            print(f"{name} N={size}: {stop}", flush=True)
            failed.append(f"{name} N={size}")
        time.sleep(5)
if failed:
    raise SystemExit("did not complete: " + ", ".join(failed))
