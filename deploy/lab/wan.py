#!/usr/bin/env python3
"""The "internet" side of the dual-WAN lab, and the LAN clients that talk to it.

  wan.py serve LOG ADDR            in the internet namespace: servers that record the
                                   source address of every connection in LOG (JSON lines):
                                     TCP 8080, 80: read "ID\\n", answer "PEER_IP\\n", close;
                                     TCP 8081: answer "PEER_IP\\n", then echo lines;
                                     UDP 5060 on ADDR: answer each datagram with "PEER_IP"
                                     (bound to ADDR, so replies come from it, not from the
                                     address of the interface they leave by).
  wan.py conns HOST PORT N         N TCP connections at once (threads); JSON:
                                   {"ok": n, "failed": n, "ids": {id: peer_ip}}
  wan.py udp HOST PORT N           N datagrams, each from its own socket; JSON like conns
  wan.py hold HOST N SECONDS STOP  N echo streams on 8081, a line every 50 ms each, until the
                                   file STOP exists or SECONDS pass; JSON per stream:
                                   {"peer": ip at start, "sent": n, "echoed": n, "broken": bool}
  wan.py refused HOST PORT         a connected UDP socket sends to a closed port; prints
                                   "refused" when the ICMP port unreachable comes back
"""
import json
import os
import socket
import sys
import threading
import time


def serve(log_path, addr):
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1)

    def record(**kw):
        with lock:
            log.write(json.dumps(kw) + "\n")

    def tcp_answer(port):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("0.0.0.0", port))
        ls.listen(1024)
        while True:
            c, peer = ls.accept()
            threading.Thread(target=answer_one, args=(c, peer, port), daemon=True).start()

    def answer_one(c, peer, port):
        try:
            c.settimeout(10)
            data = b""
            while not data.endswith(b"\n"):
                chunk = c.recv(100)
                if not chunk:
                    break
                data += chunk
            record(proto="tcp", port=port, id=data.decode(errors="replace").strip(), peer=peer[0], pport=peer[1])
            c.sendall(peer[0].encode() + b"\n")
        except OSError:
            pass
        finally:
            c.close()

    def tcp_echo(port):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("0.0.0.0", port))
        ls.listen(256)
        while True:
            c, peer = ls.accept()
            record(proto="tcp", port=port, id="stream", peer=peer[0], pport=peer[1])
            threading.Thread(target=echo_one, args=(c, peer), daemon=True).start()

    def echo_one(c, peer):
        try:
            c.sendall(peer[0].encode() + b"\n")
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def udp(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port))
        while True:
            d, peer = s.recvfrom(2048)
            record(proto="udp", port=port, id=d.decode(errors="replace"), peer=peer[0], pport=peer[1])
            s.sendto(peer[0].encode(), peer)

    for f, p in [(tcp_answer, 8080), (tcp_answer, 80), (tcp_echo, 8081), (udp, 5060)]:
        threading.Thread(target=f, args=(p,), daemon=True).start()
    while True:
        time.sleep(3600)


def one_conn(host, port, ident, out):
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(ident.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(100)
            if not chunk:
                break
            data += chunk
        s.close()
        out[ident] = data.decode().strip() or None
    except OSError:
        out[ident] = None


def conns(host, port, n):
    out = {}
    ts = []
    for i in range(n):
        t = threading.Thread(target=one_conn, args=(host, port, f"c{os.getpid()}-{i}", out))
        t.start()
        ts.append(t)
        if len(ts) % 50 == 0:
            time.sleep(0.05)
    for t in ts:
        t.join()
    ok = {k: v for k, v in out.items() if v}
    print(json.dumps({"ok": len(ok), "failed": n - len(ok), "ids": ok}))


def udp(host, port, n):
    out = {}
    for i in range(n):
        ident = f"u{os.getpid()}-{i}"
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        try:
            s.sendto(ident.encode(), (host, port))
            d, _ = s.recvfrom(100)
            out[ident] = d.decode()
        except OSError:
            out[ident] = None
        s.close()
    ok = {k: v for k, v in out.items() if v}
    print(json.dumps({"ok": len(ok), "failed": n - len(ok), "ids": ok}))


def hold(host, n, seconds, stop):
    results = [None] * n

    def stream(i):
        r = {"peer": None, "sent": 0, "echoed": 0, "broken": False}
        results[i] = r
        try:
            s = socket.create_connection((host, 8081), timeout=5)
            f = s.makefile("rb")
            r["peer"] = f.readline().decode().strip()
            end = time.monotonic() + seconds
            while time.monotonic() < end and not os.path.exists(stop):
                line = f"{i} {r['sent']}\n".encode()
                s.sendall(line)
                r["sent"] += 1
                if f.readline() == line:
                    r["echoed"] += 1
                time.sleep(0.05)
            s.close()
        except OSError:
            r["broken"] = True

    ts = [threading.Thread(target=stream, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
        time.sleep(0.02)
    # Tell the test the streams are up (first line), then report at the end.
    print(json.dumps({"started": n}), flush=True)
    for t in ts:
        t.join()
    print(json.dumps(results), flush=True)


def refused(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((host, port))
    for _ in range(3):
        try:
            s.send(b"anyone?")
            s.recv(100)
        except ConnectionRefusedError:
            print("refused")
            return
        except OSError:
            pass
    print("no answer")


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(sys.argv[2], sys.argv[3])
    elif cmd == "conns":
        conns(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "udp":
        udp(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "hold":
        hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    elif cmd == "refused":
        refused(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
