#!/usr/bin/env python3
"""Checks a gossip envelope, and the announcement and accusations inside it, with PyNaCl alone.

Reads JSON on standard input:
  {"recipient_seed": "<hex: the receiving node's 32-byte Ed25519 seed>",
   "envelope": "<base64: the UDP payload, without cluster-key sealing>",
   "sender_public_key": "<hex: needed for a tagged envelope, which names its sender by prefix>"}
Prints the envelope's fields as JSON, with the announcement and the signed accusations (suspicions,
death certificates) inside; exit 0 when the tag or signature and every signature inside are
valid, 1 otherwise. The layout is in docs/wire-format.md ("The envelope", "Announcements",
"Accusations").
"""
import base64, json, struct, sys
from nacl import bindings, encoding, hash as nhash, signing
from nacl.exceptions import BadSignatureError

doc = json.load(sys.stdin)
env = base64.b64decode(doc["envelope"])
recipient = signing.SigningKey(bytes.fromhex(doc["recipient_seed"]))
marker = env[0]
out = {}
if marker == 0xA1:
    out["form"] = "tagged"
    sender = bytes.fromhex(doc["sender_public_key"])
    assert env[1:9] == sender[:8], "the prefix is not the sender's"
    header, trailer = 17, 16
elif marker in (0xA2, 0xA3):
    out["form"] = "signed" if marker == 0xA2 else "tagged with key"
    sender = env[1:33]
    header, trailer = 41, 64 if marker == 0xA2 else 16
else:
    print(json.dumps({"valid": False, "error": "no envelope marker"})); sys.exit(1)
counter = struct.unpack(">Q", env[header - 8:header])[0]
covered, proof = env[:-trailer], env[-trailer:]
if marker == 0xA2:
    try:
        signing.VerifyKey(sender).verify(b"CHORUS-DATAGRAM-v1" + covered, proof)
        valid = True
    except BadSignatureError:
        valid = False
else:
    own_pk = bytes(recipient.verify_key)
    own_x = bindings.crypto_sign_ed25519_pk_to_curve25519(own_pk)
    own_sk_x = bindings.crypto_sign_ed25519_sk_to_curve25519(bytes(recipient) + own_pk)
    peer_x = bindings.crypto_sign_ed25519_pk_to_curve25519(sender)
    if own_pk < sender:   # the smaller Ed25519 key is the client
        rx, tx = bindings.crypto_kx_client_session_keys(own_x, own_sk_x, peer_x)
    else:
        rx, tx = bindings.crypto_kx_server_session_keys(own_x, own_sk_x, peer_x)
    valid = nhash.blake2b(covered, digest_size=16, key=rx, encoder=encoding.RawEncoder) == proof
datagram = env[header:-trailer]
out.update({"valid": valid, "sender": sender.hex(), "counter": counter, "datagram": base64.b64encode(datagram).decode()})
# Every part: the member's own signature on an alive (4), each accuser's on a suspicion (5) and
# on the claims of a death certificate (6).
VERDICTS = {1: "suspect", 2: "dead"}
def claim(verdict, subject, life, accuser, issued, signature):
    signed = b"CHORUS-ACCUSE-v1" + bytes([verdict]) + subject + life + accuser + issued
    try:
        signing.VerifyKey(accuser).verify(signed, signature)
        ok = True
    except BadSignatureError:
        ok = False
    return {"valid": ok, "verdict": VERDICTS.get(verdict, "unknown"), "subject": subject.hex(),
            "generation": struct.unpack(">Q", life[:8])[0], "incarnation": struct.unpack(">Q", life[8:])[0],
            "accuser": accuser.hex(), "issued_at_ms": struct.unpack(">Q", issued)[0]}
if valid and len(datagram) > 1 and datagram[0] == 3:  # protocol version 3
    offset = 1
    while valid and offset + 3 <= len(datagram):
        kind = datagram[offset]
        length = struct.unpack(">H", datagram[offset + 1:offset + 3])[0]
        body = datagram[offset + 3:offset + 3 + length]
        offset += 3 + length
        if kind == 4:
            signed = b"CHORUS-MEMBER-v1" + b"\x00" + body[:-64]
            try:
                signing.VerifyKey(body[:32]).verify(signed, body[-64:])
                out["announcement"] = {"valid": True, "key": body[:32].hex(),
                                       "generation": struct.unpack(">Q", body[32:40])[0],
                                       "incarnation": struct.unpack(">Q", body[40:48])[0]}
            except BadSignatureError:
                out["announcement"] = {"valid": False}
                valid = False
        elif kind == 5:
            out.setdefault("accusations", []).append(
                claim(1, body[:32], body[32:48], body[48:80], body[80:88], body[88:152]))
        elif kind == 6:
            count, at = body[48], 49
            for _ in range(count):
                c = body[at:at + 105]
                out.setdefault("accusations", []).append(
                    claim(c[0], body[:32], body[32:48], c[1:33], c[33:41], c[41:105]))
                at += 105
    if any(not a["valid"] for a in out.get("accusations", [])):
        valid = False
print(json.dumps(out))
sys.exit(0 if valid else 1)
