#!/usr/bin/env bash
# The data-centre leaf through the router's own ports (issue 14): the
# example config deploy/examples/leaf-frr.yaml (devices replaced by lab
# taps) and deploy/examples/frr/leaf-frr.conf unchanged. bgpd on the
# router's host peers with a bgpd in each spine namespace through the
# router's DPDK ports and their kernel interfaces; the spines learn the
# leaf's prefix with the router's port address as nexthop; TCP from the
# hosts behind the leaf to the anycast service behind both spines completes
# and splits over both; a TCP service on the router's host answers on the
# port address, and so do ssh and nc; and after kill -9 and a restart no stale interface is left
# and the sessions come back.
source "$(dirname "$0")/../kit/e2e.sh"
source "$ROOT/deploy/lab/leaf.sh"
[ -x /usr/lib/frr/bgpd ] || { echo "FRR's bgpd is not installed (bash scripts/setup.sh)"; exit 1; }
# LEAF_DAEMON=bird (tests/e2e/leaf_bird.sh): BIRD 2 on the leaf instead of FRR,
# its routes through the kernel's table (kernel-routes) instead of FPM.
DAEMON=${LEAF_DAEMON:-frr}
if [ "$DAEMON" = bird ]; then WHO="BIRD"; VIA="the kernel's table (kernel-routes)"; else WHO="bgpd"; VIA="FPM"; fi
lab_init "leaf-$DAEMON"
trap 'leaf_down; lab_down' EXIT
N=${LEAF_CONNECTIONS:-200}

leaf_up
check "the router's ports have kernel interfaces with their names, MACs and addresses" bash -c "
    for p in spine1 spine2 hosts; do ip -n $LEAF_NS link show \$p >/dev/null || exit 1; done
    ip -n $LEAF_NS -4 addr show spine1 | grep -q 'inet 10.1.0.1/24' &&
    ip -n $LEAF_NS -6 addr show spine2 | grep -q 'inet6 fd02::1/64' &&
    [ \"\$(ip -n $LEAF_NS -j link show spine1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"address\"])')\" = \"\$(ip netns exec $LEAF_NS curl -sf http://127.0.0.1:$LEAF_API/api/v1/ports | python3 -c 'import json,sys; print([p[\"mac\"] for p in json.load(sys.stdin) if p[\"name\"] == \"spine1\"][0])')\" ]"
check "the kernel interfaces are up on moved taps (monitor-link auto: net_tap's link is not the wire's)" bash -c "ip -n $LEAF_NS link show spine1 | grep -q LOWER_UP"
t0=$SECONDS
lab_wait 90 "both BGP sessions of the leaf" leaf_sessions_up || leaf_vtysh leaf -c "show bgp summary" || true
check "$WHO on the router's host peers with both spines through the router's ports (after $((SECONDS - t0)) s)" leaf_sessions_up
for k in 1 2; do
    lab_wait 30 "spine$k learns 10.100.0.0/24" bash -c "[ \"\$(source $ROOT/deploy/lab/lib.sh; source $ROOT/deploy/lab/leaf.sh; LEAF_SPINE_NS=([1]=${LEAF_SPINE_NS[1]} [2]=${LEAF_SPINE_NS[2]}); LAB_TAG=$LAB_TAG; leaf_spine_learned $k)\" = 10.$k.0.1 ]" || true
    got=$(leaf_spine_learned "$k")
    check "spine$k learns the leaf's 10.100.0.0/24 with the router's port address 10.$k.0.1 as nexthop ($got)" test "$got" = "10.$k.0.1"
done
lab_wait 30 "the service route over FPM" bash -c "[ \"\$(ip netns exec $LEAF_NS curl -sf 'http://127.0.0.1:$LEAF_API/api/v1/routes?prefix=203.0.113.0/24' | grep -o '10\.[12]\.0\.2' | sort -u | wc -l)\" = 2 ]" || true
nh=$(leaf_route_nexthops)
check "BGP's ECMP route from both spines reaches the router through $VIA ($nh)" test "$nh" = "10.1.0.2@spine1,10.2.0.2@spine2"

split=$(leaf_connections "$N")
read -r _ s1 _ s2 _ failed <<<"$split"
check "$N TCP connections from the hosts to the service behind both spines complete ($split)" test "$failed" = 0
check "they split over both spines" bash -c "[ $s1 -ge $((N / 5)) ] && [ $s2 -ge $((N / 5)) ]"

# A TCP service on the router's host, reached on the port address from a spine (nc/ssh alike).
ip netns exec "$LEAF_NS" socat TCP-LISTEN:2222,bind=10.1.0.1,fork,reuseaddr SYSTEM:"echo leaf-host" >/dev/null 2>&1 &
LAB_PIDS+=($!)
lab_wait 5 "the host's listener" lab_listening "$LEAF_NS" 2222 || true
got=$(ip netns exec "${LEAF_SPINE_NS[1]}" timeout 5 socat -u TCP:10.1.0.1:2222,connect-timeout=3 STDOUT 2>/dev/null || true)
check "a TCP service on the router's host answers on the port address, from spine1 ($got)" test "$got" = leaf-host
# ssh to the port address: an sshd on the router's host (its own config and
# keys, port 2022), a key login from spine1, through the router's ports.
mkdir -p /run/sshd "$LAB_DIR/ssh"; chmod 700 "$LAB_DIR/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$LAB_DIR/ssh/host"
ssh-keygen -q -t ed25519 -N '' -f "$LAB_DIR/ssh/user"
cp "$LAB_DIR/ssh/user.pub" "$LAB_DIR/ssh/authorized_keys"
cat >"$LAB_DIR/ssh/sshd_config" <<C
ListenAddress 10.1.0.1:2022
ListenAddress 10.2.0.1:2022
HostKey $LAB_DIR/ssh/host
AuthorizedKeysFile $LAB_DIR/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
PidFile $LAB_DIR/ssh/sshd.pid
C
ip netns exec "$LEAF_NS" /usr/sbin/sshd -D -e -f "$LAB_DIR/ssh/sshd_config" >"$LAB_DIR/sshd.log" 2>&1 &
LAB_PIDS+=($!)
lab_wait 5 "sshd" lab_listening "$LEAF_NS" 2022 2 || cat "$LAB_DIR/sshd.log"
got=$(ip netns exec "${LEAF_SPINE_NS[1]}" timeout 15 ssh -n -i "$LAB_DIR/ssh/user" -p 2022 -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR root@10.1.0.1 'cat /proc/sys/kernel/hostname; ip -br link show spine1' 2>&1 || true)
check "ssh from spine1 to the port address logs in on the router's host and sees its kernel interface ($(tr '\n' ' ' <<<"$got"))" contains "$got" "spine1"
got=$(ip netns exec "${LEAF_SPINE_NS[2]}" nc -z -w 3 10.2.0.1 2022 2>&1 && echo open || echo closed)
check "nc from spine2 to the other port address reaches the same sshd ($got)" test "$got" = open
ping6=$(ip netns exec "${LEAF_SPINE_NS[2]}" ping -6 -c2 -i0.2 -W2 fd02::1 2>&1 | grep -c 'bytes from' || true)
check "the router answers IPv6 on its port address ($ping6 replies)" test "$ping6" -ge 1

m=$(lab_metrics_in() { ip netns exec "$LEAF_NS" curl -sf "http://127.0.0.1:$LEAF_API/metrics"; }; lab_metrics_in)
to_k=$(awk '/^ecmp_router_kernel_interface_packets_total\{direction="to_kernel",port="spine1"\}/ {print $2}' <<<"$m")
from_k=$(awk '/^ecmp_router_kernel_interface_packets_total\{direction="from_kernel",port="spine1"\}/ {print $2}' <<<"$m")
check "frames to and from spine1's kernel interface are counted ($to_k to, $from_k from)" bash -c "[ ${to_k:-0} -gt 0 ] && [ ${from_k:-0} -gt 0 ]"
routing=$(awk '/^ecmp_router_punt_packets_total\{class="routing"\}/ {print $2}' <<<"$m")
check "BGP from the learned peers is policed as routing protocol traffic ($routing packets)" test "${routing:-0}" -gt 0
check "the peers were learned from what $WHO sent" bash -c "grep 'routing peer learned' '$LAB_DIR/router.log' | grep -q 10.1.0.2"

echo "-- kill -9 and restart"
kill -9 "$LAB_ROUTER_PID"; wait "$LAB_ROUTER_PID" 2>/dev/null || true
lab_wait 5 "the kernel interfaces go" bash -c "! ip -n $LEAF_NS link show spine1 2>/dev/null" || true
check "after kill -9, no kernel interface is left" bash -c "! ip -n $LEAF_NS link show spine1 2>/dev/null && ! ip -n $LEAF_NS link show hosts 2>/dev/null"
ip netns exec "$LEAF_NS" timeout 40 ip -o monitor address >"$LAB_DIR/addr-events" 2>&1 &
LAB_PIDS+=($!)
sleep 0.2
leaf_start_router
leaf_wire
check "the restarted router has its kernel interfaces again" bash -c "ip -n $LEAF_NS link show spine1 >/dev/null"
# zebra may drop an address that comes before it knows the new interface
# (its link and address events are read by two threads); the router says
# its addresses again after 1 s, so that zebra learns them in any order.
lab_wait 15 "the addresses said again" bash -c "[ \$(grep -c 'spine2 .*inet 10.2.0.1/24' '$LAB_DIR/addr-events') -ge 2 ]" || cat "$LAB_DIR/addr-events"
check "the restarted router announces its port addresses again after it added them ($(grep -c 'spine2 .*inet 10.2.0.1/24' "$LAB_DIR/addr-events") events)" \
    bash -c "[ \$(grep -c 'spine2 .*inet 10.2.0.1/24' '$LAB_DIR/addr-events') -ge 2 ]"
t0=$SECONDS
lab_wait 150 "both sessions again" leaf_sessions_up || leaf_vtysh leaf -c "show bgp summary" || true
check "the BGP sessions re-establish after the restart (after $((SECONDS - t0)) s)" leaf_sessions_up
if [ "$DAEMON" = frr ]; then
    check "zebra knows every port address again after the restart" bash -c "
        leaf_if() { ip netns exec $LEAF_NS vtysh -N $LAB_TAG-leaf -c \"show interface \$1\" 2>/dev/null; }
        leaf_if spine1 | grep -q 'inet 10.1.0.1/24' && leaf_if spine2 | grep -q 'inet 10.2.0.1/24' && leaf_if hosts | grep -q 'inet 10.100.0.1/24'"
fi
lab_wait 30 "the service route again" bash -c "[ \"\$(ip netns exec $LEAF_NS curl -sf 'http://127.0.0.1:$LEAF_API/api/v1/routes?prefix=203.0.113.0/24' | grep -o '10\.[12]\.0\.2' | sort -u | wc -l)\" = 2 ]" || true
split=$(leaf_connections 20)
read -r _ s1 _ s2 _ failed <<<"$split"
check "traffic flows again after the restart ($split)" test "$failed" = 0
finish
