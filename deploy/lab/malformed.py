#!/usr/bin/python3
"""A corpus of bad packets, interleaved with good ones, for tests/e2e/malformed.sh.

Run with Debian's python3 (it has scapy: package python3-scapy).

  malformed.py send IFACE ROUTER_MAC OUT.json   from the client namespace: sends every case of
                                                CORPUS, each followed by a good UDP datagram to
                                                198.51.100.10:9100 (payload "good N"); sniffs
                                                the ICMP that comes back; writes
                                                {"cases": [[name, expect], ...], "goods": N,
                                                 "icmp": [{...}, ...]}
  malformed.py recv FILE                        in a server namespace: appends each datagram
                                                received on UDP 9100 to FILE, one per line

`expect` is the drop reason the router must count for the case, or
"forward" (it must be forwarded: counted per nexthop), "reply" (the router
answers it: counted in ecmp_router_icmp_sent_total), or "claim" (ARP/NDP
claiming a router address: ignored, counted as
ecmp_router_control_events_total{event="own_address_claim"}).
"""
import json
import socket
import sys
import time

CLIENT_MAC = "02:00:00:00:00:c1"
SRC = "10.0.0.2"
GOOD_DST = "198.51.100.10"


def corpus(rmac):
    from scapy.all import (ARP, ICMP, IP, UDP, Dot1Q, Ether, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr,
                           IPOption_RR, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, Raw, raw)
    E = Ether(dst=rmac, src=CLIENT_MAC)
    # For raw IPv4 bytes (scapy cannot infer the EtherType of a Raw payload).
    E4 = Ether(dst=rmac, src=CLIENT_MAC, type=0x0800)
    udp = UDP(sport=40000, dport=9100) / Raw(b"bad")
    ip_ok = IP(src=SRC, dst=GOOD_DST) / udp
    b = raw(ip_ok)

    def with_byte(data, at, value, fix=True):
        d = bytearray(data)
        d[at] = value
        if fix:
            d[10:12] = b"\0\0"
            ihl = (d[0] & 0x0F) * 4
            s = sum(int.from_bytes(d[i:i + 2], "big") for i in range(0, max(ihl, 20), 2))
            while s >> 16:
                s = (s & 0xFFFF) + (s >> 16)
            d[10:12] = ((~s) & 0xFFFF).to_bytes(2, "big")
        return bytes(d)

    inner_udp = IP(src=GOOD_DST, dst=SRC) / UDP(sport=9100, dport=40000)
    inner_err = IP(src="192.0.2.1", dst=GOOD_DST) / ICMP(type=3, code=3) / raw(IP(src=GOOD_DST, dst="192.0.2.1") / UDP())
    cases = [
        # Truncated at every header boundary.
        ("ethernet header only", Ether(dst=rmac, src=CLIENT_MAC, type=0x0800), "ipv4_truncated"),
        ("ipv4 cut at 10 bytes", E4 / Raw(b[:10]), "ipv4_truncated"),
        ("ipv4 header, no payload, total length 28", E4 / Raw(b[:20]), "ipv4_bad_total_len"),
        ("udp cut at 4 bytes (forwarded: the router needs no ports)", E4 / Raw(with_byte(with_byte(b[:24], 3, 24), 2, 0)), "forward"),
        ("ipv6 cut at 20 bytes", Ether(dst=rmac, src=CLIENT_MAC, type=0x86DD) / Raw(raw(IPv6(src="fd00::2", dst="2001:db8:100::10"))[:20]), "ipv6_truncated"),
        # Bad IHL, lengths, checksums, versions.
        ("ipv4 version 5", E4 / Raw(with_byte(b, 0, 0x55)), "ipv4_bad_version"),
        ("ipv4 IHL 4", E4 / Raw(with_byte(b, 0, 0x44)), "ipv4_bad_header_len"),
        ("ipv4 IHL 15 beyond the packet", E4 / Raw(with_byte(b, 0, 0x4F, fix=False)), "ipv4_truncated"),
        ("ipv4 bad header checksum", E4 / Raw(b[:10] + bytes([b[10] ^ 0xFF, b[11]]) + b[12:]), "ipv4_bad_checksum"),
        ("ipv4 total length beyond the frame", E4 / Raw(with_byte(with_byte(b, 2, 0x04), 3, 0)), "ipv4_bad_total_len"),
        ("ipv4 total length below the header", E4 / Raw(with_byte(with_byte(b, 2, 0), 3, 12)), "ipv4_bad_total_len"),
        ("ipv6 payload length beyond the frame", E / IPv6(src="fd00::2", dst="2001:db8:100::10", plen=900) / UDP(dport=9100), "ipv6_bad_payload_len"),
        # TTL 0 and 1: dropped with Time Exceeded.
        ("ttl 0", E / IP(src=SRC, dst=GOOD_DST, ttl=0) / udp, "ttl_exceeded"),
        ("ttl 1", E / IP(src=SRC, dst=GOOD_DST, ttl=1) / udp, "ttl_exceeded"),
        ("hop limit 1", E / IPv6(src="fd00::2", dst="2001:db8:100::10", hlim=1) / UDP(dport=9100), "ttl_exceeded"),
        # ICMP errors about ICMP errors, and errors with TTL 1: no ICMP back.
        ("icmp error, ttl 1", E / IP(src=SRC, dst=GOOD_DST, ttl=1) / ICMP(type=3, code=3) / raw(inner_udp), "ttl_exceeded"),
        ("icmp error about an icmp error, ttl 1", E / IP(src=SRC, dst=GOOD_DST, ttl=1) / ICMP(type=11, code=0) / raw(inner_err), "ttl_exceeded"),
        ("icmp error about an icmp error, no route", E / IP(src=SRC, dst="100.64.0.1") / ICMP(type=3, code=1) / raw(inner_err), "no_route"),
        # Broadcast and multicast sources: dropped, never answered.
        ("ip source broadcast, ttl 1", E / IP(src="255.255.255.255", dst=GOOD_DST, ttl=1) / udp, "martian_source"),
        ("ip source multicast, ttl 1", E / IP(src="224.0.0.5", dst=GOOD_DST, ttl=1) / udp, "martian_source"),
        ("ip source multicast, no route", E / IP(src="239.1.1.1", dst="100.64.0.1") / udp, "martian_source"),
        ("ethernet source multicast, ttl 1", Ether(dst=rmac, src="01:00:5e:00:00:05") / IP(src=SRC, dst=GOOD_DST, ttl=1) / udp, "l2_multicast_source"),
        ("ipv6 source multicast", E / IPv6(src="ff02::1", dst="2001:db8:100::10") / UDP(dport=9100), "martian_source"),
        # Options, to the router and through it.
        ("udp with options to the router", E / IP(src=SRC, dst="10.0.0.1", options=[IPOption_RR()]) / udp, "local_unhandled"),
        ("echo with options to the router", E / IP(src=SRC, dst="10.0.0.1", options=[IPOption_RR()]) / ICMP(id=7, seq=1) / Raw(b"hi"), "reply"),
        ("udp with options, forwarded", E / IP(src=SRC, dst=GOOD_DST, options=[IPOption_RR()]) / udp, "forward"),
        # IPv6 extension-header chains: forwarded; beyond the walk limit the hash falls back.
        # To an address no server holds, so no server answers (with Parameter Problem).
        ("ipv6 chain of 12 destination-options headers", E / IPv6(src="fd00::2", dst="2001:db8:100::99") / (IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()) / UDP(dport=9100), "forward"),
        ("ipv6 hop-by-hop after hop-by-hop (a loop)", E / IPv6(src="fd00::2", dst="2001:db8:100::99") / IPv6ExtHdrHopByHop() / IPv6ExtHdrHopByHop() / IPv6ExtHdrHopByHop() / UDP(dport=9100), "forward"),
        # Tiny and overlapping fragments: forwarded (a router does not reassemble).
        ("tiny first fragment (8 bytes)", E4 / IP(src=SRC, dst=GOOD_DST, flags="MF", proto=17, id=77) / Raw(b"\x9c\x40\x23\x8c\0\x20\0\0"), "forward"),
        ("overlapping fragment at offset 8", E4 / IP(src=SRC, dst=GOOD_DST, frag=1, proto=17, id=77) / Raw(b"A" * 24), "forward"),
        # Spoofed ARP and NDP for the router's own addresses.
        ("arp reply claiming the router's address", Ether(dst=rmac, src=CLIENT_MAC) / ARP(op=2, hwsrc=CLIENT_MAC, psrc="10.0.0.1", hwdst=rmac, pdst="10.0.0.1"), "claim"),
        ("gratuitous arp for the router's address", Ether(dst="ff:ff:ff:ff:ff:ff", src=CLIENT_MAC) / ARP(op=1, hwsrc=CLIENT_MAC, psrc="10.0.0.1", pdst="10.0.0.1"), "claim"),
        ("ndp advert claiming the router's address", Ether(dst="33:33:00:00:00:01", src=CLIENT_MAC) / IPv6(src="fd00::2", dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt="fd00::1", R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=CLIENT_MAC), "claim"),
        # Odd frames and addresses.
        ("unknown ethertype", Ether(dst=rmac, src=CLIENT_MAC, type=0x88B5) / Raw(b"x" * 46), "unsupported_ethertype"),
        # 802.1Q on a port without sub-interfaces.
        ("802.1Q tag, VID 100", E / Dot1Q(vlan=100) / ip_ok, "unknown_vlan"),
        ("two 802.1Q tags", E / Dot1Q(vlan=100) / Dot1Q(vlan=200) / ip_ok, "unknown_vlan"),
        ("802.1Q tag cut short", Ether(dst=rmac, src=CLIENT_MAC, type=0x8100) / Raw(b"\x00"), "unknown_vlan"),
        ("802.1ad (QinQ) outer tag", Ether(dst=rmac, src=CLIENT_MAC, type=0x88A8) / Dot1Q(vlan=100) / ip_ok, "unsupported_ethertype"),
        ("priority-tagged (VID 0), forwarded", E / Dot1Q(vlan=0, prio=5) / IP(src=SRC, dst=GOOD_DST) / udp, "forward"),
        ("unicast to another MAC", Ether(dst="02:00:00:00:99:99", src=CLIENT_MAC) / ip_ok, "l2_not_for_us"),
        ("destination multicast", E / IP(src=SRC, dst="224.0.0.9") / udp, "multicast"),
        ("destination loopback", E / IP(src=SRC, dst="127.0.0.1") / udp, "martian_destination"),
        ("no route", E / IP(src=SRC, dst="100.64.0.1") / udp, "no_route"),
        ("echo request, ipv6, to the router", E / IPv6(src="fd00::2", dst="fd00::1") / ICMPv6EchoRequest(id=3), "reply"),
    ]
    return cases, E


def send(iface, rmac, out):
    from scapy.all import ICMP, IP, UDP, AsyncSniffer, Raw, conf, raw, sendp
    conf.verb = 0
    cases, E = corpus(rmac)
    sniffer = AsyncSniffer(iface=iface, filter="icmp or icmp6", store=True)
    sniffer.start()
    time.sleep(0.5)
    s = conf.L2socket(iface=iface)
    goods = 0
    for i, (name, pkt, _) in enumerate(cases):
        s.send(raw(pkt))
        time.sleep(0.01)
        s.send(raw(E / IP(src="10.0.0.2", dst=GOOD_DST) / UDP(sport=41000 + i, dport=9100) / Raw(b"good %d" % goods)))
        goods += 1
        time.sleep(0.01)
    time.sleep(1.0)
    sniffer.stop()
    icmp = []
    for p in sniffer.results:
        if p.src == CLIENT_MAC:
            continue  # the client's own
        ip = p.getlayer("IP") or p.getlayer("IPv6")
        rec = {"dst": ip.dst, "src": ip.src, "summary": p.summary()}
        v6 = p.getlayer("IPv6")
        if v6 is not None and v6.nh == 58:
            t = raw(v6.payload)[0] if len(raw(v6.payload)) else -1
            rec.update(type6=t)
        if p.haslayer(ICMP):
            ic = p[ICMP]
            rec.update(type=ic.type, code=ic.code)
            # The quoted packet, if an error: its protocol and, for ICMP, its type.
            if ic.type in (3, 11, 12):
                q = ic.payload
                if isinstance(q, IP):
                    rec["quoted_proto"] = q.proto
                    if q.proto == 1 and len(raw(q.payload)) >= 1:
                        rec["quoted_icmp_type"] = raw(q.payload)[0]
                    rec["quoted_src"] = q.src
        icmp.append(rec)
    with open(out, "w") as f:
        json.dump({"cases": [[n, e] for n, _, e in cases], "goods": goods, "icmp": icmp}, f, indent=1)


def recv(path):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 9100))
    with open(path, "a", buffering=1) as f:
        while True:
            d, _ = s.recvfrom(4096)
            f.write(d.decode(errors="replace") + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "recv":
        recv(sys.argv[2])
    else:
        sys.exit(__doc__)
