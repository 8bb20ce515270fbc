#!/usr/bin/env bash
# What systemd sees (issue 16), without systemd as PID 1 (this machine's is
# not): the router started as a unit starts it, with NOTIFY_SOCKET (a
# datagram socket the test reads) and JOURNAL_STREAM naming its stderr.
# READY=1 comes once the ports are started and the config's routes are in
# the FIB; every log line has its syslog priority (<6> info, <4> warning)
# and no timestamp of its own, so journalctl -p warning selects the
# warnings; SIGTERM says STOPPING=1.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init systemd
lab_config
NOTES="$LAB_DIR/notify.log"
export NOTIFY_SOCKET="$LAB_DIR/notify.sock"
socat -u "UNIX-RECV:$NOTIFY_SOCKET" "OPEN:$NOTES,creat,append" &
LAB_PIDS+=($!)
lab_wait 5 "the notify socket" test -S "$NOTIFY_SOCKET"
# lab_up truncates router.log in place, so its device and inode stay.
: >"$LAB_DIR/router.log"
export JOURNAL_STREAM; JOURNAL_STREAM=$(stat -c '%d:%i' "$LAB_DIR/router.log")
lab_up
unset NOTIFY_SOCKET JOURNAL_STREAM
lab_wait 10 "READY=1" grep -q READY=1 "$NOTES" || true
check "the router says READY=1 ($(tr '\n' ' ' <"$NOTES"))" grep -q READY=1 "$NOTES"
check "by then the config's route is in the FIB" bash -c "curl -sf 'http://127.0.0.1:$LAB_API_PORT/api/v1/route/get?dst=198.51.100.7' | grep -q '\"kind\":\"group\"'"

lab_srv_link 2 down
lab_wait 10 "a warning" grep -q '^<4>.*nexthop unreachable' "$LAB_DIR/router.log" || true
ours=$(grep -E 'ecmp_router|control::' "$LAB_DIR/router.log")
check "every line of the router's own starts with a syslog priority" bash -c '! grep -Ev "^<[0-7]>" <<<"$1"' _ "$ours"
check "info lines are <6> (port up)" grep -q '^<6>ecmp_router: .*port up' "$LAB_DIR/router.log"
check "warnings are <4>, so journalctl -p warning shows them (a nexthop down)" grep -Eq '^<4>control::state(::[a-z_]+)?: nexthop unreachable' "$LAB_DIR/router.log"
check "no timestamps of its own (the journal stamps lines)" bash -c '! grep -Eq "^<[0-7]>[0-9]{4}-[0-9]{2}-" <<<"$1"' _ "$ours"

kill -TERM "$LAB_ROUTER_PID"; wait "$LAB_ROUTER_PID" 2>/dev/null || true
lab_wait 5 "STOPPING=1" grep -q STOPPING=1 "$NOTES" || true
check "SIGTERM says STOPPING=1" grep -q STOPPING=1 "$NOTES"
LAB_ROUTER_PID=

finish
