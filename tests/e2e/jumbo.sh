#!/usr/bin/env bash
# Jumbo frames (issue 14: "whole mbufs, any size"). Every port has MTU 9000
# and a kernel interface. The router sizes its mbufs for a whole frame, so
# a 9000-byte packet is one segment: forwarded (IPv4 and IPv6), answered
# (echo to the router's address), handed whole to the kernel interface (a
# TCP bulk transfer to a service on the router's host, with a 8960-byte
# MSS), and sent whole from it (the transfer back).
source "$(dirname "$0")/../kit/e2e.sh"
lab_init jumbo
# net_tap caps frames at 1522 bytes (its max_rx_pktlen), so the ports are
# net_af_packet on veths, with 9 KiB frames in their rings (they must fit in the mbufs).
lab_config --router-ns --af-packet --extra "kernel-interfaces: true"
sed -i -E 's/(device: "net_af_packet[^"]*)"/\1,framesz=9088,blocksz=290816"/; s/^(  - \{ name: [a-z0-9]+, .*)( \})$/\1, mtu: 9000\2/' "$LAB_DIR/router.yaml"
check "the lab's ports have MTU 9000" test "$(grep -c 'mtu: 9000' "$LAB_DIR/router.yaml")" = 3
lab_up
# DPDK 22.11's af_packet reports a 1518-byte max_rx_pktlen, so ethdev refuses
# the MTU (the router warns); its rings and tx take 9 KiB frames all the same,
# once the veths carry them. On a NIC the router's own MTU call does this.
# The af_packet veths sit in the router's namespace, beside its kernel
# interfaces: keep that kernel from answering what arrives on them (a NIC's
# frames never reach it): another MAC than the port's (read at start-up), no
# ARP answers, no IPv6.
for i in "$LAB_IF_LAN" "$(lab_if_srv 1)" "$(lab_if_srv 2)"; do
    ip netns exec "$LAB_RTR_NS" sysctl -qw "net.ipv4.conf.${i}r.arp_ignore=8" "net.ipv6.conf.${i}r.disable_ipv6=1"
    ip -n "$LAB_RTR_NS" link set "${i}r" mtu 9000 address "02:00:00:00:ee:$(printf %02x $((RANDOM % 256)))"
done
for ns in "$LAB_NS_CLIENT" "$LAB_NS_SRV1" "$LAB_NS_SRV2"; do
    for i in $(ip -n "$ns" -o link show | awk -F': ' '$2 != "lo" {print $2}' | cut -d@ -f1); do ip -n "$ns" link set "$i" mtu 9000; done
done
check "the router sized its mbufs for the jumbo frames" grep -q 'jumbo MTU: mbufs sized for a whole frame' "$LAB_DIR/router.log"
check "the kernel interface has the port's MTU" bash -c "ip -n $LAB_RTR_NS link show lan | grep -q 'mtu 9000'"

# The router resolves the client first: its hold queue keeps only
# packets of up to 256 bytes for an unresolved host (docs/architecture.md), so an
# unresolved client would lose the first jumbo reply.
lab_ns "$LAB_NS_CLIENT" ping -c 1 -W 2 10.1.0.2 >/dev/null || true
lab_ns "$LAB_NS_CLIENT" ping -6 -c 1 -W 2 fd02::2 >/dev/null || true
got=$(lab_ns "$LAB_NS_CLIENT" ping -c 3 -i 0.2 -W 2 -M do -s 8972 10.1.0.2 2>&1 | grep -c 'bytes from' || true)
check "9000-byte IPv4 packets, DF set, are forwarded to srv1 and back ($got of 3)" test "$got" = 3
got=$(lab_ns "$LAB_NS_CLIENT" ping -6 -c 3 -i 0.2 -W 2 -M do -s 8952 fd02::2 2>&1 | grep -c 'bytes from' || true)
check "9000-byte IPv6 packets are forwarded to srv2 and back ($got of 3)" test "$got" = 3
got=$(lab_ns "$LAB_NS_CLIENT" ping -c 3 -i 0.2 -W 2 -M do -s 8972 10.0.0.1 2>&1 | grep -c 'bytes from' || true)
check "the router answers a 9000-byte echo request to its own address ($got of 3)" test "$got" = 3

# 4 MiB to a service on the router's host, through the kernel interface.
ip netns exec "$LAB_RTR_NS" bash -c "socat -u TCP-LISTEN:2222,bind=10.0.0.1,reuseaddr - | wc -c >$LAB_DIR/in.count" &
LAB_PIDS+=($!)
lab_wait 5 "the host's listener" lab_listening "$LAB_RTR_NS" 2222 || true
before=$(lab_metric 'ecmp_router_kernel_interface_packets_total{direction="to_kernel",port="lan"}')
before_b=$(lab_metric 'ecmp_router_kernel_interface_bytes_total{direction="to_kernel",port="lan"}')
head -c 4194304 /dev/urandom >"$LAB_DIR/blob"
lab_ns "$LAB_NS_CLIENT" timeout 20 socat -u "OPEN:$LAB_DIR/blob" TCP:10.0.0.1:2222,connect-timeout=3 || true
lab_wait 10 "the transfer's count" test -s "$LAB_DIR/in.count" || true
got=$(cat "$LAB_DIR/in.count" 2>/dev/null | tr -d ' ' || echo 0)
check "4 MiB over TCP to the router's host arrive whole (${got:-0} bytes)" test "${got:-0}" = 4194304
pk=$(( $(lab_metric 'ecmp_router_kernel_interface_packets_total{direction="to_kernel",port="lan"}') - before ))
by=$(( $(lab_metric 'ecmp_router_kernel_interface_bytes_total{direction="to_kernel",port="lan"}') - before_b ))
check "they reached the kernel interface as jumbo frames ($pk frames, $((by / (pk > 0 ? pk : 1))) bytes each on average)" bash -c "[ $pk -gt 0 ] && [ $((by / (pk > 0 ? pk : 1))) -gt 4000 ]"

# And 4 MiB back, from the router's host: jumbo frames from the kernel interface.
ip netns exec "$LAB_RTR_NS" socat -u "OPEN:$LAB_DIR/blob" TCP-LISTEN:2223,bind=10.0.0.1,reuseaddr &
LAB_PIDS+=($!)
lab_wait 5 "the host's sender" lab_listening "$LAB_RTR_NS" 2223 || true
before=$(lab_metric 'ecmp_router_kernel_interface_packets_total{direction="from_kernel",port="lan"}')
before_b=$(lab_metric 'ecmp_router_kernel_interface_bytes_total{direction="from_kernel",port="lan"}')
got=$(lab_ns "$LAB_NS_CLIENT" timeout 20 socat -u TCP:10.0.0.1:2223,connect-timeout=3 STDOUT | wc -c || echo 0)
check "4 MiB over TCP from the router's host arrive whole ($got bytes)" test "$got" = 4194304
pk=$(( $(lab_metric 'ecmp_router_kernel_interface_packets_total{direction="from_kernel",port="lan"}') - before ))
by=$(( $(lab_metric 'ecmp_router_kernel_interface_bytes_total{direction="from_kernel",port="lan"}') - before_b ))
check "the kernel sent them as jumbo frames ($pk frames, $((by / (pk > 0 ? pk : 1))) bytes each on average)" bash -c "[ $pk -gt 0 ] && [ $((by / (pk > 0 ? pk : 1))) -gt 4000 ]"
ms=$(lab_metric 'ecmp_router_drops_total{reason="multi_segment"}')
check "no frame arrived in several segments ($ms dropped as multi_segment)" test "$ms" = 0
finish
