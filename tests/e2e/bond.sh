#!/usr/bin/env bash
# LACP bonds (issue 28). The router's uplink is `ports[].bond` over two
# member devices. The partner is a second router process with a bond of
# its own: this machine's kernel has no bonding driver (CONFIG_BONDING
# unset), so no Linux 802.3ad bond can be the partner here. Both ends run
# DPDK's 802.3ad state machine, in separate processes, and exchange real
# LACPDUs.
#
#   client --lan-- R1 ==uplink (bond: a, b)== R2 --srv-- server
#
# The members are net_tap interfaces, each R1 member wired to its R2 peer
# by deploy/lab/wire.py: a PMD on a veth (net_af_packet) never reports its
# link down, so only a net_tap member can show a cut cable to its bond.
#
# With the defaults otherwise:
# - LACP brings both members up on both ends (collecting, distributing),
#   and each end shows the other as its partner (API, metrics, ecmpctl);
# - 200 TCP echo connections through the bond, chattering, spread over
#   both members;
# - member a's cable is cut mid-stream (both ends lose their link): it
#   leaves both aggregates, the traffic stays on member b, and no
#   connection is lost;
# - the member comes back when its link does.
source "$(dirname "$0")/../kit/e2e.sh"
lab_init bond
SRV_NS=$LAB_TAG-srv CLI_NS=$LAB_TAG-cli
A=${LAB_TAG}a B=${LAB_TAG}b
R2_API=$((LAB_API_PORT + 1))
cat >"$LAB_DIR/r1.yaml" <<EOF
eal: [--no-huge, --no-shconf, --no-pci, -m, "512", --file-prefix, ${LAB_TAG}r1]
ports:
  - { name: lan, device: "net_tap_${LAB_TAG}0,iface=${LAB_TAG}lan", addresses: [10.0.0.1/24] }
  - name: uplink
    bond: { members: ["net_tap_${LAB_TAG}a,iface=$A", "net_tap_${LAB_TAG}b,iface=$B"] }
    addresses: [10.7.0.1/24]
routes:
  - { prefix: 10.1.0.0/24, nexthops: [ { via: 10.7.0.2, port: uplink } ] }
api: { listen: 127.0.0.1:$LAB_API_PORT }
EOF
cat >"$LAB_DIR/r2.yaml" <<EOF
eal: [--no-huge, --no-shconf, --no-pci, -m, "512", --file-prefix, ${LAB_TAG}r2]
ports:
  - { name: srv, device: "net_tap_${LAB_TAG}1,iface=${LAB_TAG}srv", addresses: [10.1.0.1/24] }
  - name: uplink
    bond: { members: ["net_tap_${LAB_TAG}ap,iface=${A}p", "net_tap_${LAB_TAG}bp,iface=${B}p"] }
    addresses: [10.7.0.2/24]
routes:
  - { prefix: 10.0.0.0/24, nexthops: [ { via: 10.7.0.1, port: uplink } ] }
api: { listen: 127.0.0.1:$R2_API }
EOF
"$ECMP_ROUTER" --check-config "$LAB_DIR/r1.yaml" >/dev/null
"$ECMP_ROUTER" --check-config "$LAB_DIR/r2.yaml" >/dev/null
RUST_LOG=info "$ECMP_ROUTER" --config "$LAB_DIR/r1.yaml" >"$LAB_DIR/router.log" 2>&1 &
LAB_ROUTER_PID=$!
RUST_LOG=info "$ECMP_ROUTER" --config "$LAB_DIR/r2.yaml" >"$LAB_DIR/r2.log" 2>&1 &
LAB_PIDS+=($!)
lab_wait 30 "R1's interfaces" bash -c "ip link show ${LAB_TAG}lan && ip link show $A && ip link show $B"
lab_wait 30 "R2's interfaces" bash -c "ip link show ${LAB_TAG}srv && ip link show ${A}p && ip link show ${B}p"
for m in "$A" "$B"; do
    python3 "$ROOT/deploy/lab/wire.py" "$m" "${m}p" >"$LAB_DIR/wire-$m.log" 2>&1 &
    LAB_PIDS+=($!)
done
# The hosts (the lab's _lab_host: namespace, interface, MAC, addresses, gateways).
_lab_host "$CLI_NS" "${LAB_TAG}lan" 02:00:00:00:00:c1 10.0.0.2/24 fd00::2/64 10.0.0.1 fd00::1
_lab_host "$SRV_NS" "${LAB_TAG}srv" 02:00:00:00:01:02 10.1.0.2/24 fd01::2/64 10.1.0.1 fd01::1
ip netns exec "$SRV_NS" socat "TCP-LISTEN:$ECHO_PORT,reuseaddr,fork,backlog=512" "SYSTEM:echo srv; exec cat" >/dev/null 2>&1 &
LAB_PIDS+=($!)
r2_api() { curl -sf "http://127.0.0.1:$R2_API$1"; }
r2_metric_sum() { r2_api /metrics | metric_sum "$@"; }

# LACP: both members of both ends collecting and distributing, and each
# end's partner in sync (state 61 both ways).
both_active() {
    [ "$(lab_metric_sum ecmp_router_bond_member_active 'port="uplink"')" = 2 ] &&
        [ "$(r2_metric_sum ecmp_router_bond_member_active 'port="uplink"')" = 2 ] &&
        [ "$(lab_metric_sum ecmp_router_bond_lacp_partner_state 'port="uplink"')" = 122 ]
}
check "LACP brings both members up on both ends" lab_wait 30 "both members active" both_active
r2_mac=$(r2_api /api/v1/ports | python3 -c 'import json,sys; print([p["mac"] for p in json.load(sys.stdin) if p["name"]=="uplink"][0])')
show=$(ctl link show)
printf '%s\n' "$show" | sed -n '/^uplink/,$p' | sed 's/^/        /'
check "ecmpctl link show: the bond, 802.3ad, both members active" contains "$show" "bond mode 802.3ad xmit_hash_policy layer3+4 active_members 2/2"
check "ecmpctl link show: each member's LACP state (61: active, aggregating, in sync, collecting, distributing)" \
    test "$(grep -c 'ad_actor_oper_port_state 61 ad_actor_oper_port_state_str <active,aggregating,in_sync,collecting,distributing>' <<<"$show")" = 2
check "ecmpctl link show: the partner is R2's bond ($r2_mac), in sync" \
    test "$(grep -c "ad_partner_system $r2_mac .* ad_partner_oper_port_state 61 " <<<"$show")" = 2
check "metrics: the partner's system id, per member" \
    test "$(lab_metric_sum ecmp_router_bond_lacp_partner_info "system=\"$r2_mac\"")" = 2
check "metrics: the actor state octet 61 on both members" \
    test "$(lab_metric_sum ecmp_router_bond_lacp_actor_state 'port="uplink"')" = 122

lab_wait 20 "the route's gateway resolved" bash -c "ip netns exec $CLI_NS ping -c 1 -W 1 10.1.0.2" || true
out=$(lab_ns "$CLI_NS" ping -c 3 -i 0.2 -W 2 10.1.0.2 2>&1 || true)
check "ping through the bond" contains "$out" "3 received"

# 200 connections chattering; 4 s in, member a's cable is cut: both of
# its ends lose their link (an interface down is a link down to net_tap).
member_tx() { lab_metrics | awk -v m="net_tap_${LAB_TAG}$1" '$1 ~ /^ecmp_router_bond_member_tx_packets_total/ && index($1, "member=\"" m "\"") { print $2 }'; }
a0=$(member_tx a) b0=$(member_tx b)
lab_ns "$CLI_NS" $FLOWS chatter 10.1.0.2 "$ECHO_PORT" 200 12 >"$LAB_DIR/chatter.out" 2>&1 &
chatter=$!
sleep 4
a1=$(member_tx a) b1=$(member_tx b)
echo "  before the cut: member a sent $((a1 - a0)), member b $((b1 - b0)) packets"
spread() { [ $((a1 - a0)) -gt 200 ] && [ $((b1 - b0)) -gt 200 ]; }
check "the connections' packets spread over both members (each >200 packets in 4 s)" spread
t_cut=$(date +%s%N)
ip link set "$A" down
ip link set "${A}p" down
gone() { [ "$(lab_metric_sum ecmp_router_bond_member_active "member=\"net_tap_${LAB_TAG}a\"")" = 0 ]; }
check "member a leaves the aggregate when its link goes down" lab_wait 10 "member a inactive" gone
echo "  member a out of the aggregate $(( ($(date +%s%N) - t_cut) / 1000000 )) ms after the cut (as the metrics show it)"
check "ecmpctl link show: member a BACKUP, link DOWN" contains "$(ctl link show)" "member net_tap_${LAB_TAG}a state BACKUP mii_status DOWN"
check "metrics: member a's link down" test "$(lab_metric_sum ecmp_router_bond_member_link_up "member=\"net_tap_${LAB_TAG}a\"")" = 0
sleep 1
a2=$(member_tx a) b2=$(member_tx b)
sleep 3
a3=$(member_tx a) b3=$(member_tx b)
echo "  after: member a sent $((a3 - a2)), member b $((b3 - b2)) packets in 3 s"
check "the traffic is on member b" test $((a3 - a2)) -eq 0 -a $((b3 - b2)) -gt 200
wait "$chatter" || true
res=$(cat "$LAB_DIR/chatter.out")
echo "  chatter: $res"
check "200 connections, none lost across the cut" contains "$res" '"conns": 200, '
check "... failed 0" contains "$res" '"failed": 0'
rounds=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rounds"])' "$LAB_DIR/chatter.out" 2>/dev/null || echo 0)
check "... and they kept exchanging ($rounds rounds)" test "$rounds" -gt 20
ip link set "$A" up
ip link set "${A}p" up
check "member a rejoins when its link is back" lab_wait 30 "both members active again" both_active
out=$(lab_ns "$CLI_NS" $FLOWS tcp 10.1.0.2 "$ECHO_PORT" 50)
check "new connections after the rejoin" contains "$out" '"failed": 0'
finish
