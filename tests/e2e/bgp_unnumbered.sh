#!/usr/bin/env bash
# BGP unnumbered through the router's ports (issue 14): the leaf lab with
# the session to spine1 on IPv6 link-local addresses only (`neighbor spine1
# interface remote-as external`). It carries IPv4 routes over the link-local
# nexthop (RFC 5549: zebra sends 169.254.0.1 onlink over FPM and keeps the
# peer's MAC in a kernel neighbour, which the router mirrors) and an IPv6
# prefix with a link-local nexthop. Traffic to both uses spine1; spine2
# stays a numbered session.
source "$(dirname "$0")/../kit/e2e.sh"
source "$ROOT/deploy/lab/leaf.sh"
lab_init unnumbered
trap 'leaf_down; lab_down' EXIT
export LEAF_UNNUMBERED=1
leaf_up
lab_wait 90 "both BGP sessions" leaf_sessions_up || leaf_vtysh leaf -c "show bgp summary" || true
check "the unnumbered session to spine1 and the numbered one to spine2 are established" leaf_sessions_up
peer=$(leaf_vtysh leaf -c 'show bgp neighbors spine1 json' 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(list(d.values())[0].get("hostLocal", "") + " -> " + list(d.values())[0].get("hostForeign", ""))' 2>/dev/null || true)
check "it runs between IPv6 link-local addresses ($peer)" bash -c "[[ '$peer' == fe80:* ]]"
lab_wait 30 "the RFC 5549 route over FPM" bash -c "ip netns exec $LEAF_NS curl -sf 'http://127.0.0.1:$LEAF_API/api/v1/routes?prefix=203.0.113.0/24' | grep -q spine1" || true
nh=$(leaf_route_nexthops)
# zebra sends the IPv4 route's spine1 path either as the peer's link-local
# address (RTA_VIA / an IPv6 NHA_GATEWAY) or as 169.254.0.1 onlink.
check "the IPv4 service route has spine1's IPv6 link-local (RFC 5549) nexthop and spine2's ($nh)" bash -c "[[ '$nh' == 10.2.0.2@spine2,fe80:*@spine1 || '$nh' == 10.2.0.2@spine2,169.254.0.1@spine1 ]]"
check "the router mirrors zebra's kernel neighbour for 169.254.0.1 (PERMANENT)" bash -c "leaf_api() { ip netns exec $LEAF_NS curl -sf http://127.0.0.1:$LEAF_API/api/v1/\$1; }; leaf_api neighbors | python3 -c 'import json,sys; sys.exit(0 if any(n[\"address\"] == \"169.254.0.1\" and n[\"port\"] == \"spine1\" and n[\"state\"] == \"PERMANENT\" and n.get(\"mac\") for n in json.load(sys.stdin)) else 1)'"
split=$(leaf_connections 100)
read -r _ s1 _ s2 _ failed <<<"$split"
check "100 IPv4 connections complete over both spines, spine1 through RFC 5549 ($split)" bash -c "[ $failed = 0 ] && [ $s1 -gt 0 ] && [ $s2 -gt 0 ]"
lab_wait 30 "the IPv6 route" bash -c "ip netns exec $LEAF_NS curl -sf 'http://127.0.0.1:$LEAF_API/api/v1/routes?prefix=2001:db8:203::/48' | grep -q fe80" || true
nh6=$(leaf_api "routes?prefix=2001:db8:203::/48" | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["origin"] == "fpm"]; print(",".join(n["via"] + "@" + n["port"] for n in r[0]["nexthops"]) if r else "none")')
check "the IPv6 route has spine1's link-local nexthop ($nh6)" bash -c "[[ '$nh6' == fe80:*@spine1 ]]"
ok6=0
for i in $(seq 20); do
    out=$(ip netns exec "$LEAF_HOSTS_NS" timeout 3 socat -u "TCP6:[2001:db8:203::10]:$LEAF_SERVICE_PORT,connect-timeout=2" STDOUT 2>/dev/null || true)
    [ "$out" = spine1 ] && ok6=$((ok6 + 1))
done
check "20 IPv6 connections reach spine1 over its link-local nexthop ($ok6)" test "$ok6" = 20
finish
