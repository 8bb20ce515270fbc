#!/usr/bin/env bash
# Log floods from outside, with the defaults (an FPM listener, and an API
# token, are what two of the floods are about). Four sources, one after the
# other, each at 10,000 events/s or more for 10 s:
# - ARP replies from the client claiming the router's 10.0.0.1, each from a
#   new MAC;
# - Neighbour Advertisements claiming the router's fd00::1, each from a new MAC;
# - FPM clients that connect, send a frame of garbage and are reset;
# - API writes, half with a wrong token (401), half with a bad body (400).
# Checks that the router's log grew by at most 300 lines in all, that every
# event is counted (each suppressed line in ecmp_router_log_suppressed_total:
# lines logged + lines suppressed = events, per kind), and that forwarding
# (200 TCP connections during each flood) and the API keep working.
source "$(dirname "$0")/../kit/e2e.sh"
SECS=${FLOOD_SECONDS:-10}
RATE=${FLOOD_RATE:-12000}
MIN_RATE=10000

lab_init logflood
FPM=$((LAB_API_PORT + 1))
lab_config --extra "fpm: { listen: 127.0.0.1:$FPM }"
TOKEN=log-flood-token-0123456789
echo "$TOKEN" >"$LAB_DIR/token"
sed -i "s|^api: { listen: 127.0.0.1:\([0-9]*\) }|api: { listen: 127.0.0.1:\1, token-file: $LAB_DIR/token }|" "$LAB_DIR/router.yaml"
lab_up
lab_ns "$LAB_NS_CLIENT" ping -c 1 -W 1 10.0.0.1 >/dev/null
RMAC=$(lab_ns "$LAB_NS_CLIENT" ip neigh show 10.0.0.1 | awk '{ print $5 }')
CTL=("$LAB_ROOT/target/release/ecmpctl" --api "127.0.0.1:$LAB_API_PORT")
export ECMP_ROUTER_TOKEN=$TOKEN

ev() { awk -v k="ecmp_router_control_events_total{event=\"$1\"}" '$1 == k { print $2 }' <<<"$2"; }
sup() { awk -v k="ecmp_router_log_suppressed_total{kind=\"$1\"}" '$1 == k { print $2 }' <<<"$2"; }
drops() { awk -v k="ecmp_router_drops_total{reason=\"$1\"}" '$1 == k { print $2; f=1 } END { if (!f) print 0 }' <<<"$2"; }
lines() { grep -c -- "$1" "$LAB_DIR/router.log" || true; }

# during NAME: while a flood runs, 200 TCP connections through the router
# and an ecmpctl read, each checked.
during() {
    sleep $((SECS / 2))
    local out
    out=$(lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/tcp_split.py" "$ANYCAST4" "$SERVICE_PORT" 200 16)
    check "$1: 200 TCP connections through the router during the flood ($out)" \
        python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["failed"] == 0 else 1)' "$out"
    check "$1: ecmpctl route show answers during the flood" bash -c '"$@" route show | grep -q "^198.51.100.0/24"' _ "${CTL[@]}"
}

# limited NAME KIND EVENT_COUNTER LOG_TEXT EVENTS_BEFORE LINES_BEFORE SUPPRESSED_BEFORE METRICS [MIN]:
# lines logged + lines suppressed = events counted, for one kind; at least
# MIN events (default: MIN_RATE a second).
limited() {
    local name=$1 kind=$2 counter=$3 text=$4 e0=$5 l0=$6 s0=$7 m=$8 min=${9:-$((MIN_RATE * SECS))}
    local e=$(( $(ev "$counter" "$m") - e0 )) l=$(( $(lines "$text") - l0 )) s=$(( $(sup "$kind" "$m") - s0 ))
    echo "        $name: $e events ($counter), $l lines, $s suppressed ($kind)"
    check "$name: every event counted: $l lines logged + $s suppressed = $e events" test $((l + s)) -eq "$e"
    check "$name: at least $min events in ${SECS} s ($e)" test "$e" -ge "$min"
    check "$name: at most 60 lines ($l)" test "$l" -le 60
}

log0=$(wc -l <"$LAB_DIR/router.log")

echo "-- ARP replies claiming 10.0.0.1, ${RATE}/s for ${SECS} s"
m0=$(lab_metrics); l0=$(lines "claims one of the router's addresses")
lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/flood.py" "$LAB_IF_LAN" "$RMAC" 10.0.0.1 "$SECS" arp-claim pps="$RATE" >"$LAB_DIR/arp.json" &
f=$!; during "ARP claims"; wait "$f"; sleep 1
m=$(lab_metrics)
echo "        sender: $(cat "$LAB_DIR/arp.json"); punt queue full: $(( $(drops punt_queue_full "$m") - $(drops punt_queue_full "$m0") ))"
limited "ARP claims" address_claim own_address_claim "claims one of the router's addresses" \
    "$(ev own_address_claim "$m0")" "$l0" "$(sup address_claim "$m0")" "$m"

echo "-- Neighbour Advertisements claiming fd00::1, ${RATE}/s for ${SECS} s"
m0=$m; l0=$(lines "claims one of the router's addresses")
lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/flood.py" "$LAB_IF_LAN" "$RMAC" 10.0.0.1 "$SECS" na-claim ip6=fd00::1 pps="$RATE" >"$LAB_DIR/na.json" &
f=$!; during "NA claims"; wait "$f"; sleep 1
m=$(lab_metrics)
echo "        sender: $(cat "$LAB_DIR/na.json")"
limited "NA claims" address_claim own_address_claim "claims one of the router's addresses" \
    "$(ev own_address_claim "$m0")" "$l0" "$(sup address_claim "$m0")" "$m"

echo "-- FPM clients sending garbage for ${SECS} s"
m0=$m; l0=$(lines "FPM: connection reset after malformed input")
# Two client processes: one Python process alone is near 10,000 connections/s.
python3 "$LAB_ROOT/deploy/lab/abuse.py" fpm "127.0.0.1:$FPM" "$SECS" >"$LAB_DIR/fpm1.json" &
f=$!
python3 "$LAB_ROOT/deploy/lab/abuse.py" fpm "127.0.0.1:$FPM" "$SECS" >"$LAB_DIR/fpm2.json" &
f2=$!; during "FPM garbage"; wait "$f" "$f2"; sleep 1
m=$(lab_metrics)
echo "        clients: $(cat "$LAB_DIR/fpm1.json") $(cat "$LAB_DIR/fpm2.json")"
read_n=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["garbage_read"] for f in sys.argv[1:]))' "$LAB_DIR/fpm1.json" "$LAB_DIR/fpm2.json")
check "FPM garbage: each connection reset counted ($read_n resets, fpm_error +$(( $(ev fpm_error "$m") - $(ev fpm_error "$m0") )))" \
    test "$(( $(ev fpm_error "$m") - $(ev fpm_error "$m0") ))" -eq "$read_n"
limited "FPM garbage" fpm_malformed fpm_error "FPM: connection reset after malformed input" \
    "$(ev fpm_error "$m0")" "$l0" "$(sup fpm_malformed "$m0")" "$m"
check "no FPM session began" test "$(ev fpm_connection "$m")" -eq 0

echo "-- API writes with a wrong token and with bad bodies for ${SECS} s"
m0=$m; l0=$(lines "missing or wrong token (401)"); w0=$(lines "API write")
python3 "$LAB_ROOT/deploy/lab/abuse.py" api "127.0.0.1:$LAB_API_PORT" "$SECS" "$TOKEN" >"$LAB_DIR/api.json" &
f=$!; during "API abuse"; wait "$f"; sleep 1
m=$(lab_metrics)
echo "        clients: $(cat "$LAB_DIR/api.json")"
got() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$LAB_DIR/api.json" "$1"; }
check "the API answered only 401 and 400 ($(got other) others)" test "$(got other)" -eq 0
check "API: every 401 counted ($(got 401))" test "$(( $(ev api_refused_token "$m") - $(ev api_refused_token "$m0") ))" -eq "$(got 401)"
# The ecmpctl reads of `during` are GETs: no write but the flood's.
check "API: every 400 counted ($(got 400))" test "$(( $(ev api_write_failed "$m") - $(ev api_write_failed "$m0") ))" -eq "$(got 400)"
check "API: $(got per_s) requests/s, at least $MIN_RATE" test "$(got per_s)" -ge "$MIN_RATE"
# One source, half of each.
limited "API bad tokens" api_refused api_refused_token "missing or wrong token (401)" \
    "$(ev api_refused_token "$m0")" "$l0" "$(sup api_refused "$m0")" "$m" $((MIN_RATE * SECS / 2))
limited "API bad bodies" api_write api_write_failed "API write" \
    "$(ev api_write_failed "$m0")" "$w0" "$(sup api_write "$m0")" "$m" $((MIN_RATE * SECS / 2))

grown=$(( $(wc -l <"$LAB_DIR/router.log") - log0 ))
echo "        the log grew by $grown lines; its last ones:"
tail -n 4 "$LAB_DIR/router.log" | sed 's/^/        /'
check "the router's log grew by at most 300 lines in all ($grown)" test "$grown" -le 300
sleep 5
check "each kind's summary line came once its interval was over" bash -c "grep -c 'lines suppressed in the last 5 s' '$LAB_DIR/router.log' | awk '\$1 >= 4 { ok=1 } END { exit !ok }'"
check "the router still forwards: 200 connections" bash -c "lab_ns() { ip netns exec \"\$@\"; }; ip netns exec $LAB_NS_CLIENT python3 $LAB_ROOT/deploy/lab/tcp_split.py $ANYCAST4 $SERVICE_PORT 200 16 | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)[\"failed\"])'"
check "and its gateways are up" _lab_gateways_up
check "promtool accepts the metrics" bash -c "lab_metrics() { curl -sf http://127.0.0.1:$LAB_API_PORT/metrics; }; lab_metrics | promtool check metrics"
finish
