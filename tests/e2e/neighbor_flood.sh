#!/usr/bin/env bash
# A neighbour-table flood with the defaults (neighbor-table: max-hosts 16384,
# max-incomplete 256, solicit-rate 100/s, retries 3): the client sends one UDP
# datagram to each of N (200,000) distinct addresses in srv1's connected IPv6
# /64 and to each of M (60,000) in a connected IPv4 /16 on srv1 (172.20.0.0/16,
# an address of the test's own) as fast as it can. Afterwards:
# - a gateway added through the API resolves and carries TCP within seconds;
# - connections through the existing route all complete;
# - the router's RSS grew by less than 64 MiB;
# - solicitations on the wire (captured in srv1's namespace, with no capture
#   drops) stayed under the configured rate.
source "$(dirname "$0")/../kit/e2e.sh"
N=${FLOOD_ADDRESSES:-200000}
M=${FLOOD_ADDRESSES_V4:-60000}

lab_init flood
lab_config --srv1-addresses 172.20.0.1/16
lab_up
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$LAB_ROUTER_PID/status"; }
rss0=$(rss)
ip netns exec "$LAB_NS_SRV1" tcpdump -Z root -i "$LAB_IF_SRV1" -n -w "$LAB_DIR/ns.pcap" 'arp or (icmp6 and ip6[40] == 135)' 2>"$LAB_DIR/tcpdump.err" &
TD=$!; LAB_PIDS+=("$TD")
sleep 1
t0=$(date +%s.%N)
lab_ns "$LAB_NS_CLIENT" python3 - "$N" "$M" <<'PY'
import socket, sys
n, m = int(sys.argv[1]), int(sys.argv[2])
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = 0
for i in range(n):
    try:
        s6.sendto(b"x", (f"fd01::1:{(i >> 16) & 0xffff:x}:{i & 0xffff:x}", 9))
        sent += 1
    except OSError:
        pass
sent4 = 0
for i in range(m):
    try:
        s4.sendto(b"x", (f"172.20.{(i + 2) >> 8 & 0xff}.{(i + 2) & 0xff}", 9))
        sent4 += 1
    except OSError:
        pass
print(f"sent {sent} IPv6 and {sent4} IPv4 datagrams", file=sys.stderr)
PY
t1=$(date +%s.%N)
sleep 3
t2=$(date +%s.%N)
kill -TERM "$TD"; wait "$TD" 2>/dev/null || true
secs=$(python3 -c "print(round($t2 - $t0 + 1, 2))")
echo "        flood took $(python3 -c "print(round($t1 - $t0, 2))") s; capture window $secs s"
cat "$LAB_DIR/tcpdump.err" | tail -3
check "the capture dropped nothing" grep -q '^0 packets dropped by kernel' "$LAB_DIR/tcpdump.err"
sol=$(tcpdump -r "$LAB_DIR/ns.pcap" -n 2>/dev/null | grep -cvE '10\.1\.0\.2( |,|$)|fd01::2( |,|$)' || true)
limit=$(python3 -c "print(int(100 * $secs + 100))")
check "host solicitations on the wire: $sol, under the rate (100/s over $secs s + burst = $limit)" test "$sol" -le "$limit"

ip netns exec "$LAB_NS_SRV2" ip addr add 10.2.0.3/24 dev "$LAB_IF_SRV2"
ip netns exec "$LAB_NS_SRV2" ip addr add 203.0.113.10/32 dev lo
API=http://127.0.0.1:$LAB_API_PORT/api/v1
check "a route via a new gateway is added through the API" curl -sf -H 'Content-Type: application/json' -X POST -d '{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.2.0.3", "port": "srv2"}]}' "$API/routes" -o /dev/null
gw_tcp() { lab_ns "$LAB_NS_CLIENT" socat -u "TCP:203.0.113.10:$SERVICE_PORT,connect-timeout=2" STDOUT | grep -qx srv2; }
check "it resolves and carries TCP within 10 s" lab_wait 10 "TCP via the new gateway" gw_tcp
out=$(lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/tcp_split.py" "$ANYCAST4" "$SERVICE_PORT" 200 16)
check "200 connections through the existing route all complete ($out)" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["failed"] == 0 else 1)' "$out"
rss1=$(rss)
check "RSS grew by less than 64 MiB ($rss0 -> $rss1 KiB)" test $(( rss1 - rss0 )) -lt 65536
m=$(lab_metrics)
for e in neighbor_evicted neighbor_incomplete_full solicits_rate_limited neighbor_failed neighbor_held neighbor_hold_sent neighbor_hold_dropped; do
    echo "        $e: $(awk -v k="ecmp_router_control_events_total{event=\"$e\"}" '$1 == k { print $2 }' <<<"$m")"
done
ev() { awk -v k="ecmp_router_control_events_total{event=\"$1\"}" '$1 == k { print $2 }' <<<"$m"; }
check "the pool's limits were hit and counted" test $(( $(ev neighbor_incomplete_full) + $(ev solicits_rate_limited) )) -gt 0
n=$(curl -sf -H 'Content-Type: application/json' -X POST "$API/neighbors/flush?dev=srv1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["flushed"])')
check "neigh flush dev srv1 removes learned hosts ($n)" test "$n" -gt 0
check "the gateways stay" _lab_gateways_up
out=$(lab_ns "$LAB_NS_CLIENT" ping -c 8 -i 1 -W 1 10.1.0.99 2>&1 || true)
check "an address nobody answers for becomes FAILED: Destination Host Unreachable" contains "$out" "Destination Host Unreachable"
finish
