#!/usr/bin/env bash
# Dual-WAN edge with SNAT per uplink, end to end (issue 6).
#
#   client (LAN 10.0.0.2) -- router -- srv1 = ISP 1 (10.1.0.0/24) --\
#                                   \- srv2 = ISP 2 (10.2.0.0/24) ----- inet (198.51.100.10)
#
# The internet namespace routes back only to the ISPs' subnets, never to the
# LAN, so a connection works only if the router translated it. Its servers
# record the source address of every connection (deploy/lab/wan.py).
# Uplink isp1 masquerades (10.1.0.1, the port's address); isp2 uses its own
# address 10.2.0.100, which the router answers ARP for. Weights 2:1.
#
# 1. Source consistency: 400 TCP connections all complete, each seen from one
#    SNAT address, split 2:1 within 15 %. ICMP echo and an ICMP error (port
#    unreachable) come back translated, and an inside host's port unreachable
#    about a translated reply goes out translated.
# 2. Stability: long-lived streams keep their source and lose nothing while
#    the other uplink is removed from the route, re-added, and re-weighted.
# 3. Failover and failback: ISP 1 stops forwarding; within its probe time every
#    new connection leaves by isp2; when it recovers, new ones use both again.
# 4. Rules: UDP 5060 always by isp2 (sticky), TCP 80 always by isp1.
#
# DUAL_WAN_WORKERS=N runs the same with N workers: each worker owns its own
# blocks of ports, and replies that reach another worker are steered to the
# owner (docs/edge.md); the test then also checks that steering happened.
source "$(dirname "$0")/../kit/e2e.sh"
WAN="python3 $LAB_TOOLS/wan.py"
INET_ADDR=198.51.100.10
X1=10.1.0.1
X2=10.2.0.100

WORKERS=${DUAL_WAN_WORKERS:-1}
lab_init "dualwan$WORKERS"
# With several workers the ISP ports are AF_PACKET, which spreads replies over
# the queues by hash: about half reach a worker other than their binding's.
afp=; [ "$WORKERS" -gt 1 ] && afp=--af-packet-servers
lab_config --weights "2 1" $afp --extra "workers: $WORKERS
uplinks:
  - { name: isp1, port: srv1, gateway: 10.1.0.2, snat: masquerade, probe: { targets: [$INET_ADDR], interval-ms: 100, down-after: 3, up-after: 3 } }
  - { name: isp2, port: srv2, gateway: 10.2.0.2, snat: [$X2], probe: { targets: [$INET_ADDR], interval-ms: 100, down-after: 3, up-after: 3 } }
rules:
  - { match: { proto: udp, dport: 5060 }, action: { uplink: isp2 }, sticky: true }
  - { match: { proto: tcp, dport: 80 }, action: { uplink: isp1 } }
flows: { udp: 30 }"
if [ "$WORKERS" -gt 1 ]; then
    # Worker lcores 1..N all on this machine's second CPU.
    lcores="0@0$(for ((i = 1; i <= WORKERS; i++)); do printf ',%d@1' "$i"; done)"
    sed -i "s|^eal: \\[|eal: [--lcores, \"$lcores\", |" "$LAB_DIR/router.yaml"
fi
lab_up
API="http://127.0.0.1:$LAB_API_PORT/api/v1"

# The internet: one namespace behind both ISPs. The ISPs' namespaces lose the
# lab's anycast address (they are routers here, not servers) and forward.
INET="$LAB_TAG-inet"
ip netns add "$INET"
LAB_NAMESPACES+=("$INET")
lab_ns "$INET" ip link set lo up
lab_ns "$INET" ip addr add "$INET_ADDR/32" dev lo
for k in 1 2; do
    ns=$(lab_ns_srv $k)
    lab_ns "$ns" ip addr del "$ANYCAST4/32" dev lo
    ip link add "${LAB_TAG}w$k" type veth peer name "${LAB_TAG}i$k"
    ip link set "${LAB_TAG}w$k" netns "$ns"
    ip link set "${LAB_TAG}i$k" netns "$INET"
    lab_ns "$ns" ip addr add "172.16.$k.1/30" dev "${LAB_TAG}w$k"
    lab_ns "$ns" ip link set "${LAB_TAG}w$k" up
    lab_ns "$ns" ip route add "198.51.100.0/24" via "172.16.$k.2"
    lab_ns "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0
    lab_ns "$INET" ip addr add "172.16.$k.2/30" dev "${LAB_TAG}i$k"
    lab_ns "$INET" ip link set "${LAB_TAG}i$k" up
    # Back to the ISP's own subnet only: the LAN (10.0.0.0/16) is unknown here.
    lab_ns "$INET" ip route add "10.$k.0.0/24" via "172.16.$k.1"
done
lab_ns "$INET" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.tcp_syn_retries=2
ip netns exec "$INET" $WAN serve "$LAB_DIR/inet.log" "$INET_ADDR" >"$LAB_DIR/inet.out" 2>&1 &
LAB_PIDS+=($!)
lab_wait 10 "internet servers" lab_ns "$INET" bash -c "ss -ltn | grep -q ':8081 '"

state() { curl -sf "$API/uplinks" | python3 -c 'import json,sys; print(" ".join(u["state"] for u in json.load(sys.stdin)))'; }
lab_wait 15 "both uplinks up" bash -c "[ \"\$(curl -sf $API/uplinks | python3 -c 'import json,sys; print(\" \".join(u[\"state\"] for u in json.load(sys.stdin)))')\" = 'up up' ]"
check "both uplinks up, probing the internet through their ISP ($(state))" test "$(state)" = "up up"

# count JSON X1|X2|other|ok|failed of a wan.py result
count() { python3 -c '
import json, sys
d = json.load(sys.stdin)
v = list(d["ids"].values())
print(v.count(sys.argv[1]), v.count(sys.argv[2]), len(v) - v.count(sys.argv[1]) - v.count(sys.argv[2]), d["ok"], d["failed"])' "$X1" "$X2"; }

echo "-- 1. source consistency"
# 400 (the issue asks for 200): with 2:1 weights the isp1 count's standard
# deviation is 9.4, so the 15 % band (227..306) is 4.2 of them wide each way
# and a correct router fails it about once in 30,000 runs (with 200, once in 400).
res=$(lab_ns "$LAB_NS_CLIENT" $WAN conns "$INET_ADDR" 8080 400)
read -r a b other ok failed < <(count <<<"$res")
check "400 TCP connections through SNAT all complete (ok $ok, failed $failed)" test "$ok" = 400
check "every one seen from an SNAT address (isp1 $a, isp2 $b, other $other)" test "$other" = 0
check "split follows the weights 2:1 within 15 % (isp1 $a of 400, want 227..306)" test "$a" -ge 227 -a "$a" -le 306
# Server side: each connection id arrived exactly once, from one address.
per_conn=$(python3 -c '
import json, sys
ids = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["port"] == 8080:
        ids.setdefault(r["id"], set()).add(r["peer"])
print(len(ids), sum(1 for p in ids.values() if len(p) == 1), sum(len(p) for p in ids.values()))' "$LAB_DIR/inet.log")
read -r n one total <<<"$per_conn"
check "server side: $n connections, each from exactly one source ($one with one, $total sources)" test "$n" = 400 -a "$one" = 400 -a "$total" = 400
check "ICMP echo through SNAT comes back (ping)" lab_ns "$LAB_NS_CLIENT" ping -c 3 -i 0.2 -W 2 -q "$INET_ADDR"
out=$(lab_ns "$LAB_NS_CLIENT" $WAN refused "$INET_ADDR" 33434)
check "an ICMP port unreachable about a translated flow reaches the inside host ($out)" test "$out" = refused
{
    # The other way (RFC 5508): the inside host's port unreachable about a
    # reply that came in translated reaches the remote end as an error about
    # the datagram it sent (to the SNAT address and port), so its connected
    # socket is refused. With several workers the error may reach a worker
    # without the binding, which hands it on until one has it (docs/edge.md).
    lab_ns "$INET" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5099))
s.settimeout(10)
_, peer = s.recvfrom(100)
s.connect(peer)
time.sleep(0.5)
s.send(b"back")
s.settimeout(3)
try:
    s.recv(100)
    print("answered", peer)
except ConnectionRefusedError:
    print("refused", peer)
except socket.timeout:
    print("timeout", peer)' "$INET_ADDR" >"$LAB_DIR/back.out" 2>&1 &
    BACK=$!
    LAB_PIDS+=($BACK)
    lab_wait 5 "inet UDP 5099" lab_ns "$INET" bash -c "ss -lun | grep -q ':5099 '"
    lab_ns "$LAB_NS_CLIENT" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"hi", (sys.argv[1], 5099))
s.close()' "$INET_ADDR"
    wait "$BACK" || true
    back=$(cat "$LAB_DIR/back.out")
    check "an inside host's port unreachable goes out translated and refuses the remote socket ($back)" grep -q "^refused ('10\.[12]\." "$LAB_DIR/back.out"
    # Twelve more flows, each from its own inside port (so their bindings are
    # spread over the workers), each answered by the inside host's port
    # unreachable. The client's kernel must not rate-limit them.
    lab_ns "$LAB_NS_CLIENT" sysctl -qw net.ipv4.icmp_ratelimit=0
    unreach() { lab_ns "$INET" awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "InDestUnreachs") c = i; h = 1 } else { print $c; exit } }' /proc/net/snmp; }
    u0=$(unreach)
    lab_ns "$INET" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5098))
s.settimeout(10)
peers = [s.recvfrom(100)[1] for _ in range(12)]
time.sleep(0.5)
for p in peers:
    s.sendto(b"back", p)
time.sleep(1)
print(len(peers))' "$INET_ADDR" >"$LAB_DIR/back12.out" 2>&1 &
    BACK=$!
    LAB_PIDS+=($BACK)
    lab_wait 5 "inet UDP 5098" lab_ns "$INET" bash -c "ss -lun | grep -q ':5098 '"
    lab_ns "$LAB_NS_CLIENT" python3 -c '
import socket, sys
ss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(12)]
for s in ss:
    s.sendto(b"hi", (sys.argv[1], 5098))
for s in ss:
    s.close()' "$INET_ADDR"
    wait "$BACK" || true
    u1=$(unreach)
    check "12 more: every port unreachable from inside reached the remote end ($(cat "$LAB_DIR/back12.out") flows, $((u1 - u0)) errors)" test "$((u1 - u0))" -ge 12
    eout=$(lab_metric_sum ecmp_router_snat_icmp_errors_total 'direction="out"')
    check "metrics: translated outbound ICMP errors counted ($eout)" test "$eout" -ge 13
    if [ "$WORKERS" -gt 1 ]; then
        handed=$(lab_metric_sum ecmp_router_snat_steered_total 'kind="error"')
        check "errors that reached a worker without their binding were handed on ($handed)" test "$handed" -gt 0
    fi
}
check "metrics: translated ICMP errors counted" test "$(lab_metric_sum ecmp_router_snat_icmp_errors_total)" -ge 1
created=$(lab_metric_sum ecmp_router_snat_events_total 'event="create"')
check "metrics: bindings created ($created)" test "$created" -ge 400
if [ "$WORKERS" -gt 1 ]; then
    per=$(lab_metrics | awk '$1 ~ /^ecmp_router_snat_events_total\{event="create"/ { printf "%s ", $2 }')
    check "every worker made bindings ($per)" python3 -c "import sys; v = [float(x) for x in '$per'.split()]; sys.exit(0 if len(v) == $WORKERS and min(v) > 0 else 1)"
    steered=$(lab_metric_sum ecmp_router_snat_steered_total 'kind="reply"')
    check "replies that reached another worker were steered to their binding's ($steered)" test "$steered" -gt 0
fi

echo "-- 2. stability while the other uplink changes"
STOP="$LAB_DIR/stop-streams"
lab_ns "$LAB_NS_CLIENT" $WAN hold "$INET_ADDR" 8 30 "$STOP" >"$LAB_DIR/hold.out" 2>&1 &
HOLD=$!
LAB_PIDS+=($HOLD)
lab_wait 10 "streams up" grep -q started "$LAB_DIR/hold.out"
sleep 0.5
put() { curl -sf -H "Content-Type: application/json" -X PUT "$API/routes" -d "$1" >/dev/null; }
check "isp2 removed from the route" put '{"prefix": "198.51.100.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}'
sleep 0.7
check "isp2 re-added" put '{"prefix": "198.51.100.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1", "weight": 2}, {"via": "10.2.0.2", "port": "srv2", "weight": 1}]}'
sleep 0.7
check "isp1 removed from the route" put '{"prefix": "198.51.100.0/24", "nexthops": [{"via": "10.2.0.2", "port": "srv2"}]}'
sleep 0.7
check "weights changed to 1:5" put '{"prefix": "198.51.100.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1", "weight": 1}, {"via": "10.2.0.2", "port": "srv2", "weight": 5}]}'
sleep 0.7
check "weights back to 2:1" put '{"prefix": "198.51.100.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1", "weight": 2}, {"via": "10.2.0.2", "port": "srv2", "weight": 1}]}'
sleep 0.5
touch "$STOP"
wait "$HOLD" || true
streams=$(tail -n 1 "$LAB_DIR/hold.out")
read -r n intact on1 on2 < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
intact = [r for r in s if not r["broken"] and r["sent"] > 50 and r["echoed"] == r["sent"]]
print(len(s), len(intact), sum(r["peer"] == sys.argv[2] for r in s), sum(r["peer"] == sys.argv[3] for r in s))' "$streams" "$X1" "$X2")
check "all $n streams stayed up and lost nothing ($intact intact; on isp1 $on1, isp2 $on2)" test "$intact" = "$n" -a "$n" = 8
stream_conns=$(grep -c '"id": "stream"' "$LAB_DIR/inet.log" || true)
check "the server saw each stream connect once ($stream_conns connections for 8 streams)" test "$stream_conns" = 8

echo "-- 3. failover and failback"
t0=$SECONDS
lab_ns "$(lab_ns_srv 1)" sysctl -qw net.ipv4.ip_forward=0
down() { [ "$(state)" = "down up" ]; }
lab_wait 5 "isp1 down" down
check "isp1 goes down within its probe time ($(state), $((SECONDS - t0)) s; 3 rounds of 100 ms)" down
res=$(lab_ns "$LAB_NS_CLIENT" $WAN conns "$INET_ADDR" 8080 60)
read -r a b other ok failed < <(count <<<"$res")
check "every new connection leaves by isp2 (isp1 $a, isp2 $b, failed $failed)" test "$b" = 60 -a "$ok" = 60
lab_ns "$(lab_ns_srv 1)" sysctl -qw net.ipv4.ip_forward=1
up() { [ "$(state)" = "up up" ]; }
lab_wait 5 "isp1 up" up
check "isp1 comes back ($(state))" up
res=$(lab_ns "$LAB_NS_CLIENT" $WAN conns "$INET_ADDR" 8080 90)
read -r a b other ok failed < <(count <<<"$res")
check "new connections use both again (isp1 $a, isp2 $b, failed $failed)" test "$ok" = 90 -a "$a" -gt 30 -a "$b" -gt 10

echo "-- 4. rules"
res=$(lab_ns "$LAB_NS_CLIENT" $WAN udp "$INET_ADDR" 5060 30)
read -r a b other ok failed < <(count <<<"$res")
check "UDP 5060: all 30 flows by isp2 (isp1 $a, isp2 $b, failed $failed)" test "$b" = 30
res=$(lab_ns "$LAB_NS_CLIENT" $WAN conns "$INET_ADDR" 80 30)
read -r a b other ok failed < <(count <<<"$res")
check "TCP 80: all 30 connections by isp1 (isp1 $a, isp2 $b, failed $failed)" test "$a" = 30

drops=$(( $(lab_metric_sum ecmp_router_drops_total 'reason="snat_exhausted"') + $(lab_metric_sum ecmp_router_drops_total 'reason="snat_unsupported"') + $(lab_metric_sum ecmp_router_drops_total 'reason="snat_steer_queue_full"') ))
check "no SNAT drops ($drops)" test "$drops" = 0
promtool_out=$(lab_metrics | promtool check metrics 2>&1 || true)
check "metrics pass promtool" test -z "$promtool_out"
finish
