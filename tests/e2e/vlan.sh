#!/usr/bin/env bash
# 802.1Q VLAN sub-interfaces (issue 28), with Linux VLAN devices as the
# peers. srv1's port is a trunk: untagged 10.1.0.1/24, VLAN 100
# (srv1.100, 10.100.0.1/24 and fd64::1/64) and VLAN 200 (named guest,
# 10.200.0.1/24). On the far side, srv1's interface carries Linux VLAN
# devices 100 and 200, each moved into a host namespace of its own
# (h100, h200), and a stray VLAN 300. The service route is ECMP over one
# nexthop on each VLAN. With the defaults otherwise:
# - TCP connections to the service spread over both VLANs' hosts;
# - the hosts on VLAN 100 and VLAN 200 ping each other through the router;
# - ARP and NDP work on a sub-interface (ping and ping -6 to its address);
# - frames of VLAN 300 are dropped and counted (unknown_vlan); the
#   untagged network on the trunk still works.
source "$(dirname "$0")/../kit/e2e.sh"
lab_init vlan
lab_config --servers 1
python3 - "$LAB_DIR/router.yaml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"(  - \{ name: srv1, device: \"[^\"]*\", addresses: \[[^\]]*\])( \})",
           r"\1, vlans: [{ id: 100, addresses: [10.100.0.1/24, 'fd64::1/64'] }, { id: 200, name: guest, addresses: [10.200.0.1/24] }]\2", s)
s = s.replace("      - { via: 10.1.0.2, port: srv1, weight: 1 }",
              "      - { via: 10.100.0.2, port: srv1.100 }\n      - { via: 10.200.0.2, port: guest }", 1)
open(p, "w").write(s)
PY
check "the config has the trunk's VLANs and the route over them" grep -q "port: guest" "$LAB_DIR/router.yaml"
H100=$LAB_TAG-h100 H200=$LAB_TAG-h200
# The peers' VLANs: Linux VLAN devices on srv1's end of the trunk where the
# kernel has 802.1Q; else (CONFIG_VLAN_8021Q unset, as on this lab's
# machine) deploy/lab/vlan_switch.py, a userspace 802.1Q switch between
# the trunk and a veth to each host. The hosts are real Linux stacks either way.
if ip link add "${LAB_TAG}vq" type veth peer name "${LAB_TAG}vr" 2>/dev/null; then
    if ip link add link "${LAB_TAG}vq" name "${LAB_TAG}vq.5" type vlan id 5 2>/dev/null; then VLAN_PEER=linux; else VLAN_PEER=switch; fi
    ip link del "${LAB_TAG}vq"
fi
echo "  the peers' VLANs: ${VLAN_PEER:-?} (linux: Linux VLAN devices; switch: deploy/lab/vlan_switch.py)"
# vlan_host VID NS: a host namespace on VLAN VID of the trunk, with
# interface vVID (10.VID.0.2/24 for VID 100 and 200).
vlan_host() {
    local v=$1 ns=$2 trunk=$LAB_IF_SRV1
    ip netns add "$ns"; LAB_NAMESPACES+=("$ns")
    if [ "$VLAN_PEER" = linux ]; then
        lab_ns "$LAB_NS_SRV1" ip link add link "$trunk" name "v$v" type vlan id "$v"
        lab_ns "$LAB_NS_SRV1" ip link set "v$v" netns "$ns"
    else
        lab_ns "$LAB_NS_SRV1" ip link add "s$v" type veth peer name "v$v"
        lab_ns "$LAB_NS_SRV1" ip link set "v$v" netns "$ns"
        lab_ns "$LAB_NS_SRV1" ip link set "s$v" up
        lab_ns "$LAB_NS_SRV1" ethtool -K "s$v" tx off tso off gso off gro off >/dev/null 2>&1 || true
        lab_ns "$ns" ethtool -K "v$v" tx off tso off gso off gro off >/dev/null 2>&1 || true
    fi
    lab_ns "$ns" ip link set lo up
    lab_ns "$ns" ip link set "v$v" address "02:00:00:00:$(printf %02x $((v % 256))):02"
    lab_ns "$ns" ip link set "v$v" up
}
# The hosts beyond the trunk, added by lab_up once srv1's side is up.
vlan_hosts() {
    local v ns
    for v in 100 200; do
        ns=$LAB_TAG-h$v
        vlan_host "$v" "$ns"
        lab_ns "$ns" ip addr add "10.$v.0.2/24" dev "v$v"
        lab_ns "$ns" ip addr add "$ANYCAST4/32" dev lo
        lab_ns "$ns" ip route add default via "10.$v.0.1"
        ip netns exec "$ns" socat "TCP-LISTEN:$SERVICE_PORT,reuseaddr,fork,backlog=128" "SYSTEM:echo h$v" >/dev/null 2>&1 &
        LAB_PIDS+=($!)
    done
    lab_ns "$H100" ip -6 addr add fd64::2/64 dev v100 nodad
    vlan_host 300 "$LAB_TAG-h300"
    lab_ns "$LAB_TAG-h300" ip addr add 10.30.0.2/24 dev v300
    if [ "$VLAN_PEER" = switch ]; then
        lab_ns "$LAB_NS_SRV1" python3 "$ROOT/deploy/lab/vlan_switch.py" "$LAB_IF_SRV1" 100:s100 200:s200 300:s300 >"$LAB_DIR/switch.log" 2>&1 &
        LAB_PIDS+=($!)
    fi
}
LAB_HOOK=vlan_hosts
lab_up
for v in 100 200; do
    lab_wait 10 "h$v listening" lab_listening "$LAB_TAG-h$v" "$SERVICE_PORT"
done

out=$(lab_ns "$H100" ping -c 3 -i 0.2 -W 2 10.100.0.1 2>&1 || true)
check "ARP on a sub-interface: h100 pings the router's 10.100.0.1" contains "$out" "3 received"
out=$(lab_ns "$H100" ping -6 -c 3 -i 0.2 -W 2 fd64::1 2>&1 || true)
check "NDP on a sub-interface: h100 pings the router's fd64::1" contains "$out" "3 received"
out=$(lab_ns "$H100" ping -c 3 -i 0.2 -W 2 10.200.0.2 2>&1 || true)
check "VLAN 100 to VLAN 200 through the router: h100 pings h200" contains "$out" "3 received"
out=$(lab_ns "$LAB_NS_CLIENT" ping -c 2 -i 0.2 -W 2 10.1.0.2 2>&1 || true)
check "the trunk's untagged network still works" contains "$out" "2 received"

# TCP over ECMP: one nexthop on each VLAN, hashed on the ports.
for i in $(seq 40); do
    lab_ns "$LAB_NS_CLIENT" timeout 5 socat -u "TCP:$ANYCAST4:$SERVICE_PORT,connect-timeout=3" STDOUT 2>/dev/null || echo failed
done >"$LAB_DIR/tcp.txt"
n100=$(grep -c '^h100$' "$LAB_DIR/tcp.txt" || true)
n200=$(grep -c '^h200$' "$LAB_DIR/tcp.txt" || true)
check "40 TCP connections through the trunk's two VLANs all answered (h100 $n100, h200 $n200)" test "$((n100 + n200))" = 40
check "both VLANs' nexthops carried connections" test "$n100" -gt 0 -a "$n200" -gt 0
frames200=$(lab_ns "$H200" cat /sys/class/net/v200/statistics/rx_packets)
check "h200 received its share through VLAN 200 ($frames200 frames on v200)" test "$frames200" -gt "$n200"

before=$(lab_metric 'ecmp_router_drops_total{reason="unknown_vlan"}')
lab_ns "$LAB_TAG-h300" ping -c 2 -i 0.2 -W 1 10.30.0.1 >/dev/null 2>&1 || true
after=$(lab_metric 'ecmp_router_drops_total{reason="unknown_vlan"}')
check "VLAN 300 (no sub-interface) is dropped and counted ($before -> $after unknown_vlan)" test "$after" -gt "$before"
check "the metrics name the sub-interfaces' nexthops" contains "$(lab_metrics)" 'port="guest"'
CTL=("$LAB_ROOT/target/release/ecmpctl" --api "127.0.0.1:$LAB_API_PORT")
out=$("${CTL[@]}" link show 2>&1 || true)
check "ecmpctl link show names a sub-interface as iproute2 does (srv1.100@srv1, vlan id 100)" bash -c "grep -q '^srv1.100@srv1: ' <<<\"\$1\" && grep -q 'vlan protocol 802.1Q id 100' <<<\"\$1\"" _ "$out"
out=$("${CTL[@]}" route show 2>&1 || true)
check "ecmpctl route show gives the service route's nexthops on the sub-interfaces" bash -c "grep -q 'via 10.100.0.2 dev srv1.100' <<<\"\$1\" && grep -q 'via 10.200.0.2 dev guest' <<<\"\$1\"" _ "$out"
finish
