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

if [ "${1:-}" = bgp ]; then
    # The leaf lab: FRR's zebra and bgpd on the router's host peer with two spine
    # bgpds through the router's own ports (kernel-interfaces), and BGP's ECMP
    # route reaches the router over FPM.
    ROOT=$(pwd)
    source deploy/lab/leaf.sh
    lab_init demo-bgp
    trap 'leaf_down; lab_down' EXIT
    echo "== router config: deploy/examples/leaf-frr.yaml (lab devices), FRR: deploy/examples/frr/leaf-frr.conf"
    leaf_up
    lab_wait 90 "both BGP sessions" leaf_sessions_up || true
    lab_wait 30 "the service route" bash -c "ip netns exec $LEAF_NS curl -sf 'http://127.0.0.1:$LEAF_API/api/v1/routes?prefix=203.0.113.0/24' | grep -q 10.2.0.2" || true
    echo
    echo "== the router's kernel interfaces (ip -br addr, in the router's namespace)"
    ip -n "$LEAF_NS" -br addr show | grep -E '^(spine1|spine2|hosts) '
    echo
    echo "== BGP sessions of the leaf's bgpd, through the router's ports"
    leaf_vtysh leaf -c "show bgp ipv4 unicast summary" 2>/dev/null | grep -E '^(Neighbor|10\.)'
    echo
    echo "== what the spines learned from the leaf"
    for k in 1 2; do echo "  spine$k: 10.100.0.0/24 via $(leaf_spine_learned $k)"; done
    echo
    echo "== the route BGP chose, in the router (ecmpctl route show)"
    # The route and its nexthop lines, as ecmpctl prints them (one per spine).
    ip netns exec "$LEAF_NS" target/release/ecmpctl --api "127.0.0.1:$LEAF_API" route show 203.0.113.0/24 2>/dev/null | grep . || leaf_route_nexthops
    echo
    echo "== $((N / 5)) TCP connections from the hosts to the service behind both spines"
    echo "  $(leaf_connections $((N / 5)))"
    echo
    echo "== the exception path's counters"
    ip netns exec "$LEAF_NS" curl -sf "http://127.0.0.1:$LEAF_API/metrics" | grep -E '^ecmp_router_(kernel_interface_packets_total|punt_packets_total)' | grep -v ' 0$'
    echo
    echo "demo finished; tearing the lab down"
    exit 0
fi

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
