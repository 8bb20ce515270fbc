#!/usr/bin/env bash
# FRR's BGP through a VLAN of a trunk (issue 28): the leaf lab
# (tests/e2e/leaf_bgp.sh) with spine2 on VLAN 2 of a trunk port (LEAF_VLAN,
# deploy/lab/leaf.sh). The router's spine2 is the VLAN's sub-interface and
# its kernel interface; bgpd on the router's host peers with spine2 through
# it, unmodified. With the defaults otherwise:
# - both sessions come up, the service route from both spines reaches the
#   router over FPM with spine2's nexthop on the sub-interface;
# - TCP from the hosts reaches the service through both spines;
# - the trunk carried VLAN 2 (the sub-interface's kernel counters moved, no
#   frame was an unknown VLAN).
source "$(dirname "$0")/../kit/e2e.sh"
source "$ROOT/deploy/lab/leaf.sh"
[ -x /usr/lib/frr/bgpd ] || { echo "FRR's bgpd is not installed (bash scripts/setup.sh)"; exit 1; }
lab_init vbgp
trap 'leaf_down; lab_down' EXIT
export LEAF_VLAN=1
N=${LEAF_CONNECTIONS:-100}
leaf_up
echo "  spine2's end of VLAN 2: ${LEAF_VLAN_PEER:-?} (linux: a Linux VLAN device; switch: deploy/lab/vlan_switch.py)"
check "the config puts spine2 on VLAN 2 of trunk2" grep -q 'name: trunk2, .*vlans: \[{ id: 2, name: spine2' "$LAB_DIR/leaf.yaml"
check "the sub-interface has its kernel interface, with its addresses" bash -c "ip -n $LEAF_NS -4 addr show spine2 | grep -q 'inet 10.2.0.1/24' && ip -n $LEAF_NS link show trunk2 >/dev/null"
t0=$SECONDS
lab_wait 90 "both BGP sessions of the leaf" leaf_sessions_up || leaf_vtysh leaf -c "show bgp summary" || true
check "bgpd peers with spine1 and, through VLAN 2, with spine2 (after $((SECONDS - t0)) s)" leaf_sessions_up
lab_wait 30 "the service route over FPM" bash -c "[ \"\$(ip netns exec $LEAF_NS curl -sf 'http://127.0.0.1:$LEAF_API/api/v1/routes?prefix=203.0.113.0/24' | grep -o '10\.[12]\.0\.2' | sort -u | wc -l)\" = 2 ]" || true
nh=$(leaf_route_nexthops)
check "BGP's ECMP route reaches the router with spine2's nexthop on the sub-interface ($nh)" test "$nh" = "10.1.0.2@spine1,10.2.0.2@spine2"
split=$(leaf_connections "$N")
read -r _ s1 _ s2 _ failed <<<"$split"
check "$N TCP connections from the hosts to the service complete ($split)" test "$failed" = 0
check "they split over both spines, one of them through VLAN 2" bash -c "[ $s1 -gt 0 ] && [ $s2 -gt 0 ]"
m=$(ip netns exec "$LEAF_NS" curl -sf "http://127.0.0.1:$LEAF_API/metrics")
unknown=$(metric_sum ecmp_router_drops_total 'reason="unknown_vlan"' <<<"$m")
check "no frame of the trunk was an unknown VLAN ($unknown)" test "$unknown" = 0
rx=$(ip -n "$LEAF_NS" -j -s link show spine2 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])')
check "the sub-interface's kernel interface carried the BGP session ($rx frames)" test "$rx" -gt 10
tok=$(metric_sum ecmp_router_kernel_interface_packets_total 'port="spine2",direction="to_kernel"' <<<"$m")
check "the metrics count the sub-interface's kernel interface on its own ($tok frames to it)" test "${tok%.*}" -gt 10
pmd=$(grep -c '^ecmp_router_port_rx_packets_total{port="spine2"}' <<<"$m" || true)
check "and no PMD counters for it (the trunk's device has them)" test "$pmd" = 0
finish
