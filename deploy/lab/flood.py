#!/usr/bin/env python3
"""A packet flood from a lab namespace, as fast as one AF_PACKET socket goes.

flood.py IFACE DST_MAC DST_IP SECONDS KIND[,KIND...] [net=SRC_NET] [pps=RATE]

KIND: synN (TCP SYNs to port N) or udp (UDP to ports 33434-33689). Sources
are random addresses of SRC_NET (a /24, default DST_IP's) and random ports,
so that every packet is a new flow. pps: at most this rate (default: as
fast as the socket goes). Prints one JSON line: packets sent, seconds, rate."""
import json, os, random, socket, struct, sys, time

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

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
    frames = [frame(mac, dmac, base + bytes([random.randint(10, 250)]), dst, kinds[i % len(kinds)]) for i in range(4096)]
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
