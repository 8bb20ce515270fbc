#!/usr/bin/env bash
# Runs every test of ecmp-router on a fresh Debian 12 machine, as root:
# set-up, unit and property tests, the release build, and the end-to-end
# tests in network namespaces with real TCP/UDP/ICMP traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== unit and property tests"
cargo test --workspace --locked --quiet

echo "== release build"
cargo build --release --locked -p router

echo "== fuzzing (each target 20 s; saved inputs also replay in the unit tests above)"
fuzz_failed=
bash scripts/fuzz.sh 20 || fuzz_failed=1

echo "== end-to-end tests"
failed=()
for t in tests/e2e/readme_config.sh tests/e2e/link_monitor.sh tests/e2e/config_errors.sh tests/e2e/static_neighbors.sh tests/e2e/neighbor_flood.sh tests/e2e/neighbor_states.sh tests/e2e/ttl_echo.sh tests/e2e/weighted_split.sh \
         tests/e2e/spread.sh tests/e2e/icmp_steering.sh tests/e2e/failover.sh tests/e2e/api_routes.sh tests/e2e/api_socket.sh tests/e2e/api_limits.sh \
         tests/e2e/prometheus_scrape.sh tests/e2e/frr_fpm.sh tests/e2e/fpm_sessions.sh tests/e2e/reject_routes.sh tests/e2e/route_churn.sh tests/e2e/multi_worker.sh tests/e2e/sticky.sh tests/e2e/uplinks.sh tests/e2e/icmp_ratelimit.sh tests/e2e/policy.sh tests/e2e/dual_wan.sh tests/e2e/dual_wan_workers.sh tests/e2e/malformed.sh tests/e2e/restart.sh tests/e2e/examples.sh tests/e2e/leaf_bgp.sh tests/e2e/leaf_bird.sh tests/e2e/bgp_unnumbered.sh tests/e2e/bfd_policer.sh tests/e2e/tier.sh tests/e2e/jumbo.sh; do
    echo "-- $t"
    if ! bash "$t"; then failed+=("$t"); fi
done
echo "-- tests/deb/install.sh"
if ! bash tests/deb/install.sh; then failed+=("tests/deb/install.sh"); fi
echo "-- tests/soak/soak.sh 120 (the 2-minute soak; the full one is 30 minutes)"
if ! bash tests/soak/soak.sh 120; then failed+=("tests/soak/soak.sh"); fi
[ -z "$fuzz_failed" ] || failed+=("scripts/fuzz.sh")
if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "ALL TESTS PASSED"
