#!/usr/bin/env python3
"""Floods of a router's TCP services, as fast as a few sockets go.

  abuse.py fpm HOST:PORT SECONDS [CONCURRENCY]
      FPM clients that connect, send a frame of garbage (version 0x47) and
      wait until the router closes: prints {"garbage_read": n, ...}, where
      n counts the connections the router closed after reading the garbage.
  abuse.py api HOST:PORT SECONDS TOKEN [CONNECTIONS]
      pipelined HTTP/1.1 writes over keep-alive connections, half with a wrong
      bearer token (401), half with the right one and a bad body (400):
      prints {"401": n, "400": m, "other": k, "per_s": r}.

Every line printed is JSON.
"""
import json
import selectors
import socket
import sys
import time

GARBAGE = b"\x47\x45\x00\x10" + b"garbage garbage!"


def fpm(hp, seconds, conc="128"):
    host, port = hp.rsplit(":", 1)
    addr, conc = (host, int(port)), int(conc)
    sel = selectors.DefaultSelector()
    end = time.monotonic() + float(seconds)
    counts = {"garbage_read": 0, "refused": 0, "timeouts": 0}
    live = 0
    start = time.monotonic()

    opened = [0]

    def open_one():
        s = socket.socket()
        s.setblocking(False)
        if host.startswith("127."):
            # From 127.0.0.2-17 in turn: the router closes first, so its side of
            # each connection waits in TIME_WAIT, and one source address would
            # soon have no ephemeral port left that is free of them.
            s.bind((f"127.0.0.{2 + opened[0] % 16}", 0))
        opened[0] += 1
        s.connect_ex(addr)
        sel.register(s, selectors.EVENT_WRITE, [False, time.monotonic()])
        return 1

    while True:
        now = time.monotonic()
        while now < end and live < conc:
            live += open_one()
        if live == 0:
            break
        for key, ev in sel.select(timeout=0.5):
            s, st = key.fileobj, key.data
            if not st[0]:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    counts["refused"] += 1
                    sel.unregister(s); s.close(); live -= 1
                    continue
                try:
                    s.send(GARBAGE)
                except OSError:
                    counts["refused"] += 1
                    sel.unregister(s); s.close(); live -= 1
                    continue
                st[0] = True
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                data = s.recv(64)
            except OSError:
                data = b""
            if not data:
                counts["garbage_read"] += 1
                sel.unregister(s); s.close(); live -= 1
        for key in list(sel.get_map().values()):
            if time.monotonic() - key.data[1] > 10:
                counts["timeouts"] += 1
                sel.unregister(key.fileobj); key.fileobj.close(); live -= 1
    el = time.monotonic() - start
    counts["seconds"] = round(el, 2)
    counts["per_s"] = round(counts["garbage_read"] / el)
    print(json.dumps(counts))


def api(hp, seconds, token, conns="8"):
    host, port = hp.rsplit(":", 1)
    body = b'{"prefix": "not-a-prefix", "nexthops": []}'
    def req(tok):
        return (b"POST /api/v1/routes HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
                b"Authorization: Bearer " + tok + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    batch_n = 200
    batch = b"".join(req(b"wrong-token-000000000000" if i % 2 else token.encode()) for i in range(batch_n))
    socks = [socket.create_connection((host, int(port)), timeout=10) for _ in range(int(conns))]
    counts = {"401": 0, "400": 0, "other": 0}
    end = time.monotonic() + float(seconds)
    start = time.monotonic()
    while time.monotonic() < end:
        for s in socks:
            s.sendall(batch)
        for s in socks:
            got, buf = 0, b""
            while got < batch_n:
                d = s.recv(1 << 20)
                if not d:
                    raise SystemExit("abuse.py: the router closed an API connection")
                buf += d
                got = buf.count(b"HTTP/1.1 ")
            a, b = buf.count(b"HTTP/1.1 401"), buf.count(b"HTTP/1.1 400")
            counts["401"] += a
            counts["400"] += b
            counts["other"] += got - a - b
    el = time.monotonic() - start
    counts["seconds"] = round(el, 2)
    counts["per_s"] = round((counts["401"] + counts["400"] + counts["other"]) / el)
    print(json.dumps(counts))


def main():
    mode, *a = sys.argv[1:]
    {"fpm": fpm, "api": api}[mode](*a)


main()
