#!/usr/bin/env bash
# The demo, from a fresh Debian 12 machine, as root: install what is missing,
# build, start the router between three network namespaces, send real TCP
# traffic over a 1:2 weighted multipath route, and show how it split and what
# the router counted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p router
source deploy/lab/lib.sh
N=${DEMO_CONNECTIONS:-1000}

lab_init demo
lab_config --policy l4 --weights "1 2"
echo "== router config ($LAB_DIR/router.yaml)"
grep -v '^#' "$LAB_DIR/router.yaml"
lab_up

echo
echo "== $N TCP connections per family from the client to the anycast service (weights srv1:srv2 = 1:2)"
for target in "$ANYCAST4" "$ANYCAST6"; do
    out=$(lab_ns "$LAB_NS_CLIENT" python3 deploy/lab/tcp_split.py "$target" "$SERVICE_PORT" "$N" 16)
    python3 - "$target" "$out" <<'PY'
import json, sys
t, d = sys.argv[1], json.loads(sys.argv[2])
a = d["answers"]; s1, s2 = a.get("srv1", 0), a.get("srv2", 0)
print(f"  {t:>18}: srv1 {s1:5d}  srv2 {s2:5d}  ratio {s2 / max(s1, 1):.2f} (weights 1:2)  failed {d['failed']}")
PY
done

echo
echo "== ping and traceroute-style checks from the client"
lab_ns "$LAB_NS_CLIENT" ping -c1 -W2 -t1 "$ANYCAST4" 2>&1 | grep -E "From|received" || true
lab_ns "$LAB_NS_CLIENT" ping -6 -c1 -W2 -t1 "$ANYCAST6" 2>&1 | grep -E "From|received" || true
lab_ns "$LAB_NS_CLIENT" ping -c2 -i0.2 10.0.0.1 2>&1 | grep -E "received" || true

echo
echo "== key metrics (http://127.0.0.1:$LAB_API_PORT/metrics)"
lab_metrics | grep -E '^ecmp_router_(nexthop_packets_total|port_(rx|tx)_packets_total|icmp_sent_total|fib_generation)|^ecmp_router_drops_total.* [1-9]'
echo
echo "demo finished; tearing the lab down"
