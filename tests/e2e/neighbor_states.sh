#!/usr/bin/env bash
# Neighbour states and the hold queue, as the kernel has them, on the lab with
# `neighbor-table: { reachable-time: 2 }` (the key under test, so the run takes
# seconds rather than minutes; everything else is the default).
# - The first packet to a host nobody has resolved yet is not lost: one ping
#   (IPv4, and IPv6) to a new address on srv1 is answered.
# - The host is REACHABLE, then STALE after reachable-time; traffic to it makes
#   it DELAY, then PROBE with a unicast solicitation (seen on srv1's wire, to the
#   host's MAC), and its answer makes it REACHABLE again.
# - When it stops answering (the address is removed), traffic takes it through
#   DELAY and PROBE to FAILED, and pings get Destination Host Unreachable.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init nud
lab_config --extra "neighbor-table: { reachable-time: 2 }"
lab_up
CTL="$LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT"
S1=$LAB_NS_SRV1
ip -n "$S1" addr add 10.1.0.77/24 dev "$LAB_IF_SRV1"
ip -n "$S1" addr add fd01::77/64 dev "$LAB_IF_SRV1" nodad
HOSTMAC=$(ip -n "$S1" -j link show "$LAB_IF_SRV1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
state() { $CTL neigh show dev srv1 | awk -v a="$1" '$1 == a { print $NF }'; }
is_state() { [ "$(state "$1")" = "$2" ]; }
ev() { lab_metric "ecmp_router_control_events_total{event=\"$1\"}"; }

echo "-- the first packet to an unresolved host waits for its answer"
out=$(lab_ns "$LAB_NS_CLIENT" ping -c1 -W2 10.1.0.77 2>&1 || true)
check "one ping to a new IPv4 host is answered" contains "$out" "1 received"
out=$(lab_ns "$LAB_NS_CLIENT" ping -6 -c1 -W2 fd01::77 2>&1 || true)
check "one ping to a new IPv6 host is answered" contains "$out" "1 received"
check "held and sent, not lost (held $(ev neighbor_held), sent $(ev neighbor_hold_sent))" test "$(ev neighbor_hold_sent)" -ge 2
check "ecmpctl neigh show: REACHABLE, with its MAC" bash -c "$CTL neigh show dev srv1 | grep -qx '10.1.0.77 dev srv1 lladdr $HOSTMAC REACHABLE'"

echo "-- REACHABLE, STALE, DELAY, PROBE, REACHABLE"
# The host keeps the router's MAC for good, so that its own kernel's probes
# (which the router would also take as a sign of life) stay out of the way.
RMAC=$(ip -n "$S1" -j neigh show 10.1.0.1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["lladdr"])')
ip -n "$S1" neigh replace 10.1.0.1 lladdr "$RMAC" dev "$LAB_IF_SRV1" nud permanent
check "STALE after reachable-time (2 s)" lab_wait 6 "STALE" is_state 10.1.0.77 STALE
ip netns exec "$S1" tcpdump -Z root -l -i "$LAB_IF_SRV1" -n -e arp >"$LAB_DIR/probe.txt" 2>"$LAB_DIR/tcpdump.err" &
TD=$!; LAB_PIDS+=("$TD")
sleep 1
lab_ns "$LAB_NS_CLIENT" ping -c1 -W2 10.1.0.77 >/dev/null
check "traffic to a STALE host: DELAY" lab_wait 3 "DELAY" is_state 10.1.0.77 DELAY
check "then PROBE, or already answered" lab_wait 8 "PROBE or REACHABLE" bash -c "s=\$($CTL neigh show dev srv1 | awk '\$1 == \"10.1.0.77\" { print \$NF }'); [ \"\$s\" = PROBE ] || [ \"\$s\" = REACHABLE ]"
check "its answer makes it REACHABLE" lab_wait 5 "REACHABLE" is_state 10.1.0.77 REACHABLE
sleep 1
kill -TERM "$TD"; wait "$TD" 2>/dev/null || true
uni=$(grep -c "> $HOSTMAC, .*Request who-has 10.1.0.77" "$LAB_DIR/probe.txt" || true)
check "the probe was a unicast ARP request to the host's MAC ($uni seen)" test "$uni" -ge 1

echo "-- a host that stops answering: DELAY, PROBE, FAILED"
check "STALE again" lab_wait 6 "STALE" is_state 10.1.0.77 STALE
ip -n "$S1" addr del 10.1.0.77/24 dev "$LAB_IF_SRV1"
failed0=$(ev neighbor_failed)
lab_ns "$LAB_NS_CLIENT" ping -c1 -W1 10.1.0.77 >/dev/null 2>&1 || true
check "FAILED after its unicast probes go unanswered" lab_wait 15 "FAILED" is_state 10.1.0.77 FAILED
check "counted (neighbor_failed $failed0 -> $(ev neighbor_failed))" test "$(ev neighbor_failed)" -gt "$failed0"
out=$(lab_ns "$LAB_NS_CLIENT" ping -c2 -W1 10.1.0.77 2>&1 || true)
check "pings to it get Destination Host Unreachable" contains "$out" "Destination Host Unreachable"
check "no lladdr for an entry without a MAC" bash -c "$CTL neigh show dev srv1 | grep -qx '10.1.0.77 dev srv1 FAILED'"
finish
