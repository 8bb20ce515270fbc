#!/usr/bin/env python3
"""Open COUNT real TCP connections to HOST:PORT and tally who answered.

Each server of the lab answers one line with its name and closes. Prints
JSON: {"answers": {"srv1": n, "srv2": m}, "failed": k, "errors": [...]}.
"""
import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor


def one(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect((host, port))
            data = b""
            while True:
                chunk = s.recv(64)
                if not chunk:
                    break
                data += chunk
            name = data.decode().strip()
            return name if name else "error:empty reply"
    except OSError as e:
        return f"error:{e}"


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    with ThreadPoolExecutor(max_workers=workers) as ex:
        results = list(ex.map(lambda _: one(host, port), range(count)))
    answers, errors = {}, []
    for r in results:
        if r.startswith("error:"):
            errors.append(r[6:])
        else:
            answers[r] = answers.get(r, 0) + 1
    print(json.dumps({"answers": answers, "failed": len(errors), "errors": sorted(set(errors))[:5]}))


if __name__ == "__main__":
    main()
