#!/usr/bin/env bash
# The Debian package installs, runs and removes cleanly (issue 8).
#
# It is built (deploy/deb/build.sh), then installed with dpkg -i into a
# clean root: an overlay of this machine's / in a private mount namespace,
# where the package was never installed. Nothing outside the namespace
# changes. Inside, the test checks the files, the conffile, the unit
# (systemd-analyze verify), the setup script, runs the installed router on
# virtual ports until it serves /metrics, reloads it with SIGHUP, stops it with
# SIGTERM, and removes the package.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$ROOT/tests/e2e/assert.sh"
DEB=$(bash "$ROOT/deploy/deb/build.sh" | tail -1)
check "the package builds ($(basename "$DEB"), $(du -h "$DEB" | cut -f1))" test -f "$DEB"
check "it is not installed on this machine (so the namespace starts clean)" bash -c "! dpkg -s ecmp-router >/dev/null 2>&1"
T=$(mktemp -d /var/tmp/ecmp-deb.XXXXXX)
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
mkdir -p "$T/upper" "$T/work" "$T/root"
cp "$DEB" "$T/pkg.deb"
PORT=$(( 21000 + ($$ % 4000) * 2 ))
cat >"$T/inside.sh" <<IN
set -eu
R=$T/root
mount -t overlay overlay -o lowerdir=/,upperdir=$T/upper,workdir=$T/work "\$R"
mount --rbind /dev "\$R/dev"; mount -t proc proc "\$R/proc"; mount --rbind /sys "\$R/sys"
mount -t tmpfs tmpfs "\$R/run"; mount -t tmpfs tmpfs "\$R/tmp"
cp $T/pkg.deb "\$R/tmp/pkg.deb"
c() { chroot "\$R" "\$@"; }
say() { echo "RESULT \$1 \$2"; }
c dpkg -i /tmp/pkg.deb >/tmp/dpkg.log 2>&1 && say ok "dpkg -i installs it" || { say FAIL "dpkg -i: \$(tail -3 /tmp/dpkg.log)"; exit 0; }
for f in /usr/bin/ecmp-router /usr/bin/ecmpctl /usr/sbin/ecmp-router-setup-host /lib/systemd/system/ecmp-router.service /etc/ecmp-router/router.yaml /usr/share/doc/ecmp-router/docs/operations.md /usr/share/doc/ecmp-router/examples/dual-wan.yaml /usr/share/ecmp-router/grafana/ecmp-router.json; do
    [ -e "\$R\$f" ] || { say FAIL "missing \$f"; }
done
say ok "binaries, unit, config, docs, examples and dashboard are in place"
grep -q /etc/ecmp-router/router.yaml "\$R/var/lib/dpkg/info/ecmp-router.conffiles" && say ok "the config is a conffile" || say FAIL "config not a conffile"
c ecmp-router --check-config /etc/ecmp-router/router.yaml >/dev/null 2>&1 && say ok "the shipped config passes --check-config" || say FAIL "shipped config: \$(c ecmp-router --check-config /etc/ecmp-router/router.yaml 2>&1 | head -2)"
out=\$(c systemd-analyze verify /lib/systemd/system/ecmp-router.service 2>&1) && say ok "systemd-analyze verify accepts the unit" || say FAIL "unit: \$out"
c ecmp-router-setup-host --check >/tmp/setup.log 2>&1 || true; grep -q '^ok .*hugetlbfs\|^missing .*hugetlbfs' /tmp/setup.log && say ok "ecmp-router-setup-host --check runs and reports" || say FAIL "setup-host: \$(head -3 /tmp/setup.log)"
# Idempotent: the current hugepage count made persistent once, then nothing to change.
n=\$(cat /proc/sys/vm/nr_hugepages)
c ecmp-router-setup-host --hugepages "\$n" --persistent >/tmp/s1.log 2>&1 || true
c ecmp-router-setup-host --hugepages "\$n" --persistent >/tmp/s2.log 2>&1 || true
grep -q '^changed .*80-ecmp-router.conf' /tmp/s1.log && ! grep -q '^changed' /tmp/s2.log && say ok "setup-host is idempotent: the first run wrote the sysctl file, the second changed nothing" || say FAIL "setup-host idempotency: \$(grep -h changed /tmp/s1.log /tmp/s2.log)"
# Run the installed router on virtual ports.
cat >"\$R/etc/ecmp-router/test.yaml" <<Y
eal: [--no-huge, --no-shconf, --no-pci, -m, "256", --file-prefix, debt$$]
ports:
  - { name: a, device: "net_null0,no-rx=1", addresses: [10.0.0.1/24] }
  - { name: b, device: "net_null1,no-rx=1", addresses: [10.1.0.1/24] }
routes:
  - { prefix: 198.51.100.0/24, nexthops: [{ via: 10.1.0.2, port: b }] }
neighbors: [{ address: 10.1.0.2, port: b, mac: "02:00:00:00:01:02" }]
api: { listen: 127.0.0.1:$PORT }
Y
chroot "\$R" /usr/bin/ecmp-router --config /etc/ecmp-router/test.yaml >/tmp/router.log 2>&1 &
pid=\$!
up=0; for _ in \$(seq 100); do curl -sf http://127.0.0.1:$PORT/metrics >/dev/null 2>&1 && { up=1; break; }; sleep 0.1; done
[ \$up = 1 ] && say ok "the installed router starts and serves /metrics" || say FAIL "router: \$(tail -3 /tmp/router.log)"
c ecmpctl --api 127.0.0.1:$PORT route show 2>&1 | grep -q 198.51.100.0/24 && say ok "ecmpctl talks to it" || say FAIL "ecmpctl"
kill -HUP \$pid; sleep 0.5
grep -q "config reloaded" /tmp/router.log && say ok "SIGHUP reloads the config" || say FAIL "no reload: \$(tail -2 /tmp/router.log)"
# The unit's ExecReload: ecmpctl reload; a refused reload must fail it.
c ecmpctl --api 127.0.0.1:$PORT reload >/dev/null 2>&1 && say ok "ecmpctl reload (the unit's ExecReload) reloads the config" || say FAIL "ecmpctl reload"
sed -i 's/port: b }] }/port: nope }] }/' "\$R/etc/ecmp-router/test.yaml"
rc=0; c ecmpctl --api 127.0.0.1:$PORT reload >/dev/null 2>&1 || rc=\$?
[ \$rc = 1 ] && say ok "a refused reload fails ecmpctl reload (exit 1), so systemctl reload fails" || say FAIL "a bad reload: exit \$rc"
kill -TERM \$pid; rc=0; wait \$pid || rc=\$?
[ \$rc = 0 ] && say ok "SIGTERM stops it, status 0" || say FAIL "stop status \$rc"
c dpkg -r ecmp-router >/dev/null 2>&1 && [ ! -e "\$R/usr/bin/ecmp-router" ] && [ -e "\$R/etc/ecmp-router/router.yaml" ] && say ok "dpkg -r removes it, keeping the conffile" || say FAIL "dpkg -r"
c dpkg -P ecmp-router >/dev/null 2>&1 && [ ! -e "\$R/etc/ecmp-router/router.yaml" ] && say ok "dpkg -P purges the conffile" || say FAIL "dpkg -P"
echo "RESULT-END"
IN
unshare --mount --propagation private bash "$T/inside.sh" >"$T/out.txt" 2>&1 || true
while read -r tag status rest; do
    [ "$tag" = RESULT ] || continue
    if [ "$status" = ok ]; then pass "$rest"; else fail "$rest"; fi
done <"$T/out.txt"
grep -q RESULT-END "$T/out.txt" || { tail -20 "$T/out.txt"; fail "the namespace test stopped before its end"; }
check "this machine is unchanged: the package is still not installed" bash -c "! dpkg -s ecmp-router >/dev/null 2>&1"
finish
