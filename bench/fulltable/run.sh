#!/usr/bin/env bash
# Full Internet tables from real BGP sessions: two transit peers announce the
# same table to FRR's bgpd, once with the Linux kernel as FRR's dataplane and
# once with this router (zebra over FPM), one after the other in the same run.
#
#   bash bench/fulltable/run.sh                       # 1,000,000 IPv4 + 250,000 IPv6
#   V4=80000 V6=20000 bash bench/fulltable/run.sh     # what CI runs (tests/e2e/full_table_bgp.sh)
#
# - The table: dataplane::tablegen (realistic prefix lengths), AS paths of 2-5
#   ASes drawn per allocation, equal for both transits (bench/fulltable/feed.py,
#   UPDATEs encoded before the clock starts).
# - FRR: zebra and bgpd on the edge's host, `maximum-paths 2` in both
#   families, nothing announced back to the transits (a route-map that denies).
# - The kernel run: namespace K with veths to two transit namespaces; zebra
#   without FPM; bench/fulltable/kmon.py watches K's FIB over netlink.
# - The router run: the router with kernel interfaces (net_tap ports whose
#   other end is in each transit's namespace, and one for hosts), zebra with
#   dplane_fpm_nl; the router's metrics say how many routes it holds and how
#   many use a group of two members (ecmp_router_group_routes).
# - CPU: FRR, the feeders and the watchers run on CPU 0 in both runs; the
#   router's worker lcore spins on CPU 1 (a DPDK worker owns its core).
# - Then transit 1 is killed (its socket closes, bgpd sees it at once) while
#   a host streams UDP to 1,000 of the table's prefixes through the router:
#   the time until no route uses transit 1, the FPM messages that took, and
#   the packets that still went to transit 1 (lost).
# - Before that, churn: transit 2 withdraws and re-announces CHURN_RATE
#   prefixes a second (default 10,000) for CHURN_SECONDS (default 60) while
#   the stream runs to prefixes churn never touches: the packets lost
#   (counted where they arrive, bench/fulltable/count.py) and the router's RSS.
#
# Output: a summary, $OUT/result.json, the samples ($OUT/kernel.txt,
# $OUT/router.txt: time, routes, multipath routes) and $OUT/fill.svg, the
# routes per second of both runs. OUT defaults to a temporary directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/fulltable
: "${V4:=1000000}" "${V6:=250000}" "${PPS:=10000}" "${TIMEOUT:=600}" "${CHURN_RATE:=10000}" "${CHURN_SECONDS:=60}"
source "$ROOT/deploy/lab/lib.sh"
cd "$ROOT"
[ -x /usr/lib/frr/bgpd ] || { echo "FRR is not installed (bash scripts/setup.sh)"; exit 1; }
cargo build --release --quiet -p router
cargo build --release --quiet -p control --example table_scale
lab_init fulltable
OUT=${OUT:-$LAB_DIR}
mkdir -p "$OUT"
LAB_FRRDIRS=()
cleanup() { local rc=$? d; for d in "${LAB_FRRDIRS[@]:-}"; do [ -z "$d" ] || rm -rf "$d"; done; (exit $rc); lab_down; }
trap cleanup EXIT
C0="taskset -c 0"

./target/release/examples/table_scale --v4 "$V4" --v6 "$V6" --write-prefixes "$LAB_DIR/prefixes.txt" >/dev/null
N=$(wc -l <"$LAB_DIR/prefixes.txt")
echo "-- table: $N prefixes ($(grep -vc : "$LAB_DIR/prefixes.txt") IPv4, $(grep -c : "$LAB_DIR/prefixes.txt") IPv6)"

# frrdir NAME: FRR's run directory for pathspace NAME, in $d (removed at exit).
frrdir() { d=/var/run/frr/$1; mkdir -p "$d"; chown frr:frr "$d"; LAB_FRRDIRS+=("$d"); }
bgpd_conf() { # DIR
    cat >"$1/bgpd.conf" <<C
hostname edge
router bgp 65001
 bgp router-id 10.255.0.1
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 neighbor 10.1.0.2 remote-as 65100
 neighbor 10.2.0.2 remote-as 65200
 address-family ipv4 unicast
  maximum-paths 2
  neighbor 10.1.0.2 route-map transit-out out
  neighbor 10.2.0.2 route-map transit-out out
 exit-address-family
 address-family ipv6 unicast
  neighbor 10.1.0.2 activate
  neighbor 10.2.0.2 activate
  neighbor 10.1.0.2 route-map transit-out out
  neighbor 10.2.0.2 route-map transit-out out
  maximum-paths 2
 exit-address-family
exit
route-map transit-out deny 10
exit
C
}
# start_frr NS NAME [FPM_PORT]: zebra (with dplane_fpm_nl when FPM_PORT) and bgpd.
start_frr() {
    local ns=$1 name=$2 fpm=${3:-} d
    frrdir "$name"
    echo "hostname edge" >"$d/zebra.conf"
    [ -z "$fpm" ] || echo "fpm address 127.0.0.1 port $fpm" >>"$d/zebra.conf"
    bgpd_conf "$d"
    chown frr:frr "$d"/*.conf
    ip netns exec "$ns" $C0 /usr/lib/frr/zebra ${fpm:+-M dplane_fpm_nl} -f "$d/zebra.conf" -N "$name" -u frr -g frr -i "$d/zebra.pid" >"$d/zebra.out" 2>&1 &
    LAB_PIDS+=($!); ZEBRA_PID=$!
    lab_wait 10 "zebra" test -S "$d/zebra.vty"
    ip netns exec "$ns" $C0 /usr/lib/frr/bgpd -f "$d/bgpd.conf" -N "$name" -u frr -g frr -i "$d/bgpd.pid" >"$d/bgpd.out" 2>&1 &
    LAB_PIDS+=($!); BGPD_PID=$!
}
# start_feeders NS1 NS2: one feeder per transit namespace, waiting for $LAB_DIR/go.
start_feeders() {
    local k ns
    rm -f "$LAB_DIR/go" "$LAB_DIR"/stamp*
    FEEDERS=()
    for k in 1 2; do
        ns=${!k}
        ip netns exec "$ns" $C0 python3 "$HERE/feed.py" --prefixes "$LAB_DIR/prefixes.txt" --as "65${k}00" \
            --peer "10.$k.0.1" --peer-as 65001 --nexthop "10.$k.0.2" --nexthop6 "fd0$k::2" \
            --wait "$LAB_DIR/go" --stamp "$LAB_DIR/stamp$k" ${FEED_EXTRA[$k]:-} >"$LAB_DIR/feed$k-$ns.log" 2>&1 &
        LAB_PIDS+=($!); FEEDERS+=($!)
    done
}
established() { # NS NAME
    [ "$(ip netns exec "$1" vtysh -N "$2" -c 'show bgp ipv4 unicast summary json' 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for p in d.get("peers", {}).values() if p.get("state") == "Established"))' 2>/dev/null)" = 2 ]
}
rss() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# cpu PID: CPU seconds its threads used, but the DPDK workers' (they spin).
cpu() {
    local t sum=0 comm
    for t in /proc/$1/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null) || continue
        case "$comm" in rte-worker*|lcore-worker*) continue ;; esac
        sum=$((sum + $(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null || echo 0)))
    done
    python3 -c "print(round($sum / $(getconf CLK_TCK), 1))"
}
cpu_delta() { python3 -c "print(round($2 - $1, 1))"; }
first_update() { cat "$LAB_DIR"/stamp* 2>/dev/null | sort -n | head -1; }
# wait_full FILE: until a sample of FILE has every prefix with two nexthops; prints its time.
wait_full() {
    local end=$((SECONDS + TIMEOUT))
    while [ $SECONDS -lt $end ]; do
        t=$(awk -v n="$N" '$1 !~ /^#/ && $3 >= n { print $1; exit }' "$1")
        [ -n "$t" ] && { echo "$t"; return 0; }
        sleep 0.2
    done
    echo "timed out after $TIMEOUT s: $(tail -1 "$1")" >&2
    return 1
}

# gone_after FILE T0: until a sample taken after T0 has every prefix and none
# on two nexthops; prints the seconds from T0.
gone_after() {
    local end=$((SECONDS + TIMEOUT)) t routes multi
    while [ $SECONDS -lt $end ]; do
        read -r t routes multi < <(grep -v '^#' "$1" | tail -1)
        if [ "$multi" = 0 ] && [ "$routes" -ge "$N" ] && python3 -c "import sys; sys.exit(0 if $t > $2 else 1)"; then
            python3 -c "print(round($t - $2, 2))"
            return 0
        fi
        sleep 0.1
    done
    echo "timed out: $(tail -1 "$1")" >&2
    return 1
}

# ---------------------------------------------------------------- the kernel
echo "-- kernel: zebra alone, FIB in namespace K [at ${SECONDS} s]"
K=$LAB_TAG-k; KT1=$LAB_TAG-kt1; KT2=$LAB_TAG-kt2
for ns in "$K" "$KT1" "$KT2"; do ip netns add "$ns"; LAB_NAMESPACES+=("$ns"); ip -n "$ns" link set lo up; done
for k in 1 2; do
    t=$LAB_TAG-kt$k
    ip link add "${LAB_TAG}k$k" netns "$K" type veth peer name tr netns "$t"
    ip -n "$K" link set "${LAB_TAG}k$k" up
    ip -n "$K" addr add "10.$k.0.1/24" dev "${LAB_TAG}k$k"
    ip -n "$K" addr add "fd0$k::1/64" dev "${LAB_TAG}k$k" nodad
    ip -n "$t" link set tr up
    ip -n "$t" addr add "10.$k.0.2/24" dev tr
    ip -n "$t" addr add "fd0$k::2/64" dev tr nodad
done
ip netns exec "$K" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
start_feeders "$KT1" "$KT2"
start_frr "$K" "$LAB_TAG-k"
lab_wait 120 "both kernel-side sessions" established "$K" "$LAB_TAG-k"
ip netns exec "$K" $C0 python3 "$HERE/kmon.py" >"$OUT/kernel.txt" &
LAB_PIDS+=($!); KMON=$!
sleep 1
c0=("$(cpu "$ZEBRA_PID")" "$(cpu "$BGPD_PID")")
touch "$LAB_DIR/go"
kt=$(wait_full "$OUT/kernel.txt")
K_CPU_ZEBRA=$(cpu_delta "${c0[0]}" "$(cpu "$ZEBRA_PID")"); K_CPU_BGPD=$(cpu_delta "${c0[1]}" "$(cpu "$BGPD_PID")")
k0=$(first_update)
K_SECONDS=$(python3 -c "print(round($kt - $k0, 2))")
K_ZEBRA=$(rss "$ZEBRA_PID"); K_BGPD=$(rss "$BGPD_PID")
grep -q overrun "$OUT/kernel.txt" && echo "   (the kernel watcher fell behind: its times are late)"
echo "   first UPDATE to full FIB: $K_SECONDS s; zebra $K_ZEBRA MiB, bgpd $K_BGPD MiB; CPU s: zebra $K_CPU_ZEBRA, bgpd $K_CPU_BGPD"
# The same failover as the router's below: transit 1 killed, until no route uses it.
kt0=$(date +%s.%N)
kill -9 "${FEEDERS[0]}"
KF_SECONDS=$(gone_after "$OUT/kernel.txt" "$kt0") || KF_SECONDS=null
echo "   transit 1 killed: no route on it after $KF_SECONDS s"
kill "$KMON" "${FEEDERS[@]}" "$BGPD_PID" "$ZEBRA_PID" 2>/dev/null || true
wait "$KMON" "${FEEDERS[@]}" "$BGPD_PID" "$ZEBRA_PID" 2>/dev/null || true
for ns in "$K" "$KT1" "$KT2"; do ip netns del "$ns"; done
LAB_NAMESPACES=()

# ---------------------------------------------------------------- the router
echo "-- router: zebra over FPM [at ${SECONDS} s]"
R=$LAB_TAG-r; H=$LAB_TAG-h; T1=$LAB_TAG-t1; T2=$LAB_TAG-t2
for ns in "$R" "$H" "$T1" "$T2"; do ip netns add "$ns"; LAB_NAMESPACES+=("$ns"); ip -n "$ns" link set lo up; done
API=$LAB_API_PORT; FPM=$((LAB_API_PORT + 1))
cat >"$LAB_DIR/router.yaml" <<YAML
eal: [--no-huge, --no-shconf, --no-pci, -m, "512", --file-prefix, ${LAB_TAG}ft]
kernel-interfaces: true
ports:
  - { name: transit1, device: "net_tap_${LAB_TAG}0,iface=${LAB_TAG}w1", addresses: [10.1.0.1/24, fd01::1/64] }
  - { name: transit2, device: "net_tap_${LAB_TAG}1,iface=${LAB_TAG}w2", addresses: [10.2.0.1/24, fd02::1/64] }
  - { name: hosts, device: "net_tap_${LAB_TAG}2,iface=${LAB_TAG}wh", addresses: [10.100.0.1/24] }
fpm: { listen: 127.0.0.1:$FPM }
api: { listen: 127.0.0.1:$API }
YAML
RUST_LOG=warn ip netns exec "$R" ./target/release/ecmp-router --config "$LAB_DIR/router.yaml" >"$LAB_DIR/router.log" 2>&1 &
LAB_ROUTER_PID=$!
lab_wait 30 "the router's API" ip netns exec "$R" curl -sf "http://127.0.0.1:$API/metrics" -o /dev/null
for k in 1 2 h; do lab_wait 10 "${LAB_TAG}w$k" ip -n "$R" link show "${LAB_TAG}w$k"; done
for k in 1 2; do
    t=$LAB_TAG-t$k
    ip -n "$R" link set "${LAB_TAG}w$k" netns "$t"
    ip -n "$t" link set "${LAB_TAG}w$k" address "02:00:00:00:0$k:02" up
    ip -n "$t" addr add "10.$k.0.2/24" dev "${LAB_TAG}w$k"
    ip -n "$t" addr add "fd0$k::2/64" dev "${LAB_TAG}w$k" nodad
done
ip -n "$R" link set "${LAB_TAG}wh" netns "$H"
ip -n "$H" link set "${LAB_TAG}wh" address 02:00:00:00:64:02 up
ip -n "$H" addr add 10.100.0.2/24 dev "${LAB_TAG}wh"
ip -n "$H" route add default via 10.100.0.1
# The stream's 1,000 prefixes (IPv4), which churn never touches.
grep -v : "$LAB_DIR/prefixes.txt" | awk 'NR % int('"$N"' / 1000 + 1) == 0' | head -1000 >"$LAB_DIR/targets.txt"
FEED_EXTRA=([2]="--churn-go $LAB_DIR/churn --churn-rate $CHURN_RATE --churn-seconds $CHURN_SECONDS --churn-prefixes $((N / 25)) --stable $LAB_DIR/targets.txt")
start_feeders "$T1" "$T2"
FEED_EXTRA=()
start_frr "$R" "$LAB_TAG-r" "$FPM"
lab_wait 120 "both router-side sessions" established "$R" "$LAB_TAG-r"
# The router's samples: time, FIB routes (minus its own connected and local
# ones, counted at the start), routes on groups of two members or more.
python3 - "$API" "$R" >"$OUT/router.txt" <<'PY' &
import re, subprocess, sys, time
api, ns = sys.argv[1:]
base = None
while True:
    try:
        m = subprocess.run(["ip", "netns", "exec", ns, "curl", "-sf", f"http://127.0.0.1:{api}/metrics"], capture_output=True, text=True, timeout=5).stdout
    except subprocess.TimeoutExpired:
        continue
    routes = sum(float(v) for v in re.findall(r'^ecmp_router_fib_routes\{[^}]*\} (\S+)', m, re.M))
    members = {g: float(v) for g, v in re.findall(r'^ecmp_router_group_members\{[^}]*group="([^"]*)"[^}]*\} (\S+)', m, re.M)}
    multi = sum(float(v) for g, v in re.findall(r'^ecmp_router_group_routes\{[^}]*group="([^"]*)"[^}]*\} (\S+)', m, re.M) if members.get(g, 0) >= 2)
    if base is None:
        base = routes
    print(f"{time.time():.3f} {int(routes - base)} {int(multi)}", flush=True)
    time.sleep(0.2)
PY
LAB_PIDS+=($!)
R_BASE=$(rss "$LAB_ROUTER_PID")
lab_wait 30 "zebra's FPM session" bash -c "ip netns exec $R curl -sf http://127.0.0.1:$API/metrics | grep -q '^ecmp_router_fpm_connected 1'"
sleep 1
c0=("$(cpu "$ZEBRA_PID")" "$(cpu "$BGPD_PID")" "$(cpu "$LAB_ROUTER_PID")")
touch "$LAB_DIR/go"
rt=$(wait_full "$OUT/router.txt") || { ip netns exec "$R" curl -sf "http://127.0.0.1:$API/metrics" | grep -E '^ecmp_router_(group|fib_routes|rib)' | head -20 >&2; exit 1; }
r0=$(first_update)
R_SECONDS=$(python3 -c "print(round($rt - $r0, 2))")
R_RSS=$(rss "$LAB_ROUTER_PID"); R_ZEBRA=$(rss "$ZEBRA_PID"); R_BGPD=$(rss "$BGPD_PID")
R_CPU_ZEBRA=$(cpu_delta "${c0[0]}" "$(cpu "$ZEBRA_PID")"); R_CPU_BGPD=$(cpu_delta "${c0[1]}" "$(cpu "$BGPD_PID")")
R_CPU=$(cpu_delta "${c0[2]}" "$(cpu "$LAB_ROUTER_PID")")
ip netns exec "$R" vtysh -N "$LAB_TAG-r" -c "show fpm counters json" >"$OUT/fpm-counters.json" 2>/dev/null || true
echo "   first UPDATE to full FIB: $R_SECONDS s; router $R_RSS MiB ($R_BASE MiB before the table), zebra $R_ZEBRA MiB, bgpd $R_BGPD MiB; CPU s: router $R_CPU, zebra $R_CPU_ZEBRA, bgpd $R_CPU_BGPD"

# ---------------------------------------------------------------- churn
num() { cat "$1" 2>/dev/null || echo 0; }
ip netns exec "$H" python3 "$HERE/stream.py" "$LAB_DIR/targets.txt" "$PPS" "$LAB_DIR/sent" &
STREAM=$!; LAB_PIDS+=($!)
for k in 1 2; do
    ip netns exec "$LAB_TAG-t$k" python3 "$HERE/count.py" "${LAB_TAG}w$k" "$LAB_DIR/got$k" &
    LAB_PIDS+=($!)
done
got() { echo $(( $(num "$LAB_DIR/got1") + $(num "$LAB_DIR/got2") )); }
sleep 3
echo "-- churn: transit 2 withdraws and re-announces $CHURN_RATE prefixes/s for $CHURN_SECONDS s, $PPS packets/s to 1,000 stable prefixes [at ${SECONDS} s]"
C_RSS0=$(rss "$LAB_ROUTER_PID"); C_MAX=$C_RSS0
# pause_counts: pauses the stream and waits for what is in flight; sets SENT and GOT.
pause_counts() { kill -USR1 "$STREAM"; sleep 0.5; SENT=$(num "$LAB_DIR/sent"); GOT=$(got); }
pause_counts; s0=$SENT; g0=$GOT; kill -USR1 "$STREAM"
touch "$LAB_DIR/churn"
end=$(python3 -c "print(int($SECONDS + $CHURN_SECONDS + 1))")
while [ $SECONDS -lt "$end" ]; do
    r=$(rss "$LAB_ROUTER_PID"); [ "$r" -gt "$C_MAX" ] && C_MAX=$r
    sleep 1
done
lab_wait 30 "the churn's end" grep -q churned "$LAB_DIR/feed2-$T2.log" || true
pause_counts; s1=$SENT; g1=$GOT; kill -USR1 "$STREAM"
C_RSS1=$(rss "$LAB_ROUTER_PID")
C_SENT=$((s1 - s0)); C_LOST=$((C_SENT - (g1 - g0)))
C_CHANGES=$(sed -n 's/.*churned \([0-9]*\) changes in \([0-9.]*\) s.*/\1/p' "$LAB_DIR/feed2-$T2.log")
echo "   $(grep churned "$LAB_DIR/feed2-$T2.log" | sed 's/^feed: //'); stream: $C_SENT sent, $C_LOST lost; router RSS $C_RSS0 -> $C_RSS1 MiB (max $C_MAX)"

# ---------------------------------------------------------------- failover
echo "-- transit 1 killed, $PPS packets/s to 1,000 prefixes through the router [at ${SECONDS} s]"
fpm_msgs() { ip netns exec "$R" curl -sf "http://127.0.0.1:$API/metrics" | awk '/^ecmp_router_control_events_total\{event="fpm_(nexthop_)?message"\}/ { s += $2 } END { print s + 0 }'; }
m0=$(fpm_msgs); d0=$(num "$LAB_DIR/got1")
kt0=$(date +%s.%N)
kill -9 "${FEEDERS[0]}"
F_SECONDS=$(gone_after "$OUT/router.txt" "$kt0") || { tail -1 "$OUT/router.txt"; exit 1; }
sleep 0.3
d1=$(num "$LAB_DIR/got1"); e1=$(num "$LAB_DIR/got2")
sleep 1
d2=$(num "$LAB_DIR/got1"); e2=$(num "$LAB_DIR/got2"); m1=$(fpm_msgs)
kill "$STREAM" 2>/dev/null || true
F_AFTER=$((d2 - d1)); F_SURVIVOR=$((e2 - e1))
F_MSGS=$((m1 - m0)); F_LOST=$((d2 - d0))
echo "   no route on transit 1 after $F_SECONDS s (sampled every 0.2 s); $F_MSGS FPM messages; $F_LOST packets still sent to transit 1"
echo "   the second after: $F_AFTER packets to transit 1, $F_SURVIVOR to transit 2"

python3 "$HERE/plot.py" "$OUT/fill.svg" "$N" "$OUT/kernel.txt" "$k0" "$OUT/router.txt" "$r0"
cat >"$OUT/result.json" <<J
{"prefixes": $N, "kernel_seconds": $K_SECONDS, "kernel_zebra_mib": $K_ZEBRA, "kernel_bgpd_mib": $K_BGPD,
 "kernel_cpu": {"zebra": $K_CPU_ZEBRA, "bgpd": $K_CPU_BGPD}, "router_cpu": {"router": $R_CPU, "zebra": $R_CPU_ZEBRA, "bgpd": $R_CPU_BGPD},
 "router_seconds": $R_SECONDS, "router_mib": $R_RSS, "router_base_mib": $R_BASE, "router_zebra_mib": $R_ZEBRA, "router_bgpd_mib": $R_BGPD,
 "ratio": $(python3 -c "print(round($R_SECONDS / $K_SECONDS, 2))"),
 "kernel_failover_seconds": $KF_SECONDS, "failover_seconds": $F_SECONDS, "failover_fpm_messages": $F_MSGS, "failover_lost_packets": $F_LOST,
 "after_failover_packets": {"transit1": $F_AFTER, "transit2": $F_SURVIVOR},
 "churn": {"rate": $CHURN_RATE, "seconds": $CHURN_SECONDS, "changes": ${C_CHANGES:-0}, "stream_sent": $C_SENT, "stream_lost": $C_LOST,
           "router_mib_before": $C_RSS0, "router_mib_after": $C_RSS1, "router_mib_max": $C_MAX}}
J
cat "$OUT/result.json"
