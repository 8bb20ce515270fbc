#!/usr/bin/env bash
# The TCP API under a slowloris: 500 connections, half of them idle and half
# trickling request headers a line a second. ecmpctl over TCP must still work
# throughout (the cap evicts the connection idle the longest instead of
# refusing the new one), slow-header connections are closed by the header
# timeout (5 s), and the evictions are counted.
source "$(dirname "$0")/../kit/e2e.sh"

lab_init apilimits
lab_config
lab_up
CTL="$LAB_ROOT/target/release/ecmpctl --api 127.0.0.1:$LAB_API_PORT"
python3 - "$LAB_API_PORT" >"$LAB_DIR/loris.json" <<'PY' &
import json, socket, sys, time
port = int(sys.argv[1])
conns = []
for i in range(500):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.setblocking(False)
        if i % 2:
            s.send(b"GET /api/v1/routes HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        conns.append((i, s, time.monotonic(), None))
    except OSError:
        conns.append((i, None, time.monotonic(), 0.0))
end = time.monotonic() + 12
while time.monotonic() < end:
    for k, (i, s, t0, closed) in enumerate(conns):
        if s is None or closed is not None:
            continue
        try:
            if s.recv(1) == b"":
                conns[k] = (i, s, t0, time.monotonic() - t0)
                continue
        except BlockingIOError:
            pass
        except OSError:
            conns[k] = (i, s, t0, time.monotonic() - t0)
            continue
        if i % 2:
            try:
                s.send(b"X-Slow: 1\r\n")
            except OSError:
                conns[k] = (i, s, t0, time.monotonic() - t0)
    time.sleep(1)
slow = [c[3] for c in conns if c[0] % 2]
print(json.dumps({"opened": sum(1 for c in conns if c[1] is not None),
                  "slow_closed": sum(1 for x in slow if x is not None),
                  "slow_max_s": max((x for x in slow if x is not None), default=None)}))
PY
LORIS=$!
sleep 2
ok=0
for i in 1 2 3 4 5; do
    if timeout 10 $CTL route show >/dev/null; then ok=$((ok + 1)); fi
    sleep 1
done
check "ecmpctl over TCP during the slowloris: $ok of 5 worked" test "$ok" = 5
wait "$LORIS"
out=$(cat "$LAB_DIR/loris.json")
echo "        $out"
check "all 500 connections were accepted" python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["opened"] == 500 else 1)' "$out"
check "every slow-header connection was closed, none later than 8 s" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["slow_closed"] == 250 and d["slow_max_s"] <= 8 else 1)' "$out"
ev=$(lab_metric 'ecmp_router_control_events_total{event="api_connection_evicted"}')
check "evictions at the cap are counted ($ev)" test "$ev" -gt 0
check "the router is still running" kill -0 "$LAB_ROUTER_PID"
finish
