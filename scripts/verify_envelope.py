#!/usr/bin/env python3
"""Checks a gossip envelope, and the member announcement inside it, with PyNaCl alone.

Reads JSON on standard input:
  {"recipient_seed": "<hex: the receiving node's 32-byte Ed25519 seed>",
   "envelope": "<base64: the UDP payload, without cluster-key sealing>",
   "sender_public_key": "<hex: needed for a tagged envelope, which names its sender by prefix>"}
Prints the envelope's fields as JSON; exit 0 when the tag or signature is valid, 1 otherwise.
The layout is in docs/wire-format.md ("The envelope", "Announcements").
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
# An alive part first in the datagram: check the member's own signature too.
if valid and len(datagram) > 4 and datagram[0] == 1 and datagram[1] == 4:
    length = struct.unpack(">H", datagram[2:4])[0]
    body = datagram[4:4 + length]
    signed = b"CHORUS-MEMBER-v1" + b"\x00" + body[:-64]
    try:
        signing.VerifyKey(body[:32]).verify(signed, body[-64:])
        out["announcement"] = {"valid": True, "key": body[:32].hex(),
                               "generation": struct.unpack(">Q", body[32:40])[0],
                               "incarnation": struct.unpack(">Q", body[40:48])[0]}
    except BadSignatureError:
        out["announcement"] = {"valid": False}
        valid = False
print(json.dumps(out))
sys.exit(0 if valid else 1)
