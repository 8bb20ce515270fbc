#!/usr/bin/env bash
# ICMP errors go through a per-worker token bucket (icmp: { rate, burst }),
# and what it suppresses is counted: 300 packets with TTL 1 in 1.5 s get at
# most burst + rate x time Time Exceeded answers.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init icmprl
lab_config --extra "icmp: { rate: 10, burst: 5 }"
lab_up
start=$(date +%s.%N)
out=$(lab_ns "$LAB_NS_CLIENT" ping -n -c 300 -i 0.005 -t 1 -W 1 "$ANYCAST4" 2>&1 || true)
secs=$(python3 -c "print($(date +%s.%N) - $start)")
got=$(grep -c 'Time to live exceeded' <<<"$out" || true)
limit=$(python3 -c "import math; print(5 + math.ceil(10 * $secs) + 2)")
check "Time Exceeded answers are limited: $got in ${secs%.*}s (at most $limit)" python3 -c "import sys; sys.exit(0 if 5 <= $got <= $limit else 1)"
limited=$(lab_metric ecmp_router_icmp_rate_limited_total)
check "the suppressed ones are counted ($limited)" python3 -c "import sys; sys.exit(0 if $limited + $got >= 300 else 1)"
ttl=$(lab_metric 'ecmp_router_drops_total{reason="ttl_exceeded"}')
check "every packet still counts as a ttl_exceeded drop ($ttl)" python3 -c "import sys; sys.exit(0 if $ttl >= 300 else 1)"
echo_ok=$(lab_ns "$LAB_NS_CLIENT" ping -n -c 20 -i 0.01 10.0.0.1 2>&1 | grep -c 'bytes from' || true)
check "echo replies from the router are not limited ($echo_ok of 20)" test "$echo_ok" = 20
finish
