#!/usr/bin/env python3
"""Verify a chorus-cluster-health signed status with PyNaCl, independently of the Swift code.

Input (a file argument or standard input): JSON with
  "public_key": 64 hex digits, "payload": base64 of the signed bytes, "signature": 128 hex digits
(the shape of GET /cluster/nodes/{id}/status). The payload is parsed by the layout of
docs/wire-format.md. Prints the decoded fields as JSON; exits 0 when the signature is valid and
the payload well-formed, 1 otherwise.
"""
import base64
import json
import struct
import sys

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

TAG = b"CHORUS-STATUS-v1"
STATUS = ["healthy", "degraded", "unhealthy", "starting", "stopping"]


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated at byte %d" % self.pos)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self): return self.take(1)[0]
    def u16(self): return struct.unpack(">H", self.take(2))[0]
    def u32(self): return struct.unpack(">I", self.take(4))[0]
    def u64(self): return struct.unpack(">Q", self.take(8))[0]
    def str8(self): return self.take(self.u8()).decode("utf-8")
    def str16(self): return self.take(self.u16()).decode("utf-8")


def parse(payload):
    r = Reader(payload)
    if r.take(16) != TAG:
        raise ValueError("wrong domain tag")
    if r.u8() != 1:
        raise ValueError("unknown format version")
    out = {"public_key": r.take(32).hex(), "generation": r.u64(), "version": r.u64(),
           "issued_at_ms": r.u64(), "status": STATUS[r.u8()], "uptime_s": r.u32(),
           "node_id": r.str8(), "software_version": r.str8(), "message": r.str16(), "checks": []}
    for _ in range(r.u8()):
        name = r.str8()
        flags = r.u8()
        out["checks"].append({"name": name, "healthy": bool(flags & 1), "critical": bool(flags & 2),
                              "latency_us": r.u32(), "message": r.str8()})
    out["extensions"] = [{"type": r.u8(), "value": r.take(r.u8()).hex()} for _ in range(r.u8())]
    if r.pos != len(payload):
        raise ValueError("trailing bytes")
    for extension in out["extensions"]:
        if extension["type"] == 4:
            out["labels"] = labels(bytes.fromhex(extension["value"]))
    return out


def labels(value):
    """Extension 4: m (= every byte after it), a count, then str8 key and str8 value per label."""
    r = Reader(value)
    if r.u8() != len(value) - 1:
        raise ValueError("labels: wrong meaningful length")
    out = {}
    for _ in range(r.u8()):
        key = r.str8()
        out[key] = r.str8()
    if r.pos != len(value) or list(out) != sorted(out, key=lambda k: k.encode()):
        raise ValueError("labels: trailing bytes or not sorted by key")
    return out


def main():
    doc = json.load(open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin)
    key = bytes.fromhex(doc["public_key"])
    payload = base64.b64decode(doc["payload"])
    signature = bytes.fromhex(doc["signature"])
    try:
        VerifyKey(key).verify(payload, signature)
    except BadSignatureError:
        print(json.dumps({"valid": False, "error": "bad signature"}))
        return 1
    fields = parse(payload)
    if fields["public_key"] != key.hex():
        print(json.dumps({"valid": False, "error": "payload names another key"}))
        return 1
    fields["valid"] = True
    print(json.dumps(fields, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
