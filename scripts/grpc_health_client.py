#!/usr/bin/env python3
"""A real gRPC client against a node's grpc.health.v1.Health (grpcio, grpcio-health-checking).

    grpc_health_client.py check HOST:PORT [SERVICE]       prints SERVING, NOT_SERVING, ... or the error code
    grpc_health_client.py list HOST:PORT                  prints {"service": "STATUS", ...}
    grpc_health_client.py scenario HOST:PORT HTTP_BASE TOKEN_FILE PID

`scenario` runs what the system test checks and prints one JSON object: Check of "", "cluster",
a check and an unknown service; List; Watch of an unknown service (SERVICE_UNKNOWN, stream kept
open); Watch of "" while maintenance is switched on and off over HTTP (how long NOT_SERVING took
to arrive); then Watch of "" and of a check while PID gets SIGTERM (what arrived before the
streams closed, and how they closed).
"""
import json
import os
import signal
import sys
import threading
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

NAMES = health_pb2.HealthCheckResponse.ServingStatus.Name


def stub_for(address):
    return health_pb2_grpc.HealthStub(grpc.insecure_channel(address))


def check(stub, service):
    try:
        return NAMES(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)
    except grpc.RpcError as error:
        return error.code().name


def listing(stub):
    response = stub.List(health_pb2.HealthListRequest(), timeout=5)
    return {name: NAMES(status.status) for name, status in response.statuses.items()}


class Watcher:
    """Reads one Watch stream on a thread: each status with its arrival time, and how it ended."""

    def __init__(self, stub, service, timeout=60):
        self.seen = []
        self.ended = None
        self.call = stub.Watch(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        try:
            for response in self.call:
                self.seen.append((time.monotonic(), NAMES(response.status)))
            self.ended = "OK"
        except grpc.RpcError as error:
            self.ended = error.code().name

    def wait_for(self, status, after=0.0, limit=10.0):
        """Seconds from `after` until `status` arrived (searching arrivals after `after`), or None."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for at, seen in self.seen:
                if at >= after and seen == status:
                    return at - after
            time.sleep(0.01)
        return None

    def statuses(self):
        return [status for _, status in self.seen]


def maintenance(base, token, enabled):
    body = json.dumps({"enabled": enabled, "reason": "grpc test"}).encode()
    request = urllib.request.Request(
        base + "/admin/maintenance", data=body, method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


def scenario(address, base, token_file, pid):
    token = open(token_file).read().strip()
    stub = stub_for(address)
    result = {"check": {}, "list": listing(stub)}
    some_check = sorted(name for name in result["list"] if name not in ("", "cluster"))[0]
    result["some_check"] = some_check
    for service in ["", "cluster", some_check, "no-such-service"]:
        result["check"][service] = check(stub, service)

    unknown = Watcher(stub, "no-such-service")
    time.sleep(1.0)
    result["watch_unknown"] = {"statuses": unknown.statuses(), "open_after_1s": unknown.ended is None}
    unknown.call.cancel()

    ready = Watcher(stub, "")
    ready.wait_for("SERVING", after=0.0)
    started = time.monotonic()
    maintenance(base, token, True)
    result["maintenance_on_seconds"] = ready.wait_for("NOT_SERVING", after=started)
    started = time.monotonic()
    maintenance(base, token, False)
    result["maintenance_off_seconds"] = ready.wait_for("SERVING", after=started)
    result["watch_ready"] = ready.statuses()
    ready.call.cancel()

    closing = [Watcher(stub, ""), Watcher(stub, some_check)]
    for watcher in closing:
        watcher.wait_for("SERVING", after=0.0)
    os.kill(pid, signal.SIGTERM)
    for watcher in closing:
        watcher.thread.join(timeout=15)
    result["shutdown"] = [{"statuses": w.statuses(), "ended": w.ended} for w in closing]
    print(json.dumps(result))


def main(argv):
    if len(argv) >= 3 and argv[1] == "check":
        print(check(stub_for(argv[2]), argv[3] if len(argv) > 3 else ""))
    elif len(argv) == 3 and argv[1] == "list":
        print(json.dumps(listing(stub_for(argv[2]))))
    elif len(argv) == 6 and argv[1] == "scenario":
        scenario(argv[2], argv[3], argv[4], int(argv[5]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
