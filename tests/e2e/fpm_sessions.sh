#!/usr/bin/env bash
# FPM sessions with zebra's semantics, driven by a scripted FPM client
# (deploy/lab/fpm_client.py) so that each rule can be tested on its own:
# - fpm.max-routes: routes past it are refused and counted, the session goes on;
# - one session at a time: a second connection is refused at once and counted,
#   and the live session keeps working;
# - when a session ends (its peer killed with SIGKILL), its routes are kept for
#   fpm.stale-time, then swept;
# - a connection that sends nothing is closed after the first-frame timeout,
#   changes nothing, and does not keep a real session from starting;
# - a new session that re-sends a route within the stale time keeps it.
# (tests/e2e/frr_fpm.sh does the same kill -9 with the real zebra.)
source "$(dirname "$0")/../kit/e2e.sh"

lab_init fpmsess
FPM=127.0.0.1:$(( LAB_API_PORT + 1 ))
lab_config --extra "fpm: { listen: $FPM, stale-time: 2, max-routes: 5 }"
lab_up
CLIENT="python3 $LAB_ROOT/deploy/lab/fpm_client.py $FPM"
fpm_routes() { lab_api GET /api/v1/routes | python3 -c 'import json,sys; print(" ".join(sorted(r["prefix"] for r in json.load(sys.stdin) if r["origin"] == "fpm")) or "none")'; }
fpm_count() { lab_api GET /api/v1/routes | python3 -c 'import json,sys; print(sum(r["origin"] == "fpm" for r in json.load(sys.stdin)))'; }
count_is() { [ "$(fpm_count)" = "$1" ]; }
has() { fpm_routes | tr ' ' '\n' | grep -qx "$1"; }
ev() { lab_metric "ecmp_router_control_events_total{event=\"$1\"}"; }

echo "-- a session over its route limit"
routes=(); for i in 1 2 3 4 5 6 7 8; do routes+=("100.64.$i.0/24=10.1.0.2"); done
$CLIENT hold 40 "${routes[@]}" -- 100.64.1.0/24=- 100.64.9.0/24=10.2.0.2 >"$LAB_DIR/a.json" &
A=$!; LAB_PIDS+=("$A")
check "5 of 8 routes installed (fpm.max-routes: 5)" lab_wait 5 "5 routes" count_is 5
check "the 3 past the limit are counted" test "$(ev fpm_refused_route_limit)" = 3
check "metrics: a session is live" test "$(lab_metric ecmp_router_fpm_connected)" = 1

echo "-- a second connection while the session is live"
out=$($CLIENT busy)
check "is closed at once ($out)" python3 -c 'import json,sys; c=json.loads(sys.argv[1])["closed_after"]; sys.exit(0 if c is not None and c < 1 else 1)' "$out"
check "and counted" test "$(ev fpm_refused_busy)" = 1
check "the live session's routes are untouched" count_is 5
check "the live session goes on: a delete and a new route apply" lab_wait 8 "the session's second batch" bash -c "$(declare -f fpm_routes lab_api _lab_rtr); LAB_API_PORT=$LAB_API_PORT LAB_RTR_NS=; fpm_routes | grep -q 100.64.9.0/24 && ! fpm_routes | grep -q 100.64.1.0/24"
check "metrics: still one session begun" test "$(ev fpm_connection)" = 1

echo "-- the session's peer is killed (SIGKILL)"
kill -KILL "$A"; wait "$A" 2>/dev/null || true
t0=$SECONDS
sleep 0.5
check "its routes are kept at first (stale-time 2 s)" count_is 5
check "metrics: no session live" test "$(lab_metric ecmp_router_fpm_connected)" = 0
check "they are swept after the stale time" lab_wait 8 "the sweep" count_is 0
echo "        swept within $(( SECONDS - t0 )) s"
check "the log says so" grep -q 'stale routes swept removed=5' "$LAB_DIR/router.log"

echo "-- a connection that sends nothing"
$CLIENT silent 12 >"$LAB_DIR/silent.json" &
S=$!; LAB_PIDS+=("$S")
sleep 0.5
echo "   ... and a real session started meanwhile"
$CLIENT hold 30 100.64.20.0/24=10.1.0.2 100.64.21.0/24=10.2.0.2 >"$LAB_DIR/b.json" &
B=$!; LAB_PIDS+=("$B")
check "the silent connection does not keep the session from starting" lab_wait 3 "session B's routes" count_is 2
wait "$S" || true
out=$(cat "$LAB_DIR/silent.json")
check "the silent one was closed after the first-frame timeout, 5 s ($out)" python3 -c 'import json,sys; c=json.loads(sys.argv[1])["closed_after"]; sys.exit(0 if c is not None and 4 <= c <= 7 else 1)' "$out"
check "and counted" test "$(ev fpm_refused_silent)" = 1
check "session B is untouched by it" count_is 2

echo "-- a new session re-sends one route within the stale time"
kill -KILL "$B"; wait "$B" 2>/dev/null || true
$CLIENT hold 30 100.64.20.0/24=10.1.0.2 >"$LAB_DIR/c.json" &
C=$!; LAB_PIDS+=("$C")
sleep 4
check "the route it re-sent is kept, the other swept" test "$(fpm_routes)" = "100.64.20.0/24"
check "no FPM errors in all this" test "$(ev fpm_error)" = 0
kill "$C" 2>/dev/null || true
finish
