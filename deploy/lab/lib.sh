#!/usr/bin/env bash
# The network-namespace lab: a client, N servers (default 2) and optionally an
# "ext" namespace, wired to the router's net_tap ports. Source this file, then:
#
#   lab_init NAME            # unique names, trap that tears everything down
#   lab_config [opts]        # write $LAB_DIR/router.yaml (see lab_config below)
#   lab_up                   # start the router, build the namespaces, start services
#   lab_metrics / lab_metric / lab_metric_sum # read /metrics
#   lab_down                 # (automatic on exit, even on failure)
#
# Addressing:
#   client  ns  10.0.0.2/16  fd00::2/64    router lan  10.0.0.1/16  fd00::1/64
#   srvK    ns  10.K.0.2/24  fd0K::2/64    router srvK 10.K.0.1/24  fd0K::1/64   (K = 1..N)
#   ext     ns  10.9.0.2/24  fd09::2/64    router ext  10.9.0.1/24  fd09::1/64   (--ext)
#   anycast 198.51.100.10 and 2001:db8:100::10 on every server's loopback,
#   routed by the router over all servers (weights --weights, default 1 2 for 2 servers).
# Services on every server: TCP 8080 answers the server's name and closes;
# TCP 8081 answers the name, then echoes; UDP 9000 swallows datagrams.
#
# The lab only ever signals processes it started (by PID) and deletes
# namespaces it created.

set -euo pipefail

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${ECMP_ROUTER:=$LAB_ROOT/target/release/ecmp-router}"
ANYCAST4=198.51.100.10
ANYCAST6=2001:db8:100::10
SERVICE_PORT=8080
ECHO_PORT=8081
UDP_PORT=9000

lab_log() { printf '[lab %s] %s\n' "$LAB" "$*" >&2; }

# Runs a command where the router runs: its own namespace (--router-ns) or here.
_lab_rtr() { if [ -n "${LAB_RTR_NS:-}" ]; then ip netns exec "$LAB_RTR_NS" "$@"; else "$@"; fi; }

lab_init() {
    LAB=${1:-lab}
    # Short unique tag: interface names are limited to 15 characters.
    LAB_TAG="e$(printf '%04x' $(( ($$ + RANDOM) % 65536 )))"
    LAB_DIR=$(mktemp -d "/tmp/ecmp-lab-$LAB.XXXXXX")
    LAB_NS_CLIENT="$LAB_TAG-client"
    LAB_NS_EXT="$LAB_TAG-ext"
    LAB_IF_LAN="${LAB_TAG}lan"
    LAB_IF_EXT="${LAB_TAG}ext"
    # Below the ephemeral range (32768-60999), so no outgoing connection holds it;
    # the next port (API + 1) is free for a test's FPM listener.
    LAB_API_PORT=$(( 20000 + (($$ + RANDOM) % 6000) * 2 ))
    LAB_SERVERS=2
    LAB_EXT=
    LAB_ROUTE_POLICIES=()
    LAB_RTR_NS=
    LAB_AFP=
    LAB_AFP_LAN=
    LAB_PIDS=()
    LAB_ROUTER_PID=
    LAB_NAMESPACES=()
    trap lab_down EXIT
    trap 'exit 130' INT TERM
}

lab_ns_srv() { echo "$LAB_TAG-srv$1"; }
lab_if_srv() { echo "${LAB_TAG}s$1"; }

# lab_config [--servers N] [--ext] [--policy P] [--fields "a, b"] [--seed N]
#            [--weights "w1 w2 ..."] [--group ALGO] [--probe "INTERVAL_MS FAILURES"]
#            [--af-packet-servers] [--srv1-addresses "A/L, ..."] [--extra YAML]
# --srv1-addresses: more addresses on the router's srv1 port (a connected
# subnet on the server side, such as a /16 for a neighbour flood).
# --af-packet: every port (lan too) is net_af_packet on a veth, as below.
# --af-packet-servers: the server ports are net_af_packet on one end of a veth
# pair (the other end goes into the server's namespace) instead of net_tap.
# With several queues, AF_PACKET fanout spreads received packets by a hash of
# the flow, whichever queue sent the flow's packets (the kernel's tap driver
# instead returns a flow's packets to the queue that last sent it).
lab_config() {
    local policy=l4 weights="" seed="" extra="" fields="" group="" probe="100 3" srv1_more=""
    LAB_ROUTE_POLICIES=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --route-policies) read -r -a LAB_ROUTE_POLICIES <<<"$2"; shift 2 ;;
            --router-ns) LAB_RTR_NS="$LAB_TAG-rtr"; shift ;;
            --servers) LAB_SERVERS=$2; shift 2 ;;
            --ext) LAB_EXT=1; shift ;;
            --policy) policy=$2; shift 2 ;;
            --fields) fields=", fields: [$2]"; shift 2 ;;
            --weights) weights=$2; shift 2 ;;
            --seed) seed=", seed: $2"; shift 2 ;;
            --group) group=$2; shift 2 ;;
            --probe) probe=$2; shift 2 ;;
            --extra) extra=$2; shift 2 ;;
            --af-packet-servers) LAB_AFP=1; shift ;;
            --af-packet) LAB_AFP=1; LAB_AFP_LAN=1; shift ;;
            --srv1-addresses) srv1_more=", $2"; shift 2 ;;
            *) echo "lab_config: unknown option $1" >&2; return 2 ;;
        esac
    done
    [ -n "$weights" ] || { if [ "$LAB_SERVERS" = 2 ]; then weights="1 2"; else weights=$(printf '1 %.0s' $(seq "$LAB_SERVERS")); fi; }
    read -r -a w <<<"$weights"
    local interval failures; read -r interval failures <<<"$probe"
    # The file is deploy/lab/router.yaml.in; the blocks below fill its lists.
    # AF_PACKET has as many queues as its qpairs: one per worker.
    local qpairs; qpairs=$(sed -n 's/^workers: *\([0-9]*\).*/\1/p' <<<"$extra"); qpairs=${qpairs:-1}
    local ports routes groups=""
    ports=$(
        local lan="net_tap_${LAB_TAG}0,iface=$LAB_IF_LAN"
        [ -z "$LAB_AFP_LAN" ] || lan="net_af_packet${LAB_TAG}0,iface=${LAB_IF_LAN}r,qpairs=$qpairs"
        echo "  - { name: lan, device: \"$lan\", addresses: [10.0.0.1/16, fd00::1/64] }"
        for k in $(seq "$LAB_SERVERS"); do
            local dev="net_tap_${LAB_TAG}$k,iface=$(lab_if_srv "$k")"
            [ -z "$LAB_AFP" ] || dev="net_af_packet${LAB_TAG}$k,iface=$(lab_if_srv "$k")r,qpairs=$qpairs"
            local more=""; [ "$k" != 1 ] || more=$srv1_more
            echo "  - { name: srv$k, device: \"$dev\", addresses: [10.$k.0.1/24, fd0$k::1/64$more] }"
        done
        [ -z "$LAB_EXT" ] || echo "  - { name: ext, device: \"net_tap_${LAB_TAG}9,iface=$LAB_IF_EXT\", addresses: [10.9.0.1/24, fd09::1/64] }"
    )
    routes=$(
        for fam in 4 6; do
            if [ $fam = 4 ]; then echo "  - prefix: 198.51.100.0/24"; else echo "  - prefix: 2001:db8:100::/64"; fi
            [ -z "$group" ] || echo "    group: $group"
            echo "    nexthops:"
            for k in $(seq "$LAB_SERVERS"); do
                if [ $fam = 4 ]; then via=10.$k.0.2; else via=fd0$k::2; fi
                echo "      - { via: $via, port: srv$k, weight: ${w[$((k-1))]:-1} }"
            done
        done
        # One route per policy (198.18.I.0/24, 2001:db8:1I::/64), each with its own
        # hash override, over named groups of all servers.
        for fam in 4 6; do
            [ ${#LAB_ROUTE_POLICIES[@]} -gt 0 ] || break
            echo "  # policy routes, IPv$fam"
            for i in "${!LAB_ROUTE_POLICIES[@]}"; do
                local p=${LAB_ROUTE_POLICIES[$i]} h
                case "$p" in
                    fields:*) h="{ policy: fields, fields: [${p#fields:}] }" ;;
                    *) h="{ policy: $p }" ;;
                esac
                if [ $fam = 4 ]; then echo "  - { prefix: 198.18.$i.0/24, nexthop-group: all4, hash: $h }"
                else echo "  - { prefix: \"2001:db8:1$i::/64\", nexthop-group: all6, hash: $h }"; fi
            done
        done
    )
    if [ ${#LAB_ROUTE_POLICIES[@]} -gt 0 ]; then
        groups=$(
            echo "nexthop-groups:"
            for fam in 4 6; do
                echo "  - name: all$fam"
                echo "    nexthops:"
                for k in $(seq "$LAB_SERVERS"); do
                    if [ $fam = 4 ]; then via=10.$k.0.2; else via=fd0$k::2; fi
                    echo "      - { via: $via, port: srv$k }"
                done
            done
        )
    fi
    LAB="$LAB" LAB_TAG="$LAB_TAG" LAB_API_PORT="$LAB_API_PORT" LAB_YAML_PORTS="$ports" \
        LAB_YAML_POLICY="$policy$fields$seed" LAB_YAML_INTERVAL="$interval" LAB_YAML_FAILURES="$failures" \
        LAB_YAML_ROUTES="$routes" LAB_YAML_GROUPS="$groups" LAB_YAML_EXTRA="$extra" \
        python3 -c 'import os, string, sys; sys.stdout.write(string.Template(open(sys.argv[1]).read()).substitute(os.environ))' \
        "$LAB_ROOT/deploy/lab/router.yaml.in" >"$LAB_DIR/router.yaml"
}

# The anycast address of policy route I (see --route-policies).
lab_policy_anycast() { if [ "$2" = 4 ]; then echo "198.18.$1.10"; else echo "2001:db8:1$1::10"; fi; }

lab_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# lab_listening NS PORT [N]: N (default 1) TCP sockets listen on PORT in
# namespace NS. (`ss` itself exits 0 with no socket: it cannot be the test.)
lab_listening() {
    [ "$(ip netns exec "$1" ss -Hltn "sport = :$2" | wc -l)" -ge "${3:-1}" ]
}

lab_wait() { # lab_wait SECONDS DESCRIPTION CMD...
    local t=$1 what=$2; shift 2
    local end=$(( SECONDS + t ))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then lab_log "timed out waiting for $what"; return 1; fi
        sleep 0.1
    done
}

lab_metrics() { _lab_rtr curl -sf "http://127.0.0.1:$LAB_API_PORT/metrics"; }
lab_api() { local m=$1 p=$2; _lab_rtr curl -sf -H "Content-Type: application/json" -X "$m" "http://127.0.0.1:$LAB_API_PORT$p"; }
# Every gateway resolved and answering NUD probes (an uplink's own health
# probes may still keep it out of groups; tests of uplinks check that themselves).
_lab_gateways_up() {
    local m; m=$(lab_metrics) || return 1
    ! grep '^ecmp_router_nexthop_resolved{kind="gateway"' <<<"$m" | grep -qv ' 1$' &&
        ! grep '^ecmp_router_nexthop_down{kind="gateway".*reason="unreachable"' <<<"$m" | grep -qv ' 0$'
}

# lab_metric NAME{labels} -> value (0 when absent)
lab_metric() {
    lab_metrics | awk -v k="$1" '$1 == k { print $2; found=1 } END { if (!found) print 0 }'
}

# metric_sum NAME [LABELS]: from the exposition on stdin, the sum of the
# samples of metric NAME (any labels) that carry every label of LABELS
# (`k="v"` pairs, comma-separated); 0 when none does.
#   lab_metrics | metric_sum ecmp_router_snat_events_total 'event="create"'
metric_sum() {
    awk -v name="$1" -v want="${2:-}" '
        BEGIN { n = split(want, w, ",") }
        /^#/ { next }
        {
            i = index($1, "{"); m = i ? substr($1, 1, i - 1) : $1
            if (m != name) next
            for (j = 1; j <= n; j++) if (index($1, w[j]) == 0) next
            s += $2
        }
        END { print s + 0 }'
}

# lab_metric_sum NAME [LABELS]: metric_sum over the lab router's /metrics.
lab_metric_sum() { lab_metrics | metric_sum "$@"; }

_lab_host() { # ns ifname mac addr4 addr6 gw4 gw6
    ip netns add "$1"
    LAB_NAMESPACES+=("$1")
    _lab_attach "$@"
}

# Moves the router's interface IFNAME into the existing namespace NS and
# configures it (also after a router restart, which creates new interfaces).
_lab_attach() { # ns ifname mac addr4 addr6 gw4 gw6
    local ns=$1 ifn=$2 mac=$3 a4=$4 a6=$5 gw4=$6 gw6=$7
    _lab_rtr ip link set "$ifn" netns "$ns"
    lab_ns "$ns" ip link set lo up
    # net_tap gives the kernel side the PMD's MAC; give it its own.
    lab_ns "$ns" ip link set "$ifn" address "$mac"
    # Keep IPv6 addresses when a test takes the link down (Linux flushes them by default).
    lab_ns "$ns" sysctl -qw "net.ipv6.conf.$ifn.keep_addr_on_down=1"
    lab_ns "$ns" ip addr add "$a4" dev "$ifn"
    lab_ns "$ns" ip addr add "$a6" dev "$ifn" nodad
    lab_ns "$ns" ip link set "$ifn" up
    lab_ns "$ns" ip route add default via "$gw4"
    lab_ns "$ns" ip -6 route add default via "$gw6"
    lab_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv4.tcp_syn_retries=3 net.ipv6.flowlabel_reflect=1
}

_lab_server() { # K
    local k=$1 ns; ns=$(lab_ns_srv "$1")
    lab_ns "$ns" ip addr add "$ANYCAST4/32" dev lo
    lab_ns "$ns" ip addr add "$ANYCAST6/128" dev lo
    for i in "${!LAB_ROUTE_POLICIES[@]}"; do
        lab_ns "$ns" ip addr add "$(lab_policy_anycast "$i" 4)/32" dev lo
        lab_ns "$ns" ip addr add "$(lab_policy_anycast "$i" 6)/128" dev lo
    done
    ip netns exec "$ns" socat "TCP6-LISTEN:$SERVICE_PORT,ipv6only=0,reuseaddr,fork,backlog=512" "SYSTEM:echo srv$k" >"$LAB_DIR/srv$k.log" 2>&1 &
    LAB_PIDS+=($!)
    ip netns exec "$ns" socat "TCP6-LISTEN:$ECHO_PORT,ipv6only=0,reuseaddr,fork,backlog=512" "SYSTEM:echo srv$k; exec cat" >"$LAB_DIR/srv$k-echo.log" 2>&1 &
    LAB_PIDS+=($!)
    ip netns exec "$ns" socat -u "UDP6-RECV:$UDP_PORT,ipv6only=0" /dev/null >"$LAB_DIR/srv$k-udp.log" 2>&1 &
    LAB_PIDS+=($!)
}

# Brings server K's link back up with its routes (after lab_srv_link K down).
lab_srv_link() { # K up|down
    local k=$1 ns ifn; ns=$(lab_ns_srv "$1"); ifn=$(lab_if_srv "$1")
    lab_ns "$ns" ip link set "$ifn" "$2"
    if [ "$2" = up ]; then
        # The connected routes come back with the link; retry until they have.
        lab_wait 5 "srv$k default routes" lab_ns "$ns" bash -c \
            "ip route replace default via 10.$k.0.1 && ip -6 route replace default via fd0$k::1"
    fi
}

lab_up() {
    [ -x "$ECMP_ROUTER" ] || { lab_log "no router binary at $ECMP_ROUTER (cargo build --release)"; return 1; }
    "$ECMP_ROUTER" --check-config "$LAB_DIR/router.yaml" >/dev/null
    if [ -n "$LAB_RTR_NS" ]; then
        ip netns add "$LAB_RTR_NS"
        LAB_NAMESPACES+=("$LAB_RTR_NS")
        ip -n "$LAB_RTR_NS" link set lo up
    fi
    if [ -n "$LAB_AFP" ]; then
        local k ifn
        for k in ${LAB_AFP_LAN:+lan} $(seq "$LAB_SERVERS"); do
            if [ "$k" = lan ]; then ifn=$LAB_IF_LAN; else ifn=$(lab_if_srv "$k"); fi
            _lab_rtr ip link add "$ifn" type veth peer name "${ifn}r"
            # Full-size frames with full checksums, as a NIC would deliver them.
            _lab_rtr ethtool -K "$ifn" tx off tso off gso off gro off >/dev/null 2>&1 || true
            _lab_rtr ethtool -K "${ifn}r" tx off tso off gso off gro off >/dev/null 2>&1 || true
            _lab_rtr ip link set "${ifn}r" up
        done
    fi
    # Started directly (not through a shell function) so that $! is the router's
    # own PID; `ip netns exec` execs the router in place.
    if [ -n "$LAB_RTR_NS" ]; then
        RUST_LOG=${RUST_LOG:-info} ip netns exec "$LAB_RTR_NS" "$ECMP_ROUTER" --config "$LAB_DIR/router.yaml" >"$LAB_DIR/router.log" 2>&1 &
    else
        RUST_LOG=${RUST_LOG:-info} "$ECMP_ROUTER" --config "$LAB_DIR/router.yaml" >"$LAB_DIR/router.log" 2>&1 &
    fi
    LAB_ROUTER_PID=$!
    lab_log "router pid $LAB_ROUTER_PID, log $LAB_DIR/router.log"
    local ifs="$LAB_IF_LAN"
    for k in $(seq "$LAB_SERVERS"); do ifs="$ifs $(lab_if_srv "$k")"; done
    [ -z "$LAB_EXT" ] || ifs="$ifs $LAB_IF_EXT"
    lab_wait 30 "router ports" _lab_rtr bash -c "for i in $ifs; do ip link show \$i || exit 1; done" \
        || { cat "$LAB_DIR/router.log" >&2; return 1; }
    lab_wait 30 "router /metrics" lab_metrics || { cat "$LAB_DIR/router.log" >&2; return 1; }
    _lab_host "$LAB_NS_CLIENT" "$LAB_IF_LAN" 02:00:00:00:00:c1 10.0.0.2/16 fd00::2/64 10.0.0.1 fd00::1
    for k in $(seq "$LAB_SERVERS"); do
        _lab_host "$(lab_ns_srv "$k")" "$(lab_if_srv "$k")" "02:00:00:00:0$k:02" "10.$k.0.2/24" "fd0$k::2/64" "10.$k.0.1" "fd0$k::1"
        _lab_server "$k"
    done
    [ -z "$LAB_EXT" ] || _lab_host "$LAB_NS_EXT" "$LAB_IF_EXT" 02:00:00:00:09:02 10.9.0.2/24 fd09::2/64 10.9.0.1 fd09::1
    # LAB_HOOK: a test's function that adds hosts of its own (the gateways
    # its routes name) once the lab's are up.
    LAB_NS_SRV1=$(lab_ns_srv 1); LAB_IF_SRV1=$(lab_if_srv 1)
    [ -z "${LAB_HOOK:-}" ] || "$LAB_HOOK"
    lab_wait 30 "gateways resolved by ARP and NDP" _lab_gateways_up
    for k in $(seq "$LAB_SERVERS"); do
        lab_wait 10 "srv$k listening" lab_ns "$(lab_ns_srv "$k")" bash -c "ss -ltn | grep -q :$SERVICE_PORT && ss -ltn | grep -q :$ECHO_PORT"
    done
    # Compatibility names for the two-server tests.
    LAB_NS_SRV1=$(lab_ns_srv 1); LAB_IF_SRV1=$(lab_if_srv 1)
    LAB_NS_SRV2=$(lab_ns_srv 2); LAB_IF_SRV2=$(lab_if_srv 2)
    lab_log "up: client $LAB_NS_CLIENT, $LAB_SERVERS servers${LAB_EXT:+, ext $LAB_NS_EXT}"
}

# Starts the router again with the same config after it stopped, and wires
# its new interfaces into the lab's namespaces (lab_router_start's part of lab_up).
lab_router_restart() {
    RUST_LOG=${RUST_LOG:-info} "$ECMP_ROUTER" --config "$LAB_DIR/router.yaml" >>"$LAB_DIR/router.log" 2>&1 &
    LAB_ROUTER_PID=$!
    local ifs="$LAB_IF_LAN"
    for k in $(seq "$LAB_SERVERS"); do ifs="$ifs $(lab_if_srv "$k")"; done
    lab_wait 30 "router ports" bash -c "for i in $ifs; do ip link show \$i || exit 1; done" || return 1
    lab_wait 30 "router /metrics" lab_metrics || return 1
    _lab_attach "$LAB_NS_CLIENT" "$LAB_IF_LAN" 02:00:00:00:00:c1 10.0.0.2/16 fd00::2/64 10.0.0.1 fd00::1
    for k in $(seq "$LAB_SERVERS"); do
        _lab_attach "$(lab_ns_srv "$k")" "$(lab_if_srv "$k")" "02:00:00:00:0$k:02" "10.$k.0.2/24" "fd0$k::2/64" "10.$k.0.1" "fd0$k::1"
    done
    lab_wait 30 "gateways resolved by ARP and NDP" _lab_gateways_up
}

lab_down() {
    local rc=$?
    set +e
    if [ -n "${LAB_ROUTER_PID:-}" ] && kill -0 "$LAB_ROUTER_PID" 2>/dev/null; then
        kill -TERM "$LAB_ROUTER_PID"
        for _ in $(seq 50); do kill -0 "$LAB_ROUTER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$LAB_ROUTER_PID" 2>/dev/null && { lab_log "router ignored SIGTERM; killing"; kill -KILL "$LAB_ROUTER_PID"; }
        wait "$LAB_ROUTER_PID" 2>/dev/null
    fi
    for p in "${LAB_PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    for ns in "${LAB_NAMESPACES[@]:-}"; do
        [ -n "$ns" ] || continue
        # socat children of a killed listener may linger inside the namespace.
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    if [ $rc -ne 0 ] && [ -f "${LAB_DIR:-/nonexistent}/router.log" ]; then
        lab_log "failed (exit $rc); router log follows"
        tail -n 40 "$LAB_DIR/router.log" >&2
    fi
    [ -n "${LAB_KEEP:-}" ] || rm -rf "${LAB_DIR:-/nonexistent}"
    LAB_ROUTER_PID=; LAB_PIDS=(); LAB_NAMESPACES=()
    return $rc
}
