#!/usr/bin/env bash
# The router's log levels in a real journal (issue 16).
#
# This machine has no systemd as PID 1, so no unit can run here. The
# equivalent, with the real journal:
# - systemd-journald runs in a private mount namespace: its sockets and its
#   volatile journal are on tmpfs, and nothing of the host's is touched;
# - the router's stdout and stderr are a journal stream (systemd-cat connects
#   them the way systemd connects a unit's);
# - JOURNAL_STREAM names that stream, as systemd sets it for a unit.
# Then `journalctl -p warning` must show the router's warnings and none of its
# info lines, and each entry must carry the priority the router gave it.
# (tests/e2e/systemd.sh checks the prefixes and sd_notify without a journal.)
source "$(dirname "$0")/../kit/e2e.sh"
if [ -z "${ECMP_JOURNAL_NS:-}" ]; then
    export ECMP_JOURNAL_NS=1
    exec unshare --mount --propagation private bash "$0" "$@"
fi

lab_init journal
lab_config

mkdir -p /run/systemd /run/log
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
# A persistent journal directory would take the entries: hide it too.
[ ! -d /var/log/journal ] || mount -t tmpfs tmpfs /var/log/journal
/lib/systemd/systemd-journald &
LAB_PIDS+=($!)
lab_wait 5 "journald's stream socket" test -S /run/systemd/journal/stdout

# The router as a unit's ExecStart runs it: output to a journal stream named
# by JOURNAL_STREAM. Each exec keeps the PID, so lab_up's $! is the router.
REAL=$ECMP_ROUTER
ECMP_ROUTER="$LAB_DIR/ecmp-router-in-journal"
cat >"$ECMP_ROUTER" <<EOF
#!/usr/bin/env bash
exec systemd-cat -t ecmp-router --level-prefix=true \\
    bash -c 'JOURNAL_STREAM=\$(stat -L -c %d:%i /proc/self/fd/2) exec "\$0" "\$@"' "$REAL" "\$@"
EOF
chmod +x "$ECMP_ROUTER"
lab_up

lab_srv_link 2 down
journal() { journalctl --no-pager -t ecmp-router "$@"; }
lab_wait 10 "a warning in the journal" bash -c 'journalctl --no-pager -t ecmp-router -p warning -o cat | grep -q "nexthop unreachable"' || true
warnings=$(journal -p warning -o cat)
check "journalctl -p warning shows the router's warning (a nexthop down)" grep -q 'nexthop unreachable' <<<"$warnings"
check "and none of its info lines (port up)" bash -c '! grep -q "port up" <<<"$1"' _ "$warnings"
check "journalctl -p info shows the info lines" bash -c "journalctl --no-pager -t ecmp-router -p info -o cat | grep -q 'port up'"
# Each entry's own PRIORITY field (one JSON object a line).
prio_of() { journalctl --no-pager -t ecmp-router -o json | python3 -c '
import json, sys
p = {json.loads(l).get("PRIORITY") for l in sys.stdin if sys.argv[1] in str(json.loads(l).get("MESSAGE"))}
print(",".join(sorted(x for x in p if x)))' "$1"; }
check "the warning's entry has PRIORITY=4 ($(prio_of 'nexthop unreachable'))" test "$(prio_of 'nexthop unreachable')" = 4
check "an info entry has PRIORITY=6 ($(prio_of 'port up'))" test "$(prio_of 'port up')" = 6
check "the journal took the prefix off: no <N> left in a message" bash -c '! journalctl --no-pager -t ecmp-router -o cat | grep -Eq "^<[0-7]>"'
check "no timestamp of the router's own in a message (the journal stamps entries)" bash -c '! journalctl --no-pager -t ecmp-router -o cat | grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T"'

finish
