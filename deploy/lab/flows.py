#!/usr/bin/env python3
"""Traffic for the lab's end-to-end tests. Real sockets of the Linux stack.

  flows.py tcp HOST PORT N              N connections; JSON: answers, failed, conns [[lport, server], ...]
  flows.py hold HOST PORT N TRIGGER [TIMEOUT]
                                        N echo connections kept open; prints them (JSON line), waits
                                        for the file TRIGGER, then pings all at once and waits TIMEOUT s
                                        (default 3) for the echoes; JSON: [[lport, server, ok], ...]
  flows.py chatter HOST PORT N SECONDS [LATE]
                                        N echo connections exchanging a line each, round after round,
                                        for SECONDS; a connection fails on an error or an echo LATE s
                                        (default 10) late; JSON: conns, rounds, failed, errors, slowest
  flows.py stream HOST PORT SECONDS     new connections back to back; JSON: [[t_start, t_end, server|null], ...]
  flows.py udp HOST PORT N VARY         N one-datagram flows varying VARY: saddr | sport | flowlabel |
                                        inner-saddr | inner-sport | none (one flow, N packets);
                                        inner-* send GRE from a raw socket
  flows.py icmp-error REPORTER HOST CLIENT CPORT SPORT
                                        from REPORTER, an ICMP error toward HOST about the server->client
                                        TCP packet HOST:SPORT -> CLIENT:CPORT (v4: Fragmentation Needed,
                                        v6: Packet Too Big)
"""
import ipaddress
import json
import os
import socket
import struct
import sys
import time


def fam(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(64)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def one_tcp(host, port, timeout=10):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s, s.getsockname()[1], read_line(s)


def cmd_tcp(host, port, n):
    answers, conns, errors = {}, [], []
    for _ in range(n):
        try:
            s, lport, name = one_tcp(host, port)
            s.close()
            if not name:
                raise OSError("empty reply")
            answers[name] = answers.get(name, 0) + 1
            conns.append([lport, name])
        except OSError as e:
            errors.append(str(e))
    print(json.dumps({"answers": answers, "failed": len(errors), "errors": sorted(set(errors))[:5], "conns": conns}))


def cmd_hold(host, port, n, trigger, timeout=3.0):
    held = []
    for _ in range(n):
        s, lport, name = one_tcp(host, port)
        held.append((s, lport, name))
    print(json.dumps([[lp, name] for _, lp, name in held]), flush=True)
    while not os.path.exists(trigger):
        time.sleep(0.05)
    # Every ping leaves at once; then each echo gets TIMEOUT seconds from the
    # send (room for TCP's retransmissions when a path changed under it).
    sent = []
    for s, lport, name in held:
        try:
            s.sendall(b"ping\n")
            sent.append(True)
        except OSError:
            sent.append(False)
    deadline = time.monotonic() + timeout
    out = []
    for (s, lport, name), ok in zip(held, sent):
        try:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            ok = ok and read_line(s) == "ping"
        except OSError:
            ok = False
        out.append([lport, name, ok])
    print(json.dumps(out), flush=True)


def cmd_chatter(host, port, n, seconds, late=10.0):
    live = []
    for _ in range(n):
        s, lport, _ = one_tcp(host, port)
        live.append((s, lport))
    end = time.monotonic() + seconds
    rounds, errors, slowest = 0, [], 0.0
    while time.monotonic() < end and live:
        t0 = time.monotonic()
        for s, lport in list(live):
            try:
                s.sendall(b"ping\n")
            except OSError as e:
                errors.append(f"{lport}: send: {e}")
                live.remove((s, lport))
        deadline = time.monotonic() + late
        for s, lport in list(live):
            try:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                if read_line(s) != "ping":
                    raise OSError("no echo")
            except OSError as e:
                errors.append(f"{lport}: {e}")
                live.remove((s, lport))
        rounds += 1
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.02)
    print(json.dumps({"conns": n, "rounds": rounds, "failed": n - len(live), "errors": errors[:5], "slowest": round(slowest, 2)}))


def cmd_stream(host, port, seconds, workers=4):
    """Several workers, so one connection stuck on a dying server cannot stall the stream."""
    import threading

    end = time.monotonic() + seconds
    out, lock = [], threading.Lock()

    def run():
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                s, _, name = one_tcp(host, port, timeout=2)
                s.close()
            except OSError:
                name = None
            with lock:
                out.append([t0, time.monotonic(), name or None])

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(sorted(out)))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def ipv4_header(src, dst, proto, payload_len):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0x4000, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def ipv6_header(src, dst, proto, payload_len, label=0):
    return struct.pack("!IHBB16s16s", (6 << 28) | label, payload_len, proto, 64, socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst))


def udp_bytes(sport, dport, payload=b"x" * 8):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp_bytes(sport, dport):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, 0x18, 65535, 0, 0)


def cmd_udp(host, port, n, vary):
    f = fam(host)
    v6 = f == socket.AF_INET6
    if vary.startswith("inner-"):
        # GRE from a raw socket: the outer packet is always the same.
        raw = socket.socket(f, socket.SOCK_RAW, 47)
        for i in range(n):
            isrc = ("fd77::%x" % (i + 1)) if v6 else str(ipaddress.IPv4Address("172.16.0.1") + i)
            if vary == "inner-sport":
                isrc = "fd77::1" if v6 else "172.16.0.1"
            sport = 20000 + i if vary == "inner-sport" else 5000
            idst = "fd77::ffff" if v6 else "172.16.255.254"
            u = udp_bytes(sport, port)
            inner = ipv6_header(isrc, idst, 17, len(u)) + u if v6 else ipv4_header(isrc, idst, 17, len(u)) + u
            gre = struct.pack("!HH", 0, 0x86DD if v6 else 0x0800) + inner
            raw.sendto(gre, (host, 0))
        return
    for i in range(n):
        s = socket.socket(f, socket.SOCK_DGRAM)
        if vary == "saddr":
            src = ("fd00::1:%x" % i) if v6 else str(ipaddress.IPv4Address("10.0.16.0") + i)
            s.bind((src, 5000))
        elif vary == "sport":
            s.bind(("", 20000 + i))
        elif vary in ("flowlabel", "none"):
            s.bind(("", 5000))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if vary == "flowlabel" and v6:
            # IPV6_FLOWINFO_SEND (33): the label goes in sin6_flowinfo.
            s.setsockopt(socket.IPPROTO_IPV6, 33, 1)
            s.sendto(b"x" * 8, (host, port, (i + 1) & 0xFFFFF, 0))
        else:
            s.sendto(b"x" * 8, (host, port))
        s.close()


def cmd_icmp_error(reporter, host, client, cport, sport):
    v6 = ":" in host
    # The server->client packet the error is about (as a router on the client side would quote it).
    t = tcp_bytes(sport, cport)
    if v6:
        orig = ipv6_header(host, client, 6, len(t)) + t
        msg = struct.pack("!BBHI", 2, 0, 0, 1280) + orig  # Packet Too Big, MTU 1280
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)  # the kernel fills the checksum
        s.bind((reporter, 0))
        s.sendto(msg, (host, 0))
    else:
        orig = ipv4_header(host, client, 6, len(t)) + t
        body = struct.pack("!BBHHH", 3, 4, 0, 0, 1200) + orig  # Fragmentation Needed, next-hop MTU 1200
        msg = body[:2] + struct.pack("!H", csum(body)) + body[4:]
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.bind((reporter, 0))
        s.sendto(msg, (host, 0))


def main():
    a = sys.argv[1:]
    cmd = a[0]
    if cmd == "tcp":
        cmd_tcp(a[1], int(a[2]), int(a[3]))
    elif cmd == "hold":
        cmd_hold(a[1], int(a[2]), int(a[3]), a[4], float(a[5]) if len(a) > 5 else 3.0)
    elif cmd == "chatter":
        cmd_chatter(a[1], int(a[2]), int(a[3]), float(a[4]), float(a[5]) if len(a) > 5 else 10.0)
    elif cmd == "stream":
        cmd_stream(a[1], int(a[2]), float(a[3]))
    elif cmd == "udp":
        cmd_udp(a[1], int(a[2]), int(a[3]), a[4])
    elif cmd == "icmp-error":
        cmd_icmp_error(a[1], a[2], a[3], int(a[4]), int(a[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
