#!/usr/bin/env bash
# The control plane under an ARP/NDP flood, measured in one run.
#
#   bash bench/flood/run.sh                    # 150,000 routes per phase, floods at 60,000 pps, 3 rounds
#   ROUTES=50000 PPS=80000 bash bench/flood/run.sh
#   ECMP_ROUTER=/path/to/other/ecmp-router bash bench/flood/run.sh   # another build
#
# The lab's router (the defaults, plus an FPM listener). ROUNDS (3) rounds of
# three phases, interleaved (this VM's noise reaches 40 % run to run, so one
# run of each says little; the medians are the figures):
# - off: no flood;
# - udp: the anchor: UDP from srv2's namespace at the same rate and from the
#   same sender, from off-subnet sources to an address with no route, which
#   the worker drops (no punt, no neighbour to resolve, no control-plane
#   work): what the flood costs this 2-core machine (the sender, the kernel's
#   tap) apart from the router's control plane;
# - arp: the flood from srv2's namespace: a mix of ARP replies claiming the
#   router's address, ARP requests for random addresses, gratuitous ARP
#   replies, NAs claiming the router's IPv6 address and NSs for random
#   addresses, every frame from a random MAC.
# In each:
# - FPM: ROUTES new IPv4 routes over one zebra-style session (encoded before
#   the clock starts), timed from the first message until the last prefix is
#   in the FIB (routes/s);
# - API: 400 GET /api/v1/nexthops over one keep-alive connection, then 100
#   PUT /api/v1/routes (median and 99th percentile);
# - forwarding: a 10,000 pps UDP stream for 12 s from the client to srv1 (not the
#   flooded port), its losses counted at srv1;
# - CPU: each router thread's, and the flood sender's, over the FPM load.
# Prints one JSON line per phase, then the medians and their ratios to `off`. Nothing is
# asserted: the figures go into docs/performance.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OTHER_BUILD=${ECMP_ROUTER:-}
source "$HERE/../../deploy/lab/lib.sh"
: "${ROUTES:=150000}" "${PPS:=60000}" "${ROUNDS:=3}"
cd "$LAB_ROOT"
# Another build to measure: ECMP_ROUTER=/path/to/ecmp-router (not rebuilt).
[ -n "$OTHER_BUILD" ] || cargo build --release --quiet -p router

lab_init flood-bench
FPM=$((LAB_API_PORT + 1))
lab_config --extra "fpm: { listen: 127.0.0.1:$FPM }"
lab_up
API=http://127.0.0.1:$LAB_API_PORT
PHASES=()
for r in $(seq "$ROUNDS"); do PHASES+=("off$r" "udp$r" "arp$r"); done
python3 - "$LAB_DIR" "$ROUTES" "${PHASES[@]}" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for k, name in enumerate(sys.argv[3:]):
    first = 11 + 3 * k
    with open(f"{d}/prefixes-{name}.txt", "w") as f:
        for i in range(n):
            f.write(f"{first + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24\n")
PY
# One session for every phase; each set is encoded beforehand and sent when
# its phase says go, so that the sender's Python is not what is measured.
args=()
for p in "${PHASES[@]}"; do args+=("wait=$LAB_DIR/go-$p" "$LAB_DIR/prefixes-$p.txt"); done
python3 deploy/lab/churn.py fpm-table "127.0.0.1:$FPM" "${args[@]}" >"$LAB_DIR/fpm.json" &
LAB_PIDS+=($!)
until [ -e "$LAB_DIR/go-${PHASES[-1]}.ready" ]; do sleep 0.1; done
# The router's MAC on srv2, as srv2 sees it.
lab_ns "$LAB_NS_SRV2" ping -c 1 -W 1 10.2.0.1 >/dev/null
RMAC=$(lab_ns "$LAB_NS_SRV2" ip neigh show 10.2.0.1 | awk '{ print $5 }')
v4() { lab_metric 'ecmp_router_fib_routes{family="ipv4"}'; }
# go_and_time GO ADDR PREFIX: creates GO (the sender starts), then waits
# until ADDR's route is PREFIX, the last prefix of the set (FPM messages apply
# in order), asking every 10 ms over one keep-alive connection (a curl a poll,
# or /metrics, would cost more than what is measured); prints the seconds.
go_and_time() {
    python3 - "$API" "$@" "${STUCK:-300}" <<'PY'
import http.client, sys, time
api, go, addr, prefix, stuck = sys.argv[1:]
host, port = api.split("//")[1].split(":")
c = http.client.HTTPConnection(host, int(port), timeout=10)
c.connect()
t0 = time.monotonic()
open(go, "w").close()
while time.monotonic() - t0 < float(stuck):
    c.request("GET", f"/api/v1/route/get?dst={addr}")
    if f'"{prefix}"' in c.getresponse().read().decode():
        print(round(time.monotonic() - t0, 3))
        sys.exit(0)
    time.sleep(0.01)
sys.exit(f"the last prefix is not in after {stuck} s")
PY
}
# CPU seconds of a process's threads by name (PID [PID...]).
cpu() {
    python3 - "$@" <<'PY'
import glob, json, os, sys
tck = os.sysconf("SC_CLK_TCK")
out = {}
for pid in sys.argv[1:]:
    for st in glob.glob(f"/proc/{pid}/task/*/stat"):
        s = open(st).read()
        name = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + (int(f[11]) + int(f[12])) / tck
print(json.dumps(out))
PY
}

phase() { # off|udp|arp ROUND
    local name=$1 flood_pid="" sender="" t0 t1 secs want last c0 c1 m0 m1 api
    if [ "${name%[0-9]*}" != off ]; then
        local kinds=arp-claim,arp-request,arp-garp,na-claim,ns dst=10.2.0.1 net=10.2.0.0
        # The anchor's sources are off every subnet: the worker's ICMP errors
        # for them have no route either, so no neighbour is resolved.
        [ "${name%[0-9]*}" = arp ] || { kinds=udp; dst=192.0.2.77; net=172.31.0.0; }
        lab_ns "$LAB_NS_SRV2" python3 deploy/lab/flood.py "$LAB_IF_SRV2" "$RMAC" "$dst" 600 \
            "$kinds" net="$net" ip6=fd02::1 pps="$PPS" >/dev/null &
        flood_pid=$!; LAB_PIDS+=("$flood_pid")
        sleep 2
        sender=$(pgrep -f "flood.py $LAB_IF_SRV2" | head -1)
    fi
    last=$(tail -n 1 "$LAB_DIR/prefixes-$name.txt")
    m0=$(lab_metrics)
    lab_ns "$LAB_NS_SRV1" python3 deploy/lab/churn.py recv 9100 20 "$LAB_DIR/recv-$name.json" &
    local recv=$!
    sleep 0.5
    lab_ns "$LAB_NS_CLIENT" python3 deploy/lab/churn.py send 10.1.0.2 9100 10000 12 1 >"$LAB_DIR/send-$name.json" &
    local send=$!
    want=$(( $(v4) + ROUTES ))
    sleep 1
    c0=$(cpu "$LAB_ROUTER_PID" $sender)
    t0=$(date +%s.%N)
    secs=$(go_and_time "$LAB_DIR/go-$name" "${last%/*}" "$last") || { echo "phase $name: stuck" >&2; secs=${STUCK:-300}; }
    t1=$(date +%s.%N)
    c1=$(cpu "$LAB_ROUTER_PID" $sender)
    [ "$(v4)" -ge "$want" ] || echo "phase $name: the FIB holds $(v4) IPv4 routes, not $want" >&2
    api=$(python3 - "$API" <<'PY'
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
    m1=$(lab_metrics)
    [ -z "$flood_pid" ] || { kill $sender "$flood_pid" 2>/dev/null; wait "$flood_pid" 2>/dev/null || true; }
    python3 - "$name" "$ROUTES" "$t0" "$t1" "$api" "$LAB_DIR" "$c0" "$c1" "$m0" "$m1" "$secs" >"$LAB_DIR/phase-$name.json" <<'PY'
import json, sys
name, n, t0, t1, api, d = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5]), sys.argv[6]
secs = float(sys.argv[11])
c0, c1 = json.loads(sys.argv[7]), json.loads(sys.argv[8])
# Threads' CPU over the FPM load, in % of one core ("python3": the flood sender).
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
m0, m1 = metrics(sys.argv[9]), metrics(sys.argv[10])
delta = lambda k: int(m1.get(k, 0) - m0.get(k, 0))
print(json.dumps({"phase": name, "routes": n, "fpm_seconds": secs, "routes_per_s": round(n / secs),
                  "cpu_pct_during_load": cpu, "api": api, "stream": {"sent": sent, "received": got, "lost": sent - got},
                  "srv2_rx": delta('ecmp_router_port_rx_packets_total{port="srv2"}'),
                  "punted_arp_nd": delta('ecmp_router_control_events_total{event="arp_rx"}') + delta('ecmp_router_control_events_total{event="ndp_rx"}'),
                  "own_address_claims": delta('ecmp_router_control_events_total{event="own_address_claim"}'),
                  "punt_queue_full": delta('ecmp_router_drops_total{reason="punt_queue_full"}'),
                  "no_route": delta('ecmp_router_drops_total{reason="no_route"}'),
                  "log_suppressed": sum(int(v - m0.get(k, 0)) for k, v in m1.items() if k.startswith("ecmp_router_log_suppressed_total"))}))
PY
    cat "$LAB_DIR/phase-$name.json"
}

l0=$(wc -l <"$LAB_DIR/router.log")
for p in "${PHASES[@]}"; do phase "$p"; done
echo "router log: $(( $(wc -l <"$LAB_DIR/router.log") - l0 )) lines during the phases"
python3 - "$LAB_DIR" "${PHASES[@]}" <<'PY'
import json, statistics, sys
runs = [json.load(open(f"{sys.argv[1]}/phase-{p}.json")) for p in sys.argv[2:]]
med = {}
for kind in ("off", "udp", "arp"):
    rs = [r for r in runs if r["phase"].rstrip("0123456789") == kind]
    med[kind] = {"routes_per_s": statistics.median(r["routes_per_s"] for r in rs),
                 "api_get_median_us": statistics.median(r["api"]["get"]["median_us"] for r in rs),
                 "api_put_median_us": statistics.median(r["api"]["put"]["median_us"] for r in rs),
                 "stream_lost": sum(r["stream"]["lost"] for r in rs),
                 "control_cpu_pct": statistics.median(r["cpu_pct_during_load"].get("control", 0) for r in rs),
                 "runs": len(rs)}
print(json.dumps({"medians": med}))
print(json.dumps({k: {f: round(med[k][f] / med["off"][f], 3) for f in ("routes_per_s", "api_get_median_us", "api_put_median_us")}
                  for k in ("udp", "arp")}))
PY
