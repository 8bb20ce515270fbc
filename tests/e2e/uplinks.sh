#!/usr/bin/env bash
# Uplink health probes, end to end: two uplinks (the lab's two servers as
# upstream routers) each probe the same target, 192.0.2.1, which each server
# holds on its loopback. A probe leaves through its own uplink whatever the
# routing says. When srv1 stops answering for the target (its gateway still
# answers ARP), uplink isp1 goes down within its probe rounds and takes no new
# connections; when it answers again it comes back. State shows in the API,
# ecmpctl and /metrics.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init uplinks
lab_config --weights "1 1" --extra "uplinks:
  - { name: isp1, port: srv1, gateway: 10.1.0.2, probe: { targets: [192.0.2.1, '2001:db8:ff::1'], interval-ms: 100, down-after: 3, up-after: 2 } }
  - { name: isp2, port: srv2, gateway: 10.2.0.2, probe: { targets: [192.0.2.1], interval-ms: 100, down-after: 3, up-after: 2 } }"
lab_up
API="http://127.0.0.1:$LAB_API_PORT/api/v1"
CTL="$LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT"
for k in 1 2; do
    lab_ns "$(lab_ns_srv $k)" ip addr add 192.0.2.1/32 dev lo
    lab_ns "$(lab_ns_srv $k)" ip addr add 2001:db8:ff::1/128 dev lo
done
state() { curl -sf "$API/uplinks" | python3 -c 'import json,sys; print(" ".join(u["state"] for u in json.load(sys.stdin)))'; }
answered() { # UPLINK -> replies to its probes so far
    curl -sf "$API/uplinks" | python3 -c 'import json,sys; print(sum(t["answered"] for u in json.load(sys.stdin) if u["name"] == sys.argv[1] for t in u["targets"]))' "$1"
}
split() { lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 60 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["failed"], d["answers"].get("srv1",0), d["answers"].get("srv2",0))'; }

lab_wait 10 "probes answered" bash -c "[ \$(curl -sf $API/uplinks | python3 -c 'import json,sys; print(min(sum(t[\"answered\"] for t in u[\"targets\"]) for u in json.load(sys.stdin)))') -ge 5 ]"
check "both uplinks up, answering probes ($(state))" test "$(state)" = "up up"
out=$($CTL uplink show)
check "ecmpctl uplink show: state, targets (v4 and v6) and round trips" bash -c '[[ "$1" == *"isp1 via 10.1.0.2 dev srv1 UP"* && "$1" == *"probe 2001:db8:ff::1 sent"* && "$1" == *"rtt "*ms* ]]' _ "$out"
read -r f a b < <(split)
check "while both are up, new connections use both (srv1 $a, srv2 $b, failed $f)" test "$f" = 0 -a "$a" -gt 5 -a "$b" -gt 5

echo "-- srv1 stops answering for the targets (its gateway address still answers ARP)"
t0=$(lab_metric 'ecmp_router_uplink_transitions_total{uplink="isp1"}')
lab_ns "$(lab_ns_srv 1)" ip addr del 192.0.2.1/32 dev lo
lab_ns "$(lab_ns_srv 1)" ip addr del 2001:db8:ff::1/128 dev lo
down() { [ "$(state)" = "down up" ]; }
lab_wait 5 "isp1 down" down
check "isp1 goes down, isp2 stays up ($(state))" down
read -r f a b < <(split)
check "no new connection goes through isp1 (srv1 $a, srv2 $b, failed $f)" test "$f" = 0 -a "$a" = 0 -a "$b" = 60
check "the nexthop shows why" bash -c "$CTL nexthop show | grep -q 'via 10.1.0.2 dev srv1 scope link dead uplinkdown'"
check "metrics: ecmp_router_uplink_up is 0 for isp1" test "$(lab_metric 'ecmp_router_uplink_up{port="srv1",uplink="isp1"}')" = 0
check "metrics: loss is counted" python3 -c "import sys; sys.exit(0 if $(lab_metric 'ecmp_router_uplink_loss_percent{uplink="isp1"}') > 0 else 1)"

echo "-- srv1 answers again"
lab_ns "$(lab_ns_srv 1)" ip addr add 192.0.2.1/32 dev lo
up() { [ "$(state)" = "up up" ]; }
lab_wait 5 "isp1 up" up
check "isp1 comes back after its up-after rounds ($(state))" up
read -r f a b < <(split)
check "and takes new connections again (srv1 $a, srv2 $b, failed $f)" test "$f" = 0 -a "$a" -gt 5
t1=$(lab_metric 'ecmp_router_uplink_transitions_total{uplink="isp1"}')
check "two transitions counted ($t0 -> $t1)" test "$((t1 - t0))" = 2
promtool_out=$(lab_metrics | promtool check metrics 2>&1 || true)
check "metrics still pass promtool" test -z "$promtool_out"
finish
