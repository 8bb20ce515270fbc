#!/usr/bin/env bash
# The Debian package installs, upgrades, runs and removes cleanly (issues 8, 16).
#
# It is built (deploy/deb/build.sh, with cargo-deb) and checked by lintian
# (no errors), then installed with dpkg -i into a clean root: an overlay of
# this machine's / in a private mount namespace, where the package was never
# installed. Nothing outside the namespace changes. Inside, the test checks
# the files, the man pages, the conffiles, the unit (systemd-analyze verify),
# deb-systemd-helper's state, the setup script (hugepages and a NIC binding
# made persistent), runs the installed router on virtual ports until it
# serves /metrics, with its token from a systemd credential, reloads it,
# stops it with SIGTERM, and removes the package. Then an upgrade from the
# package as 0.1.0 built it (the unit under /lib/systemd/system, dpkg-deb's
# own scripts) keeps the unit and the site's config.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$ROOT/tests/kit/assert.sh"
DEB=$(bash "$ROOT/deploy/deb/build.sh" | tail -1)
check "the package builds ($(basename "$DEB"), $(du -h "$DEB" | cut -f1))" test -f "$DEB"
check "it is not installed on this machine (so the namespace starts clean)" bash -c "! dpkg -s ecmp-router >/dev/null 2>&1"
lint=$(lintian --fail-on error "$DEB" 2>&1) && pass "lintian reports no errors ($(grep -c '^W:' <<<"$lint") warning(s): $(grep '^W:' <<<"$lint" | cut -d' ' -f3 | sort -u | tr '\n' ' '))" || fail "lintian: $(grep '^E:' <<<"$lint")"
T=$(mktemp -d /var/tmp/ecmp-deb.XXXXXX)
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
mkdir -p "$T/upper" "$T/work" "$T/root"
cp "$DEB" "$T/pkg.deb"
# The package as 0.1.0 built it (deploy/deb/build.sh with dpkg-deb, before
# cargo-deb): the same files, but the unit under /lib/systemd/system and
# plain maintainer scripts that only run daemon-reload.
old=$T/old; dpkg-deb -R "$DEB" "$old"
mkdir -p "$old/lib/systemd"; mv "$old/usr/lib/systemd/system" "$old/lib/systemd/"; rmdir -p --ignore-fail-on-non-empty "$old/usr/lib/systemd"
rm -f "$old/DEBIAN/preinst" "$old/DEBIAN/postinst" "$old/DEBIAN/prerm" "$old/DEBIAN/postrm" "$old/DEBIAN/md5sums"
sed -i 's/^Version: .*/Version: 0.1.0/' "$old/DEBIAN/control"
printf '#!/bin/sh\nset -e\n[ ! -d /run/systemd/system ] || systemctl daemon-reload || true\n' >"$old/DEBIAN/postinst"; chmod 755 "$old/DEBIAN/postinst"
dpkg-deb --root-owner-group --build "$old" "$T/old.deb" >/dev/null
check "the 0.1.0-style package builds, its unit at /lib/systemd/system" bash -c "dpkg-deb -c '$T/old.deb' | grep '\./lib/systemd/system/ecmp-router.service' >/dev/null"
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
miss=
for f in /usr/bin/ecmp-router /usr/bin/ecmpctl /usr/sbin/ecmp-router-setup-host /usr/lib/systemd/system/ecmp-router.service /etc/ecmp-router/router.yaml /etc/default/ecmp-router /usr/share/doc/ecmp-router/docs/operations.md /usr/share/doc/ecmp-router/examples/dual-wan.yaml /usr/share/doc/ecmp-router/changelog.Debian.gz /usr/share/ecmp-router/grafana/ecmp-router.json /usr/share/bash-completion/completions/ecmpctl; do
    [ -e "\$R\$f" ] || miss="\$miss \$f"
done
[ -z "\$miss" ] && say ok "binaries, unit (/usr/lib/systemd/system), config, defaults, docs, changelog, examples, completion and dashboard are in place" || say FAIL "missing:\$miss"
grep -q /etc/ecmp-router/router.yaml "\$R/var/lib/dpkg/info/ecmp-router.conffiles" && grep -q /etc/default/ecmp-router "\$R/var/lib/dpkg/info/ecmp-router.conffiles" && say ok "the config and /etc/default/ecmp-router are conffiles" || say FAIL "conffiles: \$(cat "\$R/var/lib/dpkg/info/ecmp-router.conffiles")"
for m in ecmp-router ecmpctl ecmp-router-setup-host; do
    c man -l /usr/share/man/man8/\$m.8.gz 2>/dev/null | head -3 | grep -q "^NAME" || say FAIL "man page \$m(8) does not render"
done
c man -l /usr/share/man/man8/ecmpctl.8.gz 2>/dev/null | grep -q -- "--api" && c man -l /usr/share/man/man8/ecmp-router.8.gz 2>/dev/null | grep -q -- "--check-config" && say ok "man pages ecmp-router(8), ecmpctl(8), ecmp-router-setup-host(8) render, with the clap options" || say FAIL "man pages lack the options"
head -1 "\$R/usr/share/doc/ecmp-router/copyright" | grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' && grep -q '^License: Apache-2.0' "\$R/usr/share/doc/ecmp-router/copyright" && say ok "the copyright file is DEP-5" || say FAIL "copyright not DEP-5"
grep -q deb-systemd-helper "\$R/var/lib/dpkg/info/ecmp-router.postinst" && [ -e "\$R/var/lib/systemd/deb-systemd-helper-enabled/ecmp-router.service.dsh-also" ] && [ ! -e "\$R/etc/systemd/system/multi-user.target.wants/ecmp-router.service" ] && say ok "postinst goes through deb-systemd-helper (state recorded; the unit is not enabled until the config is edited)" || say FAIL "deb-systemd-helper: \$(ls "\$R/var/lib/systemd/deb-systemd-helper-enabled" 2>&1)"
c ecmp-router --check-config /etc/ecmp-router/router.yaml >/dev/null 2>&1 && say ok "the shipped config passes --check-config" || say FAIL "shipped config: \$(c ecmp-router --check-config /etc/ecmp-router/router.yaml 2>&1 | head -2)"
out=\$(c systemd-analyze verify /usr/lib/systemd/system/ecmp-router.service 2>&1) && say ok "systemd-analyze verify accepts the unit" || say FAIL "unit: \$out"
c ecmp-router-setup-host --check >/tmp/setup.log 2>&1 || true; grep -q '^ok .*hugetlbfs\|^missing .*hugetlbfs' /tmp/setup.log && say ok "ecmp-router-setup-host --check runs and reports" || say FAIL "setup-host: \$(head -3 /tmp/setup.log)"
# Idempotent: the current hugepage count made persistent once, then nothing to change.
n=\$(cat /proc/sys/vm/nr_hugepages)
c ecmp-router-setup-host --hugepages "\$n" --persistent >/tmp/s1.log 2>&1 || true
c ecmp-router-setup-host --hugepages "\$n" --persistent >/tmp/s2.log 2>&1 || true
grep -q '^changed .*80-ecmp-router.conf' /tmp/s1.log && ! grep -q '^changed' /tmp/s2.log && say ok "setup-host is idempotent: the first run wrote the sysctl file, the second changed nothing" || say FAIL "setup-host idempotency: \$(grep -h changed /tmp/s1.log /tmp/s2.log)"
# A NIC's binding made persistent. There is no spare NIC here: a private
# /sys/bus/pci/devices holds one that is already on vfio-pci.
pci=0000:7f:00.0
mount -t tmpfs tmpfs "\$R/sys/bus/pci/devices"
mkdir -p "\$R/sys/bus/pci/devices/\$pci" "\$R/tmp/vfio-pci"; echo 0 >"\$R/sys/bus/pci/devices/\$pci/numa_node"; ln -s /tmp/vfio-pci "\$R/sys/bus/pci/devices/\$pci/driver"
rm -f "\$R/etc/systemd/system/multi-user.target.wants/dpdk.service"
c ecmp-router-setup-host --hugepages "\$n" --bind \$pci >/tmp/b0.log 2>&1 || true
c ecmp-router-setup-host --hugepages "\$n" --bind \$pci --persistent >/tmp/b1.log 2>&1 || true
c ecmp-router-setup-host --hugepages "\$n" --bind \$pci --persistent >/tmp/b2.log 2>&1 || true
grep -q "binding is not persistent: add --persistent" /tmp/b0.log && grep -q "^changed .*\$pci vfio-pci.*/etc/dpdk/interfaces" /tmp/b1.log && grep -Pq "^pci\t\$pci\tvfio-pci\$" "\$R/etc/dpdk/interfaces" && [ -L "\$R/etc/systemd/system/multi-user.target.wants/dpdk.service" ] && grep -q "^ok .*\$pci stays on vfio-pci across reboots" /tmp/b2.log && ! grep -q '^changed' /tmp/b2.log && say ok "setup-host --bind --persistent writes the binding to /etc/dpdk/interfaces and enables dpdk.service; a second run changes nothing" || say FAIL "persistent binding: \$(cat /tmp/b1.log /tmp/b2.log | grep -v '^info')"
grep -v -e '^[ \t]*#' -e '^[ \t]*\$' "\$R/etc/dpdk/interfaces" | while read -r bus id mod; do [ "\$bus \$id \$mod" = "pci \$pci vfio-pci" ] || echo bad; done | grep -q bad && say FAIL "/etc/dpdk/interfaces has a line dpdk-init cannot read" || say ok "every line of /etc/dpdk/interfaces reads as dpdk-init reads it (bus, id, driver)"
umount "\$R/sys/bus/pci/devices"
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
# The token as the unit's LoadCredential= hands it over.
mkdir -p "\$R/run/credentials/ecmp-router.service"; echo "deb-test-token-0123456789" >"\$R/run/credentials/ecmp-router.service/api-token"
CREDENTIALS_DIRECTORY=/run/credentials/ecmp-router.service chroot "\$R" /usr/bin/ecmp-router --config /etc/ecmp-router/test.yaml >/tmp/router.log 2>&1 &
pid=\$!
up=0; for _ in \$(seq 100); do curl -sf http://127.0.0.1:$PORT/metrics >/dev/null 2>&1 && { up=1; break; }; sleep 0.1; done
[ \$up = 1 ] && say ok "the installed router starts and serves /metrics" || say FAIL "router: \$(tail -3 /tmp/router.log)"
code=\$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' http://127.0.0.1:$PORT/api/v1/reload)
[ "\$code" = 401 ] && say ok "the credential's token guards the API on TCP: a reload without it gets 401" || say FAIL "a write without the credential's token: HTTP \$code"
export ECMP_ROUTER_TOKEN=deb-test-token-0123456789
c ecmpctl --api 127.0.0.1:$PORT route show 2>&1 | grep -q 198.51.100.0/24 && say ok "ecmpctl talks to it, with the token" || say FAIL "ecmpctl: \$(c ecmpctl --api 127.0.0.1:$PORT route show 2>&1 | head -2)"
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
# The upgrade from 0.1.0, whose unit was /lib/systemd/system/ecmp-router.service.
# With /lib a link to usr/lib both paths are one file; dpkg (1.21) sees that
# the obsolete path is the new file and does not remove it.
cp $T/old.deb "\$R/tmp/old.deb"
c dpkg -i /tmp/old.deb >/tmp/old.log 2>&1 && [ -e "\$R/lib/systemd/system/ecmp-router.service" ] && say ok "0.1.0 installs, its unit at /lib/systemd/system" || say FAIL "0.1.0: \$(tail -3 /tmp/old.log)"
echo "# edited by the site" >>"\$R/etc/ecmp-router/router.yaml"
c dpkg -i /tmp/pkg.deb >/tmp/up.log 2>&1 && say ok "dpkg -i upgrades 0.1.0 to \$(c dpkg-query -W -f='\${Version}' ecmp-router)" || say FAIL "upgrade: \$(tail -3 /tmp/up.log)"
[ -s "\$R/usr/lib/systemd/system/ecmp-router.service" ] && c dpkg -S /usr/lib/systemd/system/ecmp-router.service >/dev/null 2>&1 && say ok "the upgrade keeps the unit (/usr/lib/systemd/system/ecmp-router.service, owned by the package)" || say FAIL "the upgrade lost the unit"
grep -q "edited by the site" "\$R/etc/ecmp-router/router.yaml" && say ok "the site's edit of router.yaml survives the upgrade" || say FAIL "router.yaml edit lost"
c dpkg -P ecmp-router >/dev/null 2>&1 && [ ! -e "\$R/usr/lib/systemd/system/ecmp-router.service" ] && say ok "the upgraded package purges cleanly" || say FAIL "purge after upgrade"
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
