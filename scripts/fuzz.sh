#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ on stable Rust (the instrumentation
# flags cargo-fuzz passes) and runs each for a while.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     default: 20 s each, every target
#
# CI runs `bash scripts/fuzz.sh 20`. For a long run: `bash scripts/fuzz.sh 3600 packet`.
# The committed corpus lives in fuzz/corpus/TARGET, minimized, and a run only
# reads it: what a run finds grows under target/fuzz/corpus/TARGET, so running
# the tests never changes the checkout. To keep what a long run found, merge it
# into the committed corpus on purpose (minimized), then commit:
#   bash scripts/fuzz.sh --merge [TARGET...]
# A crash writes fuzz/artifacts/TARGET/crash-* (ignored by git): copy it into
# fuzz/regressions/TARGET/ (and fix the bug); `cargo test -p control --test
# fuzz_regressions` replays seeds, corpus and regressions in every test run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MERGE=
if [ "${1:-}" = --merge ]; then MERGE=1; shift; fi
# --merge [TARGET...] takes no time argument.
SECS=20
if [ -z "$MERGE" ] && [ $# -gt 0 ]; then SECS=$1; shift; fi
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(packet wire fpm config api punt)
cd "$ROOT/fuzz"
WORK="$ROOT/target/fuzz/corpus"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the flags off build scripts (as cargo-fuzz does).
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --quiet --locked --bins --target "$TRIPLE"
BIN="target/$TRIPLE/release"
if [ -n "$MERGE" ]; then
    for t in "${TARGETS[@]}"; do
        rm -rf "corpus.min/$t"; mkdir -p "corpus.min/$t"
        mkdir -p "$WORK/$t"
        "$BIN/$t" -merge=1 -rss_limit_mb=4096 "corpus.min/$t" "corpus/$t" "$WORK/$t" "seeds/$t" >/dev/null 2>&1
        rm -rf "corpus/$t"; mv "corpus.min/$t" "corpus/$t"
        echo "$t: $(ls "corpus/$t" | wc -l) inputs"
    done
    rmdir corpus.min
    exit 0
fi
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$WORK/$t" "artifacts/$t"
    echo "== fuzz $t for ${SECS}s"
    # -rss_limit_mb: the fixtures hold two full route tables (DIR-24-8 roots).
    if ! "$BIN/$t" "$WORK/$t" "corpus/$t" "$ROOT/fuzz/seeds/$t" -max_total_time="$SECS" \
        -rss_limit_mb=4096 -timeout=10 -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
        > "artifacts/$t/last-run.log" 2>&1; then
        echo "FUZZ FAILURE in $t:"; tail -n 30 "artifacts/$t/last-run.log"; status=1
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "artifacts/$t/last-run.log" | tr '\n' ' '; echo
    fi
done
exit $status
