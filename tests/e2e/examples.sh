#!/usr/bin/env bash
# Every shipped example config runs (issue 8). Each file in deploy/examples/
# is started with its NICs replaced by virtual ports (net_null) and checked
# against what it declares. The data-centre leaf (leaf-frr.yaml) needs FRR
# and real ports: tests/e2e/leaf_bgp.sh runs it; tier.sh runs tier.yaml.
source "$(dirname "$0")/../kit/e2e.sh"
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
    case "$name" in leaf-*|tier) continue ;; esac  # tests/e2e/leaf_bgp.sh, leaf_bird.sh, tier.sh
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

# leaf-frr runs with FRR through the router's own ports in tests/e2e/leaf_bgp.sh.
finish
