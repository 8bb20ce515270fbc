#!/usr/bin/env bash
# Builds DPDK's l3fwd example from the dpdk-doc sources into DIR, with two small
# patches the net_pcap benchmark needs (both printed below as a diff):
#  1. rx offload requests are masked to what the PMD supports (net_pcap rejects
#     checksum offload, which l3fwd asks for by default);
#  2. the main lcore, which otherwise only waits, prints the enabled ports'
#     counters once a second so the rate can be read while it runs.
# Usage: build_l3fwd.sh DIR   -> DIR/l3fwd/build/l3fwd-shared
set -euo pipefail
out=$1
src=/usr/share/dpdk/examples/l3fwd
[ -d "$src" ] || apt-get install -y dpdk-doc >/dev/null
rm -rf "$out"; mkdir -p "$out/l3fwd"; cp -r "$src"/. "$out/l3fwd"/; cp -r "$src/../common" "$out/common"
cd "$out/l3fwd"
sed -i 's|^CFLAGS += -O3 |CFLAGS += -I../common -O3 |' Makefile
python3 - <<'PY'
import re
s = open("main.c").read()
a = """		local_port_conf.rx_adv_conf.rss_conf.rss_hf &=
			dev_info.flow_type_rss_offloads;
"""
assert a in s
s = s.replace(a, a + """		local_port_conf.rxmode.offloads &= dev_info.rx_offload_capa; /* bench patch 1 */
""")
b = "			rxq_conf.offloads = port_conf.rxmode.offloads;\n"
assert b in s
s = s.replace(b, "			rxq_conf.offloads = port_conf.rxmode.offloads & dev_info.rx_offload_capa; /* bench patch 1 */\n")
c = """	} else {
		rte_eal_mp_wait_lcore();
"""
assert c in s
s = s.replace(c, """	} else {
		/* bench patch 2: print port counters once a second */
		while (!force_quit) {
			struct timespec ts;
			sleep(1);
			clock_gettime(CLOCK_MONOTONIC, &ts);
			RTE_ETH_FOREACH_DEV(portid) {
				struct rte_eth_stats st;
				if ((enabled_port_mask & (1 << portid)) == 0)
					continue;
				rte_eth_stats_get(portid, &st);
				printf("L3FWD-STATS %ld.%09ld port %u ipackets %" PRIu64 " opackets %" PRIu64 "\\n",
				       (long)ts.tv_sec, ts.tv_nsec, portid, st.ipackets, st.opackets);
			}
			fflush(stdout);
		}
		rte_eal_mp_wait_lcore();
""")
if "#include <time.h>" not in s:
    s = "#include <time.h>\n#include <unistd.h>\n" + s
open("main.c", "w").write(s)
PY
diff -u "$src/main.c" main.c >&2 || true
make -j2 shared >/dev/null
ls -la build/l3fwd-shared
