#!/usr/bin/env bash
# `ecmpctl route show` prints what `ip route show` prints (issue 16): the lab's
# router (its config's ports and routes), and a kernel namespace with the same
# interfaces, addresses and routes. The same `route add` lines go to both:
# `ip route add LINE` in the namespace, `ecmpctl route add LINE` to the router.
# The text is compared line by line (the kernel's `pref medium` and trailing
# spaces removed), then the -j keys of each route, then the filters.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init iproute
lab_config
lab_up
CTL="$LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT"

# The kernel's twin: veths named as the router's ports, their peers in a
# namespace of their own (so that their own fe80::/64 routes stay there).
K="$LAB_TAG-kern"; KP="$LAB_TAG-kpeer"
ip netns add "$K"; LAB_NAMESPACES+=("$K")
ip netns add "$KP"; LAB_NAMESPACES+=("$KP")
for spec in "lan 10.0.0.1/16 fd00::1/64" "srv1 10.1.0.1/24 fd01::1/64" "srv2 10.2.0.1/24 fd02::1/64"; do
    read -r dev a4 a6 <<<"$spec"
    ip -n "$K" link add "$dev" type veth peer name "p$dev" netns "$KP"
    ip -n "$K" addr add "$a4" dev "$dev"
    ip -n "$K" addr add "$a6" dev "$dev" nodad
    ip -n "$K" link set "$dev" up
    ip -n "$KP" link set "p$dev" up
done
# The lab config's two routes, as ip(8) writes them.
ip -n "$K" route add 198.51.100.0/24 proto static nexthop via 10.1.0.2 dev srv1 weight 1 nexthop via 10.2.0.2 dev srv2 weight 2
ip -n "$K" -6 route add 2001:db8:100::/64 proto static nexthop via fd01::2 dev srv1 weight 1 nexthop via fd02::2 dev srv2 weight 2

LINES=(
    "203.0.113.0/24 via 10.1.0.2 dev srv1 proto static metric 20"
    "192.0.2.0/24 proto static metric 30 nexthop via 10.1.0.2 dev srv1 weight 1 nexthop via 10.2.0.2 dev srv2 weight 3"
    "default via 10.2.0.2 dev srv2 proto static metric 100"
    "blackhole 198.18.7.0/24 proto static"
    "unreachable 198.18.8.0/24 proto static metric 5"
    "2001:db8:5::/48 via fd02::2 dev srv2 proto static metric 20"
    "2001:db8:6::/48 proto static metric 40 nexthop via fd01::2 dev srv1 weight 2 nexthop via fd02::2 dev srv2 weight 1"
)
for l in "${LINES[@]}"; do
    # shellcheck disable=SC2086
    ip -n "$K" route add $l
    # shellcheck disable=SC2086
    $CTL route add $l
done

norm() { sed -e 's/ pref medium//' -e 's/[[:space:]]*$//'; }
same() { # WHAT ARGS...: `ip ARGS` in the twin and `ecmpctl ARGS` print the same
    local what=$1; shift
    local k o
    k=$(ip -n "$K" "$@" | norm)
    o=$($CTL "$@" | norm)
    if [ "$k" = "$o" ]; then
        check "$what: ecmpctl $* prints what ip $* prints ($(wc -l <<<"$k") lines)" true
    else
        echo "--- ip $*"; echo "$k"; echo "--- ecmpctl $*"; echo "$o"
        check "$what: ecmpctl $* prints what ip $* prints" false
    fi
}
same "IPv4" -4 route show
same "IPv6" -6 route show
same "one prefix" -4 route show 192.0.2.0/24
same "a bare address is its prefix" -4 route show 203.0.113.0/24
same "a device" -4 route show dev srv2
same "IPv6 through a device" -6 route show dev srv1
same "a protocol" -4 route show proto kernel
same "root" -4 route show root 198.0.0.0/8
same "match" -4 route show match 198.51.100.7
same "default" -4 route show default

# iproute2's JSON keys, route by route (IPv6's `pref` is the kernel's own).
keys() { python3 -c '
import json, sys
for r in json.load(sys.stdin):
    r.pop("pref", None)
    hops = ",".join(sorted({k for n in r.get("nexthops", []) for k in n}))
    print(r["dst"], " ".join(sorted(r)), hops)'; }
for fam in -4 -6; do
    k=$(ip -n "$K" -j "$fam" route show | keys)
    o=$($CTL -j "$fam" route show | keys)
    if [ "$k" = "$o" ]; then check "-j $fam route show has iproute2's keys for every route" true
    else echo "--- ip"; echo "$k"; echo "--- ecmpctl"; echo "$o"; check "-j $fam route show has iproute2's keys for every route" false; fi
done
check "-j is compact, -j -p is indented" bash -c "[ \$($CTL -j route show | wc -l) = 1 ] && [ \$($CTL -j -p route show | wc -l) -gt 1 ]"
out=$($CTL -j route add 198.18.9.0/24 via 10.1.0.2 dev srv1)
check "writes answer in JSON under -j ($out)" bash -c "python3 -c 'import json,sys; json.loads(sys.argv[1])' '$out'"

# What iproute2 has no word for: only with -d, and inactive routes too.
check "-d adds the router's own attributes" bash -c "$CTL -d route show 198.51.100.0/24 | grep -q 'origin config group hash-threshold hash l4'"
$CTL route add 198.51.100.0/24 via 10.2.0.2 dev srv2 >/dev/null
check "a route another origin overrides shows only with -d" bash -c "
    [ \$($CTL route show 198.51.100.0/24 | grep -c '^198.51.100.0/24') = 1 ] &&
    $CTL -d route show 198.51.100.0/24 | grep -q 'origin config .* inactive'"
check "table local lists the router's addresses" bash -c "$CTL route show table local | grep -qx 'local 10.1.0.1 dev srv1 proto kernel scope host src 10.1.0.1'"
check "table all names the tables other than main" bash -c "$CTL route show table all | grep -q 'local 10.1.0.1 dev srv1 table local proto kernel'"
rc=0; $CTL route show tabel main >/dev/null 2>"$LAB_DIR/err" || rc=$?
check "a misspelt word is a usage error that names it (rc $rc: $(cat "$LAB_DIR/err"))" bash -c "[ $rc = 2 ] && grep -q \"'tabel'\" '$LAB_DIR/err'"
finish
