#!/usr/bin/env python3
"""A packet flood from a lab namespace, as fast as one AF_PACKET socket goes.

flood.py IFACE DST_MAC DST_IP SECONDS KIND[,KIND...] [net=SRC_NET] [pps=RATE] [ip6=ADDR]

KIND: synN (TCP SYNs to port N) or udp (UDP to ports 33434-33689). Sources
are random addresses of SRC_NET (a /24, default DST_IP's) and random ports,
so that every packet is a new flow. pps: at most this rate (default: as
fast as the socket goes). Prints one JSON line: packets sent, seconds, rate.

ARP and NDP kinds (DST_IP and ip6= are the router's addresses; every frame
comes from a random MAC):
  arp-claim   ARP replies claiming DST_IP, to the router's MAC
  arp-request ARP requests (broadcast) between random addresses of SRC_NET
  arp-garp    gratuitous ARP replies (broadcast) for random addresses of SRC_NET
  na-claim    Neighbour Advertisements (to ff02::1, override) claiming ip6=
  ns          Neighbour Solicitations for random addresses of ip6='s /64"""
import json, os, random, socket, struct, sys, time

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

BCAST = b"\xff" * 6


def rand_mac():
    return bytes([0x02]) + random.randbytes(5)


def arp(op, sha, spa, tha, tpa, eth_dst):
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, spa, tha, tpa)
    return eth_dst + sha + b"\x08\x06" + body + b"\0" * 18


def icmp6(src, dst, body, eth_dst, eth_src):
    pseudo = src + dst + struct.pack("!IxxxB", len(body), 58)
    c = csum(pseudo + body)
    body = body[:2] + struct.pack("!H", c) + body[4:]
    ip = struct.pack("!IHBB16s16s", 6 << 28, len(body), 58, 255, src, dst)
    return eth_dst + eth_src + b"\x86\xdd" + ip + body


def neighbor_frame(dst_mac, dst_ip, net, ip6, kind):
    mac = rand_mac()
    rnd = lambda: net + bytes([random.randint(10, 250)])
    if kind == "arp-claim":
        return arp(2, mac, dst_ip, dst_mac, dst_ip, dst_mac)
    if kind == "arp-request":
        return arp(1, mac, rnd(), b"\0" * 6, rnd(), BCAST)
    if kind == "arp-garp":
        a = rnd()
        return arp(2, mac, a, BCAST, a, BCAST)
    lladdr = socket.inet_pton(socket.AF_INET6, "fe80::" + ":".join(f"{random.getrandbits(16):x}" for _ in range(2)))
    if kind == "na-claim":
        allnodes = socket.inet_pton(socket.AF_INET6, "ff02::1")
        body = struct.pack("!BBHI16s", 136, 0, 0, 0x20000000, ip6) + struct.pack("!BB6s", 2, 1, mac)
        return icmp6(lladdr, allnodes, body, b"\x33\x33\x00\x00\x00\x01", mac)
    if kind == "ns":
        target = ip6[:8] + random.randbytes(8)
        snm = socket.inet_pton(socket.AF_INET6, "ff02::1:ff00:0")[:13] + target[13:]
        body = struct.pack("!BBHI16s", 135, 0, 0, 0, target) + struct.pack("!BB6s", 1, 1, mac)
        return icmp6(lladdr, snm, body, b"\x33\x33\xff" + target[13:], mac)
    raise SystemExit(f"flood.py: unknown kind {kind}")


def frame(src_mac, dst_mac, src, dst, kind):
    sport = random.randint(1024, 65535)
    if kind.startswith("syn"):
        dport = int(kind[3:])
        l4 = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
        proto = 6
    else:
        dport = 33434 + random.randint(0, 255)
        l4 = struct.pack("!HHHH", sport, dport, 8 + 18, 0) + b"x" * 18
        proto = 17
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    c = csum(pseudo + l4)
    l4 = l4[:16] + struct.pack("!H", c) + l4[18:] if proto == 6 else l4[:6] + struct.pack("!H", c) + l4[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), random.getrandbits(16), 0, 64, proto, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + l4

def main():
    iface, dst_mac, dst_ip, secs, kinds = sys.argv[1:6]
    mac = bytes.fromhex(open(f"/sys/class/net/{iface}/address").read().strip().replace(":", ""))
    dmac = bytes.fromhex(dst_mac.replace(":", ""))
    opts = dict(a.split("=", 1) for a in sys.argv[6:])
    net = opts.get("net", dst_ip.rsplit(".", 1)[0] + ".0")
    pps = int(opts.get("pps", 0))
    base = socket.inet_aton(net)[:3]
    dst = socket.inet_aton(dst_ip)
    kinds = kinds.split(",")
    ip6 = socket.inet_pton(socket.AF_INET6, opts.get("ip6", "::"))

    def one(kind):
        if kind.startswith(("arp", "na", "ns")):
            return neighbor_frame(dmac, dst, base, ip6, kind)
        return frame(mac, dmac, base + bytes([random.randint(10, 250)]), dst, kind)
    frames = [one(kinds[i % len(kinds)]) for i in range(4096)]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sent, t0, end = 0, time.time(), time.time() + float(secs)
    send = s.send
    chunk = 256
    while True:
        for i in range(0, len(frames), chunk):
            for f in frames[i:i + chunk]:
                try:
                    send(f)
                    sent += 1
                except OSError:
                    pass
            if pps:
                ahead = sent / pps - (time.time() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        if time.time() >= end:
            break
    dt = time.time() - t0
    print(json.dumps({"sent": sent, "seconds": round(dt, 2), "pps": int(sent / dt)}))

main()
