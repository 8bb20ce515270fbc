//! The kernel interfaces themselves: a TAP per port, with the port's MAC,
//! MTU and addresses, configured over rtnetlink and `/proc/sys`.

use anyhow::{bail, Context, Result};
use control::config::PortConfig;
use control::punt::KernelCounters;
use dataplane::MacAddr;
use futures_util::stream::TryStreamExt;
use std::sync::Arc;

pub(super) struct Netlink {
    rt: tokio::runtime::Runtime,
    handle: rtnetlink::Handle,
}

impl Netlink {
    pub(super) fn new() -> Result<Netlink> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("starting the netlink runtime")?;
        let handle = rt.block_on(async {
            let (conn, handle, _) = rtnetlink::new_connection().context("opening rtnetlink")?;
            tokio::spawn(conn);
            anyhow::Ok(handle)
        })?;
        Ok(Netlink { rt, handle })
    }

    pub(super) fn ifindex(&self, name: &str) -> Result<Option<u32>> {
        self.rt.block_on(async {
            let mut links = self.handle.link().get().match_name(name).execute();
            match links.try_next().await {
                Ok(l) => Ok(l.map(|l| l.header.index)),
                // ENODEV: no such interface.
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -19 => Ok(None),
                Err(e) => Err(e).context(format!("looking up interface {name}")),
            }
        })
    }

    pub(super) fn delete(&self, index: u32) -> Result<()> {
        self.rt
            .block_on(self.handle.link().del(index).execute())
            .context("deleting a stale interface")
    }

    pub(super) fn setup(&self, index: u32, mac: MacAddr, mtu: u32, carrier: bool) -> Result<()> {
        let msg = rtnetlink::LinkUnspec::new_with_index(index)
            .address(mac.0.to_vec())
            .mtu(mtu)
            .build();
        self.rt
            .block_on(self.handle.link().set(msg).execute())
            .context("setting the MAC and MTU")?;
        self.set_carrier(index, carrier)?;
        let up = rtnetlink::LinkUnspec::new_with_index(index).up().build();
        self.rt
            .block_on(self.handle.link().set(up).execute())
            .context("setting the interface up")
    }

    pub(super) fn add_address(&self, index: u32, a: std::net::IpAddr, len: u8) -> Result<()> {
        self.rt
            .block_on(self.handle.address().add(index, a, len).execute())
            .with_context(|| format!("adding {a}/{len}"))
    }

    /// Sets an address the interface already has again (`NLM_F_REPLACE`):
    /// nothing changes, but the kernel tells every listener once more.
    pub(super) fn announce_address(&self, index: u32, a: std::net::IpAddr, len: u8) -> Result<()> {
        self.rt
            .block_on(self.handle.address().add(index, a, len).replace().execute())
            .with_context(|| format!("announcing {a}/{len} again"))
    }

    /// The Linux VRF device `name` with table `table` (l3mdev), made if
    /// missing, and up: its ifindex. Fails on a kernel without VRF support.
    pub(super) fn vrf(&self, name: &str, table: u32) -> Result<u32> {
        if let Some(i) = self.ifindex(name)? {
            return Ok(i);
        }
        self.rt
            .block_on(
                self.handle
                    .link()
                    .add(rtnetlink::LinkVrf::new(name, table).up().build())
                    .execute(),
            )
            .with_context(|| format!("creating the VRF device {name} (table {table})"))?;
        self.ifindex(name)?
            .with_context(|| format!("the VRF device {name} vanished"))
    }

    /// Enslaves interface `index` to the VRF device `vrf` (`ip link set
    /// ... master VRF`): its routes go to the VRF's table.
    pub(super) fn enslave(&self, index: u32, vrf: u32) -> Result<()> {
        let msg = rtnetlink::LinkUnspec::new_with_index(index)
            .controller(vrf)
            .build();
        self.rt
            .block_on(self.handle.link().set(msg).execute())
            .context("putting the interface in its VRF")
    }

    pub(super) fn set_carrier(&self, index: u32, on: bool) -> Result<()> {
        let msg = rtnetlink::LinkUnspec::new_with_index(index)
            .carrier(on)
            .build();
        self.rt
            .block_on(self.handle.link().set(msg).execute())
            .context("setting the carrier")
    }
}

/// The sysctls of a kernel interface: a router's interface, not a host's.
/// `ipv6` off: the kernel has no IPv6 (only the IPv4 ones are set).
const SYSCTLS: [(&str, &str); 11] = [
    // No SLAAC or default routes from RAs: routes come from the daemons.
    ("ipv6/conf/{}/accept_ra", "0"),
    ("ipv6/conf/{}/autoconf", "0"),
    ("ipv6/conf/{}/accept_redirects", "0"),
    // The router answers for these addresses already: no DAD, so no
    // tentative address that a stray NS or NA could mark dadfailed (a lab's
    // net_tap has the port's MAC, so its link-local, for a moment).
    ("ipv6/conf/{}/accept_dad", "0"),
    ("ipv6/conf/{}/dad_transmits", "0"),
    // Carrier down must not drop the IPv6 addresses (zebra would see them go).
    ("ipv6/conf/{}/keep_addr_on_down", "1"),
    // fe80:: from the MAC (EUI-64): the router answers on the same one.
    ("ipv6/conf/{}/addr_gen_mode", "0"),
    ("ipv4/conf/{}/accept_redirects", "0"),
    ("ipv4/conf/{}/send_redirects", "0"),
    // ARP only for the interface's own addresses, from them.
    ("ipv4/conf/{}/arp_ignore", "1"),
    ("ipv4/conf/{}/arp_announce", "2"),
];

fn set_sysctls(name: &str) -> Result<()> {
    let ipv6 = std::path::Path::new("/proc/sys/net/ipv6").exists();
    for (key, value) in SYSCTLS {
        if key.starts_with("ipv6") && !ipv6 {
            continue;
        }
        let path = format!("/proc/sys/net/{}", key.replace("{}", name));
        std::fs::write(&path, value).with_context(|| format!("writing {value} to {path}"))?;
    }
    Ok(())
}

/// One port's kernel interface.
pub struct KernelIf {
    /// Config port index (a device port's, or a VLAN sub-interface's).
    pub port: usize,
    /// The device port its frames leave by (`port` itself, or the trunk).
    pub device: usize,
    /// A VLAN sub-interface's VID (0: a device port's interface).
    pub vid: u16,
    /// Interface name (the port's).
    pub name: String,
    /// Its ifindex in the router's namespace.
    pub ifindex: u32,
    /// Frames and bytes each way.
    pub counters: Arc<KernelCounters>,
    pub(super) dev: tun::Device,
    pub(super) carrier: bool,
    /// The port's addresses, as the interface carries them.
    pub(super) addresses: Vec<(std::net::IpAddr, u8)>,
}

/// Creates the kernel interface of every port that has one
/// (`PortConfig::kernel_interface`); `macs[i]` is port i's MAC and
/// `carrier[i]` its effective link state now.
///
/// An interface of the same name left by an earlier run is a TAP nobody
/// holds (TAPs we create are not persistent, so this is rare): it is
/// deleted. One held by a live process, or that is not a TAP, is an error.
pub fn create(
    ports: &[PortConfig],
    vrfs: &[control::config::VrfConfig],
    macs: &[MacAddr],
    carrier: &[bool],
) -> Result<Vec<KernelIf>> {
    let nl = Netlink::new()?;
    let mut out = Vec::new();
    // Each VRF with a kernel interface in it is a Linux VRF device, so that
    // FRR's `vrf NAME` sees its interfaces. A kernel without VRF support
    // (CONFIG_NET_VRF unset) refuses the device: the VRF's interfaces then
    // stay in the kernel's default VRF, and routes learned on them must be
    // put in the VRF's table some other way (FPM's table, kernel-routes).
    let vrf_dev: Vec<Option<u32>> = vrfs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if !ports.iter().any(|p| p.kernel_interface && p.vrf as usize == i + 1) {
                return None;
            }
            match nl.vrf(&v.name, v.table) {
                Ok(ix) => Some(ix),
                Err(e) => {
                    tracing::warn!(vrf = %v.name, table = v.table, "no Linux VRF device for the VRF ({e:#}): its kernel interfaces stay in the kernel's default VRF");
                    None
                }
            }
        })
        .collect();
    for (i, p) in ports.iter().enumerate() {
        if !p.kernel_interface {
            continue;
        }
        // A VLAN sub-interface's is a TAP too, with its trunk's MAC and
        // link: the kernel thread takes the tag off what it writes to it and
        // puts it on what it reads (a kernel without 802.1Q support has no
        // VLAN devices; the TAP looks the same to FRR either way).
        let (dev_port, vid) = match p.vlan {
            Some(v) => (v.parent.index(), v.id),
            None => (i, 0),
        };
        let (Some(&mac), Some(&up)) = (macs.get(dev_port), carrier.get(dev_port)) else {
            continue;
        };
        let name = p.name.as_str();
        if let Some(old) = nl.ifindex(name)? {
            let tun_flags = std::path::Path::new("/sys/class/net")
                .join(name)
                .join("tun_flags");
            if !tun_flags.exists() {
                bail!("port '{name}': an interface named {name} exists and is not a TAP: rename it, or set kernel-interface: false on the port");
            }
            tracing::warn!(port = name, "deleting the stale kernel interface {name}");
            nl.delete(old)?;
        }
        let mut cfg = tun::Configuration::default();
        cfg.tun_name(name).layer(tun::Layer::L2).mtu(p.mtu);
        let dev = tun::Device::new(&cfg).with_context(|| {
            format!("port '{name}': creating its kernel interface (TAP) {name}")
        })?;
        dev.set_nonblock()
            .with_context(|| format!("port '{name}': making {name} non-blocking"))?;
        let ifindex = nl
            .ifindex(name)?
            .with_context(|| format!("port '{name}': the TAP {name} vanished"))?;
        set_sysctls(name).with_context(|| format!("port '{name}': kernel interface sysctls"))?;
        nl.setup(ifindex, mac, p.mtu as u32, up)
            .with_context(|| format!("port '{name}': setting up {name}"))?;
        // In its VRF before its addresses: their routes go to the VRF's table.
        if let Some(&Some(vrf)) = (p.vrf as usize).checked_sub(1).and_then(|v| vrf_dev.get(v)) {
            nl.enslave(ifindex, vrf)
                .with_context(|| format!("port '{name}': putting {name} in its VRF"))?;
        }
        for a in &p.addresses {
            nl.add_address(ifindex, a.addr, a.len)
                .with_context(|| format!("port '{name}': addresses of {name}"))?;
        }
        tracing::info!(port = name, ifindex, %mac, vid, "kernel interface up");
        out.push(KernelIf {
            port: i,
            device: dev_port,
            vid,
            name: name.to_owned(),
            ifindex,
            counters: Arc::default(),
            dev,
            carrier: up,
            addresses: p.addresses.iter().map(|a| (a.addr, a.len)).collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::root;

    fn ip_json(args: &[&str]) -> serde_json::Value {
        let out = std::process::Command::new("ip")
            .arg("-j")
            .args(args)
            .output()
            .expect("ip runs");
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// A port's kernel interface is a TAP named like the port, with its MAC,
    /// MTU, addresses and a router's sysctls; it goes with its handle.
    #[test]
    fn a_kernel_interface_has_the_ports_mac_mtu_and_addresses() {
        if !root() {
            eprintln!("skipped: creating a TAP needs root");
            return;
        }
        let name = format!("ecmpkt{}", std::process::id() % 100_000);
        let yaml = format!(
            "kernel-interfaces: true\nports:\n  - {{ name: {name}, device: net_null0, addresses: [10.77.0.1/24, fd77::1/64], mtu: 1400 }}\n"
        );
        let cfg = control::config::parse(&yaml, "t").expect("config");
        let mac = MacAddr([2, 0, 0, 0x77, 0, 1]);
        let ifs = create(&cfg.ports, &cfg.vrfs, &[mac], &[true]).expect("the TAP is created");
        assert_eq!(ifs.len(), 1);
        assert_eq!((ifs[0].port, ifs[0].name.as_str()), (0, name.as_str()));
        let link = &ip_json(&["link", "show", "dev", &name])[0];
        assert_eq!(link["address"], "02:00:00:77:00:01");
        assert_eq!(link["mtu"], 1400);
        assert_eq!(link["ifindex"], ifs[0].ifindex);
        let addrs: Vec<String> = ip_json(&["addr", "show", "dev", &name])[0]["addr_info"]
            .as_array()
            .expect("addresses")
            .iter()
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
            .collect();
        assert!(addrs.contains(&"10.77.0.1/24".to_owned()), "{addrs:?}");
        assert!(addrs.contains(&"fd77::1/64".to_owned()), "{addrs:?}");
        let sysctl =
            |k: &str| std::fs::read_to_string(format!("/proc/sys/net/{k}")).unwrap_or_default();
        assert_eq!(sysctl(&format!("ipv4/conf/{name}/arp_ignore")).trim(), "1");
        assert_eq!(sysctl(&format!("ipv6/conf/{name}/accept_ra")).trim(), "0");
        drop(ifs);
        assert!(
            ip_json(&["link", "show", "dev", &name]).is_null(),
            "the TAP is gone with its handle"
        );
    }
}
