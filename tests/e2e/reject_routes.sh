#!/usr/bin/env bash
# Blackhole, unreachable and prohibit routes from the config and the API,
# checked with the client's own ping as an operator would: blackhole is
# silent, unreachable and prohibit get the ICMP errors a Linux router sends
# (IPv4: host unreachable, code 1, and communication administratively
# prohibited, code 13; IPv6: no route, code 0, and administratively
# prohibited, code 1). Each is counted under its own drop reason.
# (tests/e2e/frr_fpm.sh checks the same route types arriving from zebra.)
source "$(dirname "$0")/../kit/e2e.sh"

lab_init reject
lab_config
sed -i 's|^routes:$|routes:\n  - { prefix: 192.0.2.0/24, type: blackhole }\n  - { prefix: 198.18.0.0/24, type: unreachable }\n  - { prefix: "2001:db8:dead::/48", type: prohibit }|' "$LAB_DIR/router.yaml"
grep -q 'type: prohibit' "$LAB_DIR/router.yaml"
lab_up
CTL="$LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT"
API=http://127.0.0.1:$LAB_API_PORT/api/v1
post() { curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$API/routes" >/dev/null; }
check "API: add a prohibit route" post '{"prefix": "198.18.1.0/24", "type": "prohibit"}'
check "API: add an unreachable route" post '{"prefix": "2001:db8:beef::/48", "type": "unreachable"}'
check "API: a type with nexthops is refused, naming the field" bash -c "! curl -sf -X POST -H 'Content-Type: application/json' -d '{\"prefix\": \"198.18.2.0/24\", \"type\": \"blackhole\", \"nexthops\": [{\"via\": \"10.1.0.2\", \"port\": \"srv1\"}]}' $API/routes && curl -s -X POST -H 'Content-Type: application/json' -d '{\"prefix\": \"198.18.2.0/24\", \"type\": \"blackhole\", \"nexthops\": [{\"via\": \"10.1.0.2\", \"port\": \"srv1\"}]}' $API/routes | grep -q nexthops"

drops() { lab_metric "ecmp_router_drops_total{reason=\"$1\"}"; }
ping_out() { lab_ns "$LAB_NS_CLIENT" ping "$@" -c2 -i0.2 -W1 2>&1 || true; }
b0=$(drops blackhole) u0=$(drops unreachable) p0=$(drops prohibit)

out=$(ping_out 192.0.2.9)
check "blackhole (config): no reply, no error ($out)" bash -c '[[ "$1" == *"100% packet loss"* && "$1" != *"nreachable"* && "$1" != *"filtered"* ]]' _ "$out"
out=$(ping_out 198.18.0.9)
check "unreachable (config): Destination Host Unreachable" contains "$out" "Destination Host Unreachable"
out=$(ping_out 198.18.1.9)
check "prohibit (API): Packet filtered (code 13)" contains "$out" "Packet filtered"
out=$(ping_out -6 2001:db8:dead::9)
check "prohibit (config), IPv6: Administratively prohibited" contains "$out" "Administratively prohibited"
out=$(ping_out -6 2001:db8:beef::9)
check "unreachable (API), IPv6: No route" contains "$out" "No route"

check "blackhole drops counted (2)" test $(( $(drops blackhole) - b0 )) -eq 2
check "unreachable drops counted (4)" test $(( $(drops unreachable) - u0 )) -eq 4
check "prohibit drops counted (4)" test $(( $(drops prohibit) - p0 )) -eq 4
check "no_route not used for them" test "$(drops no_route)" -eq 0

out=$($CTL -d route show)
check "ecmpctl -d route show names the types" bash -c '[[ "$1" == *"blackhole 192.0.2.0/24 proto static origin config"* && "$1" == *"prohibit 198.18.1.0/24 proto static origin api"* && "$1" == *"unreachable 2001:db8:beef::/48"* ]]' _ "$out"
out=$($CTL route get 198.18.0.9)
check "ecmpctl route get says unreachable ($out)" contains "$out" "unreachable"
check "the API lists the route's type" bash -c "curl -sf '$API/routes' | python3 -c 'import json,sys; r={x[\"prefix\"]: x[\"type\"] for x in json.load(sys.stdin)}; sys.exit(0 if r[\"192.0.2.0/24\"] == \"blackhole\" and r[\"198.51.100.0/24\"] == \"unicast\" else 1)'"
finish
