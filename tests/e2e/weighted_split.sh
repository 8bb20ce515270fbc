#!/usr/bin/env bash
# Weighted ECMP, end to end: a client namespace opens N real TCP connections
# to an anycast address owned by two server namespaces, routed 1:2. For IPv4
# and IPv6, no connection may fail, the split must be within the Linux kernel
# selftests' tolerance |w_ratio - p_ratio| / w_ratio <= 0.15, and the
# per-nexthop packet counters in /metrics must show the same split.
# Afterwards /metrics must pass `promtool check metrics`.
source "$(dirname "$0")/../kit/e2e.sh"
N=${SPLIT_CONNECTIONS:-3000}

lab_init split
lab_config --policy l4 --weights "1 2"
lab_up

ratio_ok() { # ratio_ok LABEL N1 N2 -> tolerance check for weights 1:2
    python3 - "$@" <<'PY'
import sys
label, n1, n2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
w = 2.0
p = n2 / n1 if n1 else float("inf")
err = abs(w - p) / w
print(f"        {label}: srv1={n1} srv2={n2} ratio={p:.3f} (want 2, error {err:.3f}, limit 0.15)")
sys.exit(0 if err <= 0.15 else 1)
PY
}

for fam in 4 6; do
    if [ $fam = 4 ]; then target=$ANYCAST4; nh1=10.1.0.2; nh2=10.2.0.2; else target=$ANYCAST6; nh1=fd01::2; nh2=fd02::2; fi
    k1="ecmp_router_nexthop_packets_total{kind=\"gateway\",nexthop=\"$nh1\",port=\"srv1\"}"
    k2="ecmp_router_nexthop_packets_total{kind=\"gateway\",nexthop=\"$nh2\",port=\"srv2\"}"
    b1=$(lab_metric "$k1"); b2=$(lab_metric "$k2")
    out=$(lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/tcp_split.py" "$target" "$SERVICE_PORT" "$N" 16)
    echo "IPv$fam: $N connections to $target:$SERVICE_PORT -> $out"
    read -r failed s1 s2 < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); a=d["answers"]; print(d["failed"], a.get("srv1",0), a.get("srv2",0))' "$out")
    check "IPv$fam: no connection failed ($failed failed)" test "$failed" -eq 0
    check "IPv$fam: every connection answered by srv1 or srv2" test $((s1 + s2)) -eq "$N"
    check "IPv$fam: connection split within tolerance" ratio_ok "connections" "$s1" "$s2"
    a1=$(lab_metric "$k1"); a2=$(lab_metric "$k2")
    check "IPv$fam: per-nexthop packet counters show the same split" ratio_ok "packets" $((a1 - b1)) $((a2 - b2))
done

metrics=$(lab_metrics)
check "promtool check metrics passes" bash -c 'promtool check metrics <<<"$1"' _ "$metrics"
check "no packet dropped for want of a neighbour during the run" test "$(lab_metric 'ecmp_router_drops_total{reason="neighbor_unresolved"}')" -eq 0
finish
