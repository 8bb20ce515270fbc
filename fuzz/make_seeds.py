#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/seeds/TARGET/ (committed).

Run: python3 fuzz/make_seeds.py. The seeds are well-formed examples of what
each target parses, so the fuzzer starts from inputs that reach deep code.
"""
import ipaddress
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "deploy", "lab"))
from churn import fpm_route, _attr  # noqa: E402

LAN = bytes([2, 0, 0, 0, 0, 0xA0])
CLIENT = bytes([2, 0, 0, 0, 0, 0xC1])


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, l4, ttl=64, options=b"", flags=0x4000):
    ihl = 5 + len(options) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(l4), 1, flags, ttl, proto, 0,
                    ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed) + options
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + l4


def ipv6(src, dst, nh, payload, hl=64, flow=0x12345):
    return struct.pack("!IHBB16s16s", 0x60000000 | flow, len(payload), nh, hl,
                       ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed) + payload


def udp(sp, dp, data=b"x"):
    return struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data


def tcp(sp, dp, flags=0x02):
    return struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 0x50, flags, 64240, 0, 0)


def icmp(t, c, rest=b"\0\0\0\0", data=b""):
    m = struct.pack("!BBH", t, c, 0) + rest + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def eth(payload, etype=0x0800, dst=LAN, src=CLIENT):
    return dst + src + struct.pack("!H", etype) + payload


def arp(op, sha, spa, tpa, dst=b"\xff" * 6):
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, ipaddress.ip_address(spa).packed,
                       b"\0" * 6, ipaddress.ip_address(tpa).packed)
    return eth(body + b"\0" * 18, 0x0806, dst=dst)


def frames(*fs):
    return b"".join(struct.pack("!H", len(f)) + f for f in fs)


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    v4_udp = ipv4("10.0.0.2", "198.51.100.9", 17, udp(40000, 53))
    v4_tcp = ipv4("10.0.0.2", "203.0.113.7", 6, tcp(40001, 443))
    v4_opts = ipv4("10.0.0.2", "198.51.100.9", 17, udp(1, 2), options=b"\x94\x04\0\0")
    v4_ttl1 = ipv4("10.0.0.2", "198.51.100.9", 17, udp(3, 4), ttl=1)
    v4_ping = ipv4("10.0.0.2", "10.0.0.1", 1, icmp(8, 0, b"\x12\x34\0\1", b"ping"))
    v4_frag = ipv4("10.0.0.2", "198.51.100.9", 17, udp(5, 6), flags=0x2000)
    inner = ipv4("198.51.100.9", "10.0.0.2", 17, udp(53, 40000))
    v4_err = ipv4("192.0.2.1", "10.0.0.2", 1, icmp(3, 3, data=inner))
    gre = ipv4("10.0.0.2", "198.51.100.9", 47, struct.pack("!HH", 0, 0x0800) + v4_udp)
    v6_udp = ipv6("fd00::2", "2001:db8:100::9", 17, udp(40000, 53))
    hbh = struct.pack("!BB6s", 60, 0, b"\x01\x04\0\0\0\0")
    dst_opts = struct.pack("!BB6s", 17, 0, b"\x01\x04\0\0\0\0")
    v6_ext = ipv6("fd00::2", "2001:db8:100::9", 0, hbh + dst_opts + udp(1, 2))
    v6_ping = ipv6("fd00::2", "fd00::1", 58, icmp(128, 0, b"\0\1\0\1", b"ping"))
    sip = ipv4("10.0.200.5", "192.0.2.9", 17, udp(5060, 5060))
    write("packet", "mixed", b"\x10" + frames(*[eth(p) for p in (v4_udp, v4_tcp, v4_opts, v4_ttl1, v4_ping,
                                                                  v4_frag, v4_err, gre, sip)],
                                              eth(v6_udp, 0x86DD), eth(v6_ext, 0x86DD), eth(v6_ping, 0x86DD),
                                              arp(1, CLIENT, "10.0.0.2", "10.0.0.1")))
    write("packet", "burst", b"\x10" + frames(*[eth(ipv4("10.0.0.%d" % (i + 2), "198.51.100.9", 17,
                                                            udp(1000 + i, 53))) for i in range(32)]))
    for name, p in [("udp", v4_udp), ("tcp", v4_tcp), ("opts", v4_opts), ("err", v4_err), ("gre", gre),
                    ("v6ext", v6_ext), ("v6", v6_udp), ("ping", v4_ping)]:
        write("wire", name, p)
    write("fpm", "routes", fpm_route(True, "198.51.100.0/24", [("10.1.0.2", 1), ("10.2.0.2", 2)])
          + fpm_route(True, "2001:db8:200::/48", [("fd01::2", 1)])
          + fpm_route(False, "198.51.100.0/24", []))
    # A nexthop object (RTM_NEWNEXTHOP, 104) and a route using it (RTA_NH_ID 30).
    nh = struct.pack("<BBBBI", 2, 0, 0, 0, 7) + _attr(1, struct.pack("<I", 7)) + _attr(
        6, struct.pack("<I", 2)) + _attr(8, ipaddress.ip_address("10.1.0.2").packed)
    nl = struct.pack("<IHHII", 16 + len(nh), 104, 0, 0, 0) + nh
    rtm = struct.pack("<BBBBBBBBI", 2, 24, 0, 0, 254, 196, 0, 1, 0)
    body = rtm + _attr(15, struct.pack("<I", 254)) + _attr(1, bytes([203, 0, 113, 0])) + _attr(
        30, struct.pack("<I", 7))
    nl2 = struct.pack("<IHHII", 16 + len(body), 24, 0, 0, 0) + body
    write("fpm", "nhg", struct.pack("!BBH", 1, 1, 4 + len(nl)) + nl + struct.pack("!BBH", 1, 1, 4 + len(nl2)) + nl2)
    # Route types (blackhole 6, unreachable 7, prohibit 8, local 2) with a protocol (186, bgp)
    # and a metric, and an IPv4 route via an IPv6 gateway (RTA_VIA 18).
    typed = b""
    for rtype, third in [(6, 1), (7, 2), (8, 3), (2, 4)]:
        rtm = struct.pack("<BBBBBBBBI", 2, 24, 0, 0, 254, 186, 0, rtype, 0)
        body = rtm + _attr(1, bytes([192, 0, third, 0])) + _attr(6, struct.pack("<I", 20))
        nl = struct.pack("<IHHII", 16 + len(body), 24, 0, 0, 0) + body
        typed += struct.pack("!BBH", 1, 1, 4 + len(nl)) + nl
    rtm = struct.pack("<BBBBBBBBI", 2, 24, 0, 0, 254, 196, 0, 1, 0)
    via = struct.pack("<H", 10) + ipaddress.ip_address("fd01::2").packed
    body = rtm + _attr(1, bytes([198, 51, 100, 0])) + _attr(18, via)
    nl = struct.pack("<IHHII", 16 + len(body), 24, 0, 0, 0) + body
    typed += struct.pack("!BBH", 1, 1, 4 + len(nl)) + nl
    write("fpm", "types", typed)
    write("api", "reject", b"\0" + b'{"prefix": "192.0.2.0/24", "type": "prohibit"}')
    for f in sorted(os.listdir(os.path.join(HERE, "..", "deploy", "examples"))):
        if f.endswith(".yaml"):
            write("config", f, open(os.path.join(HERE, "..", "deploy", "examples", f), "rb").read())
    write("api", "route", b"\0" + b'{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1", "weight": 2}], "hash": {"policy": "l3"}}')
    write("api", "route-table", b"\x04" + b'{"prefix": "192.0.2.0/25", "table": 100, "sticky": true, "nexthops": [{"via": "10.2.0.2", "port": "srv2"}]}')
    write("api", "group", b"\x01" + b'{"name": "g1", "group": "resilient", "buckets": 16, "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}')
    write("punt", "arp", b"\0" + frames(arp(1, CLIENT, "10.0.0.2", "10.0.0.1"), arp(2, CLIENT, "10.0.0.2", "10.0.0.1", dst=LAN)))
    ns = icmp(135, 0, b"\0\0\0\0", ipaddress.ip_address("fd00::1").packed + b"\x01\x01" + CLIENT)
    write("punt", "ndp", b"\0" + frames(eth(ipv6("fd00::2", "ff02::1:ff00:1", 58, ns, hl=255), 0x86DD,
                                             dst=b"\x33\x33\xff\0\0\1")))


if __name__ == "__main__":
    main()
