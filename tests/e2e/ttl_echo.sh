#!/usr/bin/env bash
# TTL and echo, end to end: TTL=1 / hop-limit=1 packets get ICMP Time
# Exceeded from the router; pings to the router's addresses are answered;
# unroutable destinations get Destination Unreachable; TTL=2 still reaches
# the servers (so the router decrements by exactly one); SIGTERM stops the
# router cleanly.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init ttl
lab_config
lab_up
c() { lab_ns "$LAB_NS_CLIENT" "$@" 2>&1 || true; }

out=$(c ping -c1 -W2 -t1 "$ANYCAST4")
check "IPv4 TTL=1 -> Time Exceeded from 10.0.0.1" contains "$out" "From 10.0.0.1 icmp_seq=1 Time to live exceeded"
out=$(c ping -6 -c1 -W2 -t1 "$ANYCAST6")
check "IPv6 hop limit 1 -> Time Exceeded from fd00::1" contains "$out" "From fd00::1 icmp_seq=1 Time exceeded: Hop limit"
out=$(c ping -c2 -W2 -t2 "$ANYCAST4")
check "IPv4 TTL=2 reaches a server" contains "$out" "2 received"
out=$(c ping -6 -c2 -W2 -t2 "$ANYCAST6")
check "IPv6 hop limit 2 reaches a server" contains "$out" "2 received"

for a in 10.0.0.1 10.1.0.1 10.2.0.1 fd00::1 fd01::1 fd02::1; do
    out=$(c ping -c3 -i0.2 -W2 "$a")
    check "ping router address $a" contains "$out" "3 received"
done

out=$(c ping -c1 -W2 203.0.113.1)
check "IPv4 no route -> Destination Net Unreachable" contains "$out" "Destination Net Unreachable"
out=$(c ping -6 -c1 -W2 2001:db8:ffff::1)
check "IPv6 no route -> Destination unreachable: No route" contains "$out" "Destination unreachable: No route"

check "drops_total{reason=ttl_exceeded} counted both" test "$(lab_metric 'ecmp_router_drops_total{reason="ttl_exceeded"}')" -ge 2
check "drops_total{reason=no_route} counted both" test "$(lab_metric 'ecmp_router_drops_total{reason="no_route"}')" -ge 2

kill -TERM "$LAB_ROUTER_PID"
rc=0; timeout 10 tail --pid="$LAB_ROUTER_PID" -f /dev/null || rc=$?
wait "$LAB_ROUTER_PID" 2>/dev/null || rc=$?
check "SIGTERM stops the router with status 0" test "$rc" -eq 0
check "router logged a clean stop" grep -q "stopped" "$LAB_DIR/router.log"
check "router's tap interfaces are gone" bash -c "! ip link show $LAB_IF_LAN >/dev/null 2>&1"
LAB_ROUTER_PID=
finish
