#!/usr/bin/env bash
# FPM routes of a VRF's table (issue 28), with the real zebra and staticd.
# VRF blue (table 10) holds srv2 and ext. zebra (beside the router, in its
# namespace) has 203.0.113.0/24 twice: via srv1's 10.1.0.2 in main, and via
# srv2's 10.2.0.2 in table 10 (`ip route ... table 10`). Over FPM:
# - table 10's route lands in blue, main's in main;
# - the client (main) reaches srv1 through it, ext (blue) srv2;
# - a table-10 route whose gateway is on a main interface is not installed
#   (no leak), and is listed with its reason.
# FRR's `vrf blue` itself needs a kernel with VRF devices (CONFIG_NET_VRF),
# which this lab's machine lacks; zebra's table-id routes reach the router
# the same way as a VRF's do: by their table.
source "$(dirname "$0")/../kit/e2e.sh"
[ -x /usr/lib/frr/zebra ] || { echo "FRR is not installed (apt-get install frr)"; exit 1; }

lab_init vrffpm
lab_config --router-ns --servers 2 --ext --extra "vrfs: { blue: { table: 10 } }
fpm: { listen: 127.0.0.1:2620 }"
python3 - "$LAB_DIR/router.yaml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"(  - \{ name: (srv2|ext), [^\n]*\])( \})", r"\1, vrf: blue\3", s)
s = re.sub(r"      - \{ via: (10\.2\.0\.2|fd02::2), port: srv2, weight: \d+ \}\n", "", s)
open(p, "w").write(s)
PY
check "srv2 and ext are in blue" test "$(grep -c 'vrf: blue' "$LAB_DIR/router.yaml")" = 2
lab_up
R=$LAB_RTR_NS
FRR=/var/run/frr/$LAB_TAG
trap 'rm -rf "$FRR"; lab_down' EXIT
mkdir -p "$FRR" && chown frr:frr "$FRR"
# zebra's view of the server subnets: veths in the router's namespace.
for k in 1 2; do
    ip -n "$R" link add "fsrv$k" type veth peer name "fsrv${k}p"
    ip -n "$R" addr add "10.$k.0.254/24" dev "fsrv$k"
    ip -n "$R" link set "fsrv$k" up
    ip -n "$R" link set "fsrv${k}p" up
    lab_ns "$(lab_ns_srv $k)" ip addr add 203.0.113.10/32 dev lo
done
printf 'hostname lab\nlog file %s/zebra.log\nfpm address 127.0.0.1 port 2620\n' "$FRR" >"$FRR/zebra.conf"
printf 'hostname lab\nip route 203.0.113.0/24 10.1.0.2\nip route 203.0.113.0/24 10.2.0.2 table 10\nip route 192.0.2.0/24 10.1.0.2 table 10\n' >"$FRR/staticd.conf"
ip netns exec "$R" /usr/lib/frr/zebra -M dplane_fpm_nl -f "$FRR/zebra.conf" -N "$LAB_TAG" -u frr -g frr -i "$FRR/zebra.pid" >>"$FRR/zebra.out" 2>&1 &
LAB_PIDS+=($!)
lab_wait 10 "zebra's vty" test -S "$FRR/zebra.vty"
ip netns exec "$R" /usr/lib/frr/staticd -f "$FRR/staticd.conf" -N "$LAB_TAG" -u frr -g frr -i "$FRR/staticd.pid" >>"$FRR/staticd.out" 2>&1 &
LAB_PIDS+=($!)

in_table() { # TABLE PREFIX -> "via@port,..." of the router's FPM route there, or none
    lab_api GET "/api/v1/routes?table=$1" | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["prefix"] == sys.argv[1] and x["origin"] == "fpm"]; print(",".join(sorted(n["via"] + "@" + n["port"] for n in r[0].get("nexthops") or [])) if r else "none")' "$2"
}
is() { [ "$(in_table "$1" "$2")" = "$3" ]; }
lab_wait 20 "FRR's table-10 route in the router" is 10 203.0.113.0/24 "10.2.0.2@srv2" || tail -5 "$FRR/zebra.log"
check "table 10's route (FPM) is blue's, via srv2" is 10 203.0.113.0/24 "10.2.0.2@srv2"
check "main's (FPM) is main's, via srv1" is 254 203.0.113.0/24 "10.1.0.2@srv1"
out=$(lab_ns "$LAB_NS_CLIENT" $FLOWS tcp 203.0.113.10 "$SERVICE_PORT" 20)
check "the client (main) reaches srv1" contains "$out" '"answers": {"srv1": 20}'
out=$(lab_ns "$LAB_NS_EXT" $FLOWS tcp 203.0.113.10 "$SERVICE_PORT" 20)
check "ext (blue) reaches srv2, by FRR's table-10 route" contains "$out" '"answers": {"srv2": 20}'
blue=$(ctl route show vrf blue)
check "route show vrf blue: FRR's route" contains "$blue" "203.0.113.0/24 via 10.2.0.2 dev srv2"
# 192.0.2.0/24 in table 10 via 10.1.0.2: srv1's subnet, which is main's.
listed() { lab_api GET /api/v1/fpm/not-installed | grep -q 192.0.2.0/24; }
lab_wait 10 "the leaking route listed" listed || true
check "a table-10 route via a main interface is not installed" is 10 192.0.2.0/24 none
na=$(lab_api GET /api/v1/fpm/not-installed)
check "... and listed as not installed (table 10)" contains "$na" '"table":10,"prefix":"192.0.2.0/24"'
finish
