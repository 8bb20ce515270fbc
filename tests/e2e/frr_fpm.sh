#!/usr/bin/env bash
# FRR over FPM, end to end, with the real zebra and staticd from Debian.
# The router runs in its own namespace with zebra beside it (FPM is loopback
# only). zebra's view of the server subnets comes from veth interfaces in that
# namespace. Checked, in both FPM modes:
# - nexthop objects (zebra's default: RTM_NEWNEXTHOP, then routes with RTA_NH_ID),
#   which stay objects: the route names its nhid, and the group is the object's;
# - inline RTA_MULTIPATH (`no fpm use-next-hop-groups`).
# For each: the router's table (read through the API) matches FRR's, lab traffic
# follows it, and deleting a route in FRR removes it from the router. Restarting
# zebra with one route fewer exercises the resync: the route not re-sent is
# swept, and killing zebra with kill -9 has its routes swept after stale-time.
# Garbage sent to the FPM port is counted, resets the connection, and
# changes nothing.
source "$(dirname "$0")/../kit/e2e.sh"
[ -x /usr/lib/frr/zebra ] || { echo "FRR is not installed (apt-get install frr)"; exit 1; }

lab_init frr
lab_config --router-ns --extra "fpm: { listen: 127.0.0.1:2620, stale-time: 3 }"
lab_up
R=$LAB_RTR_NS
FRR=/var/run/frr/$LAB_TAG
cleanup_frr() { rm -rf "$FRR"; }
trap 'cleanup_frr; lab_down' EXIT
mkdir -p "$FRR" && chown frr:frr "$FRR"
for k in 1 2; do
    ip -n "$R" link add "fsrv$k" type veth peer name "fsrv${k}p"
    ip -n "$R" addr add "10.$k.0.254/24" dev "fsrv$k"
    ip -n "$R" addr add "fd0$k::254/64" dev "fsrv$k" nodad
    ip -n "$R" link set "fsrv$k" up
    ip -n "$R" link set "fsrv${k}p" up
    lab_ns "$(lab_ns_srv $k)" ip addr add 203.0.113.10/32 dev lo
    lab_ns "$(lab_ns_srv $k)" ip addr add 2001:db8:203::10/128 dev lo
done

ZEBRA_PID= STATICD_PID=
start_frr() { # MODE_LINE STATIC_ROUTES...
    local mode=$1; shift
    printf 'hostname lab\nlog file %s/zebra.log\nfpm address 127.0.0.1 port 2620\n%s\n' "$FRR" "$mode" >"$FRR/zebra.conf"
    { echo "hostname lab"; printf '%s\n' "$@"; } >"$FRR/staticd.conf"
    ip netns exec "$R" /usr/lib/frr/zebra -M dplane_fpm_nl -f "$FRR/zebra.conf" -N "$LAB_TAG" -u frr -g frr -i "$FRR/zebra.pid" >>"$FRR/zebra.out" 2>&1 &
    ZEBRA_PID=$!; LAB_PIDS+=("$ZEBRA_PID")
    lab_wait 10 "zebra's vty" test -S "$FRR/zebra.vty"
    ip netns exec "$R" /usr/lib/frr/staticd -f "$FRR/staticd.conf" -N "$LAB_TAG" -u frr -g frr -i "$FRR/staticd.pid" >>"$FRR/staticd.out" 2>&1 &
    STATICD_PID=$!; LAB_PIDS+=("$STATICD_PID")
}
stop_frr() {
    kill "$STATICD_PID" "$ZEBRA_PID" 2>/dev/null || true
    wait "$STATICD_PID" "$ZEBRA_PID" 2>/dev/null || true
}
vty() { ip netns exec "$R" vtysh -N "$LAB_TAG" -c "configure terminal" -c "$1" >/dev/null; }
routes() { lab_api GET /api/v1/routes; }
fpm_nexthops() { # PREFIX -> "via1,via2" of the router's fpm route, sorted, or "none"
    routes | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["prefix"] == sys.argv[1] and x["origin"] == "fpm"]; print(",".join(sorted(n["via"] + "@" + n["port"] for n in r[0]["nexthops"])) if r else "none")' "$1"
}
is_nh() { [ "$(fpm_nexthops "$1")" = "$2" ]; }
answers() { # TARGET -> "failed srv1 srv2"
    lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$1" "$SERVICE_PORT" 40 | python3 -c 'import json,sys; d=json.load(sys.stdin); a=d["answers"]; print(d["failed"], a.get("srv1",0), a.get("srv2",0))'
}
BOTH4="10.1.0.2@srv1,10.2.0.2@srv2"
BOTH6="fd01::2@srv1,fd02::2@srv2"
STATIC=("ip route 203.0.113.0/24 10.1.0.2" "ip route 203.0.113.0/24 10.2.0.2" "ipv6 route 2001:db8:203::/64 fd01::2" "ipv6 route 2001:db8:203::/64 fd02::2")

echo "-- FPM with nexthop objects (zebra's default)"
start_frr "" "${STATIC[@]}"
lab_wait 20 "FRR's routes in the router" is_nh 203.0.113.0/24 "$BOTH4" || cat "$FRR/zebra.log" | tail -5
check "IPv4 route from FRR: both paths, mapped to ports" is_nh 203.0.113.0/24 "$BOTH4"
# zebra's nexthop group stays an object: the route names it, and the router's
# group for it is the object's (one group, however many routes use it).
nhid=$(routes | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["prefix"] == "203.0.113.0/24" and x["origin"] == "fpm"]; print(r[0].get("nhid", "none"))')
check "the route uses zebra's nexthop object (nhid $nhid)" test "$nhid" != none
kind=$(lab_api GET /api/v1/groups | python3 -c 'import json,sys; g=[x for x in json.load(sys.stdin) if x["name"] == "fpm nhid " + sys.argv[1]]; print(g[0]["kind"], len(g[0]["members"])) if g else print("none")' "$nhid")
check "the router's group is that object's, with both members ($kind)" test "$kind" = "object 2"
lab_wait 10 "IPv6 route" is_nh 2001:db8:203::/64 "$BOTH6"
check "IPv6 route from FRR: both paths" is_nh 2001:db8:203::/64 "$BOTH6"
read -r f a b < <(answers 203.0.113.10)
check "IPv4 traffic follows FRR's route: srv1 $a, srv2 $b, failed $f" test "$f" = 0 -a "$a" -gt 0 -a "$b" -gt 0
read -r f a b < <(answers 2001:db8:203::10)
check "IPv6 traffic follows FRR's route: srv1 $a, srv2 $b, failed $f" test "$f" = 0 -a "$a" -gt 0 -a "$b" -gt 0
vty "no ip route 203.0.113.0/24 10.2.0.2"
lab_wait 10 "the path to leave" is_nh 203.0.113.0/24 "10.1.0.2@srv1"
check "removing a path in FRR removes it from the router" is_nh 203.0.113.0/24 "10.1.0.2@srv1"
read -r f a b < <(answers 203.0.113.10)
check "traffic follows: all 40 to srv1 ($a), none failed" test "$f" = 0 -a "$a" = 40
vty "no ip route 203.0.113.0/24 10.1.0.2"
lab_wait 10 "the route to leave" is_nh 203.0.113.0/24 none
check "deleting the route in FRR removes it from the router" is_nh 203.0.113.0/24 none
out=$(lab_ns "$LAB_NS_CLIENT" ping -c1 -W2 203.0.113.10 2>&1 || true)
check "and the router answers Destination Net Unreachable" contains "$out" "Destination Net Unreachable"
nh_msgs=$(lab_metric 'ecmp_router_control_events_total{event="fpm_nexthop_message"}')
check "zebra sent nexthop objects ($nh_msgs RTM_NEWNEXTHOP/DELNEXTHOP)" test "$nh_msgs" -gt 0
stop_frr

echo "-- FPM with inline RTA_MULTIPATH (no fpm use-next-hop-groups), after a restart with one route fewer"
start_frr "no fpm use-next-hop-groups" "ip route 203.0.113.0/24 10.1.0.2" "ip route 203.0.113.0/24 10.2.0.2"
lab_wait 20 "FRR's routes in the router" is_nh 203.0.113.0/24 "$BOTH4"
check "IPv4 route back, both paths, inline multipath" is_nh 203.0.113.0/24 "$BOTH4"
check "zebra sent inline multipath: no nexthop objects since the restart" test "$(lab_metric 'ecmp_router_control_events_total{event="fpm_nexthop_message"}')" = "$nh_msgs"
lab_wait 15 "the stale IPv6 route to be swept" is_nh 2001:db8:203::/64 none
check "the IPv6 route zebra did not re-send was swept" is_nh 2001:db8:203::/64 none
read -r f a b < <(answers 203.0.113.10)
check "IPv4 traffic follows: srv1 $a, srv2 $b, failed $f" test "$f" = 0 -a "$a" -gt 0 -a "$b" -gt 0
vty "no ip route 203.0.113.0/24 10.1.0.2"
lab_wait 10 "the path to leave" is_nh 203.0.113.0/24 "10.2.0.2@srv2"
check "removing a path in FRR removes it from the router (multipath mode)" is_nh 203.0.113.0/24 "10.2.0.2@srv2"
vty "ip route 198.18.7.0/24 blackhole"
vty "ip route 198.18.8.0/24 reject"
route_type() { routes | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["prefix"] == sys.argv[1] and x["origin"] == "fpm"]; print(r[0]["type"] + " " + r[0]["protocol"] if r else "none")' "$1"; }
type_is() { [ "$(route_type "$1")" = "$2" ]; }
lab_wait 10 "FRR's reject routes" type_is 198.18.8.0/24 "unreachable static"
check "FRR's blackhole route arrives as a blackhole, proto static" type_is 198.18.7.0/24 "blackhole static"
check "FRR's reject route arrives as unreachable" type_is 198.18.8.0/24 "unreachable static"
out=$(lab_ns "$LAB_NS_CLIENT" ping -c1 -W2 198.18.8.9 2>&1 || true)
check "and the router answers Destination Host Unreachable for it" contains "$out" "Destination Host Unreachable"
check "metrics: zebra connected, no FPM errors so far" test "$(lab_metric ecmp_router_fpm_connected)" = 1 -a "$(lab_metric 'ecmp_router_control_events_total{event="fpm_error"}')" = 0
stop_frr

echo "-- zebra killed with kill -9: its routes go after stale-time (3 s)"
start_frr "" "ip route 203.0.113.0/24 10.1.0.2" "ip route 203.0.113.0/24 10.2.0.2"
lab_wait 20 "FRR's routes in the router" is_nh 203.0.113.0/24 "$BOTH4"
check "route back from a new zebra" is_nh 203.0.113.0/24 "$BOTH4"
kill -KILL "$ZEBRA_PID" "$STATICD_PID"; wait "$ZEBRA_PID" "$STATICD_PID" 2>/dev/null || true
check "kept while zebra may come back" is_nh 203.0.113.0/24 "$BOTH4"
lab_wait 10 "the sweep" is_nh 203.0.113.0/24 none
check "swept after stale-time with no new session" is_nh 203.0.113.0/24 none
no_fpm_routes() { routes | python3 -c 'import json,sys; sys.exit(any(r["origin"] == "fpm" for r in json.load(sys.stdin)))'; }
check "no FPM route left" no_fpm_routes
rm -f "$FRR"/*.pid "$FRR"/*.vty

# Garbage on the FPM port: counted, connection reset, nothing applied, router alive.
before=$(routes)
ip netns exec "$R" python3 -c 'import socket; s=socket.create_connection(("127.0.0.1", 2620)); s.sendall(b"\x01\x01\x00\x20" + bytes(range(28))); s.close()'
ip netns exec "$R" python3 -c 'import socket; s=socket.create_connection(("127.0.0.1", 2620)); s.sendall(b"\x07\x09\x00\x04"); s.close()'
fpm_errors() { [ "$(lab_metric 'ecmp_router_control_events_total{event="fpm_error"}')" -ge 2 ]; }
lab_wait 5 "errors to be counted" fpm_errors
check "malformed FPM input is counted (2 errors)" fpm_errors
check "and changes nothing" test "$(routes)" = "$before"
check "the router is still running" kill -0 "$LAB_ROUTER_PID"
finish
