#!/usr/bin/env bash
# Static neighbours, end to end on net_null ports (where no neighbour can
# answer): a configured entry is resolved from the start, a dynamic
# gateway stays unresolved while ARP requests go out, and
# SIGINT stops the router with status 0.
source "$(dirname "$0")/../kit/e2e.sh"
BIN=${ECMP_ROUTER:-$ROOT/target/release/ecmp-router}
TMP=$(mktemp -d)
PORT=$(( 40000 + $$ % 20000 ))
TAG="sn$$"
PID=
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

cat >"$TMP/r.yaml" <<YAML
eal: [--no-huge, --no-shconf, --no-pci, -m, "256", --file-prefix, $TAG]
ports:
  - { name: up, device: "net_null_${TAG}0,no-rx=1", addresses: [10.9.0.1/24, fd09::1/64] }
routes:
  - prefix: 0.0.0.0/0
    nexthops: [{ via: 10.9.0.2, port: up }, { via: 10.9.0.3, port: up }]
  - prefix: ::/0
    nexthops: [{ via: fd09::2, port: up }]
neighbors:
  - { address: 10.9.0.2, mac: "02:00:00:00:09:02", port: up }
  - { address: fd09::2, mac: "02:00:00:00:09:02", port: up }
api: { listen: 127.0.0.1:$PORT }
YAML
"$BIN" --config "$TMP/r.yaml" >"$TMP/log" 2>&1 &
PID=$!
m() { curl -sf "http://127.0.0.1:$PORT/metrics"; }
for _ in $(seq 100); do m >/dev/null 2>&1 && break; sleep 0.1; done
val() { awk -v k="$1" '$1 == k { print $2 }' <<<"$metrics"; }
# Wait (no fixed sleep) until the router has asked for its dynamic gateway.
for _ in $(seq 100); do
    metrics=$(m)
    [ "$(val 'ecmp_router_port_tx_packets_total{port="up"}')" -ge 1 ] && break
    sleep 0.1
done
check "static IPv4 gateway resolved without ARP" test "$(val 'ecmp_router_nexthop_resolved{kind="gateway",nexthop="10.9.0.2",port="up"}')" = 1
check "static IPv6 gateway resolved without NDP" test "$(val 'ecmp_router_nexthop_resolved{kind="gateway",nexthop="fd09::2",port="up"}')" = 1
check "dynamic gateway unresolved (nobody answers on net_null)" test "$(val 'ecmp_router_nexthop_resolved{kind="gateway",nexthop="10.9.0.3",port="up"}')" = 0
# (That static entries are never asked for is unit-tested: control::state::tests::resolves_gateway_by_arp.)
check "ARP requests went out for the dynamic gateway" test "$(val 'ecmp_router_control_events_total{event="solicits_sent"}')" -ge 1
check "the PMD transmitted them" test "$(val 'ecmp_router_port_tx_packets_total{port="up"}')" -ge 1

kill -INT "$PID"
rc=0; wait "$PID" || rc=$?
PID=
check "SIGINT stops the router with status 0" test "$rc" -eq 0
check "router logged SIGINT and a clean stop" bash -c 'grep -q "SIGINT" "$1" && grep -q "stopped" "$1"' _ "$TMP/log"
finish
