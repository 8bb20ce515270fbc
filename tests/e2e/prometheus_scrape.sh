#!/usr/bin/env bash
# A real Prometheus server (Debian's package) scrapes the router while lab
# traffic runs: the target is up, and the per-nexthop, per-lcore, per-group and
# drop series arrive with the values the router counted. The shipped scrape
# config and every PromQL expression of the shipped Grafana dashboard are
# checked by Prometheus itself.
source "$(dirname "$0")/../kit/e2e.sh"
PROM=$(command -v prometheus || echo /usr/bin/prometheus)

check "the shipped scrape config is valid" promtool check config "$LAB_ROOT/deploy/prometheus/prometheus.yml"
lab_init prom
lab_config
lab_up
lab_ns "$LAB_NS_CLIENT" $FLOWS tcp "$ANYCAST4" "$SERVICE_PORT" 100 >/dev/null
lab_ns "$LAB_NS_CLIENT" ping -c1 -W1 -t1 "$ANYCAST4" >/dev/null 2>&1 || true

PROM_PORT=$(( LAB_API_PORT + 1 ))
sed "s/127.0.0.1:9464/127.0.0.1:$LAB_API_PORT/; s/scrape_interval: 5s/scrape_interval: 1s/" "$LAB_ROOT/deploy/prometheus/prometheus.yml" >"$LAB_DIR/prometheus.yml"
"$PROM" --config.file="$LAB_DIR/prometheus.yml" --storage.tsdb.path="$LAB_DIR/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$LAB_DIR/prometheus.log" 2>&1 &
LAB_PIDS+=($!)
q() { curl -sf --data-urlencode "query=$1" "http://127.0.0.1:$PROM_PORT/api/v1/query"; }
value() { q "$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(sum(float(x["value"][1]) for x in r) if r else "none")'; }
scraped() { [ "$(value 'up{job="ecmp-router"}')" = "1.0" ]; }
lab_wait 60 "Prometheus to scrape the router" scraped || { tail -20 "$LAB_DIR/prometheus.log"; false; }
check "Prometheus scrapes the router: up == 1" scraped

for m in ecmp_router_nexthop_packets_total ecmp_router_lcore_rx_packets_total ecmp_router_port_rx_packets_total; do
    got=$(value "sum($m)")
    check "$m reached Prometheus ($got)" python3 -c "import sys; sys.exit(0 if '$got' != 'none' and float('$got') > 0 else 1)"
done
is() { [ "$(value "$1")" = "$2" ]; }
check "drops by reason arrive with their label (ttl_exceeded = 1)" is 'ecmp_router_drops_total{reason="ttl_exceeded"}' 1.0
check "group live members arrive (2 per family)" is 'sum(ecmp_router_group_live_members)' 4.0
n=0; bad=0
for e in $(python3 -c 'import json,sys; [print(t["expr"].replace(" ", "\x01")) for p in json.load(open(sys.argv[1]))["panels"] for t in p["targets"]]' "$LAB_ROOT/deploy/grafana/ecmp-router.json"); do
    e=${e//$'\x01'/ }
    n=$((n + 1))
    st=$(q "$e" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || echo error)
    [ "$st" = success ] || { bad=$((bad + 1)); echo "        dashboard query failed: $e"; }
done
check "all $n dashboard queries are valid PromQL that Prometheus evaluates" test "$bad" -eq 0
finish
