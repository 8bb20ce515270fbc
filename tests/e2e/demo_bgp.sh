#!/usr/bin/env bash
# The README's `bash scripts/demo.sh bgp`, run as written: it must show the
# BGP sessions, and the route BGP chose with a `nexthop via` line for each
# spine (10.1.0.2 and 10.2.0.2), as ecmpctl prints it, and the connections.
source "$(dirname "$0")/../kit/e2e.sh"
cd "$ROOT"
out=$(bash scripts/demo.sh bgp 2>&1) || { echo "$out"; fail "demo.sh bgp exited non-zero"; finish; }
echo "$out" | grep -v '^\[lab' | sed 's/^/        /'
route=$(sed -n '/^== the route BGP chose/,/^$/p' <<<"$out")
check "the route is shown" grep -q '^203\.0\.113\.0/24' <<<"$route"
check "with a nexthop line through spine1" grep -qE '^\s+nexthop via 10\.1\.0\.2 dev spine1' <<<"$route"
check "and one through spine2" grep -qE '^\s+nexthop via 10\.2\.0\.2 dev spine2' <<<"$route"
finish
