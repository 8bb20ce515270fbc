#!/usr/bin/env bash
# VRFs (issue 28). VRF blue (table 10) holds srv2 and ext; lan and srv1
# stay in the default VRF. The service prefixes are in both, with
# different nexthops: 198.51.100.0/24 and 2001:db8:100::/64 via srv1 in
# main, via srv2 in blue. ext (blue) also has srv1's address and subnet,
# 10.1.0.1/24. With the defaults otherwise:
# - the client (main) reaches srv1's service, ext (blue) srv2's;
# - nothing leaks: the client cannot reach srv2, nor ext srv1 (blue's
#   10.1.0.0/24 is ext's own subnet, where no 10.1.0.2 answers);
# - local addresses and echo are per VRF: 10.1.0.1 answers in both, and
#   ext gets no answer from lan's 10.0.0.1;
# - `ecmpctl route show vrf blue` and `route get ... vrf blue` show blue's table.
source "$(dirname "$0")/../kit/e2e.sh"
lab_init vrf
lab_config --servers 2 --ext --extra "vrfs: { blue: { table: 10 } }"
python3 - "$LAB_DIR/router.yaml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"(  - \{ name: srv2, [^\n]*\])( \})", r"\1, vrf: blue\2", s)
s = re.sub(r"(  - \{ name: ext, [^\n]*addresses: \[10\.9\.0\.1/24, fd09::1/64)\]( \})", r"\1, 10.1.0.1/24], vrf: blue\2", s)
s = re.sub(r"      - \{ via: (10\.2\.0\.2|fd02::2), port: srv2, weight: \d+ \}\n", "", s)
s = s.replace("routes:\n", "routes:\n"
              "  - { prefix: 198.51.100.0/24, vrf: blue, nexthops: [{ via: 10.2.0.2, port: srv2 }] }\n"
              "  - { prefix: \"2001:db8:100::/64\", vrf: blue, nexthops: [{ via: \"fd02::2\", port: srv2 }] }\n", 1)
open(p, "w").write(s)
PY
check "srv2 and ext are in blue" test "$(grep -c 'vrf: blue' "$LAB_DIR/router.yaml")" = 4
lab_up
c() { lab_ns "$LAB_NS_CLIENT" "$@" 2>&1 || true; }
e() { lab_ns "$LAB_NS_EXT" "$@" 2>&1 || true; }

out=$(c $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 20)
check "the client (main) reaches srv1's service" contains "$out" '"answers": {"srv1": 20}'
out=$(e $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 20)
check "ext (blue) reaches srv2's, on the same prefix" contains "$out" '"answers": {"srv2": 20}'
out=$(c $FLOWS tcp "$ANYCAST6" "$SERVICE_PORT" 10)
check "... IPv6 too: main's is srv1" contains "$out" '"answers": {"srv1": 10}'
out=$(e $FLOWS tcp "$ANYCAST6" "$SERVICE_PORT" 10)
check "... and blue's srv2" contains "$out" '"answers": {"srv2": 10}'

before=$(lab_metric 'ecmp_router_drops_total{reason="no_route"}')
out=$(c ping -c 2 -i 0.2 -W 1 10.2.0.2)
check "no leak: the client cannot reach srv2 (blue)" contains "$out" "0 received"
check "... the router says so (net unreachable)" contains "$out" "Unreachable"
after=$(lab_metric 'ecmp_router_drops_total{reason="no_route"}')
check "... counted as no_route" test "$after" -ge $((before + 2))
out=$(e ping -c 2 -i 0.2 -W 1 10.1.0.2)
check "no leak: ext cannot reach srv1 (blue's 10.1.0.0/24 is ext's own subnet)" contains "$out" "0 received"
out=$(c ping -c 1 -W 1 10.1.0.2)
check "... while the client still does" contains "$out" "1 received"

out=$(e ping -c 1 -W 1 10.1.0.1)
check "10.1.0.1 answers in blue (ext's)" contains "$out" "1 received"
out=$(c ping -c 1 -W 1 10.1.0.1)
check "... and in main (srv1's)" contains "$out" "1 received"
out=$(e ping -c 1 -W 1 10.9.0.1)
check "ext's gateway answers" contains "$out" "1 received"
out=$(e ping -c 1 -W 1 10.0.0.1)
check "ext gets no answer from lan's 10.0.0.1 (main's)" contains "$out" "0 received"

blue=$(ctl route show vrf blue)
printf '%s\n' "$blue" | sed 's/^/        /'
check "route show vrf blue: the service route via srv2" contains "$blue" "198.51.100.0/24 via 10.2.0.2 dev srv2"
check "route show vrf blue: blue's connected subnets" contains "$blue" "10.1.0.0/24 dev ext proto kernel scope link src 10.1.0.1"
check "route show vrf blue: nothing of main's" bash -c "! grep -Eq 'dev (lan|srv1)' <<<'$blue'"
main=$(ctl route show)
check "route show (main): nothing of blue's" bash -c "! grep -Eq 'dev (srv2|ext)' <<<'$main'"
out=$(ctl route get 198.51.100.10 vrf blue)
check "route get ... vrf blue: via srv2" contains "$out" "via 10.2.0.2 dev srv2"
out=$(ctl route get 198.51.100.10)
check "route get (main): via srv1" contains "$out" "via 10.1.0.2 dev srv1"
out=$(ctl route add 203.0.113.0/24 vrf blue nexthop via 10.2.0.2 dev srv2 2>&1 || true)
check "route add ... vrf blue: in blue's table" contains "$(ctl route show vrf blue)" "203.0.113.0/24 via 10.2.0.2 dev srv2"
check "... not in main's" bash -c "! grep -q 203.0.113.0 <<<'$(ctl route show)'"
out=$(ctl route add 203.0.114.0/24 vrf blue nexthop via 10.1.0.2 dev srv1 2>&1 || true)
check "route add ... vrf blue through a main port is refused (no leak)" contains "$out" "port 'srv1' is in VRF default, the route in VRF blue"
ports=$(lab_api GET /api/v1/vrfs)
check "GET /api/v1/vrfs: blue, table 10, its interfaces" contains "$ports" '"name":"blue","table":10,"interfaces":["srv2","ext"]'
finish
