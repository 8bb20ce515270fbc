#!/usr/bin/env bash
# Shutdown and restart (issue 7): SIGTERM stops the router gracefully (workers
# joined, ports stopped and closed, EAL cleaned up, exit status 0, nothing
# left behind), and a restart with the same config forwards again.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init restart
lab_config --weights "1 1"
lab_up
API="http://127.0.0.1:$LAB_API_PORT/api/v1"
split() { lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 40 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["failed"], d["answers"].get("srv1",0), d["answers"].get("srv2",0))'; }
read -r f a b < <(split)
check "forwarding before the restart (srv1 $a, srv2 $b, failed $f)" test "$f" = 0 -a "$a" -gt 0 -a "$b" -gt 0
curl -sf -H "Content-Type: application/json" -X POST "$API/routes" -d '{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}' >/dev/null
pid=$LAB_ROUTER_PID
threads=$(ls "/proc/$pid/task" | wc -l)

echo "-- SIGTERM"
t0=$SECONDS
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
LAB_ROUTER_PID=
check "exits with status 0 ($rc) within 10 s ($((SECONDS - t0)) s; it had $threads threads)" test "$rc" = 0 -a $((SECONDS - t0)) -le 10
check "the log says it stopped in order" bash -c "grep -q 'SIGTERM: stopping' '$LAB_DIR/router.log' && tail -n 3 '$LAB_DIR/router.log' | grep -q 'stopped'"
gone=1
for ns in "$LAB_NS_CLIENT" "$(lab_ns_srv 1)" "$(lab_ns_srv 2)"; do
    ip -n "$ns" link show | grep -q "${LAB_TAG}" && gone=0
done
check "its ports are closed: no TAP interface is left in any namespace" test "$gone" = 1
check "the API and metrics port is closed" bash -c "! curl -sf --max-time 2 http://127.0.0.1:$LAB_API_PORT/metrics >/dev/null"
check "no DPDK runtime files are left (--file-prefix $LAB_TAG)" bash -c "! ls -d /var/run/dpdk/$LAB_TAG* 2>/dev/null | grep -q . && ! ls /dev/hugepages/${LAB_TAG}* 2>/dev/null | grep -q ."

echo "-- restart with the same config"
lab_router_restart
read -r f a b < <(split)
check "forwards again after the restart (srv1 $a, srv2 $b, failed $f)" test "$f" = 0 -a "$a" -gt 0 -a "$b" -gt 0
check "the config's routes are back" bash -c "curl -sf '$API/routes?prefix=198.51.100.0/24' | grep -q '198.51.100.0/24'"
check "a route added through the API is not (the API is not persistent; docs/operations.md)" bash -c "! curl -sf '$API/routes?prefix=203.0.113.0/24' | grep -q '203.0.113.0/24'"
echo "-- and SIGTERM again"
kill -TERM "$LAB_ROUTER_PID"; rc=0; wait "$LAB_ROUTER_PID" || rc=$?; LAB_ROUTER_PID=
check "second stop: status $rc" test "$rc" = 0
finish
