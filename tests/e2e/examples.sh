#!/usr/bin/env bash
# Every shipped example config runs (issue 8). Each file in deploy/examples/
# is started with its NICs replaced by virtual ports (net_null) and checked
# against what it declares. The data-centre leaf runs with the real FRR: its
# bgpd (deploy/examples/frr/leaf-frr.conf, unchanged) peers with two spine
# bgpds in their own namespaces, and the route they advertise reaches the
# router over FPM with both spines as ECMP paths.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$ROOT/deploy/lab/lib.sh"
source "$HERE/assert.sh"
lab_init examples
BIN=$ROOT/target/release/ecmp-router
PIDS=()
NSS=()
FRRDIRS=()
cleanup() {
    local rc=$?
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    for ns in "${NSS[@]:-}"; do [ -n "$ns" ] || continue; for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done; ip netns del "$ns" 2>/dev/null; done
    for d in "${FRRDIRS[@]:-}"; do [ -n "$d" ] && rm -rf "$d"; done
    (exit $rc)   # lab_down reports (and returns) the test's own status
    lab_down
}
trap cleanup EXIT

# virtualize EXAMPLE OUT API FPM: the example with net_null ports, no hugepages,
# lcores for its workers on this machine, and its listeners on free ports.
virtualize() {
    python3 - "$1" "$2" "$3" "$4" "$LAB_TAG" <<'PY'
import re, sys
src, out, api, fpm, tag = sys.argv[1:]
s = open(src).read()
n = iter(range(100))
s = re.sub(r'device: "[^"]*"', lambda m: f'device: "net_null{next(n)},no-rx=1"', s)
workers = int((re.search(r"^workers: (\d+)", s, re.M) or [0, 1])[1])
lcores = ",".join(f"{i}@{min(i, 1)}" for i in range(workers + 1))
s = re.sub(r"^eal: .*$", f'eal: [--no-huge, --no-shconf, --no-pci, -m, "512", --file-prefix, {tag}x, --lcores, "{lcores}"]', s, flags=re.M)
# One pass, whole port numbers only: a free API port such as 26200 must not be
# taken for the FPM port 2620 by a second replace (a CI run failed so).
s = re.sub(r"127\.0\.0\.1:(9464|2620)\b", lambda m: f"127.0.0.1:{api if m[1] == '9464' else fpm}", s)
open(out, "w").write(s)
PY
}
API_PORT=$LAB_API_PORT
run() { # NAME [NETNS] -> starts the virtualized example; sets RPID
    local cfg=$LAB_DIR/$1.yaml
    if [ -n "${2:-}" ]; then
        RUST_LOG=info ip netns exec "$2" "$BIN" --config "$cfg" >"$LAB_DIR/ex-$1.log" 2>&1 &
    else
        RUST_LOG=info "$BIN" --config "$cfg" >"$LAB_DIR/ex-$1.log" 2>&1 &
    fi
    RPID=$!; PIDS+=($RPID)
}
api() { ${NSX:-} curl -sf "http://127.0.0.1:$API_PORT/api/v1/$1"; }
stop() { kill -TERM "$RPID"; local rc=0; wait "$RPID" || rc=$?; return $rc; }

for f in "$ROOT"/deploy/examples/*.yaml; do
    name=$(basename "$f" .yaml)
    [ "$name" = leaf-frr ] && continue
    echo "-- $name"
    virtualize "$f" "$LAB_DIR/$name.yaml" "$API_PORT" $((API_PORT + 1))
    run "$name"
    NSX= lab_wait 30 "$name serving" bash -c "curl -sf http://127.0.0.1:$API_PORT/metrics >/dev/null" || tail -5 "$LAB_DIR/ex-$name.log"
    want=$(python3 -c "import re,sys; print(len(re.findall(r'^  - (\{ )?prefix:', open(sys.argv[1]).read(), re.M)))" "$f")
    have=$(api "routes?origin=config" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    check "$name: runs, with its $want routes ($have)" test "$have" = "$want"
    case "$name" in
        anycast-lb)
            check "$name: both named groups are resilient, with 4 members" bash -c "curl -sf http://127.0.0.1:$API_PORT/api/v1/groups | python3 -c 'import json,sys; g=json.load(sys.stdin); sys.exit(0 if sum(1 for x in g if x[\"name\"] in (\"web4\", \"web6\") and x[\"algorithm\"] == \"resilient\" and len(x[\"members\"]) == 4) == 2 else 1)'" ;;
        dual-wan)
            check "$name: both uplinks are probed" bash -c "[ \$(curl -sf http://127.0.0.1:$API_PORT/api/v1/uplinks | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 2 ]"
            check "$name: its SNAT addresses are set up" bash -c "curl -sf http://127.0.0.1:$API_PORT/metrics | grep -c '^ecmp_router_snat_address_info' | grep -qx 3" ;;
    esac
    rc=0; stop || rc=$?
    check "$name: stops with status 0 ($rc)" test "$rc" = 0
    API_PORT=$((API_PORT + 2))
done

echo "-- leaf-frr, with FRR's bgpd and two spines"
[ -x /usr/lib/frr/bgpd ] || { fail "FRR's bgpd is not installed"; finish; }
R="$LAB_TAG-leaf"; ip netns add "$R"; NSS+=("$R"); ip -n "$R" link set lo up
FPM=$((API_PORT + 1))
virtualize "$ROOT/deploy/examples/leaf-frr.yaml" "$LAB_DIR/leaf-frr.yaml" "$API_PORT" "$FPM"
run leaf-frr "$R"
NSX="ip netns exec $R" lab_wait 30 "leaf serving" ip netns exec "$R" curl -sf "http://127.0.0.1:$API_PORT/metrics" -o /dev/null
frrdir() { local d=/var/run/frr/$1; mkdir -p "$d"; chown frr:frr "$d"; FRRDIRS+=("$d"); echo "$d"; }
# The spine links: zebra resolves BGP nexthops over them (the leaf's router
# ports carry the same subnets in the dataplane).
for k in 1 2; do
    S="$LAB_TAG-sp$k"; ip netns add "$S"; NSS+=("$S"); ip -n "$S" link set lo up
    ip link add "${LAB_TAG}l$k" type veth peer name "${LAB_TAG}s$k"
    ip link set "${LAB_TAG}l$k" netns "$R"; ip link set "${LAB_TAG}s$k" netns "$S"
    ip -n "$R" addr add "10.$k.0.254/24" dev "${LAB_TAG}l$k"; ip -n "$R" link set "${LAB_TAG}l$k" up
    ip -n "$S" addr add "10.$k.0.2/24" dev "${LAB_TAG}s$k"; ip -n "$S" link set "${LAB_TAG}s$k" up
    d=$(frrdir "$LAB_TAG-sp$k")
    cat >"$d/bgpd.conf" <<C
hostname spine$k
router bgp 65${k}00
 bgp router-id 10.$k.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 10.$k.0.254 remote-as 65001
 address-family ipv4 unicast
  network 203.0.113.0/24
 exit-address-family
C
    chown frr:frr "$d/bgpd.conf"
    ip netns exec "$S" /usr/lib/frr/bgpd -Z -f "$d/bgpd.conf" -N "$LAB_TAG-sp$k" -u frr -g frr -i "$d/bgpd.pid" -l 10.$k.0.2 >"$d/out" 2>&1 &
    PIDS+=($!)
done
# The leaf: zebra with dplane_fpm_nl, and bgpd with the example's config. The
# FPM port is the test's (the example says 2620).
d=$(frrdir "$LAB_TAG-leaf")
sed "s/fpm address 127.0.0.1 port 2620/fpm address 127.0.0.1 port $FPM/" "$ROOT/deploy/examples/frr/leaf-frr.conf" >"$d/frr.conf"
grep -E '^(hostname|fpm)' "$d/frr.conf" >"$d/zebra.conf"; grep -v '^fpm' "$d/frr.conf" >"$d/bgpd.conf"
chown frr:frr "$d"/*.conf
ip netns exec "$R" /usr/lib/frr/zebra -M dplane_fpm_nl -f "$d/zebra.conf" -N "$LAB_TAG-leaf" -u frr -g frr -i "$d/zebra.pid" >"$d/zebra.out" 2>&1 &
PIDS+=($!)
lab_wait 10 "zebra" test -S "$d/zebra.vty"
ip netns exec "$R" /usr/lib/frr/bgpd -f "$d/bgpd.conf" -N "$LAB_TAG-leaf" -u frr -g frr -i "$d/bgpd.pid" >"$d/bgpd.out" 2>&1 &
PIDS+=($!)
nexthops() { ip netns exec "$R" curl -sf "http://127.0.0.1:$API_PORT/api/v1/routes?prefix=203.0.113.0/24" | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["origin"] == "fpm"]; print(",".join(sorted(n["via"] + "@" + n["port"] for n in r[0]["nexthops"])) if r else "none")'; }
lab_wait 60 "BGP routes over FPM" bash -c "[ \"\$(ip netns exec $R curl -sf 'http://127.0.0.1:$API_PORT/api/v1/routes?prefix=203.0.113.0/24' | grep -c 10.2.0.2)\" -ge 1 ] && [ \"\$(ip netns exec $R curl -sf 'http://127.0.0.1:$API_PORT/api/v1/routes?prefix=203.0.113.0/24' | grep -c 10.1.0.2)\" -ge 1 ]" || { ip netns exec "$R" vtysh -N "$LAB_TAG-leaf" -c "show bgp summary" -c "show ip route" 2>&1 | tail -20; }
nh=$(nexthops)
check "leaf-frr: BGP's ECMP route from both spines reaches the router over FPM ($nh)" test "$nh" = "10.1.0.2@spine1,10.2.0.2@spine2"
rc=0; stop || rc=$?
check "leaf-frr: stops with status 0 ($rc)" test "$rc" = 0
finish
