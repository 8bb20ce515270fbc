#!/usr/bin/env python3
"""A UDP stream to the first address of each prefix in FILE, PPS packets a
second round-robin, to port 9. It writes how many it sent to COUNT every
0.1 s; SIGUSR1 pauses it (after writing the exact count) or resumes it, so
that a reader can compare what was sent with what arrived.

    stream.py FILE PPS COUNT
"""
import ipaddress
import os
import signal
import socket
import sys
import time

paused = False


def main():
    global paused
    path, pps, count = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dsts = [str(ipaddress.ip_network(line.strip()).network_address + 1) for line in open(path) if line.strip()]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n, last = 0, 0.0

    def write():
        with open(count + ".tmp", "w") as f:
            f.write(f"{n}\n")
        os.replace(count + ".tmp", count)

    def toggle(*_):
        global paused
        paused = not paused

    signal.signal(signal.SIGUSR1, toggle)
    t0, base = time.time(), 0
    while True:
        if paused:
            write()
            while paused:
                time.sleep(0.01)
            t0, base = time.time(), n
        for d in dsts:
            if paused:
                break
            try:
                s.sendto(b"x" * 64, (d, 9))
                n += 1
            except OSError:
                pass
            if n % 100 == 0:
                now = time.time()
                if now - last >= 0.1:
                    write()
                    last = now
                lag = t0 + (n - base) / pps - now
                if lag > 0:
                    time.sleep(lag)


if __name__ == "__main__":
    main()
