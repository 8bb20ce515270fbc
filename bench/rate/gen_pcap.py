#!/usr/bin/env python3
"""Writes a pcap of small UDP frames for the packet-rate benchmark: FLOWS
flows (distinct source address and port), one frame each.

  gen_pcap.py OUT DST_MAC [FLOWS] [v6|vlan|frag]

IPv4 (the default): 64-byte frames (60 bytes + FCS on the wire) to
198.18.1.0/24, the prefix l3fwd's default table sends to port 1 and the
benchmark's ECMP route for ecmp-router.
v6: 66-byte frames (62 + FCS, the smallest UDP/IPv6) from fd00::/64 to
2001:200:0:1::/64, the prefix l3fwd's built-in IPv6 table sends to port 1.
vlan: the IPv4 frames with an 802.1Q tag, VID 100 (64 + 4 bytes).
frag: IPv4 packets of 1,500 bytes without DF (1,514-byte frames).
"""
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(dst_mac, i, payload_len=18):
    src_ip = bytes([10, 0, (i >> 8) & 0xFF, i & 0xFF])
    dst_ip = bytes([198, 18, 1, 1 + i % 250])
    payload = b"\0" * payload_len
    udp = struct.pack("!HHHH", 1024 + (i * 7) % 60000, 9, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = dst_mac + bytes([0x02, 0, 0, 0, 0, 0x01]) + b"\x08\x00"
    return eth + ip + udp


def frame6(dst_mac, i):
    src_ip = bytes.fromhex("fd000000000000000000000000000000")[:14] + bytes([(i >> 8) & 0xFF, i & 0xFF])
    dst_ip = bytes.fromhex("20010200000000010000000000000000")[:15] + bytes([1 + i % 250])
    sport = 1024 + (i * 7) % 60000
    udp = struct.pack("!HHHH", sport, 9, 8, 0)
    pseudo = src_ip + dst_ip + struct.pack("!IxxxB", len(udp), 17)
    udp = udp[:6] + struct.pack("!H", csum(pseudo + udp) or 0xFFFF)
    ip = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + src_ip + dst_ip
    eth = dst_mac + bytes([0x02, 0, 0, 0, 0, 0x01]) + b"\x86\xdd"
    return eth + ip + udp


def main():
    out, mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
    flows = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    kind = sys.argv[4] if len(sys.argv) > 4 else "v4"
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(flows):
            if kind == "v6":
                fr = frame6(mac, i)
            elif kind == "vlan":
                fr = frame(mac, i)
                fr = fr[:12] + struct.pack("!HH", 0x8100, 100) + fr[12:]
            elif kind == "frag":
                fr = frame(mac, i, 1500 - 28)
            else:
                fr = frame(mac, i)
            assert len(fr) == {"v6": 62, "vlan": 64, "frag": 1514}.get(kind, 60)
            f.write(struct.pack("<IIII", 0, i, len(fr), len(fr)))
            f.write(fr)


if __name__ == "__main__":
    main()
