#!/usr/bin/env bash
# Policy rules, end to end: TCP to port 8080 goes out through uplink isp1
# whatever the route's hash would pick; other traffic follows the route. When
# isp1's probes fail, the rule is skipped and last-resort decides: with
# `unreachable` those connections are refused by ICMP; after a reload to
# `default` they take the route (its live member). When isp1 recovers, the
# rule applies again.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init policy
lab_config --weights "1 1" --extra "uplinks:
  - { name: isp1, port: srv1, gateway: 10.1.0.2, probe: { targets: [192.0.2.1], interval-ms: 100, down-after: 3, up-after: 2 } }
  - { name: isp2, port: srv2, gateway: 10.2.0.2, probe: { targets: [192.0.2.1], interval-ms: 100, down-after: 3, up-after: 2 } }
rules:
  - { match: { proto: tcp, dport: 8080 }, action: { uplink: isp1 } }
last-resort: unreachable"
lab_up
API="http://127.0.0.1:$LAB_API_PORT/api/v1"
for k in 1 2; do lab_ns "$(lab_ns_srv $k)" ip addr add 192.0.2.1/32 dev lo; done
state() { curl -sf "$API/uplinks" | python3 -c 'import json,sys; print(" ".join(u["state"] for u in json.load(sys.stdin)))'; }
up() { [ "$(state)" = "up up" ]; }
lab_wait 10 "uplinks up" up
split() { # PORT -> "failed srv1 srv2"
    lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$ANYCAST4" "$1" 40 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["failed"], d["answers"].get("srv1",0), d["answers"].get("srv2",0))'
}
read -r f a b < <(split "$SERVICE_PORT")
check "tcp/8080 follows the rule: all 40 through isp1 (srv1 $a, srv2 $b, failed $f)" test "$a" = 40 -a "$f" = 0
read -r f a b < <(split "$ECHO_PORT")
check "other traffic follows the route over both (srv1 $a, srv2 $b)" test "$f" = 0 -a "$a" -gt 3 -a "$b" -gt 3
CTL="$LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT"
rule=""; route=""
for s in $(seq 1000 1019); do
    rule+=$($CTL route get "$ANYCAST4" from 10.0.0.2 iif lan ipproto tcp sport "$s" dport "$SERVICE_PORT" | grep -o 'dev srv[12]')
    route+=$($CTL route get "$ANYCAST4" from 10.0.0.2 iif lan ipproto tcp sport "$s" dport "$ECHO_PORT" | grep -o 'dev srv[12]')
done
check "ecmpctl route get follows the rule: tcp/8080 names isp1's port for 20 source ports" test "$(grep -o srv1 <<<"$rule" | wc -l)" = 20
check "and the route's hash for other ports (both members named)" bash -c "grep -q srv1 <<<'$route' && grep -q srv2 <<<'$route'"
rc=0; out=$($CTL route get "$ANYCAST4" iif nope 2>&1) || rc=$?
check "route get iif names an unknown port ($out)" bash -c '[ "$1" = 1 ] && [[ "$2" == *"nope"* ]]' _ "$rc" "$out"

echo "-- isp1's probes fail"
lab_ns "$(lab_ns_srv 1)" ip addr del 192.0.2.1/32 dev lo
down() { [ "$(state)" = "down up" ]; }
lab_wait 5 "isp1 down" down
read -r f a b < <(split "$SERVICE_PORT")
check "last-resort unreachable: tcp/8080 is refused ($f of 40 failed)" test "$f" = 40
out=$(lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 1 || true)
check "with an ICMP unreachable, not a timeout" bash -c '[[ "$1" == *"unreachable"* || "$1" == *"No route"* ]]' _ "$out"
read -r f a b < <(split "$ECHO_PORT")
check "the route's other traffic leaves isp1 too (srv1 $a, srv2 $b)" test "$f" = 0 -a "$a" = 0 -a "$b" = 40

echo "-- reload with last-resort: default"
sed -i 's/^last-resort: unreachable/last-resort: default/' "$LAB_DIR/router.yaml"
check "reload" bash -c "curl -sf -H 'Content-Type: application/json' -X POST $API/reload >/dev/null"
read -r f a b < <(split "$SERVICE_PORT")
check "tcp/8080 now takes the route's live member (srv1 $a, srv2 $b, failed $f)" test "$f" = 0 -a "$b" = 40

echo "-- isp1 recovers"
lab_ns "$(lab_ns_srv 1)" ip addr add 192.0.2.1/32 dev lo
lab_wait 5 "isp1 up" up
read -r f a b < <(split "$SERVICE_PORT")
check "the rule applies again: all 40 through isp1 (srv1 $a, failed $f)" test "$a" = 40 -a "$f" = 0
finish
