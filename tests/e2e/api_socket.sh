#!/usr/bin/env bash
# The API on a Unix socket (api.socket), as the shipped config and systemd
# unit run it: mode 0660; file permissions are its access control, so the
# token applies to TCP only; writes still need the JSON content type;
# ecmpctl finds the socket by itself before TCP; a socket file left by a
# crash (kill -9) is replaced when the router starts again.
source "$(dirname "$0")/../kit/e2e.sh"

SOCK=/run/ecmp-router/api.sock
[ ! -S "$SOCK" ] || ! curl -s --unix-socket "$SOCK" http://localhost/metrics >/dev/null || { echo "a router already answers on $SOCK"; exit 1; }
lab_init sock
lab_config
sed -i "s|^api: { listen: \(.*\) }|api: { listen: \1, socket: $SOCK, token: s3cret-token-0123456789 }|" "$LAB_DIR/router.yaml"
grep -q "socket: $SOCK" "$LAB_DIR/router.yaml"
lab_up
CTL="$LAB_ROOT/target/release/ecmpctl"
T='Authorization: Bearer s3cret-token-0123456789'
code() { curl -s -o "$LAB_DIR/body" -w '%{http_code}' "$@"; }

check "the socket exists with mode 0660" test "$(stat -c %a "$SOCK")" = 660
check "on the socket no token is needed (200)" test "$(code --unix-socket "$SOCK" http://localhost/api/v1/routes)" = 200
check "on TCP the token still is (401 without)" test "$(code "http://127.0.0.1:$LAB_API_PORT/api/v1/routes")" = 401
check "a write on the socket without the JSON type: 415" test "$(code --unix-socket "$SOCK" -X POST http://localhost/api/v1/reload)" = 415
check "with it: 200" test "$(code --unix-socket "$SOCK" -H 'Content-Type: application/json' -X POST http://localhost/api/v1/reload)" = 200
check "ecmpctl with no --api and no token uses the socket" env -u ECMP_ROUTER_API -u ECMP_ROUTER_TOKEN "$CTL" route show
check "ecmpctl --api SOCKET" "$CTL" --api "$SOCK" nexthop show
check "socket writes are logged as such" bash -c "grep 'API write' '$LAB_DIR/router.log' | grep -q 'via=\"\?unix'"

echo "-- kill -9 leaves the socket file; a new start replaces it"
kill -KILL "$LAB_ROUTER_PID"; wait "$LAB_ROUTER_PID" 2>/dev/null || true
check "the stale socket file is left" test -S "$SOCK"
lab_router_restart
check "the restarted router serves on it" test "$(code --unix-socket "$SOCK" http://localhost/api/v1/routes)" = 200
check "and said it replaced a stale one" grep -q "removing a stale API socket" "$LAB_DIR/router.log"
kill -TERM "$LAB_ROUTER_PID"; wait "$LAB_ROUTER_PID" 2>/dev/null || true
check "a clean stop removes the socket" test ! -e "$SOCK"
finish
