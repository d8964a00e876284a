#!/usr/bin/env python3
"""A node under a datagram flood: how many datagrams per second it absorbs (refuses and counts),
and the p99 latency of its readiness probe meanwhile (wrk, one connection).

    scripts/bench-flood.py BIN_DIR [SECONDS]      (make bench-flood)

Phases, each SECONDS long (default 10): no flood; an outsider's flood (datagrams naming a key
prefix nobody trusts); a key holder's flood (authentic envelopes made with PyNaCl, holding
malformed datagrams: every one costs the node a tag check and a decode). One sending process on
127.0.0.1; on 2 shared cores the sender, wrk and the node compete, so compare within a run.
"""
import base64, os, re, socket, struct, subprocess, sys, tempfile, threading, time, urllib.request
from nacl import bindings, encoding, hash as nhash, signing

bin_dir = sys.argv[1]
seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
work = tempfile.mkdtemp(prefix="chorus-flood-")
node_key = signing.SigningKey.generate()
holder = signing.SigningKey.generate()
open(f"{work}/node.key", "w").write(bytes(node_key).hex() + "\n"); os.chmod(f"{work}/node.key", 0o600)
open(f"{work}/trust", "w").write(bytes(node_key.verify_key).hex() + "\n" + bytes(holder.verify_key).hex() + "\n")
node = subprocess.Popen([f"{bin_dir}/chorus-cluster-health", "node", "--http-host", "127.0.0.1", "--no-grpc", "--http-port", "0",
                         "--gossip-host", "127.0.0.1", "--gossip-port", "0", "--key-file", f"{work}/node.key",
                         "--trust", f"{work}/trust", "--data-dir", work, "--disk-path", work, "--no-enhanced-checks",
                         "--log-level", "notice"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
http = gossip = None
while http is None or gossip is None:
    line = node.stdout.readline()
    if not line: sys.exit("the node exited: " + line)
    m = re.search(r"health=http://127.0.0.1:(\d+)", line); http = int(m.group(1)) if m else http
    m = re.search(r"listen=\S*?127\.0\.0\.1\]?:(\d+)", line); gossip = int(m.group(1)) if m else gossip
threading.Thread(target=lambda: [None for _ in node.stdout], daemon=True).start()
time.sleep(2)

def metrics():
    text = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics").read().decode()
    dropped = sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("chorus_gossip_dropped_total{"))
    return dropped

def probe_p99():
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{http}/health/ready"],
                         capture_output=True, text=True).stdout
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    rate = re.search(r"Requests/sec:\s+(\S+)", out).group(1)
    return p99, rate

def flood(datagrams, stop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    while not stop.is_set():
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", gossip)); sent += 1
            if stop.is_set(): break
    flood.sent = sent

def phase(name, datagrams):
    before = metrics()
    stop = threading.Event()
    sender = threading.Thread(target=flood, args=(datagrams, stop)) if datagrams else None
    flood.sent = 0
    start = time.time()
    if sender: sender.start()
    p99, rate = probe_p99()
    stop.set()
    if sender: sender.join()
    elapsed = time.time() - start
    time.sleep(1)
    absorbed = (metrics() - before) / elapsed
    print(f"{name}: sent {flood.sent / elapsed:,.0f}/s, counted and dropped {absorbed:,.0f}/s; "
          f"/health/ready p99 {p99} at {rate} req/s")

# The outsider: a tagged envelope naming a prefix nobody knows (refused before any cryptography).
outsider = [bytes([0xA1]) + os.urandom(8) + struct.pack(">Q", 0) + os.urandom(180) for _ in range(1000)]
# The key holder: authentic tagged envelopes around malformed datagrams, each with a fresh counter.
own_pk, peer_pk = bytes(holder.verify_key), bytes(node_key.verify_key)
own_x = bindings.crypto_sign_ed25519_pk_to_curve25519(own_pk)
own_sk = bindings.crypto_sign_ed25519_sk_to_curve25519(bytes(holder) + own_pk)
peer_x = bindings.crypto_sign_ed25519_pk_to_curve25519(peer_pk)
rx, tx = (bindings.crypto_kx_client_session_keys if own_pk < peer_pk else bindings.crypto_kx_server_session_keys)(own_x, own_sk, peer_x)
counter = int(time.time() * 1_000_000) + seconds * 1_000_000  # ahead of the clock, within the 30 s skew
holder_datagrams = []
for i in range(150_000):
    body = bytes([0xA1]) + own_pk[:8] + struct.pack(">Q", counter + i) + bytes([1, 99, 0, 4]) + os.urandom(150)
    holder_datagrams.append(body + nhash.blake2b(body, digest_size=16, key=tx, encoder=encoding.RawEncoder))

phase("no flood", [])
phase("outsider flood", outsider)
phase("key-holder flood", holder_datagrams)
node.terminate(); node.wait()
