#!/usr/bin/env python3
"""Watches a namespace's kernel FIB fill: a netlink monitor of routes and
nexthop objects that keeps, per prefix of the main table, how many nexthops
it has (RTA_MULTIPATH, RTA_NH_ID through its group, or one gateway), and
prints every 0.2 s: "TIME ROUTES MULTIPATH" (time.time(), all BGP routes,
those with two nexthops or more). Run it inside the namespace:

    ip netns exec NS python3 kmon.py > samples.txt

It exits on SIGTERM. An ENOBUFS (the monitor fell behind the kernel) is
printed as "# overrun" and the counts after it are not to be trusted.
"""
import os
import signal
import socket
import struct
import sys
import time

RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWNEXTHOP, RTM_DELNEXTHOP = 24, 25, 104, 105
RTA_DST, RTA_GATEWAY, RTA_MULTIPATH, RTA_TABLE, RTA_NH_ID = 1, 5, 9, 15, 30
NHA_ID, NHA_GROUP = 1, 2
RTNLGRP_NEXTHOP = 32
RTPROT_BGP = 186


def attrs(buf, off, end):
    while off + 4 <= end:
        ln, ty = struct.unpack_from("=HH", buf, off)
        if ln < 4:
            return
        yield ty & 0x3FFF, off + 4, off + ln
        off += (ln + 3) & ~3


def main():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.setsockopt(socket.SOL_SOCKET, 33, 512 << 20)  # SO_RCVBUFFORCE
    s.bind((0, 0x40 | 0x400))  # RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
    s.setsockopt(270, 1, RTNLGRP_NEXTHOP)  # SOL_NETLINK, NETLINK_ADD_MEMBERSHIP
    s.settimeout(0.2)
    routes = {}  # key -> (nhid or 0, count)
    nh_size = {}  # nexthop id -> members
    nh_users = {}  # nexthop id -> routes using it
    direct_multi = 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    last = 0.0
    out = sys.stdout

    def drop(key):
        nonlocal direct_multi
        old = routes.pop(key, None)
        if old is None:
            return
        if old[0]:
            nh_users[old[0]] -= 1
        elif old[1] >= 2:
            direct_multi -= 1

    while not stop:
        try:
            buf = s.recv(1 << 20)
        except socket.timeout:
            buf = b""
        except OSError as e:
            if e.errno == 105:  # ENOBUFS
                print("# overrun", file=out, flush=True)
                continue
            raise
        off, n = 0, len(buf)
        while off + 16 <= n:
            ln, ty = struct.unpack_from("=IH", buf, off)
            if ln < 16:
                break
            end = off + ln
            body = off + 16
            if ty in (RTM_NEWROUTE, RTM_DELROUTE):
                fam, dlen, _, _, table, proto, _, rtype = struct.unpack_from("=BBBBBBBB", buf, body)
                if proto == RTPROT_BGP and rtype == 1:
                    dst, nhid, count = b"", 0, 0
                    for t, a, b in attrs(buf, body + 12, end):
                        if t == RTA_DST:
                            dst = buf[a:b]
                        elif t == RTA_TABLE:
                            table = struct.unpack_from("=I", buf, a)[0]
                        elif t == RTA_NH_ID:
                            nhid = struct.unpack_from("=I", buf, a)[0]
                        elif t == RTA_GATEWAY:
                            count = max(count, 1)
                        elif t == RTA_MULTIPATH:
                            m, c = a, 0
                            while m + 8 <= b:
                                c += 1
                                m += (struct.unpack_from("=H", buf, m)[0] + 3) & ~3
                            count = c
                    if table == 254:
                        key = (fam, dst, dlen)
                        drop(key)
                        if ty == RTM_NEWROUTE:
                            routes[key] = (nhid, count)
                            if nhid:
                                nh_users[nhid] = nh_users.get(nhid, 0) + 1
                            elif count >= 2:
                                direct_multi += 1
            elif ty in (RTM_NEWNEXTHOP, RTM_DELNEXTHOP):
                nid, size = 0, 1
                for t, a, b in attrs(buf, body + 8, end):
                    if t == NHA_ID:
                        nid = struct.unpack_from("=I", buf, a)[0]
                    elif t == NHA_GROUP:
                        size = (b - a) // 8
                if ty == RTM_NEWNEXTHOP:
                    nh_size[nid] = size
                else:
                    nh_size.pop(nid, None)
            off += (ln + 3) & ~3
        now = time.time()
        if now - last >= 0.2:
            last = now
            multi = direct_multi + sum(u for i, u in nh_users.items() if nh_size.get(i, 1) >= 2)
            print(f"{now:.3f} {len(routes)} {multi}", file=out, flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
