#!/usr/bin/env python3
"""gRPC health beside HTTP readiness, and 1000 open Watch streams (make bench-grpc).

    scripts/bench-grpc.py BIN_DIR [REQUESTS]

One release node process on 127.0.0.1 (no enhanced checks). Then, in one run:
1. h2load (nghttp2) asks `grpc.health.v1.Health/Check` of "" over HTTP/2 and `GET /health/ready`
   over HTTP/1.1, REQUESTS each (default 100 000), 4 connections, one request in flight per
   connection, twice in alternation (Check, ready, Check, ready); the per-request latencies of
   h2load's log give the median and p99, its summary the requests per second.
2. grpcio (asyncio) opens 1000 Watch("") streams on 4 channels; the node's resident memory
   before and after (VmRSS of /proc/PID/status); then maintenance is switched on over HTTP and
   the time until each stream has NOT_SERVING is taken (median, max), and again for SERVING.
Prints one JSON object. The load generator shares the 2 cores with the node: compare within a run.
"""
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

bin_dir = sys.argv[1]
requests = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
work = tempfile.mkdtemp(prefix="chorus-grpc-bench-")
token = "a-benchmark-admin-token-long-enough"
open(f"{work}/token", "w").write(token + "\n")
node = subprocess.Popen(
    [f"{bin_dir}/chorus-cluster-health", "node", "--http-host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
     "--gossip-host", "127.0.0.1", "--gossip-port", "0", "--data-dir", work, "--disk-path", work,
     "--no-enhanced-checks", "--admin-token-file", f"{work}/token", "--log-level", "notice"],
    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
http = grpc_port = None
while http is None or grpc_port is None:
    line = node.stdout.readline()
    if not line:
        sys.exit("the node exited")
    m = re.search(r"health=http://127.0.0.1:(\d+)", line)
    http = int(m.group(1)) if m else http
    m = re.search(r"grpc=127\.0\.0\.1:(\d+)", line)
    grpc_port = int(m.group(1)) if m else grpc_port
threading.Thread(target=lambda: [None for _ in node.stdout], daemon=True).start()
base = f"http://127.0.0.1:{http}"
while True:
    try:
        urllib.request.urlopen(base + "/health/ready", timeout=1).read()
        break
    except Exception:
        time.sleep(0.2)


def rss_kib():
    for line in open(f"/proc/{node.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def h2load(url, extra):
    log = f"{work}/h2load.log"
    out = subprocess.run(
        ["h2load", "-n", str(requests), "-c", "4", "-m", "1", "-t", "1", "--log-file", log, *extra, url],
        capture_output=True, text=True).stdout
    rate = float(re.search(r"finished in \S+, ([\d.]+) req/s", out).group(1))
    ok = int(re.search(r"status codes: (\d+) 2xx", out).group(1))
    micros = sorted(int(line.split("\t")[2]) for line in open(log) if line.strip())
    return {"requests_per_second": round(rate), "ok": ok,
            "median_ms": round(micros[len(micros) // 2] / 1000, 3),
            "p99_ms": round(micros[int(len(micros) * 0.99)] / 1000, 3)}


request = f"{work}/check.bin"
open(request, "wb").write(b"\x00\x00\x00\x00\x00")  # an uncompressed, empty HealthCheckRequest: service ""
grpc_args = ["-d", request, "-H", "content-type: application/grpc", "-H", "te: trailers"]
check_url = f"http://127.0.0.1:{grpc_port}/grpc.health.v1.Health/Check"
runs = {"check": [], "ready": []}
for _ in range(2):
    runs["check"].append(h2load(check_url, grpc_args))
    runs["ready"].append(h2load(base + "/health/ready", ["--h1"]))
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{grpc_port}"))
answer = health_pb2.HealthCheckResponse.ServingStatus.Name(stub.Check(health_pb2.HealthCheckRequest(service="")).status)


def maintenance(enabled):
    body = json.dumps({"enabled": enabled, "reason": "benchmark"}).encode()
    urllib.request.urlopen(urllib.request.Request(
        base + "/admin/maintenance", data=body, method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"}), timeout=5).read()


async def watches(count=1000, channels=4):
    opened = [grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") for _ in range(channels)]
    seen = [dict() for _ in range(count)]  # status → first arrival
    first = asyncio.Event()
    ready = [0]

    async def watch(i):
        call = health_pb2_grpc.HealthStub(opened[i % channels]).Watch(health_pb2.HealthCheckRequest(service=""))
        async for response in call:
            name = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            if name not in seen[i]:
                seen[i][name] = time.monotonic()
                if name == "SERVING" and len(seen[i]) == 1:
                    ready[0] += 1
                    if ready[0] == count:
                        first.set()

    before = rss_kib()
    tasks = [asyncio.create_task(watch(i)) for i in range(count)]
    await asyncio.wait_for(first.wait(), 60)
    await asyncio.sleep(1)
    after = rss_kib()
    result = {"streams": count, "rss_before_kib": before, "rss_after_kib": after,
              "kib_per_stream": round((after - before) / count, 2)}
    for state, enabled in [("NOT_SERVING", True), ("SERVING", False)]:
        for s in seen:
            s.pop(state, None)
        started = time.monotonic()
        await asyncio.to_thread(maintenance, enabled)
        deadline = time.monotonic() + 30
        while sum(state in s for s in seen) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        delays = sorted((s[state] - started) * 1000 for s in seen if state in s)
        result[state.lower()] = {"arrived": len(delays), "median_ms": round(statistics.median(delays), 1),
                                 "max_ms": round(delays[-1], 1)}
    for task in tasks:
        task.cancel()
    for channel in opened:
        await channel.close()
    return result


watch_result = asyncio.run(watches())
node.terminate()
node.wait(10)
print(json.dumps({"requests": requests, "check": runs["check"], "ready": runs["ready"], "check_answer": answer,
                  "watch": watch_result}, indent=1))
