#!/usr/bin/env bash
# Builds the Debian package: target/debian/ecmp-router_VERSION_ARCH.deb
#
#   bash deploy/deb/build.sh
#
# What it holds:
#   /usr/bin/ecmp-router, /usr/bin/ecmpctl
#   /usr/sbin/ecmp-router-setup-host                (deploy/setup-host.sh)
#   /lib/systemd/system/ecmp-router.service         (deploy/systemd/)
#   /etc/ecmp-router/router.yaml                    (deploy/examples/router.yaml; a conffile)
#   /usr/share/doc/ecmp-router/                     README, docs/, examples/, copyright
#   /usr/share/ecmp-router/{grafana,prometheus}/    dashboard and scrape config
# Depends is computed by dpkg-shlibdeps from the binaries (the DPDK libraries).
# Tested by tests/deb/install.sh (dpkg -i in a clean namespace, then run).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ARCH=$(dpkg --print-architecture)
cargo build --release --locked -p router --quiet
OUT="$ROOT/target/debian"
PKG="$OUT/ecmp-router_${VERSION}_${ARCH}"
rm -rf "$PKG"
install -D -m 0755 target/release/ecmp-router "$PKG/usr/bin/ecmp-router"
install -D -m 0755 target/release/ecmpctl "$PKG/usr/bin/ecmpctl"
strip --strip-debug "$PKG/usr/bin/ecmp-router" "$PKG/usr/bin/ecmpctl"
install -D -m 0755 deploy/setup-host.sh "$PKG/usr/sbin/ecmp-router-setup-host"
install -D -m 0644 deploy/systemd/ecmp-router.service "$PKG/lib/systemd/system/ecmp-router.service"
install -D -m 0640 deploy/examples/router.yaml "$PKG/etc/ecmp-router/router.yaml"
DOC="$PKG/usr/share/doc/ecmp-router"
install -D -m 0644 README.md "$DOC/README.md"
mkdir -p "$DOC/docs" "$DOC/examples"
cp docs/*.md docs/*.svg docs/openapi.json "$DOC/docs/"
cp deploy/examples/*.yaml "$DOC/examples/"
[ ! -d deploy/examples/frr ] || cp -r deploy/examples/frr "$DOC/examples/"
chmod -R u=rwX,go=rX "$DOC"
cat >"$DOC/copyright" <<C
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ecmp-router
Files: *
License: Apache-2.0
 On Debian systems, the full text is in /usr/share/common-licenses/Apache-2.0.
C
install -D -m 0644 deploy/grafana/ecmp-router.json "$PKG/usr/share/ecmp-router/grafana/ecmp-router.json"
install -D -m 0644 deploy/prometheus/prometheus.yml "$PKG/usr/share/ecmp-router/prometheus/prometheus.yml"

# Shared-library dependencies, as dpkg-shlibdeps computes them.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debian"
printf 'Source: ecmp-router\n\nPackage: ecmp-router\nArchitecture: any\n' >"$tmp/debian/control"
deps=$(cd "$tmp" && dpkg-shlibdeps -O "$PKG/usr/bin/ecmp-router" "$PKG/usr/bin/ecmpctl" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
mkdir -p "$PKG/DEBIAN"
cat >"$PKG/DEBIAN/control" <<C
Package: ecmp-router
Version: $VERSION
Architecture: $ARCH
Maintainer: ecmp-router developers <ecmp-router@localhost>
Depends: $deps, dpdk
Recommends: prometheus, frr
Section: net
Priority: optional
Installed-Size: $(du -sk "$PKG" | cut -f1)
Homepage: https://localhost/ecmp-router
Description: DPDK-based ECMP router
 A software multipath router on DPDK: longest-prefix match for IPv4 and
 IPv6, weighted hash-threshold and resilient nexthop groups, sticky and
 SNAT-aware flows, uplink health probes, policy rules, FRR over FPM, an
 HTTP API with ecmpctl, and Prometheus metrics.
C
echo "/etc/ecmp-router/router.yaml" >"$PKG/DEBIAN/conffiles"
cat >"$PKG/DEBIAN/postinst" <<'P'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
fi
# Not enabled or started: edit /etc/ecmp-router/router.yaml for this host's
# NICs first, run ecmp-router-setup-host, then: systemctl enable --now ecmp-router
exit 0
P
cat >"$PKG/DEBIAN/prerm" <<'P'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    systemctl stop ecmp-router.service >/dev/null 2>&1 || true
fi
exit 0
P
cat >"$PKG/DEBIAN/postrm" <<'P'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
fi
exit 0
P
chmod 0755 "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/prerm" "$PKG/DEBIAN/postrm"
dpkg-deb --root-owner-group --build "$PKG" "$OUT/" >/dev/null
echo "$OUT/ecmp-router_${VERSION}_${ARCH}.deb"
