#!/usr/bin/env bash
# Spread, end to end: for every hash policy, on IPv4 and IPv6, 2000 flows
# through the router to 4 servers land within the Linux kernel selftests'
# tolerance (each server's share within 15% of a quarter). Each policy is a
# route with its own hash override over one named group, and the flows vary
# exactly what that policy reads: source address (l3), source port (l4, fields
# [src-port]), the inner packet of GRE (l3-inner, l4-inner), the flow label
# (flowlabel; IPv4 falls back to l4), nothing at all (per-packet). Counted by
# the router's per-nexthop counters; every datagram must be accounted for.
source "$(dirname "$0")/../kit/e2e.sh"
N=${SPREAD_FLOWS:-2000}
POLICIES="l3 l4 l3-inner l4-inner fields:src-port flowlabel per-packet"
declare -A VARY=([l3]=saddr [l4]=sport [l3-inner]=inner-saddr [l4-inner]=inner-sport [fields:src-port]=sport [flowlabel]=flowlabel [per-packet]=none)

lab_init spread
lab_config --servers 4 --route-policies "$POLICIES"
lab_up
# The client's neighbour entries for the router, pinned: a burst of 2000
# datagrams must not meet the client kernel's own neighbour probing (while
# an entry is re-validated, Linux queues at most unres_qlen packets and drops
# the rest: the likely cause of a CI run where 130 of them never arrived).
RMAC=$(curl -sf "http://127.0.0.1:$LAB_API_PORT/api/v1/ports" | python3 -c 'import json,sys; print([p["mac"] for p in json.load(sys.stdin) if p["name"] == "lan"][0])')
lab_ns "$LAB_NS_CLIENT" ip neigh replace 10.0.0.1 lladdr "$RMAC" dev "$LAB_IF_LAN" nud permanent
lab_ns "$LAB_NS_CLIENT" ip -6 neigh replace fd00::1 lladdr "$RMAC" dev "$LAB_IF_LAN" nud permanent
# Source addresses for the l3 flows.
{
    for i in $(seq 0 $((N - 1))); do
        printf 'addr add 10.0.%d.%d/16 dev %s\n' $((16 + i / 256)) $((i % 256)) "$LAB_IF_LAN"
        printf 'addr add fd00::1:%x/64 dev %s nodad\n' "$i" "$LAB_IF_LAN"
    done
} >"$LAB_DIR/addrs"
lab_ns "$LAB_NS_CLIENT" ip -batch "$LAB_DIR/addrs"

counts() { # fam -> "c1 c2 c3 c4"
    local m; m=$(lab_metrics)
    for k in 1 2 3 4; do
        if [ "$1" = 4 ]; then nh=10.$k.0.2; else nh=fd0$k::2; fi
        awk -v key="ecmp_router_nexthop_packets_total{kind=\"gateway\",nexthop=\"$nh\",port=\"srv$k\"}" '$1 == key { print $2 }' <<<"$m"
    done | tr '\n' ' '
}

within() { # label N c1 c2 c3 c4
    python3 - "$@" <<'PY'
import sys
label, n, cs = sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3:]]
want = n / len(cs)
errs = [abs(c / want - 1) for c in cs]
print(f"        {label}: {cs} (want {want:.0f} each, worst error {max(errs):.3f}, limit 0.15)")
sys.exit(0 if sum(cs) == n and max(errs) <= 0.15 else 1)
PY
}

i=0
for p in $POLICIES; do
    for fam in 4 6; do
        target=$(lab_policy_anycast "$i" "$fam")
        vary=${VARY[$p]}
        # IPv4 has no flow label: the flowlabel policy falls back to l4 there.
        [ "$p" = flowlabel ] && [ "$fam" = 4 ] && vary=sport
        read -r -a before <<<"$(counts $fam)"
        lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/flows.py" udp "$target" "$UDP_PORT" "$N" "$vary"
        # Wait (no fixed sleep) until the router has forwarded every datagram.
        for _ in $(seq 100); do
            read -r -a after <<<"$(counts $fam)"
            [ $(( after[0] + after[1] + after[2] + after[3] - before[0] - before[1] - before[2] - before[3] )) -ge "$N" ] && break
            sleep 0.05
        done
        check "$p, IPv$fam: $N flows varying $vary spread over 4 servers" \
            within "$p/v$fam" "$N" $((after[0] - before[0])) $((after[1] - before[1])) $((after[2] - before[2])) $((after[3] - before[3]))
    done
    i=$((i + 1))
done
finish
