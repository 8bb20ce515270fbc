#!/usr/bin/env python3
"""A transit provider's BGP speaker for the full-table benchmark: announces a
table of prefixes (one per line, from `table_scale --write-prefixes`) to one
peer, from UPDATEs encoded before the clock starts, then keeps the session up.

    feed.py --prefixes FILE --as 65100 --peer 10.1.0.1 --peer-as 65001 \\
            --nexthop 10.1.0.2 --nexthop6 fd01::2 [--wait FILE] [--stamp FILE]

- It connects to the peer (retrying), sends OPEN with 4-byte AS and IPv4 and
  IPv6 unicast, and waits for the session to be established.
- With --wait, it then waits for FILE to exist; it writes the time of its
  first UPDATE (time.time()) to --stamp, sends every UPDATE back to back and
  the End-of-RIB of both families, and logs "sent N prefixes in S s".
- AS paths: the feeder's AS, then 1 to 4 ASes drawn from the prefix's
  allocation (its /12, or /24 for IPv6), the same for every feeder: two feeders
  give every prefix two paths of equal length (multipath with
  `bgp bestpath as-path multipath-relax`). Prefixes of one allocation share
  their attributes and UPDATEs, as a real table's do (a few per UPDATE).
- What the peer sends is read and dropped. It runs until killed; its socket
  closes with it, which the peer sees at once (a transit that goes away).
- Churn (--churn-go FILE): once FILE exists, it withdraws and re-announces
  batches of --churn-prefixes prefixes spread over the table (both families;
  never one of --stable FILE's), --churn-rate changes a second for --churn-seconds, in
  10 ms rounds: a batch withdrawn, then the same batch announced again. It
  logs "churned N changes in S s".

The sender is not the bottleneck: the UPDATEs are bytes in memory, written
with sendall; bgpd takes a full table from it in seconds.
"""
import argparse
import ipaddress
import os
import socket
import struct
import sys
import threading
import time

MAX_MSG = 4096


def msg(kind, body):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def attr(flags, code, value):
    if len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def nlri(net):
    n = (net.prefixlen + 7) // 8
    return bytes([net.prefixlen]) + net.network_address.packed[:n]


def path_of(alloc, first_as):
    # 1 to 4 ASes after the feeder's own, drawn from the allocation.
    h = (alloc * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    n = 1 + (h >> 60) % 4
    tail = [64512 + ((h >> (12 * i)) % 1000) * 7 + i for i in range(n)]
    ases = [first_as] + tail
    return struct.pack("!BB", 2, len(ases)) + b"".join(struct.pack("!I", a) for a in ases)


def updates(prefixes, my_as, nh4, nh6):
    """The UPDATEs for the table, grouped by allocation (shared attributes)."""
    groups = {}
    for net in prefixes:
        v6 = net.version == 6
        alloc = int(net.network_address) >> (104 if v6 else 20)
        groups.setdefault((v6, alloc), []).append(net)
    out = []
    origin = attr(0x40, 1, b"\x00")
    for (v6, alloc), nets in groups.items():
        aspath = attr(0x40, 2, path_of(alloc, my_as))
        blobs = [nlri(n) for n in nets]
        if not v6:
            base = origin + aspath + attr(0x40, 3, nh4)
            room = MAX_MSG - 19 - 4 - len(base)
            chunk = []
            for b in blobs + [None]:
                if b is None or sum(map(len, chunk)) + len(b) > room:
                    if chunk:
                        body = struct.pack("!H", 0) + struct.pack("!H", len(base)) + base + b"".join(chunk)
                        out.append(msg(2, body))
                    chunk = []
                if b is not None:
                    chunk.append(b)
        else:
            fixed = origin + aspath
            room = MAX_MSG - 19 - 4 - len(fixed) - 4 - 5 - 16 - 1
            chunk = []
            for b in blobs + [None]:
                if b is None or sum(map(len, chunk)) + len(b) > room:
                    if chunk:
                        mp = struct.pack("!HBB", 2, 1, 16) + nh6 + b"\x00" + b"".join(chunk)
                        pa = fixed + attr(0x80, 14, mp)
                        out.append(msg(2, struct.pack("!H", 0) + struct.pack("!H", len(pa)) + pa))
                    chunk = []
                if b is not None:
                    chunk.append(b)
    # End-of-RIB: IPv4 an empty UPDATE, IPv6 an empty MP_UNREACH_NLRI.
    out.append(msg(2, b"\x00\x00\x00\x00"))
    eor6 = attr(0x80, 15, struct.pack("!HB", 2, 1))
    out.append(msg(2, struct.pack("!H", 0) + struct.pack("!H", len(eor6)) + eor6))
    return out


def withdrawals(nets):
    """UPDATEs withdrawing `nets` (IPv4 in Withdrawn Routes, IPv6 in MP_UNREACH_NLRI)."""
    out = []
    v4 = [nlri(n) for n in nets if n.version == 4]
    v6 = [nlri(n) for n in nets if n.version == 6]
    for chunk in packs(v4, MAX_MSG - 19 - 4):
        w = b"".join(chunk)
        out.append(msg(2, struct.pack("!H", len(w)) + w + struct.pack("!H", 0)))
    for chunk in packs(v6, MAX_MSG - 19 - 4 - 4 - 3):
        pa = attr(0x80, 15, struct.pack("!HB", 2, 1) + b"".join(chunk))
        out.append(msg(2, struct.pack("!H", 0) + struct.pack("!H", len(pa)) + pa))
    return out


def packs(blobs, room):
    chunk, size = [], 0
    for b in blobs:
        if size + len(b) > room and chunk:
            yield chunk
            chunk, size = [], 0
        chunk.append(b)
        size += len(b)
    if chunk:
        yield chunk


def churn(s, lock, nets, my_as, nh4, nh6, rate, seconds):
    """Withdraws and re-announces batches of `nets` at `rate` changes/s."""
    per_round = max(1, rate // 100)
    batches = [nets[i:i + per_round] for i in range(0, len(nets) - per_round + 1, per_round)]
    encoded = [(b"".join(withdrawals(b)), b"".join(updates(b, my_as, nh4, nh6)[:-2])) for b in batches]
    t0, n, k = time.time(), 0, 0
    while time.time() - t0 < seconds:
        w, a = encoded[(k // 2) % len(encoded)]
        with lock:
            s.sendall(w if k % 2 == 0 else a)
        n += len(batches[(k // 2) % len(batches)])
        k += 1
        lag = t0 + k * 0.01 - time.time()
        if lag > 0:
            time.sleep(lag)
    if k % 2 == 1:  # leave the last batch announced
        with lock:
            s.sendall(encoded[(k // 2) % len(encoded)][1])
        n += len(batches[(k // 2) % len(batches)])
    return n, time.time() - t0


def open_msg(my_as, router_id):
    caps = b""
    for afi in (1, 2):
        caps += struct.pack("!BB", 1, 4) + struct.pack("!HBB", afi, 0, 1)
    caps += struct.pack("!BBI", 65, 4, my_as)
    caps += struct.pack("!BB", 2, 0)
    opt = struct.pack("!BB", 2, len(caps)) + caps
    as2 = my_as if my_as < 65536 else 23456
    return msg(1, struct.pack("!BHH", 4, as2, 90) + ipaddress.IPv4Address(router_id).packed + bytes([len(opt)]) + opt)


def read_msg(s):
    hdr = b""
    while len(hdr) < 19:
        got = s.recv(19 - len(hdr))
        if not got:
            raise ConnectionError("peer closed")
        hdr += got
    n = struct.unpack("!H", hdr[16:18])[0]
    body = b""
    while len(body) < n - 19:
        got = s.recv(n - 19 - len(body))
        if not got:
            raise ConnectionError("peer closed")
        body += got
    return hdr[18], body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefixes", required=True)
    ap.add_argument("--as", dest="my_as", type=int, required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--peer-as", type=int, required=True)
    ap.add_argument("--nexthop", required=True)
    ap.add_argument("--nexthop6", required=True)
    ap.add_argument("--wait")
    ap.add_argument("--stamp")
    ap.add_argument("--churn-go")
    ap.add_argument("--churn-rate", type=int, default=10000)
    ap.add_argument("--churn-seconds", type=float, default=60)
    ap.add_argument("--churn-prefixes", type=int, default=50000)
    ap.add_argument("--stable")
    a = ap.parse_args()
    t0 = time.time()
    nets = [ipaddress.ip_network(line.strip()) for line in open(a.prefixes) if line.strip()]
    ups = updates(nets, a.my_as, ipaddress.IPv4Address(a.nexthop).packed, ipaddress.IPv6Address(a.nexthop6).packed)
    blob = b"".join(ups)
    print(f"feed: {len(nets)} prefixes in {len(ups)} UPDATEs ({len(blob) / 1e6:.1f} MB), encoded in {time.time() - t0:.1f} s", flush=True)
    while True:
        try:
            s = socket.create_connection((a.peer, 179), timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    s.settimeout(None)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.sendall(open_msg(a.my_as, a.nexthop))
    kind, _ = read_msg(s)
    if kind != 1:
        sys.exit(f"feed: expected OPEN, got message type {kind}")
    s.sendall(msg(4, b""))
    while read_msg(s)[0] != 4:
        pass
    print("feed: session established", flush=True)
    lock = threading.Lock()

    def drain():
        try:
            while True:
                read_msg(s)
        except (ConnectionError, OSError):
            pass

    threading.Thread(target=drain, daemon=True).start()

    def keepalive():
        while True:
            time.sleep(10)
            with lock:
                s.sendall(msg(4, b""))

    threading.Thread(target=keepalive, daemon=True).start()
    if a.wait:
        while not os.path.exists(a.wait):
            time.sleep(0.01)
    start = time.time()
    if a.stamp:
        with open(a.stamp, "w") as f:
            f.write(f"{start:.6f}\n")
    with lock:
        s.sendall(blob)
    print(f"feed: sent {len(nets)} prefixes in {time.time() - start:.2f} s", flush=True)
    if a.churn_go:
        stable = set()
        if a.stable:
            stable = {ipaddress.ip_network(line.strip()) for line in open(a.stable) if line.strip()}
        step = max(1, len(nets) // max(1, a.churn_prefixes))
        pool = [n for n in nets[::step] if n not in stable][: a.churn_prefixes]
        nh4, nh6 = ipaddress.IPv4Address(a.nexthop).packed, ipaddress.IPv6Address(a.nexthop6).packed
        while not os.path.exists(a.churn_go):
            time.sleep(0.01)
        n, took = churn(s, lock, pool, a.my_as, nh4, nh6, a.churn_rate, a.churn_seconds)
        print(f"feed: churned {n} changes in {took:.2f} s", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
