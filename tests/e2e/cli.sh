#!/usr/bin/env bash
# Every spelling of ecmpctl that docs/cli.md documents, against the lab's
# router with the defaults: each command of its table (reads and writes) exits
# 0 or, for the documented error, 1 with the documented message; options after
# the object (`route show --json`, `neigh show -j`, `-6 route show -j`, bundled
# `-dj`) print exactly what the same options before it print; an unknown option
# is a usage error (2) wherever it is. Last, every command row of docs/cli.md's
# table must have been run here.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init cli
lab_config
lab_up
CTL=("$LAB_ROOT/target/release/ecmpctl" --api "127.0.0.1:$LAB_API_PORT")
RAN="$LAB_DIR/ran"
: >"$RAN"

# ok WORDS...: ecmpctl WORDS exits 0 (output kept in $LAB_DIR/out).
ok() {
    echo "$*" >>"$RAN"
    local rc=0
    "${CTL[@]}" "$@" >"$LAB_DIR/out" 2>&1 || rc=$?
    check "ecmpctl $* (exit $rc)" test "$rc" = 0
    [ "$rc" = 0 ] || sed 's/^/        /' "$LAB_DIR/out"
}
# same "A" "B": both spellings exit 0 with the same output, which is not empty.
same() {
    local a b
    read -r -a wa <<<"$1"; read -r -a wb <<<"$2"
    echo "$1" >>"$RAN"; echo "$2" >>"$RAN"
    a=$("${CTL[@]}" "${wa[@]}" 2>&1) || { fail "ecmpctl $1 failed: $a"; return; }
    b=$("${CTL[@]}" "${wb[@]}" 2>&1) || { fail "ecmpctl $2 failed: $b"; return; }
    # A port's counters move between the two calls (the router's own ARP
    # and NDP probes): compare everything else.
    if [ -n "${SAME_WITHOUT_COUNTERS:-}" ]; then
        a=$(sed -E 's/"((rx|tx)_[a-z]+)":[0-9]+/"\1":N/g' <<<"$a")
        b=$(sed -E 's/"((rx|tx)_[a-z]+)":[0-9]+/"\1":N/g' <<<"$b")
    fi
    check "ecmpctl $2 prints what ecmpctl $1 prints ($(wc -l <<<"$a") lines)" bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$a" "$b"
}
# usage WORDS...: exit 2, a usage error.
usage() {
    local rc=0 out
    out=$("${CTL[@]}" "$@" 2>&1) || rc=$?
    check "ecmpctl $* is a usage error (exit $rc: ${out%%$'\n'*})" test "$rc" = 2
}

echo "-- options after the object print what they print before it"
same "-j route show" "route show --json"
same "-j route show" "route show -j"
same "--json route show" "route show --json"
same "-j neigh show" "neigh show -j"
same "-j neigh show dev srv1" "neigh show dev srv1 -j"
same "-6 -j route show" "-6 route show -j"
same "-4 -j route show" "route show -4 -j"
same "-d -j route show" "route show -dj"
same "-dj route show" "route show --details --json"
same "-j -p route show" "route show -jp"
same "-p -j route show" "route show --pretty --json"
same "-d route show" "route show -d"
same "-6 route show" "route show -6"
same "-j nexthop show" "nexthop show -j"
same "-d nexthop show" "nexthop show --details"
same "-j group show" "group show -j"
SAME_WITHOUT_COUNTERS=1 same "-j port show" "port show -j"
same "-j uplink show" "uplink show -j"
same "-j flow show" "flow show -j"
same "-j route get 198.51.100.7" "route get 198.51.100.7 -j"
usage route show --bogus
usage route show -z
usage --bogus route show
usage route show --token nope

echo "-- route show"
ok route show
ok -4 route show
ok -6 route show
ok -d route show
ok -j -p route show
ok route show table all
ok route show table main
ok route show table local
ok route show proto static
ok route show dev srv1
ok route show 198.51.100.0/24
check "route show PREFIX prints the route and a nexthop line per member" bash -c 'grep -q "^198.51.100.0/24" "$1" && [ "$(grep -c "nexthop via" "$1")" = 2 ]' _ "$LAB_DIR/out"
ok route show exact 198.51.100.0/24
ok route show root 198.51.0.0/16
ok route show match 198.51.100.7
ok route show default

echo "-- groups, routes, nexthops"
ok group add web nexthop via 10.1.0.2 dev srv1 nexthop via 10.2.0.2 dev srv2 weight 2
ok group replace web group resilient nexthop via 10.1.0.2 dev srv1 nexthop via 10.2.0.2 dev srv2
ok group show
ok nexthop group show
ok -d group show
ok route add 198.51.100.0/25 nexthop via 10.1.0.2 dev srv1 weight 1 nexthop via 10.2.0.2 dev srv2 weight 2
ok route add 192.0.2.0/24 via 10.1.0.2 dev srv1
ok route replace 192.0.2.0/24 table main metric 30 proto static group modulo hash l3 sticky nexthop via 10.1.0.2 dev srv1 nexthop via 10.2.0.2 dev srv2 weight 3
ok route add 203.0.113.0/24 sticky nhg web
ok route add 203.0.114.0/24 hash l4 nhg web
ok route add blackhole 192.0.3.0/24
ok route add unreachable 192.0.4.0/24
ok route add prohibit 192.0.5.0/24
ok -j route add 192.0.6.0/24 via 10.2.0.2 dev srv2
ok route del 192.0.6.0/24 -j
rc=0; out=$("${CTL[@]}" route add 192.0.7.0/24 via 10.1.0.2 dev srv9 2>&1) || rc=$?
echo "route add 192.0.7.0/24 via 10.1.0.2 dev srv9" >>"$RAN"
check "the documented error: exit 1, the unknown port named with its field ($out)" bash -c '[ "$1" = 1 ] && [[ "$2" == *"unknown port '"'"'srv9'"'"'"*"[nexthops[0].port]"* ]]' _ "$rc" "$out"
ok route get 198.51.100.7 from 10.0.0.2 proto tcp sport 40000 dport 80
ok route get 198.51.100.7 from 10.0.0.2 iif lan ipproto udp sport 5000 dport 53
ok route get 198.51.100.7
ok nexthop show
ok -d nexthop show
ok nexthop add via 10.1.0.9 dev srv1
ok nexthop del via 10.1.0.9 dev srv1
ok nexthop disable 10.2.0.2 dev srv2
ok nexthop enable 10.2.0.2 dev srv2
ok route del 192.0.2.0/24 table main
for p in 198.51.100.0/25 203.0.113.0/24 203.0.114.0/24 192.0.3.0/24 192.0.4.0/24 192.0.5.0/24; do
    ok route del "$p"
done
ok group del web

echo "-- neighbours, flows, uplinks, ports, stats, reload"
ok neigh show
ok neigh show dev srv1
ok neigh flush dev srv1
ok neigh flush
ok flow show
ok flow show addr 10.0.0.2 port 80 proto tcp worker 0 limit 10
ok uplink show
ok port show
ok stats
ok reload
ok --version
ok --completions bash
check "--help lists the command words" bash -c '"$@" --help | grep -q "route get ADDR"' _ "${CTL[@]}"

echo "-- every command row of docs/cli.md was run"
# A row's command: its words up to the first argument ("route add",
# "nexthop disable|enable", "stats"); each alternative must have been run.
missing=$(python3 - "$LAB_ROOT/docs/cli.md" "$RAN" <<'PY'
import re, sys
ran = [" " + l.split("#")[0].strip() + " " for l in open(sys.argv[2])]
missing = []
for row in re.findall(r"^\| `ecmpctl ([^`]*)`", open(sys.argv[1]).read(), re.M):
    row = row.replace("\\|", "|")
    while "[" in row:  # the optional parts, innermost first ([-j [-p]])
        row = re.sub(r"\[[^][]*\]", " ", row)
    words = row.split()
    cmd = []
    for w in words:
        if not re.fullmatch(r"[a-z|]+", w) or len(cmd) == 2:
            break
        cmd.append(w.split("|"))
    alts = [[n] for n in cmd[0]]
    if len(cmd) == 2:
        alts = [[n, v] for n in cmd[0] for v in cmd[1]]
    for a in alts:
        # Options may come between or after the words.
        pat = re.compile(r" " + r" (?:-\S+ )*".join(map(re.escape, a)) + r" ")
        if not any(pat.search(r) for r in ran):
            missing.append(" ".join(a))
print("\n".join(missing))
PY
)
[ -z "$missing" ] || sed 's/^/        not run: ecmpctl /' <<<"$missing"
check "every documented command was run ($(grep -c . <<<"$missing" || true) missing)" test -z "$missing"
finish
