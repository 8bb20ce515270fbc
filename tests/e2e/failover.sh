#!/usr/bin/env bash
# Failover, end to end: three servers behind one anycast route (hash-threshold,
# probes every 100 ms, down after 3 unanswered). While a stream of new TCP
# connections runs and 30 long-lived connections are held open, srv2's link
# goes down in its namespace, so its neighbour stops answering. After the
# router detects it: no new connection goes to srv2, every new connection
# succeeds, and every established connection to srv1 and srv3 still works.
# When srv2 comes back, it gets new connections again.
source "$(dirname "$0")/../kit/e2e.sh"
mono() { python3 -c 'import time; print(time.monotonic())'; }

lab_init failover
lab_config --servers 3 --probe "100 3"
lab_up
up_metric() { lab_metric "ecmp_router_nexthop_up{kind=\"gateway\",nexthop=\"10.2.0.2\",port=\"srv2\"}"; }
srv2_is() { [ "$(up_metric)" = "$1" ]; }
check "srv2 is up before the failure" test "$(up_metric)" = 1

trigger=$LAB_DIR/trigger
lab_ns "$LAB_NS_CLIENT" $FLOWS hold "$ANYCAST4" "$ECHO_PORT" 30 "$trigger" >"$LAB_DIR/hold.out" &
hold_pid=$!
lab_wait 20 "held connections" test -s "$LAB_DIR/hold.out"
lab_ns "$LAB_NS_CLIENT" $FLOWS stream "$ANYCAST4" "$SERVICE_PORT" 6 >"$LAB_DIR/stream.out" &
stream_pid=$!
sleep 1

t_down=$(mono)
lab_srv_link 2 down
lab_wait 10 "the router to take srv2 down" srv2_is 0
t_detect=$(mono)
echo "        srv2 detected down after $(python3 -c "print(f'{$t_detect - $t_down:.2f}')") s (probes: 100 ms x 3)"
check "metrics say why: unreachable" test "$(lab_metric 'ecmp_router_nexthop_down{kind="gateway",nexthop="10.2.0.2",port="srv2",reason="unreachable"}')" = 1
check "ecmpctl stats shows the alarm at 0" bash -c "$LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT stats | grep -qx 'ecmp_router_nexthop_up{kind=\"gateway\",nexthop=\"10.2.0.2\",port=\"srv2\"} 0'"
check "the down event is counted under its own name" test "$(lab_metric 'ecmp_router_control_events_total{event="nexthop_went_down"}')" -ge 1
sleep 2
t_up=$(mono)
touch "$trigger"
wait "$hold_pid"
lab_srv_link 2 up
lab_wait 10 "the router to bring srv2 back" srv2_is 1
wait "$stream_pid"

python3 - "$t_detect" "$t_up" "$LAB_DIR/stream.out" "$LAB_DIR/hold.out" >"$LAB_DIR/verdict" <<'PY'
import json, sys
t_detect, t_up, stream_f, hold_f = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
stream = json.load(open(stream_f))
held_lines = open(hold_f).read().split("\n")
held = json.loads(held_lines[1])
window = [c for c in stream if t_detect <= c[0] and c[1] <= t_up]
to_srv2 = sum(1 for c in window if c[2] == "srv2")
failed = sum(1 for c in window if c[2] is None)
survivors = [h for h in held if h[1] != "srv2"]
broken = sum(1 for h in survivors if not h[2])
print(len(window), to_srv2, failed, len(survivors), broken, sum(1 for h in held if h[1] == "srv2"))
PY
read -r window to_srv2 failed survivors broken on_srv2 <"$LAB_DIR/verdict"
echo "        after detection: $window new connections, $to_srv2 to srv2, $failed failed; held: $survivors on srv1/srv3 ($broken broken), $on_srv2 on srv2"
check "new connections ran during the outage" test "$window" -ge 20
check "after detection, no new connection went to srv2" test "$to_srv2" -eq 0
check "after detection, every new connection succeeded" test "$failed" -eq 0
check "held connections covered the survivors" test "$survivors" -ge 10
check "no established connection to srv1/srv3 broke" test "$broken" -eq 0

out=$(lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 150)
read -r failed s2 < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["failed"], d["answers"].get("srv2", 0))' "$out")
echo "        after recovery: $out" | cut -c1-160
check "after recovery, srv2 gets new connections again ($s2 of 150)" test "$s2" -gt 0
check "after recovery, no connection failed" test "$failed" -eq 0

# Operator disable through the API: srv3 takes no new connection until enabled again.
resp=$(lab_api POST /api/v1/nexthops/srv3/10.3.0.2/disable)
check "API disable answers with the nexthop's state" contains "$resp" '"enabled":false'
check "metrics show the reason: admin" test "$(lab_metric 'ecmp_router_nexthop_down{kind="gateway",nexthop="10.3.0.2",port="srv3",reason="admin"}')" = 1
out=$(lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 100)
read -r failed s3 < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["failed"], d["answers"].get("srv3", 0))' "$out")
check "disabled srv3 gets no new connection ($s3), none failed ($failed)" test "$s3" -eq 0 -a "$failed" -eq 0
lab_api POST /api/v1/nexthops/srv3/10.3.0.2/enable >/dev/null
out=$(lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 100)
s3=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["answers"].get("srv3", 0))' "$out")
check "enabled again, srv3 gets connections ($s3 of 100)" test "$s3" -gt 0
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: application/json" -X POST "http://127.0.0.1:$LAB_API_PORT/api/v1/nexthops/srv9/10.3.0.2/disable")
check "API: unknown port is a 404" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: application/json" -X POST "http://127.0.0.1:$LAB_API_PORT/api/v1/nexthops/srv3/not-an-ip/disable")
check "API: a bad address is a 400" test "$code" = 400
finish
