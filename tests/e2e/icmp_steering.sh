#!/usr/bin/env bash
# ICMP steering, end to end (RFC 7690): an anycast service on three servers;
# the client opens 60 TCP connections per family through the router. For each
# connection a third namespace ("ext", on its own router port) sends toward
# the anycast address an ICMP error about that connection's server->client
# packets: IPv4 Fragmentation Needed, ICMPv6 Packet Too Big. Every error must
# reach the server that holds the connection, which the test checks inside the
# server namespaces (their own ICMP counters), one connection at a time.
source "$(dirname "$0")/../kit/e2e.sh"
N=${STEERING_CONNECTIONS:-60}

lab_init steering
lab_config --servers 3 --ext --policy l4
lab_up

icmp_in() { # ns fam -> errors of the kind we send, as the server's kernel counted them
    if [ "$2" = 4 ]; then
        lab_ns "$1" awk '/^Icmp:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == "InDestUnreachs") c = i; n = 1 } else print $c }' /proc/net/snmp
    else
        lab_ns "$1" awk '$1 == "Icmp6InPktTooBigs" { print $2 }' /proc/net/snmp6
    fi
}
all_in() { for k in 1 2 3; do icmp_in "$(lab_ns_srv $k)" "$1"; done | tr '\n' ' '; }

for fam in 4 6; do
    if [ $fam = 4 ]; then target=$ANYCAST4; client=10.0.0.2; reporter=10.9.0.2; kind="Fragmentation Needed"; else target=$ANYCAST6; client=fd00::2; reporter=fd09::2; kind="Packet Too Big"; fi
    out=$(lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/flows.py" tcp "$target" "$SERVICE_PORT" "$N")
    read -r failed conns < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["failed"], " ".join(f"{p}:{s}" for p, s in d["conns"]))' "$out")
    check "IPv$fam: $N connections, none failed" test "$failed" -eq 0
    per_server=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["answers"])' "$out")
    echo "        IPv$fam connections per server: $per_server"
    right=0 wrong=0 lost=0
    for c in $conns; do
        lport=${c%%:*} server=${c#*:}
        read -r -a before <<<"$(all_in $fam)"
        lab_ns "$LAB_NS_EXT" python3 "$LAB_ROOT/deploy/lab/flows.py" icmp-error "$reporter" "$target" "$client" "$lport" "$SERVICE_PORT"
        got=
        for _ in $(seq 40); do
            read -r -a after <<<"$(all_in $fam)"
            for k in 1 2 3; do
                [ "${after[$((k-1))]}" -gt "${before[$((k-1))]}" ] && got=srv$k
            done
            [ -n "$got" ] && break
            sleep 0.05
        done
        if [ -z "$got" ]; then lost=$((lost + 1)); elif [ "$got" = "$server" ]; then right=$((right + 1)); else wrong=$((wrong + 1)); echo "        port $lport: held by $server, error reached $got"; fi
    done
    echo "        IPv$fam errors: $right at the right server, $wrong at a wrong one, $lost lost"
    check "IPv$fam: every $kind reached the server holding the connection" test "$right" -eq "$N"
done
steered=$(lab_metric 'ecmp_router_hash_events_total{event="icmp_steered"}')
check "router counted the steered errors ($steered)" test "$steered" -ge $((2 * N))
finish
