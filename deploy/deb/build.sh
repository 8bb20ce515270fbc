#!/usr/bin/env bash
# Builds the Debian package with cargo-deb: target/debian/ecmp-router_VERSION-REV_ARCH.deb
#
#   bash deploy/deb/build.sh
#
# What goes in it is [package.metadata.deb] in router/Cargo.toml:
#   /usr/bin/ecmp-router, /usr/bin/ecmpctl, /usr/sbin/ecmp-router-setup-host
#   /usr/lib/systemd/system/ecmp-router.service     (deploy/systemd/; the
#        maintainer scripts use deb-systemd-helper, from cargo-deb's autoscripts)
#   /etc/ecmp-router/router.yaml, /etc/default/ecmp-router   (conffiles)
#   /usr/share/man/man8/{ecmp-router,ecmpctl,ecmp-router-setup-host}.8.gz
#        (the first two generated from the clap definitions, --man)
#   /usr/share/doc/ecmp-router/   copyright (DEP-5), changelog.Debian.gz, README, docs/, examples/
#   /usr/share/ecmp-router/{grafana,prometheus}/    dashboard and scrape config
#   /usr/share/bash-completion/completions/ecmpctl
# Depends: $auto (dpkg-shlibdeps over the binaries: the DPDK libraries), dpdk.
# cargo-deb is installed when it is missing (dh-cargo needs Debian's packaged
# crates, which an offline build cannot have). Tested by tests/deb/install.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null | awk '{print $NF}')" != "$CARGO_DEB_VERSION" ]; then
    echo "build.sh: installing cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION" >&2
fi
cargo build --release --locked -p router --quiet
REL=target/release
mkdir -p "$REL/man" "$REL/completions"
"$REL/ecmp-router" --man | gzip -9n >"$REL/man/ecmp-router.8.gz"
"$REL/ecmpctl" --man | gzip -9n >"$REL/man/ecmpctl.8.gz"
gzip -9n <deploy/deb/ecmp-router-setup-host.8 >"$REL/man/ecmp-router-setup-host.8.gz"
"$REL/ecmpctl" --completions bash >"$REL/completions/ecmpctl"
mkdir -p target/debian
cargo deb --no-build --strip --locked -p router --quiet -o target/debian/ | tail -1
