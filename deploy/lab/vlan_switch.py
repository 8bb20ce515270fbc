#!/usr/bin/env python3
"""A userspace 802.1Q switch for the lab, for kernels built without 802.1Q
(CONFIG_VLAN_8021Q unset: `ip link add ... type vlan` says "Unknown device
type"). It stands where a VLAN-aware switch would: one trunk interface,
and one access interface per VLAN (a veth whose other end is a host's).

    vlan_switch.py TRUNK VID:ACCESS [VID:ACCESS ...]

A frame the trunk receives with tag VID leaves ACCESS untagged; a frame
ACCESS receives leaves the trunk tagged VID (priority 0). Untagged frames
on the trunk are the kernel's, and other VIDs are not forwarded. The
kernel takes the tag off a received frame before packet sockets see it
(skb_vlan_untag), so the trunk's VID comes from PACKET_AUXDATA."""
import select
import socket
import struct
import sys

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
PACKET_OUTGOING = 4


def open_raw(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.setblocking(False)
    return s


def main():
    trunk_name = sys.argv[1]
    trunk = open_raw(trunk_name)
    by_vid, by_sock = {}, {}
    for arg in sys.argv[2:]:
        vid, name = arg.split(":", 1)
        s = open_raw(name)
        by_vid[int(vid)] = s
        by_sock[s] = int(vid)
    socks = [trunk] + list(by_sock)
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            while True:
                try:
                    data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(32))
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                vid = None
                for level, kind, cdata in anc:
                    if level == SOL_PACKET and kind == PACKET_AUXDATA and len(cdata) >= 20:
                        status, _, _, _, _, tci = struct.unpack_from("=IIIHHH", cdata)
                        if status & TP_STATUS_VLAN_VALID:
                            vid = tci & 0x0FFF
                if s is trunk:
                    if vid is None and data[12:14] == b"\x81\x00":
                        vid = struct.unpack_from("!H", data, 14)[0] & 0x0FFF
                        data = data[:12] + data[16:]
                    out = by_vid.get(vid) if vid else None
                    if out is not None:
                        try:
                            out.send(data)
                        except OSError:
                            pass
                else:
                    tag = struct.pack("!HH", 0x8100, by_sock[s])
                    try:
                        trunk.send(data[:12] + tag + data[12:])
                    except OSError:
                        pass


if __name__ == "__main__":
    main()
