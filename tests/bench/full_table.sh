#!/usr/bin/env bash
# Full-table load through the real router: a config with the whole table, then
# the same table pushed over FPM into a router started without it. Reports the
# time until the dataplane FIB holds every prefix, and the router's RSS.
#
#   bash tests/bench/full_table.sh                 # 1,000,000 IPv4 + 250,000 IPv6
#   V4=100000 V6=25000 bash tests/bench/full_table.sh
#
# The ports are net_null with no-rx=1 (without it, net_null hands the router
# its own transmitted frames back: its ARP requests, claims of its own
# address); gateways stay unresolved, which changes nothing for loading. The
# table comes from dataplane::tablegen.
#
# A third phase pushes the same table over FPM while a host floods a third
# port (net_tap) with ARP and NDP at $PPS packets/s (default 60,000): claims of
# the router's addresses, requests for random addresses, gratuitous replies,
# NAs and NSs (deploy/lab/flood.py), and reports both FPM rates.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${V4:=1000000}" "${V6:=250000}" "${PPS:=60000}"
cd "$ROOT"
cargo build --release --quiet -p router
cargo build --release --quiet -p control --example table_scale
DIR=$(mktemp -d /tmp/ecmp-full-table.XXXXXX)
PIDS=()
# A killed process's status (143) must not end the cleanup under set -e.
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done; rm -rf "$DIR"; }
trap cleanup EXIT
PORT=$(( 20000 + ($$ % 4000) * 3 ))   # below the ephemeral range
head() { # NAME EXTRA
    cat <<YAML
eal: [--no-huge, --no-shconf, --no-pci, -m, "512", --file-prefix, ft$1$$]
ports:
  - { name: up1, device: "net_null_ft$1$$0,no-rx=1", addresses: [10.1.0.1/24, fd01::1/64] }
  - { name: up2, device: "net_null_ft$1$$1,no-rx=1", addresses: [10.2.0.1/24, fd02::1/64] }
${4:-}
nexthop-groups:
  - name: transit4
    nexthops: [{ via: 10.1.0.2, port: up1 }, { via: 10.2.0.2, port: up2, weight: 2 }]
  - name: transit6
    nexthops: [{ via: 'fd01::2', port: up1 }, { via: 'fd02::2', port: up2, weight: 2 }]
api: { listen: 127.0.0.1:$2 }
$3
YAML
}
metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'; }
rss() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# The FIB also holds each port's subnet and own address: 4 prefixes per family here.
wait_routes() { # API_PORT WANT4 WANT6 PID
    local t0=$SECONDS n4 n6
    while :; do
        n4=$(metric "$1" 'ecmp_router_fib_routes{family="ipv4"}' 2>/dev/null || true)
        n6=$(metric "$1" 'ecmp_router_fib_routes{family="ipv6"}' 2>/dev/null || true)
        [ "${n4:-0}" -ge "$2" ] && [ "${n6:-0}" -ge "$3" ] && break
        kill -0 "$4" || { echo "router died"; exit 1; }
        sleep 0.2
    done
}

head c "$PORT" "" >"$DIR/head.yaml"
./target/release/examples/table_scale --v4 "$V4" --v6 "$V6" --head "$DIR/head.yaml" --write-yaml "$DIR/table.yaml"
./target/release/examples/table_scale --v4 "$V4" --v6 "$V6" --write-prefixes "$DIR/prefixes.txt" >/dev/null
n4=$(grep -vc : "$DIR/prefixes.txt"); n6=$(grep -c : "$DIR/prefixes.txt")

echo "-- config: $n4 IPv4 + $n6 IPv6 routes in the YAML"
start=$(date +%s.%N)
RUST_LOG=warn ./target/release/ecmp-router --config "$DIR/table.yaml" >"$DIR/config.log" 2>&1 &
PIDS+=($!); pid=$!
wait_routes "$PORT" "$((n4 + 4))" "$((n6 + 4))" "$pid"
t=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
echo "   start to full FIB: ${t} s; router RSS $(rss "$pid") MiB"
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait "$pid" 2>/dev/null || true; PIDS=()

# fpm_push TAG GO SENDER...: a router started empty, then SENDER (which
# writes GO.ready and sends once GO exists) pushes the table over FPM; prints
# the time from GO to a full FIB, the rate and the RSS; sets fpm_rate.
fpm_push() {
    local tag=$1 go=$2; shift 2
    head "$tag" "$((PORT + 1))" "fpm: { listen: 127.0.0.1:$((PORT + 2)) }" >"$DIR/$tag.yaml"
    RUST_LOG=warn ./target/release/ecmp-router --config "$DIR/$tag.yaml" >"$DIR/$tag.log" 2>&1 &
    PIDS+=($!); pid=$!
    until curl -sf "http://127.0.0.1:$((PORT + 1))/metrics" >/dev/null; do kill -0 "$pid"; sleep 0.2; done
    base=$(rss "$pid")
    # The messages are encoded first; the clock starts when they are sent.
    "$@" >"$DIR/push-$tag.json" &
    PIDS+=($!)
    until [ -e "$go.ready" ]; do sleep 0.2; done
    start=$(date +%s.%N)
    touch "$go"
    wait_routes "$((PORT + 1))" "$((n4 + 4))" "$((n6 + 4))" "$pid"
    t=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
    fpm_rate=$(python3 -c "print(round(($n4 + $n6) / $t))")
    echo "   first message to full FIB: ${t} s (${fpm_rate} routes/s, sent as fast as the router reads); RSS ${base} -> $(rss "$pid") MiB"
    echo "   sender: $(tail -1 "$DIR/push-$tag.json")"
    echo "   publications: $(metric "$((PORT + 1))" 'ecmp_router_control_events_total{event="fib_publish"}')"
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait "$pid" 2>/dev/null || true; PIDS=()
}

echo "-- FPM: the same routes pushed into a running router (inline RTA_MULTIPATH, Python sender)"
fpm_push f "$DIR/go-fpm" python3 deploy/lab/churn.py fpm-table "127.0.0.1:$((PORT + 2))" "wait=$DIR/go-fpm" "$DIR/prefixes.txt"
py_rate=$fpm_rate
echo "-- FPM: the same routes from a Rust sender, as zebra sends them (nexthop objects, RTA_NH_ID)"
fpm_push r "$DIR/go-rust" ./target/release/examples/table_scale --v4 "$V4" --v6 "$V6" --send "127.0.0.1:$((PORT + 2))" --wait "$DIR/go-rust"
fpm_rate=$py_rate

echo "-- FPM under an ARP/NDP flood of ${PPS} packets/s on a third port"
TAP=ftflood$$
head g "$((PORT + 1))" "fpm: { listen: 127.0.0.1:$((PORT + 2)) }" \
    "  - { name: flood, device: \"net_tap_ftg$$,iface=$TAP\", addresses: [10.3.0.1/24, fd03::1/64] }" >"$DIR/flood.yaml"
RUST_LOG=warn ./target/release/ecmp-router --config "$DIR/flood.yaml" >"$DIR/flood.log" 2>&1 &
PIDS+=($!); pid=$!
until curl -sf "http://127.0.0.1:$((PORT + 1))/metrics" >/dev/null; do kill -0 "$pid"; sleep 0.2; done
ip link set "$TAP" up
RMAC=$(cat "/sys/class/net/$TAP/address")
python3 deploy/lab/flood.py "$TAP" "$RMAC" 10.3.0.1 3600 arp-claim,arp-request,arp-garp,na-claim,ns \
    net=10.3.0.0 ip6=fd03::1 pps="$PPS" >/dev/null &
PIDS+=($!)
sleep 2
python3 deploy/lab/churn.py fpm-table "127.0.0.1:$((PORT + 2))" "wait=$DIR/go-flood" "$DIR/prefixes.txt" >"$DIR/push-flood.json" &
PIDS+=($!)
until [ -e "$DIR/go-flood.ready" ]; do sleep 0.2; done
rx0=$(metric "$((PORT + 1))" 'ecmp_router_port_rx_packets_total{port="flood"}')
start=$(date +%s.%N)
touch "$DIR/go-flood"
wait_routes "$((PORT + 1))" "$((n4 + 4))" "$((n6 + 4))" "$pid"
t=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
rx1=$(metric "$((PORT + 1))" 'ecmp_router_port_rx_packets_total{port="flood"}')
flood_rate=$(python3 -c "print(round(($n4 + $n6) / $t))")
echo "   first message to full FIB: ${t} s (${flood_rate} routes/s) while the port received $(python3 -c "print(round(($rx1 - $rx0) / $t))") packets/s"
echo "   claims counted: $(metric "$((PORT + 1))" 'ecmp_router_control_events_total{event="own_address_claim"}'), log lines suppressed: $(metric "$((PORT + 1))" 'ecmp_router_log_suppressed_total{kind="address_claim"}'), router log: $(wc -l <"$DIR/flood.log") lines"
echo "   FPM rate under the flood / without: $(python3 -c "print(round($flood_rate / $fpm_rate, 3))")"
