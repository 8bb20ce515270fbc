#!/usr/bin/env bash
# Live route control through the JSON API, end to end: routes added, replaced
# and deleted while the router runs are followed by real traffic at once;
# "route get" names the nexthop each real connection took; bad requests name
# the bad field and change nothing; a config reload (API and SIGHUP) applies a
# good file and refuses a bad one, keeping the old config running.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init api
lab_config
lab_up
API="http://127.0.0.1:$LAB_API_PORT/api/v1"
for k in 1 2; do lab_ns "$(lab_ns_srv $k)" ip addr add 203.0.113.10/32 dev lo; done
answers() { $FLOWS tcp 203.0.113.10 "$SERVICE_PORT" 30 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["failed"], d["answers"].get("srv1",0), d["answers"].get("srv2",0))'; }
status() { curl -s -o "$LAB_DIR/body" -w '%{http_code}' -H "Content-Type: application/json" "$@"; }
raw_status() { curl -s -o "$LAB_DIR/body" -w '%{http_code}' "$@"; }
has_route() { # PREFIX ORIGIN
    curl -sf "$API/routes" | python3 -c 'import json,sys; sys.exit(0 if any(r["prefix"] == sys.argv[1] and r["origin"] == sys.argv[2] and r["active"] for r in json.load(sys.stdin)) else 1)' "$1" "$2"
}

code=$(status -X POST "$API/routes" -d '{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}')
check "POST a route: 201" test "$code" = 201
read -r f a b < <(lab_ns "$LAB_NS_CLIENT" bash -c "$(declare -f answers); FLOWS='$FLOWS' SERVICE_PORT=$SERVICE_PORT answers")
check "traffic follows the new route: 30 connections to srv1 ($a), none failed ($f)" test "$a" = 30 -a "$f" = 0
code=$(status -X PUT "$API/routes" -d '{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.2.0.2", "port": "srv2"}]}')
check "PUT replaces it: 200" test "$code" = 200
read -r f a b < <(lab_ns "$LAB_NS_CLIENT" bash -c "$(declare -f answers); FLOWS='$FLOWS' SERVICE_PORT=$SERVICE_PORT answers")
check "traffic follows the replacement: 30 to srv2 ($b), none failed" test "$b" = 30 -a "$f" = 0
check "GET lists it, active, with its origin" has_route 203.0.113.0/24 api
code=$(status -X DELETE "$API/routes?prefix=203.0.113.0/24")
check "DELETE: 200" test "$code" = 200
out=$(lab_ns "$LAB_NS_CLIENT" ping -c1 -W2 203.0.113.10 2>&1 || true)
check "after DELETE, the router answers Destination Net Unreachable" contains "$out" "Destination Net Unreachable"

# route get against real connections: the nexthop it names is the server that answered.
out=$(lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 40)
bad=0
for c in $(python3 -c 'import json,sys; print(" ".join(f"{p}:{s}" for p, s in json.loads(sys.argv[1])["conns"]))' "$out"); do
    got=$(curl -sf "$API/route/get?dst=$ANYCAST4&src=10.0.0.2&proto=tcp&sport=${c%%:*}&dport=$SERVICE_PORT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["nexthop"]["port"])')
    [ "$got" = "${c#*:}" ] || { bad=$((bad + 1)); echo "        sport ${c%%:*}: route get says $got, answered by ${c#*:}"; }
done
check "route get names the server of each of 40 real connections" test "$bad" -eq 0

# Bad requests name the field and change nothing.
before=$(curl -sf "$API/routes")
code=$(status -X POST "$API/routes" -d '{"prefix": "192.0.2.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv9"}]}')
check "unknown port: 400 naming nexthops[0].port" bash -c "[ $code = 400 ] && grep -q '\"field\":\"nexthops\\[0\\].port\"' '$LAB_DIR/body'"
code=$(status -X POST "$API/routes" -d '{"prefix": "192.0.2.1/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}')
check "host bits: 400 naming prefix" bash -c "[ $code = 400 ] && grep -q '\"field\":\"prefix\"' '$LAB_DIR/body'"
code=$(status -X POST "$API/routes" -d 'not json at all {')
check "garbage body: 400" test "$code" = 400
code=$(status -X DELETE "$API/routes?prefix=192.0.2.0/24")
check "deleting a missing route: 404" test "$code" = 404
code=$(status "$API/route/get?dst=nope")
check "route get with a bad address: 400" test "$code" = 400
check "bad requests changed nothing" test "$(curl -sf "$API/routes")" = "$before"

# Reload: a good file is applied, a bad one refused while the old keeps running.
cp "$LAB_DIR/router.yaml" "$LAB_DIR/good.yaml"
sed -i 's|^routes:|routes:\n  - { prefix: 203.0.113.0/24, nexthops: [{ via: 10.1.0.2, port: srv1 }] }|' "$LAB_DIR/router.yaml"
code=$(status -X POST "$API/reload")
check "reload through the API: 200" test "$code" = 200
check "the new config route is there, origin config" has_route 203.0.113.0/24 config
read -r f a b < <(lab_ns "$LAB_NS_CLIENT" bash -c "$(declare -f answers); FLOWS='$FLOWS' SERVICE_PORT=$SERVICE_PORT answers")
check "traffic follows the reloaded config: 30 to srv1 ($a)" test "$a" = 30 -a "$f" = 0
echo "routes: [oops" >>"$LAB_DIR/router.yaml"
code=$(status -X POST "$API/reload")
check "a broken file is refused: 400 with a position" bash -c "[ $code = 400 ] && grep -q 'router.yaml:[0-9]*:[0-9]*' '$LAB_DIR/body'"
read -r f a b < <(lab_ns "$LAB_NS_CLIENT" bash -c "$(declare -f answers); FLOWS='$FLOWS' SERVICE_PORT=$SERVICE_PORT answers")
check "the old config keeps running: still 30 to srv1" test "$a" = 30 -a "$f" = 0
cp "$LAB_DIR/good.yaml" "$LAB_DIR/router.yaml"
kill -HUP "$LAB_ROUTER_PID"
gone() { ! has_route 203.0.113.0/24 config; }
lab_wait 10 "SIGHUP reload" gone
check "SIGHUP reloads: the route left the config with it" gone
check "the router is still running" kill -0 "$LAB_ROUTER_PID"

# ecmpctl: the same operations with iproute2 syntax.
CTL="$LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT"
check "ecmpctl route add (multipath)" $CTL route add 203.0.113.0/24 nexthop via 10.1.0.2 dev srv1 weight 1 nexthop via 10.2.0.2 dev srv2 weight 2
out=$($CTL route show)
check "ecmpctl route show prints the route and its nexthops as ip route does" python3 -c 'import sys; assert "203.0.113.0/24 proto static\n\tnexthop via 10.1.0.2 dev srv1 weight 1\n\tnexthop via 10.2.0.2 dev srv2 weight 2" in sys.argv[1], sys.argv[1]' "$out"
out=$($CTL -d route show 203.0.113.0/24)
check "ecmpctl -d route show adds the origin, group and hash" bash -c '[[ "$1" == "203.0.113.0/24 proto static origin api group hash-threshold hash l4"* ]]' _ "$out"
check "ecmpctl --json route show is iproute2's JSON" bash -c "$CTL --json route show | python3 -c 'import json,sys; assert any(r[\"dst\"] == \"203.0.113.0/24\" and len(r[\"nexthops\"]) == 2 for r in json.load(sys.stdin))'"
check "ECMP_ROUTER_API selects the router" bash -c "ECMP_ROUTER_API=127.0.0.1:$LAB_API_PORT $LAB_ROOT/target/release/ecmpctl route show | grep -q 203.0.113.0/24"
conn=$(lab_ns "$LAB_NS_CLIENT" $FLOWS tcp 203.0.113.10 "$SERVICE_PORT" 1 | python3 -c 'import json,sys; p, s = json.load(sys.stdin)["conns"][0]; print(p, s)')
read -r sport server <<<"$conn"
out=$($CTL route get 203.0.113.10 from 10.0.0.2 proto tcp sport "$sport" dport "$SERVICE_PORT")
check "ecmpctl route get names the server of a real connection ($server): $out" contains "$out" "dev $server"
rc=0; out=$($CTL route add 203.0.113.0/24 via 10.1.0.2 dev srv1 2>&1) || rc=$?
check "ecmpctl route add of an existing route: exit 1, says so" bash -c '[ "$1" = 1 ] && [[ "$2" == *exists* ]]' _ "$rc" "$out"
rc=0; out=$($CTL route add 192.0.2.0/24 via 10.1.0.2 dev srv9 2>&1) || rc=$?
check "ecmpctl names the bad field: $out" bash -c '[ "$1" = 1 ] && [[ "$2" == *"unknown port '"'"'srv9'"'"'"* ]]' _ "$rc" "$out"
check "ecmpctl route del" $CTL route del 203.0.113.0/24
check "ecmpctl nexthop show lists live gateways as ip nexthop does" bash -c "$CTL nexthop show | grep -Eq '^id [0-9]+ via 10.1.0.2 dev srv1 scope link$'"
check "ecmpctl -d nexthop show adds the kind, MAC and NUD state" bash -c "$CTL -d nexthop show | grep -Eq '^id [0-9]+ via 10.1.0.2 dev srv1 scope link kind gateway lladdr 02:00:00:00:01:02 nud (REACHABLE|STALE|DELAY|PROBE)$'"
check "ecmpctl neigh show lists the client with its MAC" bash -c "$CTL neigh show | grep -Eq '10.0.0.2 dev lan lladdr 02:00:00:00:00:c1 (REACHABLE|STALE|DELAY|PROBE)$'"
# Named groups through the API: routes that name one follow its replacement at once.
check "ecmpctl group add" $CTL group add web nexthop via 10.1.0.2 dev srv1
check "ecmpctl route add ... nhg web" $CTL route add 203.0.113.0/24 nhg web
read -r f a b < <(lab_ns "$LAB_NS_CLIENT" bash -c "$(declare -f answers); FLOWS='$FLOWS' SERVICE_PORT=$SERVICE_PORT answers")
check "traffic follows the group: 30 to srv1 ($a)" test "$a" = 30 -a "$f" = 0
check "ecmpctl group replace" $CTL group replace web nexthop via 10.2.0.2 dev srv2 weight 3
read -r f a b < <(lab_ns "$LAB_NS_CLIENT" bash -c "$(declare -f answers); FLOWS='$FLOWS' SERVICE_PORT=$SERVICE_PORT answers")
check "the route moved with its group: 30 to srv2 ($b)" test "$b" = 30 -a "$f" = 0
rc=0; out=$($CTL group del web 2>&1) || rc=$?
check "deleting a group in use: exit 1, says what uses it: $out" bash -c '[ "$1" = 1 ] && [[ "$2" == *"used by 1 route"* ]]' _ "$rc" "$out"
out=$($CTL -d group show)
nh2=$($CTL nexthop show | awk '/ via 10.2.0.2 dev srv2 / {print $2}')
check "ecmpctl -d group show: the named group, its member's id and weight, its route" bash -c 'grep -Eq "^id [0-9]+ group $2,3 name web kind named origin api algorithm hash-threshold live 1/1 routes 1$" <<<"$1"' _ "$out" "$nh2"
check "ecmpctl -d group show: the anycast routes' shared group" bash -c 'grep -Eq "^id [0-9]+ group [0-9]+/$2,2 name 10.1.0.2@srv1\*1,10.2.0.2@srv2\*2 kind shared" <<<"$1"' _ "$out" "$nh2"
check "nexthop show lists the groups after the nexthops, as ip nexthop does" bash -c "$CTL nexthop show | tail -1 | grep -Eq '^id [0-9]+ group '"
code=$(status -X POST "$API/groups" -d '{"name": "bad", "nexthops": [{"via": "10.1.0.2", "port": "srv1", "weight": 70000}]}')
check "a bad group: 400 naming nexthops[0].weight" bash -c "[ $code = 400 ] && grep -q '\"field\":\"nexthops\[0\].weight\"' '$LAB_DIR/body'"
check "ecmpctl route del, then group del" bash -c "$CTL route del 203.0.113.0/24 && $CTL group del web"
check "GET /groups no longer has it" bash -c "! curl -sf '$API/groups' | grep -q '\"name\":\"web\"'"
out=$($CTL port show)
check "ecmpctl port show: every port with counters" bash -c '[[ "$1" == *"srv1: "* && "$1" == *"inet 10.1.0.1/24 fd01::1/64"* && "$1" == *"RX: packets"* ]]' _ "$out"
check "ecmpctl neigh show dev srv1: only srv1's neighbours" bash -c "out=\$($CTL neigh show dev srv1); [[ \"\$out\" == *'10.1.0.2 dev srv1'* && \"\$out\" != *'dev lan'* ]]"
hdr=$(curl -s -D - -o "$LAB_DIR/page" "$API/routes?limit=1")
cursor=$(awk -F': ' 'tolower($1) == "x-next-cursor" { gsub("\r", "", $2); print $2 }' <<<"$hdr")
check "GET /routes?limit=1: one route and a cursor ($cursor)" bash -c '[ -n "$1" ] && python3 -c "import json,sys; assert len(json.load(open(sys.argv[1]))) == 1" "$2"' _ "$cursor" "$LAB_DIR/page"
hdr=$(curl -s -D - -o "$LAB_DIR/page2" "$API/routes?limit=1&after=$cursor")
check "the cursor gives the next route, and the last page has no cursor" bash -c '[[ "$1" != *"x-next-cursor"* ]] && python3 -c "import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); assert len(b) == 1 and a[0][\"prefix\"] != b[0][\"prefix\"]" "$2" "$3"' _ "$hdr" "$LAB_DIR/page" "$LAB_DIR/page2"
check "offset is refused, pointing at the cursor" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$API/routes?offset=1')\" = 400 ]"
check "GET /routes?prefix=198.51.100.0/22 filters by containment" bash -c "curl -sf '$API/routes?prefix=198.51.100.0/22' | python3 -c 'import json,sys; r=json.load(sys.stdin); assert [x[\"prefix\"] for x in r] == [\"198.51.100.0/24\"], r'"
# Nexthops as objects: created, resolved by the router's own ARP, refused while used, deleted.
lab_ns "$(lab_ns_srv 1)" ip addr add 10.1.0.3/24 dev "$(lab_if_srv 1)"
check "ecmpctl nexthop add" $CTL nexthop add via 10.1.0.3 dev srv1
lab_wait 10 "10.1.0.3 resolved" bash -c "$CTL nexthop show | grep -q 'via 10.1.0.3 dev srv1 scope link$'"
check "the new nexthop is resolved and up" bash -c "$CTL nexthop show | grep -q 'via 10.1.0.3 dev srv1 scope link$'"
rc=0; out=$($CTL nexthop add via 10.1.0.3 dev srv1 2>&1) || rc=$?
check "adding it twice: exit 1, says it exists" bash -c '[ "$1" = 1 ] && [[ "$2" == *exists* ]]' _ "$rc" "$out"
code=$(status -X POST "$API/nexthops" -d '{"via": "10.9.9.9", "port": "srv1"}')
check "a nexthop off the port's subnets: 400 naming via" bash -c "[ $code = 400 ] && grep -q '\"field\":\"via\"' '$LAB_DIR/body'"
rc=0; out=$($CTL nexthop del via 10.1.0.2 dev srv1 2>&1) || rc=$?
check "deleting a group member is refused, naming the group: $out" bash -c '[ "$1" = 1 ] && [[ "$2" == *"member of group"* ]]' _ "$rc" "$out"
check "ecmpctl nexthop del" $CTL nexthop del via 10.1.0.3 dev srv1
check "it is gone" bash -c "! $CTL nexthop show | grep -q 'via 10.1.0.3 dev srv1'"
# Abuse: an oversized body is refused whole; concurrent writers leave a consistent table.
code=$(python3 -c 'print("{\"prefix\": \"" + "x" * 3_000_000 + "\"}")' | curl -s -o "$LAB_DIR/body" -w '%{http_code}' -H "Content-Type: application/json" -X POST --data-binary @- "$API/routes")
check "a 3 MB request body is refused (413)" test "$code" = 413
python3 - "$API" <<'PY'
import http.client, json, sys, threading
host, port = sys.argv[1].split("//")[1].split("/")[0].split(":")
def writer(w):
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    for i in range(50):
        body = json.dumps({"prefix": f"100.{64 + w}.{i}.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]})
        c.request("POST", "/api/v1/routes", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        assert r.status == 201, r.status
threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
PY
n=$(curl -sf "$API/routes?prefix=100.64.0.0/10&origin=api" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
check "8 concurrent writers x 50 routes: all 400 there ($n)" test "$n" = 400
got=$(curl -sf "$API/route/get?dst=100.71.49.9" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prefix"])')
check "and in the dataplane's table (route get: $got)" test "$got" = 100.71.49.0/24
for w in $(seq 0 7); do for i in $(seq 0 49); do echo "100.$((64 + w)).$i.0/24"; done; done | while read -r p; do curl -sf -o /dev/null -H "Content-Type: application/json" -X DELETE "$API/routes?prefix=$p"; done
check "ecmpctl reload" bash -c "$CTL reload | grep -q reloaded"
check "ecmpctl stats prints counters" bash -c "$CTL stats | grep -q ecmp_router_nexthop_packets_total"
rc=0; $LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:1 route show >/dev/null 2>&1 || rc=$?
check "ecmpctl without a router: exit 2" test "$rc" = 2
rc=0; $CTL route frobnicate >/dev/null 2>&1 || rc=$?
check "ecmpctl with a bad command: exit 2" test "$rc" = 2

# A router that listens off loopback needs a token, and then the API demands it.
sed -i "s|^api: .*|api: { listen: \"0.0.0.0:$LAB_API_PORT\" }|" "$LAB_DIR/router.yaml"
rc=0; out=$("$ECMP_ROUTER" --check-config "$LAB_DIR/router.yaml" 2>&1) || rc=$?
check "off-loopback API without a token is refused: $out" bash -c '[ "$1" = 1 ] && [[ "$2" == *"api.listen"*"set api.token"* ]]' _ "$rc" "$out"
code=$(status -X POST "$API/reload")
check "and a reload to it is refused (400), the router keeps running" bash -c "[ $code = 400 ] && kill -0 $LAB_ROUTER_PID"
lab_down
lab_init token
lab_config --extra ""
echo "s3cret-token-0123456789" >"$LAB_DIR/token"
sed -i "s|^api: { listen: 127.0.0.1:\([0-9]*\) }|api: { listen: \"0.0.0.0:\1\", token-file: $LAB_DIR/token }|" "$LAB_DIR/router.yaml"
lab_up
API="http://127.0.0.1:$LAB_API_PORT/api/v1"
T='Authorization: Bearer s3cret-token-0123456789'
check "without the token: 401" test "$(status "$API/routes")" = 401
check "with a wrong token: 401" test "$(status -H 'Authorization: Bearer nope' "$API/routes")" = 401
check "with a prefix of the token: 401" test "$(status -H 'Authorization: Bearer s3cret-token' "$API/routes")" = 401
check "with the token (from api.token-file): 200" test "$(status -H "$T" "$API/routes")" = 200
check "the Bearer scheme in any case: 200" test "$(status -H 'Authorization: bEARER s3cret-token-0123456789' "$API/routes")" = 200
echo "s3cret-token-0123456789" >"$LAB_DIR/ctl-token"
check "ecmpctl --token-file" "$LAB_ROOT/target/release/ecmpctl" --api "127.0.0.1:$LAB_API_PORT" --token-file "$LAB_DIR/ctl-token" route show
rc=0; "$LAB_ROOT/target/release/ecmpctl" --api "127.0.0.1:$LAB_API_PORT" --token s3cret-token-0123456789 route show >/dev/null 2>&1 || rc=$?
check "ecmpctl refuses a token on its command line" test "$rc" = 2
check "ECMP_ROUTER_TOKEN" env ECMP_ROUTER_TOKEN=s3cret-token-0123456789 "$LAB_ROOT/target/release/ecmpctl" --api "127.0.0.1:$LAB_API_PORT" nexthop show
check "/metrics stays readable for Prometheus" test "$(status "http://127.0.0.1:$LAB_API_PORT/metrics")" = 200

echo "-- a browser cannot drive the API (CSRF, DNS rebinding)"
before=$(curl -sf -H "$T" "$API/routes")
body='{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}'
check "a text/plain POST (a browser's simple request) gets 415" test "$(raw_status -H "$T" -H 'Content-Type: text/plain' -X POST -d "$body" "$API/routes")" = 415
check "a form POST (curl -d) gets 415" test "$(raw_status -H "$T" -X POST -d "$body" "$API/routes")" = 415
check "a bodiless write without the JSON type gets 415 (disable)" test "$(raw_status -H "$T" -X POST "$API/nexthops/srv1/10.1.0.2/disable")" = 415
check "and reload" test "$(raw_status -H "$T" -X POST "$API/reload")" = 415
check "a Host that is not this router gets 421" test "$(raw_status -H "$T" -H 'Host: evil.example:80' -H 'Content-Type: text/plain' -X POST -d "$body" "$API/routes")" = 421
check "even for a GET" test "$(raw_status -H "$T" -H 'Host: rebind.example' "$API/routes")" = 421
check "Host localhost is fine" test "$(raw_status -H "$T" -H "Host: localhost:$LAB_API_PORT" "$API/routes")" = 200
check "none of them changed anything" test "$(curl -sf -H "$T" "$API/routes")" = "$before"
check "the nexthop is still enabled" bash -c "curl -sf -H '$T' '$API/nexthops' | python3 -c 'import json,sys; sys.exit(0 if all(n[\"enabled\"] for n in json.load(sys.stdin)) else 1)'"
check "refused writes are logged" grep -q 'write refused, not Content-Type: application/json' "$LAB_DIR/router.log"

echo "-- token rotation by reload"
echo "n3w-token-abcdef0123456789" >"$LAB_DIR/token"
check "reload (with the old token) applies" test "$(status -H "$T" -X POST "$API/reload")" = 200
check "the old token gets 401 afterwards" test "$(status -H "$T" "$API/routes")" = 401
check "the new one 200" test "$(status -H 'Authorization: Bearer n3w-token-abcdef0123456789' "$API/routes")" = 200
check "API writes are logged with method, path and status" bash -c "grep 'API write' '$LAB_DIR/router.log' | grep 'path=/api/v1/reload' | grep -q 'status=200'"

echo "-- the served OpenAPI description is docs/openapi.json, and snake_case bodies are taken"
check "GET /api/v1/openapi.json equals docs/openapi.json" bash -c "curl -sf -H 'Authorization: Bearer n3w-token-abcdef0123456789' '$API/openapi.json' | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin) == json.load(open(\"$LAB_ROOT/docs/openapi.json\")) else 1)'"
code=$(status -H 'Authorization: Bearer n3w-token-abcdef0123456789' -H 'Content-Type: application/json' -X POST -d '{"name": "snake", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}], "group": "resilient", "idle_timer": 7}' "$API/groups")
check "a group body with snake_case keys (idle_timer) is taken: $code" test "$code" = 201

echo "-- reload refuses what it cannot apply, naming the key"
sed -i 's|^api: \(.*\) }$|api: \1 }\nicmp: { rate: 5, burst: 5 }|' "$LAB_DIR/router.yaml"
code=$(status -H 'Authorization: Bearer n3w-token-abcdef0123456789' -X POST "$API/reload")
check "a changed icmp section: 409 ($code) naming icmp" bash -c "[ $code = 409 ] && grep -q icmp '$LAB_DIR/body'"
finish
