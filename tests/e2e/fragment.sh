#!/usr/bin/env bash
# IPv4 fragmentation (issue 28): srv1's port has MTU 1280, the client's
# side 1500. With the defaults otherwise:
# - `ping -s 1400 -M dont` through it is answered (the router fragments
#   the 1428-byte requests, srv1's kernel reassembles them);
# - a 4,000-byte UDP datagram (sent by the client's kernel as 1500-byte
#   fragments, each fragmented again by the router) arrives whole;
# - a packet with DF set gets Fragmentation Needed with MTU 1280, and
#   IPv6 still gets Packet Too Big.
source "$(dirname "$0")/../kit/e2e.sh"
lab_init frag
lab_config --servers 1
sed -i -E 's/^(  - \{ name: srv1, .*)( \})$/\1, mtu: 1280\2/' "$LAB_DIR/router.yaml"
check "srv1's port has MTU 1280" grep -q 'name: srv1, .*mtu: 1280' "$LAB_DIR/router.yaml"
lab_up
c() { lab_ns "$LAB_NS_CLIENT" "$@" 2>&1 || true; }
lab_ns "$LAB_NS_CLIENT" ping -c 1 -W 2 10.1.0.2 >/dev/null || true

# srv1 sees no IP packet longer than 1280 bytes.
lab_ns "$LAB_NS_SRV1" tcpdump -Z root -i "$LAB_IF_SRV1" -n -l -e 'ip and greater 1295' >"$LAB_DIR/big.txt" 2>/dev/null &
LAB_PIDS+=($!)
lab_ns "$LAB_NS_SRV1" tcpdump -Z root -i "$LAB_IF_SRV1" -n -l -v 'ip and (ip[6:2] & 0x3fff != 0)' >"$LAB_DIR/frags.txt" 2>/dev/null &
LAB_PIDS+=($!)
sleep 1

out=$(c ping -c 3 -i 0.2 -W 2 -s 1400 -M dont 10.1.0.2)
check "ping -s 1400 -M dont through the MTU 1280 port is answered" contains "$out" "3 received"

# A 4,000-byte datagram of a known pattern, compared byte for byte at srv1.
lab_ns "$LAB_NS_SRV1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999)); s.settimeout(10)
d, _ = s.recvfrom(65535)
sys.stdout.write("%d %s" % (len(d), "same" if d == bytes(i % 251 for i in range(4000)) else "different"))
' >"$LAB_DIR/udp.txt" 2>&1 &
rcv=$!
sleep 0.5
lab_ns "$LAB_NS_CLIENT" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(bytes(i % 251 for i in range(4000)), ("10.1.0.2", 9999))'
wait $rcv || true
check "a 4,000-byte UDP datagram is reassembled whole at srv1 ($(cat "$LAB_DIR/udp.txt"))" test "$(cat "$LAB_DIR/udp.txt")" = "4000 same"

sleep 0.5
check "srv1 received no IP packet longer than its port's MTU" test ! -s "$LAB_DIR/big.txt"
check "srv1 received fragments of at most 1280 bytes" grep -q "length 1276)" "$LAB_DIR/frags.txt"
fragmented=$(lab_metric 'ecmp_router_fragmented_total')
created=$(lab_metric 'ecmp_router_fragments_created_total')
# 3 pings of 1428 bytes (2 fragments each); 3 client fragments of 1500,
# 1500 and 1048 bytes: the first two become 2 each, the last fits.
check "fragmented_total counts the packets (${fragmented:-none})" test "${fragmented:-0}" = 5
check "fragments_created_total counts their fragments (${created:-none})" test "${created:-0}" = 10

# DF set: Fragmentation Needed with the port's MTU (last: the client's
# kernel caches the path MTU it learns).
out=$(c ping -c 1 -W 2 -s 1400 -M do 10.1.0.2)
check "DF set: Fragmentation Needed with mtu 1280" contains "$out" "mtu = 1280"
out=$(c ping -6 -c 1 -W 2 -s 1400 -M do fd01::2)
check "IPv6: Packet Too Big with mtu 1280" contains "$out" "mtu=1280"
check "both counted as mtu_exceeded" test "$(lab_metric 'ecmp_router_drops_total{reason="mtu_exceeded"}')" = 2
check "no fragmentation failed" test "$(lab_metric 'ecmp_router_drops_total{reason="fragmentation_failed"}')" = 0
finish
