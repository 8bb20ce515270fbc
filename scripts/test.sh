#!/usr/bin/env bash
# Runs every test of ecmp-router on a fresh Debian 12 machine, as root:
# set-up, unit and property tests, the release build, and the end-to-end
# tests in network namespaces with real TCP/UDP/ICMP traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== code limits (files, functions; scripts/limits.py)"
limits_failed=
python3 scripts/limits.py || limits_failed=1

echo "== unit and property tests (at $SECONDS s)"
cargo test --workspace --locked --quiet

echo "== release build (at $SECONDS s)"
cargo build --release --locked -p router

echo "== fuzzing (at $SECONDS s; each target 20 s; saved inputs also replay in the unit tests above)"
fuzz_failed=
bash scripts/fuzz.sh 20 || fuzz_failed=1

echo "== end-to-end tests (at $SECONDS s)"
failed=()
logs=$(mktemp -d /tmp/ecmp-e2e-logs.XXXXXX)
# run_e2e SCRIPT [ARGS]: runs one test, keeps its output in $logs and shows
# it when the test ends (a file, not a pipe: a daemon a test leaves behind
# cannot hold the run up).
run_e2e() {
    local t=$1 rc=0 log start=$SECONDS; shift
    log=$logs/$(basename "$t").log
    echo "-- $t $*"
    bash "$t" "$@" >"$log" 2>&1 || rc=$?
    cat "$log"
    echo "-- $t: $((SECONDS - start)) s, rc $rc"
    [ "$rc" -eq 0 ] || failed+=("$t")
}
for t in tests/e2e/readme_config.sh tests/e2e/link_monitor.sh tests/e2e/config_errors.sh tests/e2e/static_neighbors.sh tests/e2e/neighbor_flood.sh tests/e2e/neighbor_states.sh tests/e2e/ttl_echo.sh tests/e2e/weighted_split.sh \
         tests/e2e/spread.sh tests/e2e/icmp_steering.sh tests/e2e/failover.sh tests/e2e/api_routes.sh tests/e2e/cli.sh tests/e2e/iproute_compare.sh tests/e2e/systemd.sh tests/e2e/journal.sh tests/e2e/api_socket.sh tests/e2e/api_limits.sh tests/e2e/log_flood.sh \
         tests/e2e/prometheus_scrape.sh tests/e2e/frr_fpm.sh tests/e2e/fpm_sessions.sh tests/e2e/reject_routes.sh tests/e2e/route_churn.sh tests/e2e/multi_worker.sh tests/e2e/sticky.sh tests/e2e/uplinks.sh tests/e2e/icmp_ratelimit.sh tests/e2e/policy.sh tests/e2e/dual_wan.sh tests/e2e/dual_wan_workers.sh tests/e2e/malformed.sh tests/e2e/restart.sh tests/e2e/examples.sh tests/e2e/leaf_bgp.sh tests/e2e/demo_bgp.sh tests/e2e/leaf_bird.sh tests/e2e/bgp_unnumbered.sh tests/e2e/bfd_policer.sh tests/e2e/tier.sh tests/e2e/jumbo.sh; do
    run_e2e "$t"
done
run_e2e tests/deb/install.sh
echo "   (tests/soak/soak.sh 120: the 2-minute soak; the full one is 30 minutes)"
run_e2e tests/soak/soak.sh 120
[ -z "$fuzz_failed" ] || failed+=("scripts/fuzz.sh")
[ -z "$limits_failed" ] || failed+=("scripts/limits.py")
if [ ${#failed[@]} -ne 0 ]; then
    # A long run's log may reach the reader cut in the middle: the failed
    # tests' own output comes again here, at the end.
    for t in "${failed[@]}"; do
        f=$logs/$(basename "$t").log
        [ -f "$f" ] || continue
        echo "== the output of $t, again (its last 60 lines)"
        tail -n 60 "$f"
    done
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "ALL TESTS PASSED (in $SECONDS s)"
