# The data-centre leaf lab, through the router's own ports (source after
# lib.sh and lab_init). deploy/examples/leaf-frr.yaml runs with its devices
# replaced by net_tap ports whose kernel side goes into a namespace per
# spine and one for the hosts; FRR's zebra and bgpd run beside the router,
# unmodified, with deploy/examples/frr/leaf-frr.conf, and peer with a bgpd
# in each spine through the router's kernel interfaces (kernel-interfaces:
# true). Each spine advertises the anycast service 203.0.113.0/24 and
# answers on 203.0.113.10:8080 with its name.
#
#   hosts ns (10.100.0.2) -- [hosts | router + FRR (ns R) | spine1, spine2] -- spine ns (10.k.0.2)
#
# leaf_up sets LEAF_NS (the router's namespace), LEAF_API (its API port),
# LEAF_HOSTS_NS and LEAF_SPINE_NS[1..2].
#
# LEAF_BFD=1: every BGP session also runs BFD (bfdd, 100 ms x 3) with a hold
# time of 9 s and reconnects at once; the leaf's FRR config is then the
# example's plus those lines, and the spines run zebra and bfdd too.
#
# LEAF_UNNUMBERED=1: the session with spine1 is BGP unnumbered (`neighbor
# spine1 interface remote-as external`, IPv6 link-local), carrying IPv4
# routes over the link-local nexthop (RFC 5549) and an IPv6 service prefix;
# spine1 runs zebra too.
#
# LEAF_VLAN=1: spine2 is on VLAN 2 of a trunk port (trunk2): the router's
# spine2 is that VLAN's sub-interface (its kernel interface keeps the name,
# so FRR's config is the same), and spine2's end is an interface on VLAN 2
# of its link (a Linux VLAN device, or through deploy/lab/vlan_switch.py
# where the kernel has no 802.1Q).
#
# LEAF_DAEMON=bird: deploy/examples/leaf-bird.yaml and bird/leaf-bird.conf,
# BIRD 2 instead of FRR on the router's host; routes reach the router
# through the kernel's table (kernel-routes) instead of FPM.

LEAF_SERVICE=203.0.113.10
LEAF_SERVICE_PORT=8080

# lab_frr NS PATHSPACE DIR DAEMON [ARGS...]: starts FRR's DAEMON in namespace
# NS with DIR/DAEMON.conf, under pathspace PATHSPACE (vtysh -N), as the lab's
# child; its output goes to DIR/DAEMON.out.
lab_frr() {
    local ns=$1 name=$2 d=$3 daemon=$4; shift 4
    ip netns exec "$ns" "/usr/lib/frr/$daemon" -f "$d/$daemon.conf" -N "$name" -u frr -g frr -i "$d/$daemon.pid" "$@" >"$d/$daemon.out" 2>&1 &
    LAB_PIDS+=($!)
}

# _leaf_frrdir NAME: FRR's run directory for pathspace NAME, in $d; leaf_down
# removes it (so it must not run in a subshell, which would lose the record).
_leaf_frrdir() { d=/var/run/frr/$1; mkdir -p "$d"; chown frr:frr "$d"; LAB_FRRDIRS+=("$d"); }

# leaf_config OUT: the example with lab devices, no hugepages and free ports.
leaf_config() {
    python3 - "$ROOT/deploy/examples/leaf-${LEAF_DAEMON:-frr}.yaml" "$1" "$LAB_API_PORT" "$((LAB_API_PORT + 1))" "$LAB_TAG" <<'PY'
import re, sys
src, out, api, fpm, tag = sys.argv[1:]
s = open(src).read()
names = iter(["w1", "w2", "wh"])
n = iter(range(10))
# Only the devices change: net_tap ports whose own interface (iface=) is not
# the port's name, which the router's kernel interface carries.
s = re.sub(r'device: "[^"]*"', lambda m: f'device: "net_tap_{tag}{next(n)},iface={tag}{next(names)}"', s)
workers = int((re.search(r"^workers: (\d+)", s, re.M) or [0, 1])[1])
lcores = ",".join(f"{i}@{min(i, 1)}" for i in range(workers + 1))
s = re.sub(r"^eal: .*$", f'eal: [--no-huge, --no-shconf, --no-pci, -m, "512", --file-prefix, {tag}leaf, --lcores, "{lcores}"]', s, flags=re.M)
s = re.sub(r"127\.0\.0\.1:(9464|2620)\b", lambda m: f"127.0.0.1:{api if m[1] == '9464' else fpm}", s)
open(out, "w").write(s)
PY
    if [ -n "${LEAF_VLAN:-}" ]; then
        sed -i -E 's/^  - \{ name: spine2, (device: "[^"]*"), addresses: \[([^]]*)\] \}/  - { name: trunk2, \1, vlans: [{ id: 2, name: spine2, addresses: [\2] }] }/' "$1"
        grep -q 'name: trunk2' "$1" || { echo "leaf_config: no spine2 port to put on a VLAN" >&2; return 1; }
    fi
}

# _leaf_vlan2: spine2's interface on VLAN 2 of its link w2 (LEAF_VLAN):
# v2, a Linux VLAN device where the kernel has 802.1Q, else a veth behind
# deploy/lab/vlan_switch.py.
_leaf_vlan2() {
    local ns=${LEAF_SPINE_NS[2]} w=${LAB_TAG}w2
    ip -n "$ns" link del v2 2>/dev/null || true
    [ -z "${LEAF_SWITCH_PID:-}" ] || kill "$LEAF_SWITCH_PID" 2>/dev/null || true
    if ip -n "$ns" link add link "$w" name v2 type vlan id 2 2>/dev/null; then
        LEAF_VLAN_PEER=linux
    else
        LEAF_VLAN_PEER=switch
        ip -n "$ns" link add s2 type veth peer name v2
        ip -n "$ns" link set s2 up
        ip netns exec "$ns" ethtool -K s2 tx off tso off gso off gro off >/dev/null 2>&1 || true
        ip netns exec "$ns" ethtool -K v2 tx off tso off gso off gro off >/dev/null 2>&1 || true
        ip netns exec "$ns" python3 "$ROOT/deploy/lab/vlan_switch.py" "$w" 2:s2 >"$LAB_DIR/switch.log" 2>&1 &
        LEAF_SWITCH_PID=$!
        LAB_PIDS+=($!)
    fi
    ip -n "$ns" link set "$w" address 02:00:00:00:02:fe up
    ip -n "$ns" link set v2 address 02:00:00:00:02:02 up
    ip -n "$ns" addr replace 10.2.0.2/24 dev v2
    ip -n "$ns" addr replace fd02::2/64 dev v2 nodad
    ip -n "$ns" route replace 10.100.0.0/24 via 10.2.0.1
}

leaf_api() { ip netns exec "$LEAF_NS" curl -sf "http://127.0.0.1:$LEAF_API/api/v1/$1"; }

# leaf_start_router: (re)starts the router in LEAF_NS; sets LAB_ROUTER_PID.
leaf_start_router() {
    RUST_LOG=info ip netns exec "$LEAF_NS" "$ROOT/target/release/ecmp-router" --config "$LAB_DIR/leaf.yaml" >>"$LAB_DIR/router.log" 2>&1 &
    LAB_ROUTER_PID=$!
    lab_wait 30 "leaf router serving" ip netns exec "$LEAF_NS" curl -sf "http://127.0.0.1:$LEAF_API/metrics" -o /dev/null
}

# leaf_wire: moves the PMDs' interfaces into the spine and hosts namespaces
# and addresses them (again after a restart: new PMD interfaces).
leaf_wire() {
    local k ifn
    for k in 1 2; do
        ifn=${LAB_TAG}w$k
        lab_wait 10 "$ifn" ip -n "$LEAF_NS" link show "$ifn" || return 1
        ip -n "$LEAF_NS" link set "$ifn" netns "${LEAF_SPINE_NS[$k]}"
        if [ "$k" = 2 ] && [ -n "${LEAF_VLAN:-}" ]; then
            _leaf_vlan2
            continue
        fi
        ip -n "${LEAF_SPINE_NS[$k]}" link set "$ifn" address "02:00:00:00:0$k:02" up
        ip -n "${LEAF_SPINE_NS[$k]}" addr replace "10.$k.0.2/24" dev "$ifn"
        ip -n "${LEAF_SPINE_NS[$k]}" addr replace "fd0$k::2/64" dev "$ifn" nodad
        ip -n "${LEAF_SPINE_NS[$k]}" route replace 10.100.0.0/24 via "10.$k.0.1"
    done
    ifn=${LAB_TAG}wh
    lab_wait 10 "$ifn" ip -n "$LEAF_NS" link show "$ifn" || return 1
    ip -n "$LEAF_NS" link set "$ifn" netns "$LEAF_HOSTS_NS"
    ip -n "$LEAF_HOSTS_NS" link set "$ifn" address 02:00:00:00:64:02 up
    ip -n "$LEAF_HOSTS_NS" addr replace 10.100.0.2/24 dev "$ifn"
    ip -n "$LEAF_HOSTS_NS" addr replace fd64::2/64 dev "$ifn" nodad
    ip -n "$LEAF_HOSTS_NS" route replace default via 10.100.0.1
    ip -n "$LEAF_HOSTS_NS" -6 route replace default via fd64::1
}

# leaf_start_frr: zebra (dplane_fpm_nl) and bgpd on the router's host, with
# the example's FRR config (only the FPM port is the lab's).
leaf_start_frr() {
    local d
    _leaf_frrdir "$LAB_TAG-leaf"
    sed "s/fpm address 127.0.0.1 port 2620/fpm address 127.0.0.1 port $((LEAF_API + 1))/" "$ROOT/deploy/examples/frr/leaf-frr.conf" >"$d/frr.conf"
    grep -E '^(hostname|fpm)' "$d/frr.conf" >"$d/zebra.conf"; grep -v '^fpm' "$d/frr.conf" >"$d/bgpd.conf"
    if [ -n "${LEAF_UNNUMBERED:-}" ]; then
        python3 - "$d/bgpd.conf" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read()
s = s.replace(" neighbor 10.1.0.2 remote-as 65100\n", " neighbor spine1 interface remote-as external\n")
s = s.replace(" exit-address-family\n", " exit-address-family\n !\n address-family ipv6 unicast\n  neighbor spine1 activate\n  network fd64::/64\n  maximum-paths 8\n exit-address-family\n", 1)
open(p, "w").write(s)
PY
    fi
    if [ -n "${LEAF_BFD:-}" ]; then
        python3 - "$d/bgpd.conf" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read()
s = re.sub(r"^ neighbor (\S+) remote-as .*\n", lambda m: m[0] + "".join(f" neighbor {m[1]} {x}\n" for x in ("bfd profile fast", "timers 3 9", "timers connect 1")), s, flags=re.M)
open(p, "w").write(s)
PY
        _leaf_bfdd_conf "$d" leaf
    fi
    chown frr:frr "$d"/*.conf
    ip netns exec "$LEAF_NS" /usr/lib/frr/zebra -M dplane_fpm_nl -f "$d/zebra.conf" -N "$LAB_TAG-leaf" -u frr -g frr -i "$d/zebra.pid" >"$d/zebra.out" 2>&1 &
    LAB_PIDS+=($!)
    lab_wait 10 "zebra" test -S "$d/zebra.vty" || return 1
    ip netns exec "$LEAF_NS" /usr/lib/frr/bgpd -f "$d/bgpd.conf" -N "$LAB_TAG-leaf" -u frr -g frr -i "$d/bgpd.pid" >"$d/bgpd.out" 2>&1 &
    LAB_PIDS+=($!)
    if [ -n "${LEAF_BFD:-}" ]; then
        ip netns exec "$LEAF_NS" /usr/lib/frr/bfdd -f "$d/bfdd.conf" -N "$LAB_TAG-leaf" -u frr -g frr -i "$d/bfdd.pid" >"$d/bfdd.out" 2>&1 &
        LAB_PIDS+=($!)
    fi
}

# _leaf_bfdd_conf DIR NAME: bfdd's config, the "fast" profile (100 ms x 3).
_leaf_bfdd_conf() {
    cat >"$1/bfdd.conf" <<C
hostname $2
bfd
 profile fast
  transmit-interval 100
  receive-interval 100
  detect-multiplier 3
 exit
exit
C
}

# leaf_start_bird: BIRD 2 on the router's host with the example's config.
leaf_start_bird() {
    local d
    _leaf_frrdir "$LAB_TAG-bird"
    cp "$ROOT/deploy/examples/bird/leaf-bird.conf" "$d/bird.conf"
    ip netns exec "$LEAF_NS" bird -f -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" >"$d/bird.out" 2>&1 &
    LAB_PIDS+=($!)
    LEAF_BIRD_CTL=$d/bird.ctl
}

leaf_vtysh() { local who=$1; shift; ip netns exec "$LEAF_NS" vtysh -N "$LAB_TAG-$who" "$@"; }

# leaf_up: the whole lab, BGP sessions included (not waited for).
leaf_up() {
    LEAF_NS="$LAB_TAG-leaf"; LEAF_HOSTS_NS="$LAB_TAG-hosts"; LEAF_API=$LAB_API_PORT
    LEAF_SPINE_NS=([1]="$LAB_TAG-sp1" [2]="$LAB_TAG-sp2")
    LAB_FRRDIRS=()
    local ns k d
    for ns in "$LEAF_NS" "$LEAF_HOSTS_NS" "${LEAF_SPINE_NS[1]}" "${LEAF_SPINE_NS[2]}"; do
        ip netns add "$ns"; LAB_NAMESPACES+=("$ns"); ip -n "$ns" link set lo up
    done
    leaf_config "$LAB_DIR/leaf.yaml"
    leaf_start_router || return 1
    leaf_wire || return 1
    for k in 1 2; do
        ns=${LEAF_SPINE_NS[$k]}
        ip -n "$ns" addr add "$LEAF_SERVICE/32" dev lo
        ip netns exec "$ns" socat TCP-LISTEN:$LEAF_SERVICE_PORT,bind=$LEAF_SERVICE,fork,reuseaddr SYSTEM:"echo spine$k" >/dev/null 2>&1 &
        LAB_PIDS+=($!)
        _leaf_frrdir "$LAB_TAG-sp$k"
        # The spines retry a refused connection after 5 s, not FRR's 120:
        # they start before the leaf's daemon listens, and a slow machine
        # must not wait two minutes for the leaf's own attempt.
        cat >"$d/bgpd.conf" <<C
hostname spine$k
router bgp 65${k}00
 bgp router-id 10.$k.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 10.$k.0.1 remote-as 65001
 neighbor 10.$k.0.1 timers connect 5
 address-family ipv4 unicast
  network 203.0.113.0/24
 exit-address-family
C
        if [ -n "${LEAF_UNNUMBERED:-}" ] && [ "$k" = 1 ]; then
            cat >"$d/bgpd.conf" <<C
hostname spine1
router bgp 65100
 bgp router-id 10.1.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor ${LAB_TAG}w1 interface remote-as external
 address-family ipv4 unicast
  network 203.0.113.0/24
 exit-address-family
 address-family ipv6 unicast
  neighbor ${LAB_TAG}w1 activate
  network 2001:db8:203::/48
 exit-address-family
C
            ip -n "$ns" addr add 2001:db8:203::10/128 dev lo
            ip -n "$ns" -6 route replace fd64::/64 via fd01::1
            ip netns exec "$ns" socat TCP6-LISTEN:$LEAF_SERVICE_PORT,bind=[2001:db8:203::10],fork,reuseaddr SYSTEM:"echo spine1" >/dev/null 2>&1 &
            LAB_PIDS+=($!)
            echo "hostname spine1" >"$d/zebra.conf"
            chown frr:frr "$d"/*.conf
            ip netns exec "$ns" /usr/lib/frr/zebra -f "$d/zebra.conf" -N "$LAB_TAG-sp1" -u frr -g frr -i "$d/zebra.pid" >"$d/zebra.out" 2>&1 &
            LAB_PIDS+=($!)
            lab_wait 10 "spine1 zebra" test -S "$d/zebra.vty" || return 1
            ip netns exec "$ns" /usr/lib/frr/bgpd -f "$d/bgpd.conf" -N "$LAB_TAG-sp1" -u frr -g frr -i "$d/bgpd.pid" >"$d/out" 2>&1 &
            LAB_PIDS+=($!)
            continue
        fi
        if [ -n "${LEAF_BFD:-}" ]; then
            sed -i -e "/ timers connect 5$/d" -e "s/^ neighbor 10.$k.0.1 remote-as 65001$/&\n neighbor 10.$k.0.1 bfd profile fast\n neighbor 10.$k.0.1 timers 3 9\n neighbor 10.$k.0.1 timers connect 1/" "$d/bgpd.conf"
            _leaf_bfdd_conf "$d" "spine$k"
            echo "hostname spine$k" >"$d/zebra.conf"
            chown frr:frr "$d"/*.conf
            ip netns exec "$ns" /usr/lib/frr/zebra -f "$d/zebra.conf" -N "$LAB_TAG-sp$k" -u frr -g frr -i "$d/zebra.pid" >"$d/zebra.out" 2>&1 &
            LAB_PIDS+=($!)
            lab_wait 10 "spine$k zebra" test -S "$d/zebra.vty" || return 1
            ip netns exec "$ns" /usr/lib/frr/bgpd -f "$d/bgpd.conf" -N "$LAB_TAG-sp$k" -u frr -g frr -i "$d/bgpd.pid" -l "10.$k.0.2" >"$d/out" 2>&1 &
            LAB_PIDS+=($!)
            ip netns exec "$ns" /usr/lib/frr/bfdd -f "$d/bfdd.conf" -N "$LAB_TAG-sp$k" -u frr -g frr -i "$d/bfdd.pid" >"$d/bfdd.out" 2>&1 &
            LAB_PIDS+=($!)
            continue
        fi
        chown frr:frr "$d/bgpd.conf"
        ip netns exec "$ns" /usr/lib/frr/bgpd -Z -f "$d/bgpd.conf" -N "$LAB_TAG-sp$k" -u frr -g frr -i "$d/bgpd.pid" -l "10.$k.0.2" >"$d/out" 2>&1 &
        LAB_PIDS+=($!)
    done
    if [ "${LEAF_DAEMON:-frr}" = bird ]; then leaf_start_bird; else leaf_start_frr; fi
}

# leaf_sessions_up: both of the leaf's BGP sessions are Established.
leaf_sessions_up() {
    if [ "${LEAF_DAEMON:-frr}" = bird ]; then
        [ "$(ip netns exec "$LEAF_NS" birdc -s "$LEAF_BIRD_CTL" show protocols 2>/dev/null | grep -c 'BGP .* Established')" = 2 ]
        return
    fi
    [ "$(leaf_vtysh leaf -c 'show bgp ipv4 unicast summary json' 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for p in d.get("peers", {}).values() if p.get("state") == "Established"))' 2>/dev/null)" = 2 ]
}

# leaf_bfd_up WHO: the number of BFD peers of WHO (leaf, sp1, sp2) that are up.
leaf_bfd_up() {
    local ns=$LEAF_NS
    case "$1" in sp1) ns=${LEAF_SPINE_NS[1]} ;; sp2) ns=${LEAF_SPINE_NS[2]} ;; esac
    ip netns exec "$ns" vtysh -N "$LAB_TAG-$1" -c 'show bfd peers json' 2>/dev/null |
        python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin) if p.get("status") == "up"))' 2>/dev/null || echo 0
}

# leaf_route_nexthops: the router's FPM route to the service, "via@port,...".
leaf_route_nexthops() {
    local origin=fpm
    [ "${LEAF_DAEMON:-frr}" = bird ] && origin=kernel
    leaf_api "routes?prefix=203.0.113.0/24" | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["origin"] == sys.argv[1]]; print(",".join(sorted(n["via"] + "@" + n["port"] for n in r[0]["nexthops"])) if r else "none")' "$origin"
}

# leaf_spine_learned K: what spine K's bgpd has for the leaf's prefix: its nexthop.
leaf_spine_learned() {
    ip netns exec "${LEAF_SPINE_NS[$1]}" vtysh -N "$LAB_TAG-sp$1" -c 'show bgp ipv4 unicast 10.100.0.0/24 json' 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(",".join(sorted({n["ip"] for p in d.get("paths", []) for n in p.get("nexthops", [])})) or "none")' 2>/dev/null || echo none
}

# leaf_connections N: N TCP connections from the hosts to the service; prints "spine1 A spine2 B failed F".
leaf_connections() {
    local n=$1 i out s1=0 s2=0 f=0
    for i in $(seq "$n"); do
        out=$(ip netns exec "$LEAF_HOSTS_NS" timeout 3 socat -u "TCP:$LEAF_SERVICE:$LEAF_SERVICE_PORT,connect-timeout=2" STDOUT 2>/dev/null || true)
        case "$out" in spine1) s1=$((s1 + 1)) ;; spine2) s2=$((s2 + 1)) ;; *) f=$((f + 1)) ;; esac
    done
    echo "spine1 $s1 spine2 $s2 failed $f"
}

leaf_down() {
    local d
    for d in "${LAB_FRRDIRS[@]:-}"; do [ -n "$d" ] && rm -rf "$d"; done
    LAB_FRRDIRS=()
}
