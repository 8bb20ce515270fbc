#!/usr/bin/env bash
# Malformed traffic, end to end (issue 7): from the client namespace, a corpus
# of bad packets (deploy/lab/malformed.py, scapy) interleaved with good ones.
# The router must forward every good packet, drop every bad one under the
# right reason counter, never send an ICMP error about an ICMP error or to a
# broadcast/multicast source (RFC 1812 4.3.2.7, RFC 4443 2.4), and ignore
# ARP/NDP that claims its own addresses.
source "$(dirname "$0")/../kit/e2e.sh"
MAL="/usr/bin/python3 $LAB_TOOLS/malformed.py"

lab_init malformed
lab_config --weights "1 1"
lab_up
for k in 1 2; do
    ip netns exec "$(lab_ns_srv $k)" $MAL recv "$LAB_DIR/recv$k.txt" &
    LAB_PIDS+=($!)
done
lab_wait 10 "receivers" bash -c "ip netns exec $(lab_ns_srv 1) ss -lun | grep -q :9100 && ip netns exec $(lab_ns_srv 2) ss -lun | grep -q :9100"
RMAC=$(curl -sf "http://127.0.0.1:$LAB_API_PORT/api/v1/ports" | python3 -c 'import json,sys; print([p["mac"] for p in json.load(sys.stdin) if p["name"] == "lan"][0])')
lab_metrics >"$LAB_DIR/before.txt"
lab_ns "$LAB_NS_CLIENT" $MAL send "$LAB_IF_LAN" "$RMAC" "$LAB_DIR/sent.json"
sleep 0.5
lab_metrics >"$LAB_DIR/after.txt"
check "router still running" kill -0 "$LAB_ROUTER_PID"

# Every check below is computed from the corpus' own expectations.
python3 - "$LAB_DIR" <<'EOF' >"$LAB_DIR/verdict.txt"
import json, re, sys
d = sys.argv[1]
def metrics(path):
    m = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
    return m
before, after = metrics(f"{d}/before.txt"), metrics(f"{d}/after.txt")
delta = lambda k: after.get(k, 0) - before.get(k, 0)
sent = json.load(open(f"{d}/sent.json"))
cases = sent["cases"]
want = {}
for _, e in cases:
    want[e] = want.get(e, 0) + 1
reasons = {re.search(r'reason="([^"]+)"', k).group(1) for k in after if k.startswith("ecmp_router_drops_total{")}
noisy = {"multicast"}  # the namespaces' own IPv6 multicast (MLD, router solicitations)
for r in sorted(reasons):
    got, exp = delta(f'ecmp_router_drops_total{{reason="{r}"}}'), want.get(r, 0)
    ok = got >= exp if r in noisy else got == exp
    if got or exp:
        print(("ok" if ok else "FAIL"), f"drops {r}: {int(got)} counted, {exp} expected")
fwd = sum(delta(k) for k in after if k.startswith("ecmp_router_nexthop_packets_total{"))
exp_fwd = sent["goods"] + want.get("forward", 0)
print(("ok" if fwd == exp_fwd else "FAIL"), f"forwarded: {int(fwd)} ({sent['goods']} good + {want.get('forward', 0)} bad but forwardable)")
got = 0
for k in (1, 2):
    try:
        got += sum(1 for l in open(f"{d}/recv{k}.txt") if l.startswith("good "))
    except FileNotFoundError:
        pass
print(("ok" if got == sent["goods"] else "FAIL"), f"good datagrams received by the servers: {got} of {sent['goods']}")
claims = delta('ecmp_router_control_events_total{event="own_address_claim"}')
print(("ok" if claims == want.get("claim", 0) else "FAIL"), f"ARP/NDP claiming the router's addresses ignored and counted: {int(claims)} of {want.get('claim', 0)}")
ext = delta('ecmp_router_hash_events_total{event="ext_header_limit"}')
print(("ok" if ext >= 1 else "FAIL"), f"the 12-header IPv6 chain hit the walk limit ({int(ext)})")
# ICMP: errors for ttl 0, ttl 1, hop limit 1 and the plain no-route packet;
# echo replies for the two "reply" cases; nothing else.
icmp = sent["icmp"]
# ICMPv6 types 1-4 are errors, 129 the echo reply; NDP (133-137) is not checked here.
router = ("10.0.0.1", "fd00::1")
errors = [i for i in icmp if i["src"] in router and (i.get("type") in (3, 11, 12) or i.get("type6") in (1, 2, 3, 4))]
replies = [i for i in icmp if i["src"] in router and (i.get("type") == 0 or i.get("type6") == 129)]
print(("ok" if len(icmp) == len(errors) + len(replies) + sum(1 for i in icmp if 133 <= i.get("type6", 0) <= 137) else "FAIL"),
      f"no other ICMP reached the client: {[i['summary'] for i in icmp if i not in errors + replies and not 133 <= i.get('type6', 0) <= 137]}")
print(("ok" if len(errors) == 4 else "FAIL"), f"ICMP errors received: {len(errors)} (want 4: ttl 0, ttl 1, hop limit 1, no route): {[i['summary'] for i in errors]}")
print(("ok" if len(replies) == 2 else "FAIL"), f"echo replies received: {len(replies)} (want 2)")
about_err = [i for i in errors if i.get("quoted_proto") == 1 and i.get("quoted_icmp_type") in (3, 4, 5, 11, 12)]
print(("ok" if not about_err else "FAIL"), f"no ICMP error about an ICMP error ({len(about_err)})")
to_group = [i for i in errors + replies if i["dst"] not in ("10.0.0.2", "fd00::2")]
print(("ok" if not to_group else "FAIL"), f"no ICMP to a broadcast or multicast source ({[i['summary'] for i in to_group]})")
sent_delta = delta("ecmp_router_icmp_sent_total")
print(("ok" if sent_delta == 6 else "FAIL"), f"ecmp_router_icmp_sent_total grew by {int(sent_delta)} (want 6)")
EOF
while read -r status rest; do
    if [ "$status" = ok ]; then pass "$rest"; else fail "$rest"; fi
done <"$LAB_DIR/verdict.txt"
check "ecmpctl neigh show has no entry for the router's own address" bash -c "! $LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT neigh show | grep -Eq '^(10\.0\.0\.1|fd00::1) '"
out=$(lab_ns "$LAB_NS_CLIENT" python3 "$LAB_ROOT/deploy/lab/flows.py" tcp "$ANYCAST4" "$SERVICE_PORT" 10)
check "and it still forwards ($out)" bash -c '[[ "$1" == *"\"failed\": 0"* ]]' _ "$out"
finish
