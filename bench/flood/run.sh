#!/usr/bin/env bash
# The control plane under an ARP/NDP flood, measured in one run: the same
# work with and without a flood on one port.
#
#   bash bench/flood/run.sh                    # 150,000 routes per phase, flood at 60,000 pps
#   ROUTES=50000 PPS=80000 bash bench/flood/run.sh
#
# The lab's router (the defaults, plus an FPM listener). Each phase, once
# without and once with the flood from srv2's namespace (a mix of ARP
# claims of the router's address, ARP requests for random addresses,
# gratuitous ARP replies, NAs claiming the router's IPv6 address and NSs for
# random addresses, every frame from a random MAC):
# - FPM: ROUTES new IPv4 routes over one zebra-style session, timed from the
#   first message until the FIB holds them all (routes/s); the messages are
#   encoded before the clock starts;
# - API: 400 GET /api/v1/nexthops over one keep-alive connection, then 100
#   PUT /api/v1/routes (median and 99th percentile);
# - forwarding: a 10,000 pps UDP stream from the client to srv1 (not the
#   flooded port) through both, its losses counted at srv1.
# Prints one JSON line per phase and the ratios. Nothing is asserted: the
# figures go into docs/performance.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../deploy/lab/lib.sh"
: "${ROUTES:=150000}" "${PPS:=60000}"
cd "$LAB_ROOT"
cargo build --release --quiet -p router

lab_init flood-bench
FPM=$((LAB_API_PORT + 1))
lab_config --extra "fpm: { listen: 127.0.0.1:$FPM }"
lab_up
API=http://127.0.0.1:$LAB_API_PORT
python3 - "$LAB_DIR" "$ROUTES" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for name, first in (("off", 11), ("on", 41)):
    with open(f"{d}/prefixes-{name}.txt", "w") as f:
        for i in range(n):
            f.write(f"{first + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24\n")
PY
# The router's MAC on srv2, as srv2 sees it.
lab_ns "$LAB_NS_SRV2" ping -c 1 -W 1 10.2.0.1 >/dev/null
RMAC=$(lab_ns "$LAB_NS_SRV2" ip neigh show 10.2.0.1 | awk '{ print $5 }')
# One session for both phases; each set is encoded beforehand and sent once
# its phase says go, so that the sender's Python is not what is measured.
python3 deploy/lab/churn.py fpm-table "127.0.0.1:$FPM" "wait=$LAB_DIR/go-off" "$LAB_DIR/prefixes-off.txt" \
    "wait=$LAB_DIR/go-on" "$LAB_DIR/prefixes-on.txt" >"$LAB_DIR/fpm.json" &
LAB_PIDS+=($!)
until [ -e "$LAB_DIR/go-on.ready" ]; do sleep 0.1; done
v4() { lab_metric 'ecmp_router_fib_routes{family="ipv4"}'; }
# CPU seconds of the router's threads by name: "control" (punts, timers),
# "ecmp-router" (the runtime: FPM and the API), the rest.
cpu() {
    python3 - "$LAB_ROUTER_PID" <<'PY'
import glob, json, os, sys
tck = os.sysconf("SC_CLK_TCK")
out = {}
for st in glob.glob(f"/proc/{sys.argv[1]}/task/*/stat"):
    s = open(st).read()
    name = s[s.index("(") + 1:s.rindex(")")]
    f = s[s.rindex(")") + 2:].split()
    out[name] = out.get(name, 0) + (int(f[11]) + int(f[12])) / tck
print(json.dumps(out))
PY
}

phase() { # off|on
    local name=$1 flood_pid="" base t0 t1 want
    if [ "$name" = on ]; then
        lab_ns "$LAB_NS_SRV2" python3 deploy/lab/flood.py "$LAB_IF_SRV2" "$RMAC" 10.2.0.1 600 \
            arp-claim,arp-request,arp-garp,na-claim,ns net=10.2.0.0 ip6=fd02::1 pps="$PPS" >"$LAB_DIR/flood.json" &
        flood_pid=$!; LAB_PIDS+=("$flood_pid")
        sleep 2
    fi
    local m0; m0=$(lab_metrics)
    local c0
    lab_ns "$LAB_NS_SRV1" python3 deploy/lab/churn.py recv 9100 40 "$LAB_DIR/recv-$name.json" &
    local recv=$!
    sleep 0.5
    lab_ns "$LAB_NS_CLIENT" python3 deploy/lab/churn.py send 10.1.0.2 9100 10000 30 1 >"$LAB_DIR/send-$name.json" &
    local send=$!
    base=$(v4)
    want=$((base + ROUTES))
    c0=$(cpu)
    t0=$(date +%s.%N)
    touch "$LAB_DIR/go-$name"
    until [ "$(v4)" -ge "$want" ]; do
        sleep 0.05
        python3 -c "import sys,time; sys.exit(0 if time.time() - $t0 < 300 else 1)" || { echo "phase $name: FIB stuck at $(v4) of $want routes" >&2; break; }
    done
    t1=$(date +%s.%N)
    local c1; c1=$(cpu)
    local api; api=$(python3 - "$API" <<'PY'
import http.client, json, sys, time
host, port = sys.argv[1].split("//")[1].split(":")
c = http.client.HTTPConnection(host, int(port), timeout=10)
def q(v):
    v = sorted(v)
    return {"median_us": round(v[len(v) // 2] * 1e6), "p99_us": round(v[int(len(v) * 0.99)] * 1e6)}
get = []
for _ in range(400):
    t = time.perf_counter(); c.request("GET", "/api/v1/nexthops"); c.getresponse().read(); get.append(time.perf_counter() - t)
put = []
for i in range(100):
    b = json.dumps({"prefix": f"198.18.{i}.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]})
    t = time.perf_counter(); c.request("PUT", "/api/v1/routes", body=b, headers={"Content-Type": "application/json"}); r = c.getresponse(); r.read(); put.append(time.perf_counter() - t)
    assert r.status in (200, 201), r.status
print(json.dumps({"get": q(get), "put": q(put)}))
PY
)
    wait "$send"
    wait "$recv"
    local m1; m1=$(lab_metrics)
    [ -z "$flood_pid" ] || { kill "$flood_pid"; wait "$flood_pid" 2>/dev/null || true; }
    python3 - "$name" "$ROUTES" "$t0" "$t1" "$api" "$LAB_DIR" "$c0" "$c1" >"$LAB_DIR/phase-$name.json" <<PY
import json, sys
name, n, t0, t1, api, d = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5]), sys.argv[6]
c0, c1 = json.loads(sys.argv[7]), json.loads(sys.argv[8])
# Threads' CPU share over the FPM load, in % of one core.
cpu = {k: round(100 * (c1[k] - c0.get(k, 0)) / (t1 - t0)) for k in c1 if c1[k] - c0.get(k, 0) > 0}
sent = json.load(open(f"{d}/send-{name}.json"))["sent"]
got = len({seq for f, seq, _ in json.load(open(f"{d}/recv-{name}.json")) if f == 1})
def metrics(text):
    out = {}
    for l in text.splitlines():
        if l and not l.startswith("#"):
            k, v = l.rsplit(" ", 1)
            out[k] = float(v)
    return out
m0, m1 = metrics("""$m0"""), metrics("""$m1""")
delta = lambda k: int(m1.get(k, 0) - m0.get(k, 0))
print(json.dumps({"phase": name, "routes": n, "fpm_seconds": round(t1 - t0, 2), "routes_per_s": round(n / (t1 - t0)), "cpu_pct_during_load": cpu,
                  "api": api, "stream": {"sent": sent, "received": got, "lost": sent - got},
                  "punted_arp_nd": delta('ecmp_router_control_events_total{event="arp_rx"}') + delta('ecmp_router_control_events_total{event="ndp_rx"}'),
                  "own_address_claims": delta('ecmp_router_control_events_total{event="own_address_claim"}'),
                  "punt_queue_full": delta('ecmp_router_drops_total{reason="punt_queue_full"}'),
                  "srv2_rx": delta('ecmp_router_port_rx_packets_total{port="srv2"}'),
                  "log_suppressed": sum(int(v - m0.get(k, 0)) for k, v in m1.items() if k.startswith("ecmp_router_log_suppressed_total"))}))
PY
}

l0=$(wc -l <"$LAB_DIR/router.log")
phase off
off=$(cat "$LAB_DIR/phase-off.json")
echo "$off"
phase on
on=$(cat "$LAB_DIR/phase-on.json")
echo "$on"
echo "flood: $(cat "$LAB_DIR/flood.json" 2>/dev/null)"
echo "router log: $(( $(wc -l <"$LAB_DIR/router.log") - l0 )) lines during both phases"
python3 - "$off" "$on" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"fpm_rate_ratio": round(b["routes_per_s"] / a["routes_per_s"], 3),
                  "api_get_median_ratio": round(b["api"]["get"]["median_us"] / a["api"]["get"]["median_us"], 3),
                  "api_put_median_ratio": round(b["api"]["put"]["median_us"] / a["api"]["put"]["median_us"], 3),
                  "stream_lost": [a["stream"]["lost"], b["stream"]["lost"]]}))
PY
