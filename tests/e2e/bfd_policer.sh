#!/usr/bin/env bash
# BFD and control-plane policing on the leaf (issue 14), through the
# router's own ports: the leaf lab of tests/e2e/leaf_bgp.sh with BFD on
# every BGP session (bfdd, 100 ms x 3) and a hold time of 9 s.
#
# 1. Floods: TCP SYNs to the router's addresses on ports 22 and 179 and UDP
#    to closed ports, from random sources on the hosts' side, as fast as the
#    lab sends (three senders). The BGP sessions stay established and
#    BFD does not flap; the rate at the router's rx and the policer's
#    counters per class are reported.
# 2. BFD failover, REPEAT times (default 10): a spine silently stops
#    forwarding (tc drops everything on its link, BFD included; no carrier
#    change) under a UDP stream to the service. The time from then to the
#    last stream packet the router sends through that spine, captured at
#    the spine, is under 1 s; median and max are reported.
source "$(dirname "$0")/../kit/e2e.sh"
source "$ROOT/deploy/lab/leaf.sh"
[ -x /usr/lib/frr/bfdd ] || { echo "FRR's bfdd is not installed (bash scripts/setup.sh)"; exit 1; }
lab_init bfd
trap 'leaf_down; lab_down' EXIT
REPEAT=${BFD_REPEAT:-10}
FLOOD_S=${FLOOD_SECONDS:-20}
export LEAF_BFD=1
leaf_up
metrics() { ip netns exec "$LEAF_NS" curl -sf "http://127.0.0.1:$LEAF_API/metrics"; }
metric() { metrics | awk -v k="$1" '$1 == k {print $2}'; }
mac_of() { leaf_api ports | python3 -c "import json,sys; print([p['mac'] for p in json.load(sys.stdin) if p['name'] == '$1'][0])"; }
lab_wait 90 "both BGP sessions" leaf_sessions_up || leaf_vtysh leaf -c "show bgp summary" || true
lab_wait 30 "both BFD sessions" bash -c "[ \"\$(LAB_TAG=$LAB_TAG LEAF_NS=$LEAF_NS; source $ROOT/deploy/lab/leaf.sh; leaf_bfd_up leaf)\" = 2 ]" || leaf_vtysh leaf -c "show bfd peers brief" || true
check "BGP and BFD are up with both spines, through the router's ports" bash -c "[ \"\$(LAB_TAG=$LAB_TAG LEAF_NS=$LEAF_NS; source $ROOT/deploy/lab/leaf.sh; leaf_bfd_up leaf)\" = 2 ]"
lab_wait 30 "the service route" bash -c "[ \"\$(ip netns exec $LEAF_NS curl -sf 'http://127.0.0.1:$LEAF_API/api/v1/routes?prefix=203.0.113.0/24' | grep -o '10\.[12]\.0\.2' | sort -u | wc -l)\" = 2 ]" || true

# Session state that a flap would change: BGP's established counts and BFD's down events.
bgp_established() { leaf_vtysh leaf -c 'show bgp neighbors json' | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join("%s=%s/up%s/down%s" % (k, v.get("bgpState"), v.get("connectionsEstablished"), v.get("connectionsDropped")) for k, v in sorted(d.items())))'; }
bfd_downs() { leaf_vtysh leaf -c 'show bfd peers counters json' | python3 -c 'import json,sys; print(sum(p.get("session-down", 0) for p in json.load(sys.stdin)))'; }

echo "-- floods for $FLOOD_S s"
before_bgp=$(bgp_established); before_bfd=$(bfd_downs)
hosts_if=${LAB_TAG}wh; rx0=$(metric 'ecmp_router_port_rx_packets_total{port="hosts"}'); rx20=0
miss0=$(metric 'ecmp_router_port_rx_dropped_total{port="hosts"}')
[ -z "${BFD_DEBUG:-}" ] || { ip netns exec "$LEAF_NS" tcpdump -Z root -i spine2 -n -l -tt 'tcp port 179' >"$LAB_DIR/bgp2.txt" 2>/dev/null & LAB_PIDS+=($!); ip netns exec "${LEAF_SPINE_NS[2]}" tcpdump -Z root -i "${LAB_TAG}w2" -n -l -tt 'tcp port 179' >"$LAB_DIR/bgp2s.txt" 2>/dev/null & LAB_PIDS+=($!); }
# (A session lost here once with every BGP packet admitted: the host's BFD,
# sent with TTL 255, had marked the spine a GTSM peer, so the spine's BGP,
# sent with TTL 1, was `other` and policed. dataplane::punt's tests hold it.)
ip netns exec "$LEAF_HOSTS_NS" python3 "$ROOT/deploy/lab/flood.py" "$hosts_if" "$(mac_of hosts)" 10.100.0.1 "$FLOOD_S" syn22,syn179,udp >"$LAB_DIR/flood1.json" &
f1=$!
ip netns exec "$LEAF_HOSTS_NS" python3 "$ROOT/deploy/lab/flood.py" "$hosts_if" "$(mac_of hosts)" 10.100.0.1 "$FLOOD_S" syn179,syn22 >"$LAB_DIR/flood2.json" &
f2=$!
# Strangers to the spine ports' addresses too (SYNs to 179 that are not from
# the peers), from the hosts' side: a flood on the peer's own link would
# saturate that link before the router (the lab's taps drop there).
ip netns exec "$LEAF_HOSTS_NS" python3 "$ROOT/deploy/lab/flood.py" "$hosts_if" "$(mac_of hosts)" 10.2.0.1 "$FLOOD_S" syn179,syn22 net=10.100.0.0 >"$LAB_DIR/flood3.json" &
f3=$!
wait $f1 $f2 $f3
rx1=$(metric 'ecmp_router_port_rx_packets_total{port="hosts"}'); rx21=0
miss1=$(metric 'ecmp_router_port_rx_dropped_total{port="hosts"}')
sent=$(cat "$LAB_DIR"/flood*.json | python3 -c 'import json,sys; print(sum(json.loads(l)["sent"] for l in sys.stdin))')
rate=$(( (rx1 - rx0 + rx21 - rx20) / FLOOD_S ))
echo "  sent $sent packets in $FLOOD_S s; the router received $((rx1 - rx0 + rx21 - rx20)) ($rate pps at its rx), the NIC dropped $((miss1 - miss0))"
for c in routing arp-nd icmp other; do
    echo "  class $c: passed $(metric "ecmp_router_punt_packets_total{class=\"$c\"}"), policed $(metric "ecmp_router_punt_policed_total{class=\"$c\"}")"
done
# Where else packets were lost: the spines' own transmit queues (the "wire"
# into the router), and the router's queues to the kernel interfaces.
for k in 1 2; do
    tx=$(ip -n "${LEAF_SPINE_NS[$k]}" -s -j link show "${LAB_TAG}w$k" | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["stats64"]["tx"]; print(s["packets"], s["dropped"])')
    qd=$(ip netns exec "${LEAF_SPINE_NS[$k]}" tc -s qdisc show dev "${LAB_TAG}w$k" | grep -o 'dropped [0-9]*' | head -1)
    echo "  spine$k's link into the router: sent ${tx% *}, dropped ${tx#* } by the link, ${qd:-dropped 0} by its queue"
done
echo "  router: $(metrics | grep -E '^ecmp_router_(kernel_interface_dropped_total|drops_total\{reason="(kernel_queue_full|tx_queue_full|punt_queue_full)"\})' | awk '$2 > 0' | tr '\n' ' ')"
sleep 1
after_bgp=$(bgp_established); after_bfd=$(bfd_downs)
# Diagnostics only: whatever they cannot read, the checks below still run.
[ "$before_bgp" = "$after_bgp" ] || { ip netns exec "$LEAF_NS" nstat -az 2>/dev/null | grep -E "Drop|Overflow|Prune|Collapse|TCPTimeouts|RetransSegs|SynRetrans" | awk '$2 > 0'; grep -iE "hold|expire|notif" /var/run/frr/$LAB_TAG-leaf/bgpd.out | tail -5; } || true
[ "$before_bgp" = "$after_bgp" ] || leaf_vtysh leaf -c 'show bgp neighbors json' | python3 -c 'import json,sys; [print("  ", k, v.get("lastResetDueTo"), v.get("lastErrorCodeSubcode"), v.get("downLastResetTimeSecs")) for k, v in json.load(sys.stdin).items()]' || true
check "the BGP sessions stayed established through the floods ($after_bgp)" test "$before_bgp" = "$after_bgp"
check "BFD did not flap ($before_bfd -> $after_bfd session-down events)" test "$before_bfd" = "$after_bfd"
other=$(metric 'ecmp_router_punt_policed_total{class="other"}')
check "the flood was policed in class other ($other packets)" test "${other:-0}" -gt 0
rpol=$(metric 'ecmp_router_punt_policed_total{class="routing"}')
check "the routing class lost nothing ($rpol policed)" test "${rpol:-0}" = 0

echo "-- BFD failover, $REPEAT times"
sp1_if=${LAB_TAG}w1
times=()
for i in $(seq "$REPEAT"); do
    cap=$LAB_DIR/cap$i.txt
    ip netns exec "${LEAF_SPINE_NS[1]}" tcpdump -Z root -i "$sp1_if" -n -l -tt --time-stamp-precision=micro "udp and dst host $LEAF_SERVICE" >"$cap" 2>/dev/null &
    tpid=$!
    ip netns exec "$LEAF_HOSTS_NS" python3 "$ROOT/deploy/lab/flood.py" "$hosts_if" "$(mac_of hosts)" "$LEAF_SERVICE" 4 udp net=10.100.0.0 pps=20000 >/dev/null &
    spid=$!
    lab_wait 5 "stream through spine1" test -s "$cap" || true
    sleep 0.5
    t0=$(date +%s.%N)
    # The spine stops forwarding, silently: it sends nothing (a queue of
    # length 0) and takes in nothing (another MAC; tcpdump still sees the
    # router's frames), and its carrier stays up.
    ip netns exec "${LEAF_SPINE_NS[1]}" tc qdisc add dev "$sp1_if" root pfifo limit 0
    ip -n "${LEAF_SPINE_NS[1]}" link set dev "$sp1_if" address 02:00:00:00:0f:ff
    wait $spid || true
    sleep 0.2; kill $tpid 2>/dev/null; wait $tpid 2>/dev/null || true
    last=$(awk '/^[0-9]+\.[0-9]+ IP .* UDP/ {t = $1} END {print t}' "$cap")
    ms=$(python3 -c "print(round(max(0.0, (float('${last:-0}') - float('$t0')) * 1000), 1))")
    times+=("$ms")
    echo "  run $i: last packet through spine1 $ms ms after it stopped forwarding (t0 $t0, last $last, $(wc -l <"$cap") captured)"
    ip -n "${LEAF_SPINE_NS[1]}" link set dev "$sp1_if" address 02:00:00:00:01:02
    ip netns exec "${LEAF_SPINE_NS[1]}" tc qdisc del dev "$sp1_if" root
    lab_wait 60 "sessions again" leaf_sessions_up || true
    lab_wait 30 "two paths again" bash -c "[ \"\$(ip netns exec $LEAF_NS curl -sf 'http://127.0.0.1:$LEAF_API/api/v1/routes?prefix=203.0.113.0/24' | grep -o '10\.[12]\.0\.2' | sort -u | wc -l)\" = 2 ]" || true
done
stats=$(printf '%s\n' "${times[@]}" | python3 -c 'import statistics,sys; v=[float(x) for x in sys.stdin]; print(f"median {statistics.median(v):.1f} ms, max {max(v):.1f} ms, min {min(v):.1f} ms over {len(v)} runs")')
echo "  BFD failover: $stats"
maxms=$(printf '%s\n' "${times[@]}" | sort -g | tail -1)
check "every failover took the spine out of the router's FIB within 1 s ($stats)" python3 -c "import sys; sys.exit(0 if float('$maxms') < 1000 and float('$maxms') > 0 else 1)"
finish
