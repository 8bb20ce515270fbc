#!/usr/bin/env bash
# monitor-link, the key itself. srv1 is set to `monitor-link: true`, srv2 and
# lan keep the default (`auto`, which ignores net_tap's link state). The lab
# moves the taps into other namespaces, where the tap PMD (which reads its
# interface by name in the router's namespace) reports them down: srv1's
# nexthop must go down (reason "link") with one WARN line naming the port and
# the key, every connection must go to srv2, and srv2 must be unaffected.
# Moving srv1's interface back into the router's namespace brings its link,
# and so its nexthop, back up.
#
# (DPDK 22.11's net_af_packet always reports its link up, so the lab has no
# device whose link state both means something and can be taken down.)
source "$(dirname "$0")/../kit/e2e.sh"

lab_init linkmon
lab_config
sed -i '/name: srv1,/s/ }$/, monitor-link: true }/' "$LAB_DIR/router.yaml"
grep -q 'name: srv1,.*monitor-link: true' "$LAB_DIR/router.yaml"
lab_up

ports=$(lab_api GET /api/v1/ports)
check "ports API: srv1 true and in effect; lan and srv2 auto and not in effect (net_tap)" python3 -c '
import json, sys
ps = {p["name"]: p for p in json.loads(sys.argv[1])}
ok = ps["srv1"]["monitor_link"] == "true" and ps["srv1"]["monitor_link_effective"] is True
for n in ("lan", "srv2"):
    ok &= ps[n]["monitor_link"] == "auto" and ps[n]["monitor_link_effective"] is False
sys.exit(0 if ok else 1)' "$ports"

metric_is() { [ "$(lab_metric "$1")" = "$2" ]; }
down1='ecmp_router_nexthop_down{kind="gateway",nexthop="10.1.0.2",port="srv1",reason="link"}'
down2='ecmp_router_nexthop_down{kind="gateway",nexthop="10.2.0.2",port="srv2",reason="link"}'
check "srv1's moved tap (reported down) takes its nexthop down, reason link" lab_wait 10 "srv1 link down" metric_is "$down1" 1
check "srv2 (auto) is not link-down" metric_is "$down2" 0
check "one WARN line names the port, the device and the key" bash -c "grep WARN '$LAB_DIR/router.log' | grep 'link down' | grep 'port=srv1' | grep -q 'monitor-link is true'"
check "no such line for srv2 or lan" bash -c "! grep WARN '$LAB_DIR/router.log' | grep 'link down' | grep -qE 'port=(srv2|lan)'"
out=$(lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/tcp_split.py" "$ANYCAST4" "$SERVICE_PORT" 60 8)
check "60 of 60 connections reach srv2 ($out)" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["failed"] == 0 and d["answers"].get("srv2", 0) == 60 else 1)' "$out"
# Back into the router's namespace and up: the PMD sees it, the link is up.
ip -n "$LAB_NS_SRV1" link set "$LAB_IF_SRV1" netns 1
ip link set "$LAB_IF_SRV1" up
check "srv1's link up again clears the link-down" lab_wait 10 "srv1 link up" metric_is "$down1" 0
finish
