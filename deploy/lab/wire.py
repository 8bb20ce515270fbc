#!/usr/bin/env python3
"""A point-to-point Ethernet wire between two kernel interfaces, for the lab.

  wire.py IF_A IF_B

Every frame IF_A's kernel side receives (one a DPDK net_tap PMD wrote) is
sent out of IF_B, and the other way. A veth pair cannot stand in: a PMD on
a veth (net_af_packet) never reports its link down, so a bond on it cannot
see a member's cable cut. Two net_tap interfaces wired by this do:
`ip link set IF carrier off` on both (a cut cable: both ends lose
carrier) is a link down to both PMDs. Frames are dropped while either end
is down.
"""
import select
import socket
import sys

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def open_if(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((name, 0))
    s.setblocking(False)
    return s


def main():
    a, b = sys.argv[1], sys.argv[2]
    sa, sb = open_if(a), open_if(b)
    peer = {sa: (sb, b), sb: (sa, a)}
    while True:
        ready, _, _ = select.select([sa, sb], [], [], 1.0)
        for s in ready:
            for _ in range(64):
                try:
                    frame, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                except OSError:
                    break  # ENETDOWN, once, when its interface went down
                # The kernel's own transmissions on the interface (to the
                # PMD), ours included, are not for the wire.
                if addr[2] == PACKET_OUTGOING:
                    continue
                out, _ = peer[s]
                try:
                    out.send(frame)
                except OSError:
                    pass  # the far end is down: the frame is lost, as on a cut cable


if __name__ == "__main__":
    main()
