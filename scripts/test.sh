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
# Every tests/e2e/*.sh is a test (adding a test is adding a file; the shared
# preamble is tests/kit/e2e.sh). E2E_MATCH and E2E_SKIP, extended regular
# expressions over the name (spread, sticky, ...), narrow the run:
#   E2E_MATCH='^(spread|sticky)$' bash scripts/test.sh
wanted() { [[ "$1" =~ ${E2E_MATCH:-.} ]] && ! { [ -n "${E2E_SKIP:-}" ] && [[ "$1" =~ $E2E_SKIP ]]; }; }
for t in tests/e2e/*.sh; do
    if wanted "$(basename "$t" .sh)"; then run_e2e "$t"; fi
done
# The package install and the short soak, narrowed by the same names.
if wanted deb; then run_e2e tests/deb/install.sh; fi
if wanted soak; then
    echo "   (tests/soak/soak.sh 120: the 2-minute soak; the full one is 30 minutes)"
    run_e2e tests/soak/soak.sh 120
fi
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
