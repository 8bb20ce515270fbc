#!/usr/bin/env bash
# Sticky routes, end to end: each connection keeps the nexthop its first
# packet got while the route's weights change under it; the same change on a
# route that is not sticky breaks connections (so this test can fail). A flow
# whose nexthop goes down is picked again and counted. Flows show in the API,
# in ecmpctl and in /metrics.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init sticky
lab_config
lab_up
API="http://127.0.0.1:$LAB_API_PORT/api/v1"
CTL="$LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT"
for k in 1 2; do lab_ns "$(lab_ns_srv $k)" ip addr add 203.0.113.10/32 dev lo; done
route() { # STICKY W1 W2
    local s=""; [ "$1" = yes ] && s=sticky
    $CTL route replace 203.0.113.0/24 $s nexthop via 10.1.0.2 dev srv1 weight "$2" nexthop via 10.2.0.2 dev srv2 weight "$3" >/dev/null
}
held() { # N TRIGGER OUT: hold N echo connections until TRIGGER exists
    lab_ns "$LAB_NS_CLIENT" $FLOWS hold 203.0.113.10 "$ECHO_PORT" "$1" "$2" >"$3" &
    LAB_PIDS+=($!)
    lab_wait 20 "$1 connections open" bash -c "[ \$(wc -l <'$3') -ge 1 ]"
}
survivors() { # OUT -> "ok total"
    python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[1]); print(sum(1 for x in r if x[2]), len(r))' "$1"
}
finished() { [ "$(wc -l <"$1")" -ge 2 ]; }

echo "-- not sticky: weights 1:1 -> 1:50 under 40 open connections"
route no 1 1
held 40 "$LAB_DIR/t1" "$LAB_DIR/h1"
route no 1 50
touch "$LAB_DIR/t1"; lab_wait 20 "pings" finished "$LAB_DIR/h1"
read -r ok1 n1 < <(survivors "$LAB_DIR/h1")
check "without sticky, moving the weights breaks connections ($ok1 of $n1 survive)" test "$ok1" -lt "$n1"

echo "-- sticky: the same change"
route yes 1 1
held 40 "$LAB_DIR/t2" "$LAB_DIR/h2"
route yes 1 50
out=$($CTL flow show proto tcp port "$ECHO_PORT")
nflows=$(grep -c ' via ' <<<"$out" || true)
check "ecmpctl flow show lists the held connections ($nflows flows)" test "$nflows" -ge 40
est=$(grep -cE 'via 10\.[12]\.0\.2 dev srv[12] established' <<<"$out" || true)
check "each with its nexthop, established ($est)" test "$est" -ge 40
touch "$LAB_DIR/t2"; lab_wait 20 "pings" finished "$LAB_DIR/h2"
read -r ok2 n2 < <(survivors "$LAB_DIR/h2")
check "with sticky, every connection keeps its server ($ok2 of $n2)" test "$ok2" = "$n2"
out=$($CTL --json flow show proto tcp port "$ECHO_PORT")
check "closed by the client: half-closed, expiring within the transitory timeout" python3 -c 'import json,sys; f=json.loads(sys.argv[1]); assert f and all(x["tcp_state"] in ("half-closed", "closing") and x["expires_in_ms"] <= 120000 for x in f), f[:2]' "$out"
check "the route shows as sticky" bash -c "$CTL -d route show | grep -q '203.0.113.0/24 proto static origin api .* sticky'"
inserts=$(lab_metric 'ecmp_router_flow_events_total{event="insert",lcore="0"}')
entries=$(lab_metric 'ecmp_router_flow_entries{lcore="0"}')
check "metrics: flow inserts ($inserts) and entries ($entries)" python3 -c "import sys; sys.exit(0 if $inserts >= 40 and $entries >= 40 else 1)"
code=$(curl -s -o "$LAB_DIR/body" -w '%{http_code}' "$API/flows?proto=sctpx")
check "a bad filter is refused, naming it (400)" bash -c "[ $code = 400 ] && grep -q '\"field\":\"proto\"' '$LAB_DIR/body'"
# Paging: pages of 7 flows, following X-Next-Cursor, give every flow once.
read -r pages flows uniq < <(python3 - "$API/flows" <<'PY'
import json, sys, urllib.request
base, cursor, pages, seen = sys.argv[1], None, 0, []
while True:
    url = base + "?limit=7" + ("&after=" + cursor if cursor else "")
    with urllib.request.urlopen(url) as r:
        page = json.load(r)
        cursor = r.headers.get("X-Next-Cursor")
    assert len(page) <= 7, len(page)
    pages += 1
    seen += [(f["worker"], f["proto"], f["a"]["addr"], f["a"]["port"], f["b"]["addr"], f["b"]["port"]) for f in page]
    if not cursor:
        break
print(pages, len(seen), len(set(seen)))
PY
)
check "flows page by cursor: $flows flows in $pages pages of at most 7, each once" test "$flows" -ge 40 -a "$flows" = "$uniq" -a "$pages" -ge 6
code=$(curl -s -o "$LAB_DIR/body" -w '%{http_code}' "$API/flows?offset=5")
check "offset is refused, pointing at the cursor (400)" bash -c "[ $code = 400 ] && grep -q 'X-Next-Cursor' '$LAB_DIR/body'"

echo "-- sticky: a flow whose nexthop goes down is picked again"
route yes 1 1
held 20 "$LAB_DIR/t3" "$LAB_DIR/h3"
on1=$(python3 -c 'import json,sys; print(sum(1 for _, s in json.loads(open(sys.argv[1]).readline()) if s == "srv1"))' "$LAB_DIR/h3")
before=$(lab_metric 'ecmp_router_flow_events_total{event="repick",lcore="0"}')
$CTL nexthop disable 10.1.0.2 dev srv1 >/dev/null
touch "$LAB_DIR/t3"; lab_wait 20 "pings" finished "$LAB_DIR/h3"
after=$(lab_metric 'ecmp_router_flow_events_total{event="repick",lcore="0"}')
check "the $on1 flows on srv1 were picked again (repicks $before -> $after)" python3 -c "import sys; sys.exit(0 if $on1 > 0 and $after - $before >= $on1 else 1)"
$CTL nexthop enable 10.1.0.2 dev srv1 >/dev/null
finish
