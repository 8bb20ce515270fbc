#!/usr/bin/env bash
# Full-table lookups, ours against DPDK's own libraries on the same data:
# 1,000,000 IPv4 and 250,000 IPv6 prefixes from dataplane::tablegen (the
# table of bench/fulltable/run.sh), and 1,000,000 destinations inside them
# (a random prefix, a random host part), one lookup each.
#
#   bash bench/fulltable/lookups.sh        (V4=, V6= to change the sizes)
#
# - DPDK: dpdk-test-fib (-f routes -t addresses -c): rte_fib (DIR-24-8 for
#   IPv4, the trie for IPv6) and rte_lpm / rte_lpm6, in cycles per lookup.
#   IPv4 on 2 MiB hugepages when 512 can be had; IPv6 needs 1.5M tbl8s
#   (1.5 GiB), so it runs on 4 KiB pages (--no-huge).
# - Ours: dataplane's lpm_scale on the same two files, one by one, in bulk,
#   and in bulk with prefetch, in ns per lookup; once on 4 KiB pages and
#   once on transparent huge pages (what the router asks for, madvise; here
#   the system setting is switched to `always` for the run and put back).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
: "${V4:=1000000}" "${V6:=250000}"
command -v dpdk-test-fib >/dev/null || { echo "dpdk-test-fib (Debian's dpdk package) is needed"; exit 1; }
cargo build --release --quiet -p dataplane --example lpm_scale
cargo build --release --quiet -p control --example table_scale
DIR=$(mktemp -d /tmp/ecmp-lookups.XXXXXX)
THP=/sys/kernel/mm/transparent_hugepage/enabled
thp_was=$(sed 's/.*\[\(.*\)\].*/\1/' "$THP")
cleanup() { echo "$thp_was" >"$THP" || true; rm -rf "$DIR"; }
trap cleanup EXIT
./target/release/examples/table_scale --v4 "$V4" --v6 "$V6" --write-prefixes "$DIR/prefixes.txt" >/dev/null
python3 - "$DIR" <<'PY'
import ipaddress, random, sys
d = sys.argv[1]
random.seed(7)
lines = [l.strip() for l in open(f"{d}/prefixes.txt") if l.strip()]
for fam, ps in (("4", [l for l in lines if ":" not in l]), ("6", [l for l in lines if ":" in l])):
    with open(f"{d}/routes{fam}.txt", "w") as f:
        f.writelines(f"{p} {i % 1000 + 1}\n" for i, p in enumerate(ps))
    with open(f"{d}/ips{fam}.txt", "w") as f:
        for _ in range(1_000_000):
            net = ipaddress.ip_network(random.choice(ps))
            bits = net.max_prefixlen - net.prefixlen
            f.write(f"{net.network_address + (random.getrandbits(bits) if bits else 0)}\n")
PY
mhz=$(awk -F: '/cpu MHz/ { printf "%d", $2; exit }' /proc/cpuinfo)
cycles() { # LABEL EAL... -- ARGS: dpdk-test-fib's AVG lines, with ns at the CPU's clock
    local label=$1; shift
    dpdk-test-fib "$@" 2>&1 | awk -v l="$label" -v mhz="$mhz" '
        /AVG (FIB|LPM) lookup/ { printf "   DPDK %s %s: %s cycles per lookup = %.1f ns\n", l, ($2 == "FIB" ? "rte_fib" : "rte_lpm"), $4, $4 * 1000 / mhz }
        /returns same values/ { print "   (rte_fib and rte_lpm agree on every address)" }
        /Can not|Cause/ { print "   DPDK " l ": " $0 }'
}
hp=(--no-huge -m 2048)
if mountpoint -q /dev/hugepages 2>/dev/null || mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null; then
    [ "$(cat /proc/sys/vm/nr_hugepages)" -ge 512 ] || echo 512 >/proc/sys/vm/nr_hugepages
    free=$(awk '/HugePages_Free/ { print $2 }' /proc/meminfo)
    [ "$free" -ge 450 ] && hp=(--in-memory -m 900)
fi
echo "-- IPv4: $(wc -l <"$DIR/routes4.txt") routes, 1,000,000 addresses (CPU at ${mhz} MHz)"
cycles "IPv4 (${hp[0]})" "${hp[@]}" --no-pci --file-prefix lk4$$ -- -f "$DIR/routes4.txt" -t "$DIR/ips4.txt" -c -g 20000
echo madvise >"$THP"
echo "   ours, 4 KiB pages: $(./target/release/examples/lpm_scale --routes "$DIR/routes4.txt" --ips "$DIR/ips4.txt" | sed 's/.*ns per lookup: //')"
echo always >"$THP"
echo "   ours, huge pages:  $(./target/release/examples/lpm_scale --routes "$DIR/routes4.txt" --ips "$DIR/ips4.txt" | sed 's/.*ns per lookup: //')"
echo "-- IPv6: $(wc -l <"$DIR/routes6.txt") routes, 1,000,000 addresses"
cycles "IPv6 (--no-huge)" --no-huge -m 12000 --no-pci --file-prefix lk6$$ -- -6 -f "$DIR/routes6.txt" -t "$DIR/ips6.txt" -c -g 1500000
echo madvise >"$THP"
echo "   ours, 4 KiB pages: $(./target/release/examples/lpm_scale --routes "$DIR/routes6.txt" --ips "$DIR/ips6.txt" --v6 | sed 's/.*ns per lookup: //')"
echo always >"$THP"
echo "   ours, huge pages:  $(./target/release/examples/lpm_scale --routes "$DIR/routes6.txt" --ips "$DIR/ips6.txt" --v6 | sed 's/.*ns per lookup: //')"
