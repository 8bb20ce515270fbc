#!/usr/bin/env python3
"""Route-churn tools for the lab (used by tests/e2e/route_churn.sh).

  churn.py send DST PORT PPS SECONDS FLOW [SPORTS]   numbered UDP datagrams, paced
  churn.py recv PORT SECONDS OUT                      record (flow, seq, arrival ns) to OUT (for SECONDS,
                                                      or until the file $STOP exists)
  churn.py fpm HOST:PORT RATE SECONDS                 zebra-style FPM route changes at RATE/s
  churn.py api URL N                                  N route replacements over one HTTP/1.1 connection
  churn.py flips URL N GAP_MS OUT                     flip 203.0.113.0/24 between srv1 and srv2, log return times
  churn.py report OUT...                              combine recv and flips logs into figures (JSON)
  churn.py fpm-table HOST:PORT [wait=FILE] PREFIXES ...
                                                      send every prefix of each file (one per line) as RTM_NEWROUTE,
                                                      on one session; after wait=FILE, encoded first and sent once FILE exists

Clocks: arrival and return times are CLOCK_MONOTONIC, which network
namespaces share, so times from different namespaces compare directly.
"""
import http.client
import ipaddress
import json
import os
import socket
import struct
import sys
import time


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def cmd_send(dst, port, pps, seconds, flow, sports="40000"):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    socks = []
    for sp in [int(p) for p in sports.split(",")]:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind(("", sp))
        socks.append(s)
    pps, seconds, flow = int(pps), float(seconds), int(flow)
    n = int(pps * seconds)
    if os.environ.get("STARTED"):
        # Tells the caller the stream is about to flow.
        open(os.environ["STARTED"], "w").close()
    start = now_ns()
    gap = 1_000_000_000 // pps
    errors = 0
    for seq in range(n):
        due = start + seq * gap
        while True:
            d = due - now_ns()
            if d <= 0:
                break
            if d > 200_000:
                time.sleep((d - 100_000) / 1e9)
        try:
            socks[seq % len(socks)].sendto(struct.pack("!II", flow, seq), (dst, int(port)))
        except OSError:
            errors += 1
    print(json.dumps({"flow": flow, "sent": n, "send_errors": errors,
                      "seconds": (now_ns() - start) / 1e9}))


def cmd_recv(port, seconds, out):
    s4 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s4.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s4.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s4.bind(("::", int(port)))
    s4.settimeout(0.2)
    end = time.monotonic() + float(seconds)
    # STOP: a file whose creation ends the receiver before SECONDS.
    stop = os.environ.get("STOP")
    rows = []
    while time.monotonic() < end and not (stop and os.path.exists(stop)):
        try:
            b = s4.recv(64)
        except socket.timeout:
            continue
        if len(b) >= 8:
            flow, seq = struct.unpack("!II", b[:8])
            rows.append((flow, seq, now_ns()))
    # Written whole, then renamed: a reader never sees half a file.
    with open(out + ".tmp", "w") as f:
        json.dump(rows, f)
    os.replace(out + ".tmp", out)


# --- FPM (netlink RTM_NEWROUTE / RTM_DELROUTE, as zebra's dplane_fpm_nl sends them)

def _attr(kind, payload):
    b = struct.pack("<HH", 4 + len(payload), kind) + payload
    return b + b"\0" * (-len(b) % 4)


def fpm_route(new, prefix, gateways):
    net = ipaddress.ip_network(prefix)
    fam = 2 if net.version == 4 else 10
    rtm = struct.pack("<BBBBBBBBI", fam, net.prefixlen, 0, 0, 254, 196, 0, 1, 0)
    body = rtm + _attr(15, struct.pack("<I", 254)) + _attr(1, net.network_address.packed)
    if new:
        mp = b""
        for i, (gw, weight) in enumerate(gateways):
            g = _attr(5, ipaddress.ip_address(gw).packed)
            mp += struct.pack("<HBBi", 8 + len(g), 0, weight - 1, i + 1) + g
        body += _attr(9, mp)
    kind = 24 if new else 25
    nl = struct.pack("<IHHII", 16 + len(body), kind, 0, 0, 0) + body
    return struct.pack("!BBH", 1, 1, 4 + len(nl)) + nl


def cmd_fpm(addr, rate, seconds):
    """Adds and removes /24s and /32s in 100.64.0.0/10 at RATE changes per
    second, in batches every 10 ms. Every prefix added is later removed."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    rate, seconds = int(rate), float(seconds)
    gws = [[("10.1.0.2", 1), ("10.2.0.2", 2)], [("10.2.0.2", 1)], [("10.1.0.2", 1)]]
    live = []
    sent = 0
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        tick += 1
        due = start + tick * 0.01
        batch = b""
        for _ in range(rate // 100):
            if len(live) > 2000 or (live and sent % 3 == 2):
                p = live.pop(0)
                batch += fpm_route(False, p, [])
            else:
                i = sent
                p = (f"100.{64 + (i >> 16) % 64}.{(i >> 8) & 255}.0/24" if i % 2
                     else f"100.{64 + (i >> 16) % 64}.{(i >> 8) & 255}.{i & 255}/32")
                live.append(p)
                batch += fpm_route(True, p, gws[i % 3])
            sent += 1
        s.sendall(batch)
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
    batch = b"".join(fpm_route(False, p, []) for p in live)
    s.sendall(batch)
    sent += len(live)
    el = time.monotonic() - start
    time.sleep(0.5)
    s.close()
    print(json.dumps({"changes": sent, "seconds": el, "rate": sent / el}))


def cmd_fpm_table(addr, *args):
    """Sends every prefix of each PREFIXES file over two gateways per family,
    as fast as the router reads them, on one session. `wait=FILE` before a
    file: its messages are encoded before anything is sent (then FILE.ready
    is created), and sent once FILE exists, so that the sender's own encoding
    is not in the time a caller measures."""
    host, port = addr.rsplit(":", 1)
    gw4 = [("10.1.0.2", 1), ("10.2.0.2", 2)]
    gw6 = [("fd01::2", 1), ("fd02::2", 2)]
    encode = lambda ps: [fpm_route(True, p, gw6 if ":" in p else gw4) for p in ps]
    steps, wait = [], None
    for a in args:
        if a.startswith("wait="):
            wait = a[5:]
            continue
        with open(a) as f:
            prefixes = [p for p in (line.strip() for line in f) if p]
        steps.append((wait, prefixes, encode(prefixes) if wait else None))
        wait = None
    for wait, _, _ in steps:
        if wait:
            open(wait + ".ready", "w").close()
    s = None
    for wait, prefixes, msgs in steps:
        while wait and not os.path.exists(wait):
            time.sleep(0.005)
        # Connected only now: the router closes a connection silent for 5 s.
        s = s or socket.create_connection((host, int(port)))
        start = time.monotonic()
        for i in range(0, len(prefixes), 2000):
            chunk = msgs[i:i + 2000] if msgs else encode(prefixes[i:i + 2000])
            s.sendall(b"".join(chunk))
        el = time.monotonic() - start
        print(json.dumps({"routes": len(prefixes), "send_seconds": el}), flush=True)
    # Keep the session open: closing it would start the stale-route timer.
    time.sleep(float(os.environ.get("FPM_HOLD", "3600")))


# --- API

def _conn(url):
    u = url.split("//", 1)[1]
    hostport = u.split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=10)


def _put(c, body):
    c.request("PUT", "/api/v1/routes", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status not in (200, 201):
        raise SystemExit(f"PUT failed: {r.status}")


def cmd_api(url, n):
    c = _conn(url)
    n = int(n)
    start = time.monotonic()
    for i in range(n):
        gw, port = ("10.1.0.2", "srv1") if i % 2 else ("10.2.0.2", "srv2")
        body = json.dumps({"prefix": f"100.{128 + (i >> 16) % 64}.{(i >> 8) & 255}.{i & 255}/32",
                           "nexthops": [{"via": gw, "port": port}]})
        _put(c, body)
    el = time.monotonic() - start
    print(json.dumps({"changes": n, "seconds": el, "rate": n / el}))


def cmd_flips(url, n, gap_ms, out):
    c = _conn(url)
    rows = []
    for i in range(int(n)):
        k = 1 + (i % 2)
        body = json.dumps({"prefix": "203.0.113.0/24",
                           "nexthops": [{"via": f"10.{k}.0.2", "port": f"srv{k}"}]})
        t0 = now_ns()
        _put(c, body)
        rows.append((f"srv{k}", now_ns(), t0))
        time.sleep(int(gap_ms) / 1000)
    with open(out, "w") as f:
        json.dump(rows, f)


def cmd_report(*files):
    """Arguments: name=recvlog ... flips=flipslog sent=N:FLOW ..."""
    arrivals, flips, sent = {}, [], {}
    for a in files:
        name, path = a.split("=", 1)
        if name == "flips":
            flips = json.load(open(path))
        elif name == "sent":
            n, flow = path.split(":")
            sent[int(flow)] = int(n)
        else:
            arrivals[name] = json.load(open(path))
    out = {"flows": {}}
    for flow, n in sent.items():
        got = set()
        dup = 0
        for rows in arrivals.values():
            for f, seq, _ in rows:
                if f == flow:
                    if seq in got:
                        dup += 1
                    got.add(seq)
        out["flows"][flow] = {"sent": n, "received": len(got), "lost": n - len(got), "duplicates": dup}
    if flips:
        lat, call, rtt = [], [], []
        for srv, t, t0 in flips:
            after = [ts for f, _, ts in arrivals.get(srv, []) if f == 2 and ts >= t0]
            if after:
                lat.append((min(after) - t) / 1000)
                call.append((min(after) - t0) / 1000)
                rtt.append((t - t0) / 1000)

        def stats(v):
            v = sorted(v)
            return {"n": len(v), "min": round(v[0]), "median": round(v[len(v) // 2]),
                    "max": round(v[-1])}
        if lat:
            # From the PUT's return to the first datagram on the new path
            # (negative: the dataplane switched before the answer reached the
            # client); from the PUT's start; and the PUT's own round trip.
            out["latency_us"] = stats(lat)
            out["latency_from_call_us"] = stats(call)
            out["put_rtt_us"] = stats(rtt)
    print(json.dumps(out))


def main():
    cmd, *a = sys.argv[1:]
    {"send": cmd_send, "recv": cmd_recv, "fpm": cmd_fpm, "api": cmd_api,
     "flips": cmd_flips, "report": cmd_report, "fpm-table": cmd_fpm_table}[cmd](*a)


if __name__ == "__main__":
    main()
