#!/usr/bin/env bash
# A tier of routers under BGP (issue 14): two ecmp-routers, each in its own
# namespace with deploy/examples/tier.yaml (router b: only its devices, port
# addresses and file prefix differ) and its own bgpd -Z with
# frr/tier-bgpd.conf, announce the service prefix through their own ports
# to an upstream FRR (zebra + bgpd, BGP multipath, L4 hash). The servers sit
# on one bridge with both routers' server ports and answer straight to the
# upstream router, never back through the tier. Their workers share one CPU,
# as multi_worker.sh's do.
#
#   client -- upstream (FRR) ==(BGP multipath)==> router a, router b -- bridge -- srv1..3
#                 ^--------------------- replies ------------------------------'
#
# Checks: every one of 240 flows gets the same nexthop from both routers'
# `route get` and reaches that server through whichever router the upstream
# picked; then router a is stopped (SIGSTOP, so its links stay up and BGP
# has to detect it), the upstream moves its flows to router b, and every
# established connection, a's included, carries on with no state shared.
source "$(dirname "$0")/../kit/e2e.sh"
source "$ROOT/deploy/lab/leaf.sh"
[ -x /usr/lib/frr/bgpd ] || { echo "FRR's bgpd is not installed (bash scripts/setup.sh)"; exit 1; }
FLOWS="python3 $ROOT/deploy/lab/flows.py"
N=${TIER_CONNECTIONS:-240}
VIP=198.51.100.10
PORT=8081
lab_init tier
LAB_FRRDIRS=()
STOPPED=
tier_down() { [ -z "$STOPPED" ] || kill -CONT "$STOPPED" 2>/dev/null || true; leaf_down; }
trap 'tier_down; lab_down' EXIT
T=$LAB_TAG
NS_UP=$T-up; NS_CL=$T-cl; NS_FAB=$T-fab
declare -A NS_R=([a]=$T-ra [b]=$T-rb) UPLINK=([a]=11 [b]=12) SRVADDR=([a]=10.50.0.1 [b]=10.50.0.2) PID_R=()
for ns in "$NS_UP" "$NS_CL" "$NS_FAB" "${NS_R[a]}" "${NS_R[b]}" "$T-s1" "$T-s2" "$T-s3"; do
    ip netns add "$ns"; LAB_NAMESPACES+=("$ns"); ip -n "$ns" link set lo up
done

# The routers: the example, with lab devices, no hugepages, both workers on CPU 1.
for r in a b; do
    python3 - "$ROOT/deploy/examples/tier.yaml" "$LAB_DIR/$r.yaml" "$T" "$r" "$LAB_API_PORT" "${UPLINK[$r]}" "${SRVADDR[$r]}" <<'PY'
import re, sys
src, out, tag, r, api, up, srv = sys.argv[1:]
s = open(src).read()
devs = iter([f"net_tap_{tag}{r}0,iface={tag}{r}u", f"net_tap_{tag}{r}1,iface={tag}{r}s"])
s = re.sub(r'device: "[^"]*"', lambda m: f'device: "{next(devs)}"', s)
s = re.sub(r"^eal: .*$", f'eal: [--no-huge, --no-shconf, --no-pci, -m, "512", --file-prefix, {tag}{r}, --lcores, "0@0,1@1"]', s, flags=re.M)
s = s.replace("10.11.0.2/24", f"10.{up}.0.2/24").replace("10.50.0.1/24", f"{srv}/24")
s = s.replace("127.0.0.1:9464", f"127.0.0.1:{api}")
open(out, "w").write(s)
PY
    RUST_LOG=info ip netns exec "${NS_R[$r]}" "$ECMP_ROUTER" --config "$LAB_DIR/$r.yaml" >"$LAB_DIR/router-$r.log" 2>&1 &
    PID_R[$r]=$!; LAB_PIDS+=($!)
done
tier_api() { ip netns exec "${NS_R[$1]}" curl -sf "http://127.0.0.1:$LAB_API_PORT$2"; }
for r in a b; do
    lab_wait 30 "router $r serving" tier_api "$r" /metrics || { cat "$LAB_DIR/router-$r.log"; exit 1; }
done
check "the two routers' configs differ only in devices, addresses and file prefix" bash -c "
    diff <(sed -E 's/device: \"[^\"]*\"//; s/10\.1[12]\.0\.2|10\.50\.0\.[12]\/|${T}[ab]//g' $LAB_DIR/a.yaml) \
         <(sed -E 's/device: \"[^\"]*\"//; s/10\.1[12]\.0\.2|10\.50\.0\.[12]\/|${T}[ab]//g' $LAB_DIR/b.yaml)"

# Wiring. The bridge carries the servers, both routers' server ports and the
# upstream's leg for the replies.
ip -n "$NS_FAB" link add br0 type bridge
ip -n "$NS_FAB" link set br0 up
ip link add "${T}cl" netns "$NS_CL" type veth peer name "${T}clu" netns "$NS_UP"
ip -n "$NS_CL" addr add 10.200.0.2/24 dev "${T}cl"; ip -n "$NS_CL" link set "${T}cl" up
ip -n "$NS_CL" route add default via 10.200.0.1
ip -n "$NS_UP" addr add 10.200.0.1/24 dev "${T}clu"; ip -n "$NS_UP" link set "${T}clu" up
ip link add "${T}ub" netns "$NS_UP" type veth peer name "${T}ubf" netns "$NS_FAB"
ip -n "$NS_UP" addr add 10.50.0.254/24 dev "${T}ub"; ip -n "$NS_UP" link set "${T}ub" up
ip -n "$NS_FAB" link set "${T}ubf" master br0 up
# Forwarding, an L4 multipath hash, and no reverse-path filter: the replies
# come from the servers' bridge, not from the routers the upstream sends to.
ip netns exec "$NS_UP" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
for k in 1 2 3; do
    ns=$T-s$k
    ip link add "${T}s$k" netns "$ns" type veth peer name "${T}s${k}f" netns "$NS_FAB"
    ip -n "$NS_FAB" link set "${T}s${k}f" master br0 up
    ip -n "$ns" link set "${T}s$k" address "02:00:00:00:50:1$k" up
    ip -n "$ns" addr add "10.50.0.1$k/24" dev "${T}s$k"
    ip -n "$ns" addr add "$VIP/32" dev lo
    ip -n "$ns" route add default via 10.50.0.254
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.rp_filter=0
    ip netns exec "$ns" socat "TCP-LISTEN:$PORT,reuseaddr,fork,backlog=512" "SYSTEM:echo srv$k; exec cat" >/dev/null 2>&1 &
    LAB_PIDS+=($!)
done
for r in a b; do
    u=${UPLINK[$r]}
    lab_wait 10 "router $r's taps" ip -n "${NS_R[$r]}" link show "${T}${r}s" || exit 1
    ip -n "${NS_R[$r]}" link set "${T}${r}u" netns "$NS_UP"
    ip -n "$NS_UP" link set "${T}${r}u" address "02:00:00:00:$u:01" up
    ip -n "$NS_UP" addr add "10.$u.0.1/24" dev "${T}${r}u"
    # The bridge port must not carry the router's own MAC (the PMD gives it
    # that): the bridge would take frames for the router as its own.
    ip -n "${NS_R[$r]}" link set "${T}${r}s" netns "$NS_FAB"
    ip -n "$NS_FAB" link set "${T}${r}s" address "02:00:00:00:50:a${u: -1}" master br0 up
done

# FRR: the upstream (zebra + bgpd, multipath) and a bgpd -Z per router.
_leaf_frrdir "$T-up"
cat >"$d/bgpd.conf" <<C
hostname upstream
router bgp 65000
 bgp router-id 10.200.0.1
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 neighbor 10.11.0.2 remote-as 65010
 neighbor 10.11.0.2 timers 1 3
 neighbor 10.11.0.2 timers connect 1
 neighbor 10.12.0.2 remote-as 65010
 neighbor 10.12.0.2 timers 1 3
 neighbor 10.12.0.2 timers connect 1
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
C
echo "hostname upstream" >"$d/zebra.conf"
chown frr:frr "$d"/*.conf
lab_frr "$NS_UP" "$T-up" "$d" zebra
lab_wait 10 "upstream zebra" test -S "$d/zebra.vty" || exit 1
lab_frr "$NS_UP" "$T-up" "$d" bgpd
for r in a b; do
    u=${UPLINK[$r]}
    _leaf_frrdir "$T-r$r"
    sed -e "s/^hostname tier-a/hostname tier-$r/" -e "s/10\.11\.0\./10.$u.0./g" "$ROOT/deploy/examples/frr/tier-bgpd.conf" >"$d/bgpd.conf"
    chown frr:frr "$d/bgpd.conf"
    lab_frr "${NS_R[$r]}" "$T-r$r" "$d" bgpd -Z
done

up_paths() { # the upstream kernel's nexthops for the service: "10.11.0.2,10.12.0.2"
    ip -n "$NS_UP" -j route show 198.51.100.0/24 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
hops = [h["gateway"] for x in r for h in (x.get("nexthops") or ([x] if "gateway" in x else []))]
print(",".join(sorted(hops)) or "none")' 2>/dev/null || echo none
}
lab_wait 90 "the upstream's multipath route over both routers" bash -c "[ \"\$($(declare -f up_paths); NS_UP=$NS_UP up_paths)\" = 10.11.0.2,10.12.0.2 ]" || true
paths=$(up_paths)
check "the upstream learns the service from both routers over BGP, through their own ports, and installs both paths ($paths)" test "$paths" = 10.11.0.2,10.12.0.2
for r in a b; do
    lab_wait 30 "router $r resolves the servers" bash -c "[ \"\$(ip netns exec ${NS_R[$r]} curl -sf http://127.0.0.1:$LAB_API_PORT/metrics | grep -c '^ecmp_router_nexthop_resolved{kind=\"gateway\".* 1$')\" = 3 ]" || true
done
algo=$(tier_api a /api/v1/groups | python3 -c 'import json,sys; print(",".join(sorted({g["algorithm"] for g in json.load(sys.stdin) if g["routes"]})))')
check "the service route's group is resilient ($algo)" test "$algo" = resilient

# The flows, held open. Which router carries each is seen on the upstream's
# links: the SYNs it sends to each router (`ip route get ... ipproto tcp
# sport N` did not match the kernel's forwarding choice in this lab).
declare -A DUMP=()
for r in a b; do
    ip netns exec "$NS_UP" tcpdump -Z root -nn -l -i "${T}${r}u" "tcp[tcpflags] & tcp-syn != 0 and dst port $PORT" >"$LAB_DIR/syn-$r.txt" 2>"$LAB_DIR/syn-$r.err" &
    DUMP[$r]=$!; LAB_PIDS+=($!)
    lab_wait 10 "tcpdump on ${T}${r}u" grep -q 'listening on' "$LAB_DIR/syn-$r.err" || exit 1
done
trigger=$LAB_DIR/ping
ip netns exec "$NS_CL" $FLOWS hold "$VIP" "$PORT" "$N" "$trigger" 30 >"$LAB_DIR/hold.out" 2>"$LAB_DIR/hold.err" &
HOLD=$!; LAB_PIDS+=($HOLD)
lab_wait 120 "$N connections" bash -c "[ -s $LAB_DIR/hold.out ]" || { cat "$LAB_DIR/hold.err"; exit 1; }
head -n1 "$LAB_DIR/hold.out" >"$LAB_DIR/flows.json"
# What each router would do with each flow, and which router the upstream picks.
for r in a b; do
    ip netns exec "${NS_R[$r]}" python3 - "$LAB_DIR/flows.json" "$LAB_API_PORT" "$VIP" "$PORT" >"$LAB_DIR/get-$r.json" <<'PY'
import json, sys, urllib.request
flows, api, vip, port = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
out = {}
for lport, _ in flows:
    u = f"http://127.0.0.1:{api}/api/v1/route/get?dst={vip}&src=10.200.0.2&proto=tcp&sport={lport}&dport={port}"
    g = json.load(urllib.request.urlopen(u))
    out[lport] = (g.get("nexthop") or {}).get("via")
print(json.dumps(out))
PY
done
sleep 0.5; kill "${DUMP[a]}" "${DUMP[b]}"; wait "${DUMP[a]}" "${DUMP[b]}" 2>/dev/null || true
for r in a b; do
    sed -nE "s/.* 10\.200\.0\.2\.([0-9]+) > .*/\1 10.1${UPLINK[$r]: -1}.0.2/p" "$LAB_DIR/syn-$r.txt"
done | sort -u >"$LAB_DIR/carrier.txt"
read -r same matched via_a via_b < <(python3 - "$LAB_DIR/flows.json" "$LAB_DIR/get-a.json" "$LAB_DIR/get-b.json" "$LAB_DIR/carrier.txt" <<'PY'
import json, sys
flows = json.load(open(sys.argv[1]))
a, b = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
carrier = dict(l.split() for l in open(sys.argv[4]) if len(l.split()) == 2)
same = sum(1 for lp, _ in flows if a[str(lp)] and a[str(lp)] == b[str(lp)])
# srvK answers from 10.50.0.1K: the server each flow reached is the one
# that its carrier's route get names (route get tells the dataplane's truth).
by = {"10.11.0.2": a, "10.12.0.2": b}
matched = sum(1 for lp, srv in flows if srv and str(lp) in carrier and by[carrier[str(lp)]][str(lp)] == f"10.50.0.1{srv[-1]}")
print(same, matched, sum(1 for v in carrier.values() if v == "10.11.0.2"), sum(1 for v in carrier.values() if v == "10.12.0.2"))
PY
)
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$LAB_DIR/flows.json")
servers=$(python3 -c 'import json,sys,collections; print(dict(collections.Counter(s for _, s in json.load(open(sys.argv[1])))))' "$LAB_DIR/flows.json")
check "$n of $N connections established ($servers)" test "$n" = "$N"
check "both routers pick the same server for every flow ($same of $n; route get on each)" test "$same" = "$n"
check "every flow reached the server that its router's route get names ($matched of $n)" test "$matched" = "$n"
check "the upstream spreads the flows over both routers, each flow seen on one link (a $via_a, b $via_b)" bash -c "[ $((via_a + via_b)) = $n ] && [ $via_a -ge $((n / 5)) ] && [ $via_b -ge $((n / 5)) ]"
rx_a=$(tier_api a /metrics | awk '/^ecmp_router_port_rx_packets_total\{port="up"\}/ {print $2}')
check "router a carried traffic of its own (${rx_a:-0} packets in on up)" test "${rx_a:-0}" -gt "$via_a"

echo "-- router a stops (SIGSTOP: its links stay up, BGP has to find out)"
t0=$(date +%s.%N)
kill -STOP "${PID_R[a]}"; STOPPED=${PID_R[a]}
# Every connection sends at once: a's are lost until the upstream moves them.
touch "$trigger"
lab_wait 20 "the upstream to drop router a" bash -c "[ \"\$($(declare -f up_paths); NS_UP=$NS_UP up_paths)\" = 10.12.0.2 ]" || true
t1=$(date +%s.%N)
paths=$(up_paths)
detect=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
check "the upstream withdraws router a's path after BGP detection (${detect} s; hold time 3 s) and keeps b's ($paths)" test "$paths" = 10.12.0.2
wait "$HOLD" || true
read -r ok_a tot_a ok_b tot_b < <(python3 - "$LAB_DIR/hold.out" "$LAB_DIR/carrier.txt" <<'PY'
import json, sys
res = json.loads(open(sys.argv[1]).read().splitlines()[1])
carrier = dict(l.split() for l in open(sys.argv[2]) if len(l.split()) == 2)
c = {"10.11.0.2": [0, 0], "10.12.0.2": [0, 0]}
for lp, _, ok in res:
    v = c.setdefault(carrier.get(str(lp), "?"), [0, 0])
    v[1] += 1
    v[0] += bool(ok)
print(*c["10.11.0.2"], *c["10.12.0.2"])
PY
)
echo "   connections carried by router a: $ok_a of $tot_a survived; by router b: $ok_b of $tot_b"
check "every established connection router a carried goes on through router b ($ok_a of $tot_a)" bash -c "[ $tot_a -gt 0 ] && [ $ok_a = $tot_a ]"
check "every connection router b carried goes on too ($ok_b of $tot_b)" bash -c "[ $tot_b -gt 0 ] && [ $ok_b = $tot_b ]"
flows_b=$(tier_api b /api/v1/flows | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d) if isinstance(d, list) else len(d.get("flows", [])))')
check "with no flow state: router b holds no sticky or SNAT flows ($flows_b)" test "$flows_b" = 0
kill -CONT "${PID_R[a]}"; STOPPED=
finish
