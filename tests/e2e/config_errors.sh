#!/usr/bin/env bash
# A bad config is refused at start with the key, line and column, and the
# router does not start half-configured; --check-config validates without
# starting anything.
source "$(dirname "$0")/../kit/e2e.sh"
BIN=${ECMP_ROUTER:-$ROOT/target/release/ecmp-router}
FIX=$HERE/fixtures
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

rc=0; out=$(timeout 20 "$BIN" --config "$FIX/bad-port.yaml" 2>&1) || rc=$?
check "unknown port: exit status 1" test "$rc" -eq 1
check "unknown port: message names file, line, column and key" contains "$out" "bad-port.yaml:13:32: routes[0].nexthops[1].port: unknown port 'srv2' (ports are: lan, srv1)"
check "unknown port: no DPDK port was created" bash -c '! ip link show ecmpbadlan >/dev/null 2>&1'

sed 's/weight: 2/weight: heavy/; s/port: srv2/port: srv1/; s/10.2.0.2/10.1.0.3/' "$FIX/bad-port.yaml" >"$TMP/type.yaml"
rc=0; out=$("$BIN" --check-config "$TMP/type.yaml" 2>&1) || rc=$?
check "type error: exit status 1" test "$rc" -eq 1
check "type error: names the key and position" contains "$out" "type.yaml:13:46: routes[0].nexthops[1].weight: expected a whole number"

printf 'ports:\n  - { name: lan, device: x\n' >"$TMP/syntax.yaml"
rc=0; out=$("$BIN" --check-config "$TMP/syntax.yaml" 2>&1) || rc=$?
check "syntax error: exit status 1 with a position" bash -c '[ "$1" -eq 1 ] && [[ "$2" =~ syntax.yaml:[1-9][0-9]*:[1-9] ]]' _ "$rc" "$out"

sed 's/hash/hash/' "$FIX/bad-port.yaml" | sed 's/port: srv2/port: srv1/; s/10.2.0.2/10.1.0.3/' >"$TMP/good.yaml"
printf 'hash: { policy: l3, seed: 42 }\nneighbors: [{ address: 10.1.0.2, mac: "02:00:00:00:01:02", port: srv1 }]\n' >>"$TMP/good.yaml"
rc=0; out=$("$BIN" --check-config "$TMP/good.yaml" 2>&1) || rc=$?
check "valid config: --check-config exits 0 and says OK" bash -c '[ "$1" -eq 0 ] && [[ "$2" == *": OK ("* ]]' _ "$rc" "$out"
check "--check-config started nothing" bash -c '! ip link show ecmpbadlan >/dev/null 2>&1'

printf 'ports: [{ name: lan, device: x, addresses: [10.0.0.1/24] }]\nrouters: []\n' >"$TMP/typo.yaml"
rc=0; out=$("$BIN" --check-config "$TMP/typo.yaml" 2>&1) || rc=$?
check "unknown top-level key is refused" contains "$out" "unknown field \`routers\`"
finish
