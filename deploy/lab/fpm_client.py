#!/usr/bin/env python3
"""A scripted FPM client for tests/e2e/fpm_sessions.sh (zebra's framing, churn.py's encoder).

  fpm_client.py HOST:PORT hold SECONDS ROUTE... [-- ROUTE...]
                                                   connect, send each ROUTE (PREFIX=GW[,GW...]
                                                   or PREFIX=- to delete); the ones after `--`
                                                   4 s later; then keep the session open until
                                                   SECONDS; prints whether the router closed it
  fpm_client.py HOST:PORT silent SECONDS           connect, send nothing; print when it was closed
  fpm_client.py HOST:PORT busy                     connect while a session is live: expect EOF at once

Every line printed is JSON.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from churn import fpm_route  # noqa: E402


def connect(hp):
    host, port = hp.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def closed_after(s, limit):
    """Seconds until the peer closes the connection, or None if it stays open for limit."""
    start = time.monotonic()
    s.settimeout(limit)
    try:
        data = s.recv(1)
    except socket.timeout:
        return None
    except OSError:
        data = b""
    return round(time.monotonic() - start, 2) if data == b"" else None


def main():
    hp, mode = sys.argv[1], sys.argv[2]
    s = connect(hp)
    if mode == "hold":
        secs, start = float(sys.argv[3]), time.monotonic()
        sent = 0
        for r in sys.argv[4:]:
            if r == "--":
                time.sleep(4)
                continue
            prefix, gws = r.split("=")
            if gws == "-":
                s.sendall(fpm_route(False, prefix, []))
            else:
                s.sendall(fpm_route(True, prefix, [(g, 1) for g in gws.split(",")]))
            sent += 1
        left = max(0.1, secs - (time.monotonic() - start))
        print(json.dumps({"sent": sent, "closed_by_router": closed_after(s, left)}), flush=True)
    elif mode == "silent":
        print(json.dumps({"closed_after": closed_after(s, float(sys.argv[3]))}), flush=True)
    elif mode == "busy":
        print(json.dumps({"closed_after": closed_after(s, 3)}), flush=True)
    s.close()


main()
