#!/usr/bin/env bash
# Route updates without stopping traffic, measured end to end:
#
# 1. A steady UDP stream (flow 1, 5000 datagrams/s over 8 source ports) goes to
#    the config's anycast route for the whole run.
# 2. Meanwhile FPM pushes 10,000 route changes per second for 10 s (adds and
#    deletes of /24s and /32s in 100.64.0.0/10, as zebra would send them).
# 3. Then the API replaces routes back to back over one connection
#    (route-change throughput through HTTP).
# 4. Then flow 2 (10,000 datagrams/s) goes to 203.0.113.10 while the API flips
#    203.0.113.0/24 between srv1 and srv2 20 times: the time from each PUT's
#    return to the first datagram at the new server is the update latency.
#
# Passes when flow 1 (whose route never changed) lost nothing, flow 2 lost
# nothing across 20 nexthop changes, no packet was dropped for want of a
# route, and every FPM change was applied and then withdrawn. The figures are
# printed; docs/performance.md records them. Usage: bash tests/e2e/route_churn.sh
source "$(dirname "$0")/../kit/e2e.sh"
CHURN="python3 $LAB_TOOLS/churn.py"
: "${CHURN_SECONDS:=10}" "${CHURN_RATE:=10000}"

lab_init churn
FPM_PORT=$(( LAB_API_PORT + 1 ))
lab_config --extra "fpm: { listen: 127.0.0.1:$FPM_PORT }"
lab_up
API="http://127.0.0.1:$LAB_API_PORT/api/v1"
curl -sf -H "Content-Type: application/json" -X POST "$API/routes" -d '{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}' >/dev/null
# The receivers run until both streams have ended (a loaded machine can take
# longer than any fixed time; 300 s is only the bound).
for k in 1 2; do
    ns=$(lab_ns_srv $k)
    lab_ns "$ns" ip addr add 203.0.113.10/32 dev lo
    STOP="$LAB_DIR/recv.stop" ip netns exec "$ns" $CHURN recv 9100 300 "$LAB_DIR/recv$k.json" &
    LAB_PIDS+=($!)
done
sleep 1
routes0=$(lab_metric 'ecmp_router_fib_routes{family="ipv4"}')
no_route0=$(lab_metric 'ecmp_router_drops_total{reason="no_route"}')
sports=$(seq -s, 40000 40007)
send1_secs=$(( CHURN_SECONDS + 18 ))
ip netns exec "$LAB_NS_CLIENT" $CHURN send "$ANYCAST4" 9100 5000 "$send1_secs" 1 "$sports" >"$LAB_DIR/send1.json" &
send1=$!
LAB_PIDS+=($send1)
sleep 1

echo "-- FPM: $CHURN_RATE route changes/s for ${CHURN_SECONDS}s during the stream"
fpm=$($CHURN fpm "127.0.0.1:$FPM_PORT" "$CHURN_RATE" "$CHURN_SECONDS")
echo "        $fpm"
msgs=$(lab_metric 'ecmp_router_control_events_total{event="fpm_message"}')
changes=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["changes"])' "$fpm")
check "every FPM change was decoded ($msgs messages, $changes sent)" test "${msgs%.*}" -ge "$changes"
fpm_errors=$(lab_metric 'ecmp_router_control_events_total{event="fpm_error"}')
check "no FPM errors" test "${fpm_errors%.*}" = 0
lab_wait 5 "churned routes withdrawn" bash -c "[ \"\$(curl -sf http://127.0.0.1:$LAB_API_PORT/metrics | awk '\$1 == \"ecmp_router_fib_routes{family=\\\"ipv4\\\"}\" {print \$2}')\" = '$routes0' ]"

echo "-- API: route replacements back to back, one HTTP/1.1 connection"
api=$($CHURN api "$API" 3000)
echo "        $api"

echo "-- API: flip 203.0.113.0/24 between srv1 and srv2 under a 10k/s stream"
STARTED="$LAB_DIR/send2.started" ip netns exec "$LAB_NS_CLIENT" $CHURN send 203.0.113.10 9100 10000 6 2 41000 >"$LAB_DIR/send2.json" &
send2=$!
LAB_PIDS+=($send2)
# Flip only once the stream flows (a loaded machine can be slow to start Python).
lab_wait 20 "stream 2 started" test -e "$LAB_DIR/send2.started"
sleep 0.2
$CHURN flips "$API" 20 150 "$LAB_DIR/flips.json"
wait "$send2"
wait "$send1"
sleep 1
touch "$LAB_DIR/recv.stop"
n1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$LAB_DIR/send1.json")
n2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$LAB_DIR/send2.json")
# Let the receivers finish and write their logs.
for _ in $(seq 100); do [ -s "$LAB_DIR/recv1.json" ] && [ -s "$LAB_DIR/recv2.json" ] && break; sleep 0.2; done
report=$($CHURN report srv1="$LAB_DIR/recv1.json" srv2="$LAB_DIR/recv2.json" flips="$LAB_DIR/flips.json" sent="$n1:1" sent="$n2:2")
echo "        $report"
get() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$report" "$1"; }
check "flow 1 (route unchanged): $(get 'd["flows"]["1"]["received"]') of $n1 received, none lost" test "$(get 'd["flows"]["1"]["lost"]')" = 0
check "flow 2 (nexthop flipped 20 times): none lost" test "$(get 'd["flows"]["2"]["lost"]')" = 0
check "20 flips measured" test "$(get 'd["latency_us"]["n"]')" = 20
no_route=$(lab_metric 'ecmp_router_drops_total{reason="no_route"}')
check "no packet dropped for want of a route ($no_route0 -> $no_route)" test "$no_route" = "$no_route0"
copies=$(lab_metric 'ecmp_router_control_events_total{event="fib_copy"}')
echo "        spare-table copies (a reader held a generation too long): $copies"
finish
