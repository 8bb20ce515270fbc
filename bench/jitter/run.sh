#!/usr/bin/env bash
# Probe-interval jitter of the control loop, at rest and while /metrics and
# /routes are served on a full table (issue 13: "a slow request never delays
# the control loop").
#
# The lab router gets ROUTES FPM routes (default 200,000), then srv1's
# namespace captures the router's ARP probes of its gateway 10.1.0.2 (every
# 100 ms: the lab's liveness) for SECONDS at rest, then for SECONDS while two
# clients scrape /metrics and page through /routes?limit=10000 back to back.
# Intervals come from the capture's timestamps; the capture must drop nothing.
#
#   bash bench/jitter/run.sh [ROUTES] [SECONDS]
#
# Prints one JSON line per phase: intervals, p50/p99/max in ms, requests served.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../deploy/lab/lib.sh"
ROUTES=${1:-200000}
SECS=${2:-20}

lab_init jitter
FPM_PORT=$(( LAB_API_PORT + 1 ))
lab_config --extra "fpm: { listen: 127.0.0.1:$FPM_PORT, stale-time: 600 }"
lab_up
export LAB_ROOT
python3 - "127.0.0.1:$FPM_PORT" "$ROUTES" <<'PY' &
import os, socket, sys, time
sys.path.insert(0, os.path.join(os.environ["LAB_ROOT"], "deploy/lab"))
from churn import fpm_route
host, port = sys.argv[1].rsplit(":", 1)
n = int(sys.argv[2])
s = socket.create_connection((host, int(port)))
gws = [("10.1.0.2", 1), ("10.2.0.2", 2)]
buf = b""
for i in range(n):
    a = 0x64400000 + (i << 8)
    buf += fpm_route(True, f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.0/24", gws)
    if len(buf) > 1 << 20:
        s.sendall(buf); buf = b""
s.sendall(buf)
time.sleep(3600)
PY
FEEDER=$!; LAB_PIDS+=("$FEEDER")
lab_wait 300 "$ROUTES FPM routes" bash -c "[ \"\$(curl -sf http://127.0.0.1:$LAB_API_PORT/metrics | awk '/^ecmp_router_rib_routes\{.*origin=\"fpm\"/ { print \$2 }')\" = $ROUTES ]"

phase() { # NAME LOAD(0|1)
    local name=$1 load=$2
    ip netns exec "$LAB_NS_SRV1" tcpdump -Z root -l -tt -n -i "$LAB_IF_SRV1" 'arp and arp[6:2] == 1 and arp[24:4] == 0x0a010002' >"$LAB_DIR/$name.txt" 2>"$LAB_DIR/$name.err" &
    local td=$!; LAB_PIDS+=("$td")
    sleep 1
    local loaders=()
    if [ "$load" = 1 ]; then
        for ep in metrics routes; do
            python3 - "http://127.0.0.1:$LAB_API_PORT" "$ep" "$SECS" >"$LAB_DIR/$name.$ep" <<'PY' &
import sys, time, urllib.request
base, ep, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
end, n, cursor = time.monotonic() + secs, 0, None
while time.monotonic() < end:
    if ep == "metrics":
        urllib.request.urlopen(base + "/metrics").read()
    else:
        url = base + "/api/v1/routes?limit=10000" + ("&after=" + cursor if cursor else "")
        with urllib.request.urlopen(url) as r:
            r.read()
            cursor = r.headers.get("X-Next-Cursor")
    n += 1
print(n)
PY
            loaders+=($!)
        done
        wait "${loaders[@]}"
    else
        sleep "$SECS"
    fi
    kill -TERM "$td"; wait "$td" 2>/dev/null || true
    local served=""
    [ "$load" = 0 ] || served=", \"metrics_served\": $(cat "$LAB_DIR/$name.metrics"), \"routes_pages_served\": $(cat "$LAB_DIR/$name.routes")"
    python3 - "$LAB_DIR/$name.txt" "$name" "$served" "$(grep -o '[0-9]* packets dropped by kernel' "$LAB_DIR/$name.err")" <<'PY'
import json, sys
ts = [float(l.split()[0]) for l in open(sys.argv[1]) if l.strip()]
iv = sorted((b - a) * 1000 for a, b in zip(ts, ts[1:]))
q = lambda p: round(iv[min(len(iv) - 1, int(p * len(iv)))], 2)
print(f'{{"phase": "{sys.argv[2]}", "intervals": {len(iv)}, "p50_ms": {q(0.5)}, "p99_ms": {q(0.99)}, "max_ms": {round(iv[-1], 2)}, "capture": "{sys.argv[4]}"{sys.argv[3]}}}')
PY
}
phase rest 0
phase scrape 1
