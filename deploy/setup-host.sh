#!/usr/bin/env bash
# Prepares a host for ecmp-router, idempotently, and shows every change it makes.
#
#   setup-host.sh [--check] [--hugepages N] [--persistent] [--bind PCI]... [--workers CPUS]
#
#   --check          change nothing: report what is there and what is missing
#   --hugepages N    2 MiB hugepages to reserve (default 1024, i.e. 2 GiB), and
#                    hugetlbfs mounted on /dev/hugepages
#   --persistent     also keep them across reboots (/etc/sysctl.d/80-ecmp-router.conf),
#                    and the --bind NICs' binding: driverctl's override when
#                    driverctl is installed, else a line in /etc/dpdk/interfaces
#                    (which the dpdk package's dpdk.service binds at boot)
#   --bind PCI       bind this NIC (e.g. 0000:03:00.0) to vfio-pci; repeat for each
#   --workers CPUS   the CPUs the workers will use (e.g. 2-5): checks and suggests
#                    their isolation (default: every CPU but the first)
#
# Each line it prints starts with "ok" (already so), "changed" (it made it so),
# "missing" (you must act; it says how) or "info". Exit status 1 if anything is
# missing, 0 otherwise. Installed by the Debian package as ecmp-router-setup-host.
set -euo pipefail
CHECK= PAGES=1024 PERSIST= WORKERS= BIND=()
while [ $# -gt 0 ]; do
    case "$1" in
        --check) CHECK=1; shift ;;
        --hugepages) PAGES=$2; shift 2 ;;
        --persistent) PERSIST=1; shift ;;
        --bind) BIND+=("$2"); shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup-host: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$CHECK" ] || [ "$(id -u)" -eq 0 ] || { echo "setup-host: run as root (or use --check)" >&2; exit 2; }
MISSING=0
ok() { echo "ok       $*"; }
changed() { echo "changed  $*"; }
missing() { echo "missing  $*"; MISSING=1; }
info() { echo "info     $*"; }

# --- CPU
grep -q ' sse4_2' /proc/cpuinfo && ok "CPU has SSE4.2 (DPDK's x86 baseline)" || missing "CPU lacks SSE4.2: DPDK 22.11 packages will not run"
ncpu=$(nproc --all)
[ -n "$WORKERS" ] || WORKERS=$(if [ "$ncpu" -gt 2 ]; then echo "1-$((ncpu - 1))"; elif [ "$ncpu" = 2 ]; then echo 1; else echo 0; fi)
cmdline=$(cat /proc/cmdline)
for k in isolcpus nohz_full rcu_nocbs; do
    if [[ " $cmdline " == *" $k="* ]]; then
        ok "kernel command line has $(tr ' ' '\n' <<<"$cmdline" | grep "^$k=")"
    else
        info "for steady latency, isolate the worker CPUs: add '$k=$WORKERS' to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub and reboot)"
    fi
done

# --- NUMA
nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
info "$nodes NUMA node(s); keep each port's workers and mempool on the NIC's node (see numa_node below)"

# --- IOMMU and VFIO
if [ -d /sys/kernel/iommu_groups ] && [ -n "$(ls /sys/kernel/iommu_groups 2>/dev/null)" ]; then
    ok "IOMMU is on ($(ls /sys/kernel/iommu_groups | wc -l) groups)"
else
    missing "IOMMU is off: enable VT-d/AMD-Vi in the firmware and add 'intel_iommu=on iommu=pt' (or 'amd_iommu=on iommu=pt') to the kernel command line; without it vfio-pci needs enable_unsafe_noiommu_mode"
fi
if lsmod 2>/dev/null | grep -q '^vfio_pci'; then
    ok "vfio-pci module loaded"
elif [ -n "$CHECK" ]; then
    info "vfio-pci module not loaded (--bind loads it)"
fi

# --- Hugepages
hp=/proc/sys/vm/nr_hugepages
cur=$(cat "$hp")
if [ "$cur" -ge "$PAGES" ]; then
    ok "$cur hugepages of 2 MiB reserved (want $PAGES)"
elif [ -n "$CHECK" ]; then
    missing "$cur hugepages reserved, want $PAGES: run setup-host.sh --hugepages $PAGES"
else
    echo "$PAGES" >"$hp"
    got=$(cat "$hp")
    if [ "$got" -ge "$PAGES" ]; then changed "reserved $got hugepages of 2 MiB (was $cur)"
    else missing "only $got of $PAGES hugepages could be reserved (memory is fragmented: reserve at boot with hugepages=$PAGES on the kernel command line)"; fi
fi
if mountpoint -q /dev/hugepages 2>/dev/null; then
    ok "hugetlbfs mounted on /dev/hugepages"
elif [ -n "$CHECK" ]; then
    missing "hugetlbfs is not mounted on /dev/hugepages"
else
    mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages && changed "mounted hugetlbfs on /dev/hugepages"
fi
conf=/etc/sysctl.d/80-ecmp-router.conf
want="vm.nr_hugepages = $PAGES"
if [ -f "$conf" ] && grep -qx "$want" "$conf"; then
    ok "hugepages persist across reboots ($conf)"
elif [ -n "$PERSIST" ] && [ -z "$CHECK" ]; then
    printf '# Written by ecmp-router-setup-host.\n%s\n' "$want" >"$conf"
    changed "wrote $conf ($want)"
else
    info "hugepages are not persistent: add --persistent (writes $conf)"
fi

# --- NICs
# persist_binding PCI: the vfio-pci binding of PCI survives a reboot.
ifaces=/etc/dpdk/interfaces
persist_binding() {
    local pci=$1
    if command -v driverctl >/dev/null 2>&1; then
        if [ "$(driverctl list-overrides 2>/dev/null | awk -v p="$pci" '$1 == p {print $2}')" = vfio-pci ]; then
            ok "$pci stays on vfio-pci across reboots (driverctl override)"
        elif [ -n "$PERSIST" ] && [ -z "$CHECK" ]; then
            driverctl set-override "$pci" vfio-pci && changed "driverctl set-override $pci vfio-pci" || missing "driverctl could not set the override of $pci"
        else
            info "$pci's binding is not persistent: add --persistent (driverctl set-override)"
        fi
    elif [ -f "$ifaces" ] && grep -Eq "^pci[[:space:]]+$pci[[:space:]]+vfio-pci[[:space:]]*$" "$ifaces"; then
        ok "$pci stays on vfio-pci across reboots ($ifaces)"
    elif [ -n "$PERSIST" ] && [ -z "$CHECK" ]; then
        mkdir -p "$(dirname "$ifaces")"
        # Another driver for the same device would fight this one at boot.
        [ ! -f "$ifaces" ] || sed -i -E "/^pci[[:space:]]+$pci[[:space:]]/d" "$ifaces"
        printf '# Added by ecmp-router-setup-host (dpdk-init reads three words a line).\npci\t%s\tvfio-pci\n' "$pci" >>"$ifaces"
        changed "added '$pci vfio-pci' to $ifaces"
        if [ -e /lib/systemd/system/dpdk.service ] && ! systemctl -q is-enabled dpdk.service 2>/dev/null; then
            systemctl enable dpdk.service >/dev/null 2>&1 && changed "enabled dpdk.service (it binds $ifaces at boot)" || missing "could not enable dpdk.service: run systemctl enable dpdk.service"
        fi
    else
        info "$pci's binding is not persistent: add --persistent (writes $ifaces)"
    fi
}
devbind=$(command -v dpdk-devbind.py || true)
[ -n "$devbind" ] && ok "dpdk-devbind.py at $devbind" || missing "dpdk-devbind.py not found (apt-get install dpdk)"
for pci in "${BIND[@]}"; do
    dev=/sys/bus/pci/devices/$pci
    if [ ! -e "$dev" ]; then missing "no PCI device $pci (lspci -D lists them)"; continue; fi
    node=$(cat "$dev/numa_node" 2>/dev/null || echo -1)
    info "$pci is on NUMA node $node"
    drv=$(basename "$(readlink -f "$dev/driver" 2>/dev/null || echo none)")
    if [ "$drv" = vfio-pci ]; then
        ok "$pci is bound to vfio-pci"
    elif [ -n "$CHECK" ]; then
        missing "$pci is bound to $drv: run setup-host.sh --bind $pci"
    else
        modprobe vfio-pci
        "$devbind" -b vfio-pci "$pci" && changed "bound $pci to vfio-pci (was $drv)" || missing "could not bind $pci (is it up or in use? take its interface down first)"
    fi
    persist_binding "$pci"
done
[ ${#BIND[@]} -gt 0 ] || info "no NIC given (--bind PCI); the router can also use virtual devices (net_tap, net_af_packet)"
exit $MISSING
