#!/usr/bin/env bash
# Installs what ecmp-router needs on Debian 12 (as root), only what is missing:
# DPDK 22.11 (Debian's shared build, PMDs loaded from its plugin directory),
# clang/libclang for bindgen, the lab tools (iproute2, ethtool, socat, ping, curl, scapy, tcpdump,
# python3), promtool, FRR, BIRD 2, sshd and nc, lintian (the package test), and Rust
# when there is no cargo.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "setup.sh: run as root (it installs packages and builds namespaces)" >&2; exit 1; }

need=()
pkg_missing() { ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev build-essential \
         iproute2 ethtool iputils-ping socat curl python3 python3-scapy tcpdump prometheus frr bird2 openssh-server openssh-client netcat-openbsd ca-certificates lintian; do
    pkg_missing "$p" && need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # prometheus, frr, bird2 and sshd are used by the tests, which start their own instances; keep the services from starting.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi
if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "setup: installing Rust (rustup)"
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
pkg-config --atleast-version=22.11 libdpdk || { echo "setup: libdpdk >= 22.11 not found" >&2; exit 1; }
echo "setup: DPDK $(pkg-config --modversion libdpdk), $(cargo --version)"
