#!/usr/bin/env bash
# The README's "Configuration at a glance", run as a new user would: the YAML
# block is taken from README.md verbatim (nothing added, nothing removed), the
# router runs it on its net_tap ports, and the lab moves the taps into a client
# and two server namespaces. Real TCP connections to the routed prefix must all
# succeed with the documented 1:2 split, and a gateway's own address must be
# reachable through the router (it is both a nexthop and a connected host).
#
# The router runs in a namespace of its own so that the README's interface
# names (lan, srv1, srv2) and API port (9464) cannot clash with the host's.
source "$(dirname "$0")/../kit/e2e.sh"
N=${README_CONNECTIONS:-600}

lab_init readme
python3 - "$LAB_ROOT/README.md" "$LAB_DIR/router.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text.split("## Configuration at a glance", 1)[1]
block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
open(sys.argv[2], "w").write(block)
PY
echo "README config ($LAB_DIR/router.yaml):"
sed 's/^/    /' "$LAB_DIR/router.yaml"
check "the README config passes --check-config" "$ECMP_ROUTER" --check-config "$LAB_DIR/router.yaml"

LAB_RTR_NS="$LAB_TAG-rtr"
ip netns add "$LAB_RTR_NS"; LAB_NAMESPACES+=("$LAB_RTR_NS")
ip -n "$LAB_RTR_NS" link set lo up
RUST_LOG=info ip netns exec "$LAB_RTR_NS" "$ECMP_ROUTER" --config "$LAB_DIR/router.yaml" >"$LAB_DIR/router.log" 2>&1 &
LAB_ROUTER_PID=$!
LAB_API_PORT=9464
lab_wait 30 "router ports" _lab_rtr bash -c "ip link show lan && ip link show srv1 && ip link show srv2" || { cat "$LAB_DIR/router.log"; exit 1; }
lab_wait 30 "router /metrics" lab_metrics || { cat "$LAB_DIR/router.log"; exit 1; }

# The README's addressing: lan 10.0.0.0/24, srvK 10.K.0.0/24, the router at .1.
_lab_host "$LAB_NS_CLIENT" lan 02:00:00:00:00:c1 10.0.0.2/24 fd00::2/64 10.0.0.1 fd00::1
for k in 1 2; do
    _lab_host "$(lab_ns_srv $k)" "srv$k" "02:00:00:00:0$k:02" "10.$k.0.2/24" "fd0$k::2/64" "10.$k.0.1" "fd0$k::1"
    _lab_server "$k"
done
lab_wait 30 "gateways resolved by ARP and NDP" _lab_gateways_up

ports=$(lab_api GET /api/v1/ports)
check "/api/v1/ports shows monitor-link auto, not in effect on net_tap" python3 -c '
import json, sys
ps = json.loads(sys.argv[1])
sys.exit(0 if all(p["monitor_link"] == "auto" and p["monitor_link_effective"] is False for p in ps) else 1)' "$ports"

out=$(lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/tcp_split.py" 198.51.100.10 "$SERVICE_PORT" "$N" 16)
echo "$N connections to 198.51.100.10:$SERVICE_PORT -> $out"
read -r failed s1 s2 < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); a=d["answers"]; print(d["failed"], a.get("srv1",0), a.get("srv2",0))' "$out")
check "no connection failed ($failed failed)" test "$failed" -eq 0
check "every connection answered by srv1 or srv2" test $((s1 + s2)) -eq "$N"
# srv1's share is binomial(N, 1/3): 4 standard deviations either side.
check "split 1:2 as documented (srv1 $s1 of $N)" python3 -c '
import math, sys
n, s1 = int(sys.argv[1]), int(sys.argv[2])
sd = math.sqrt(n * (1 / 3) * (2 / 3))
sys.exit(0 if abs(s1 - n / 3) <= 4 * sd else 1)' "$N" "$s1"
check "no packet dropped as all_nexthops_down" test "$(lab_metric 'ecmp_router_drops_total{reason="all_nexthops_down"}')" -eq 0

# The gateways are connected hosts too: ping them, and connect to one, through the router.
check "ping 10.1.0.2 (a gateway) from the client" lab_ns "$LAB_NS_CLIENT" ping -c3 -i0.2 -W2 10.1.0.2
check "ping 10.2.0.2 (a gateway) from the client" lab_ns "$LAB_NS_CLIENT" ping -c3 -i0.2 -W2 10.2.0.2
tcp_to_gateway() { lab_ns "$LAB_NS_CLIENT" socat -u "TCP:10.1.0.2:$SERVICE_PORT,connect-timeout=5" STDOUT | grep -qx srv1; }
check "TCP to a gateway's own address (answered by srv1)" tcp_to_gateway
check "no link-down WARN in the log" bash -c "! grep -q 'link down: the port' '$LAB_DIR/router.log'"
finish
