#!/usr/bin/env python3
"""Counts the UDP packets to port 9 that arrive on IFACE (a packet socket, so
packets for addresses that are not local count too); writes the count to
COUNT every 0.1 s.

    count.py IFACE COUNT
"""
import os
import socket
import struct
import sys
import time


def main():
    iface, count = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((iface, 0))
    s.settimeout(0.1)
    n, last = 0, 0.0
    while True:
        try:
            f, addr = s.recvfrom(2048)
            # Incoming only (not PACKET_OUTGOING), IPv4, UDP, port 9.
            if addr[2] != 4 and len(f) >= 38 and f[23] == 17:
                ihl = (f[14] & 15) * 4
                if struct.unpack_from("!H", f, 14 + ihl + 2)[0] == 9:
                    n += 1
        except socket.timeout:
            pass
        except OSError:
            return  # the interface went away: the lab is being torn down
        now = time.time()
        if now - last >= 0.1:
            with open(count + ".tmp", "w") as out:
                out.write(f"{n}\n")
            os.replace(count + ".tmp", count)
            last = now


if __name__ == "__main__":
    main()
