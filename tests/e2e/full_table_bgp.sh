#!/usr/bin/env bash
# Full tables from real BGP peers (issue 29), at CI size: the benchmark
# bench/fulltable/run.sh with 100,000 prefixes (80,000 IPv4 + 20,000 IPv6).
# Two transit speakers announce the same table to FRR's bgpd (maximum-paths
# 2); once with the kernel as FRR's dataplane, once with the router behind
# zebra's FPM. Checks:
# - both runs reach every prefix with both transits as nexthops (the router's
#   from its own metrics: routes on groups of two members);
# - churn: transit 2 withdraws and re-announces 10,000 prefixes a second for
#   10 s: no packet of a stream to 1,000 prefixes churn never touches is lost;
# - transit 1 killed: every route leaves it, in the kernel and in the router;
# - the stream to 1,000 of the prefixes then goes to transit 2 only.
# The figures (times, memory, FPM messages, lost packets) are printed; the
# full size is a benchmark (docs/performance.md, "Full tables").
source "$(dirname "$0")/../kit/e2e.sh"
OUT=$(mktemp -d /tmp/ecmp-fulltable-ci.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
V4=80000 V6=20000 TIMEOUT=240 CHURN_SECONDS=10 OUT=$OUT bash "$ROOT/bench/fulltable/run.sh" 2>&1 |
    grep -v -E '^(EAL|TELEMETRY)|tap_|qdisc|eth_dev_tap' | tee "$OUT/log"
r() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))" "$OUT/result.json" "$1"; }
check "the table has 100,000 prefixes" test "$(r prefixes)" = 100000
check "the kernel run: every prefix on both transits ($(r kernel_seconds) s from the first UPDATE)" python3 -c "import sys; sys.exit(0 if $(r kernel_seconds) > 0 else 1)"
check "the router run: every prefix in the FIB on both transits over FPM ($(r router_seconds) s; kernel/router ratio $(r ratio))" python3 -c "import sys; sys.exit(0 if $(r router_seconds) > 0 else 1)"
check "churn: $(r "churn['changes']") changes in 10 s from transit 2, every one counted by the feeder" bash -c "[ $(r "churn['changes']") -ge 50000 ]"
check "no packet to the stable prefixes lost meanwhile ($(r "churn['stream_sent']") sent, $(r "churn['stream_lost']") lost; router RSS $(r "churn['router_mib_before']") -> $(r "churn['router_mib_after']") MiB)" \
    bash -c "[ $(r "churn['stream_sent']") -gt 50000 ] && [ $(r "churn['stream_lost']") -eq 0 ]"
check "transit 1 killed: the kernel moves every route off it ($(r kernel_failover_seconds) s)" python3 -c "import sys; sys.exit(0 if '$(r kernel_failover_seconds)' != 'None' else 1)"
check "transit 1 killed: the router moves every route off it ($(r failover_seconds) s, $(r failover_fpm_messages) FPM messages)" python3 -c "import sys; sys.exit(0 if $(r failover_seconds) > 0 else 1)"
check "then the stream goes to transit 2 only ($(r "after_failover_packets['transit1']") to transit 1, $(r "after_failover_packets['transit2']") to transit 2 in a second)" \
    bash -c "[ $(r "after_failover_packets['transit1']") -le 5 ] && [ $(r "after_failover_packets['transit2']") -gt 1000 ]"
finish
