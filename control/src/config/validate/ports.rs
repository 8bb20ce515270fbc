//! `ports:` and `tables:`.

use super::super::raw::{RawBond, RawConfig, RawMonitorLink, RawPort, RawVlan};
use super::super::{
    interface_name_problem, BondConfig, ConfigError, Ctx, IfAddr, MonitorLink, PortConfig, VlanOf,
    VrfConfig, XmitHashPolicy, DEFAULT_MTU, RESERVED_TABLES,
};
use dataplane::types::PortId;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

/// The ports, in order (a port's id is its index).
pub(super) fn ports(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    vrfs: &[VrfConfig],
) -> Result<Vec<PortConfig>, ConfigError> {
    if raw.ports.value.is_empty() {
        return Err(cx.err(
            raw.ports.referenced,
            "ports",
            "at least one port is required",
        ));
    }
    let mut ports = Vec::new();
    let mut names: HashMap<String, PortId> = HashMap::new();
    // Addresses are unique per VRF: the same one may be in two VRFs.
    let mut all_addrs: HashSet<(u8, IpAddr)> = HashSet::new();
    for (i, p) in raw.ports.value.iter().enumerate() {
        let k = |f: &str| format!("ports[{i}].{f}");
        let name = p.name.value.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(cx.err(
                p.name.referenced,
                k("name"),
                format!(
                    "'{}' is not a valid port name (letters, digits, '-', '_', '.')",
                    p.name.value
                ),
            ));
        }
        if names.insert(name.to_owned(), PortId(i as u16)).is_some() {
            return Err(cx.err(
                p.name.referenced,
                k("name"),
                format!("port '{name}' is defined twice"),
            ));
        }
        let (device, bond) = device(cx, i, p)?;
        let mtu = match &p.mtu {
            None => DEFAULT_MTU,
            Some(m) if (68..=9600).contains(&m.value) => m.value as u16,
            Some(m) => {
                return Err(cx.err(
                    m.referenced,
                    k("mtu"),
                    format!("{} is outside 68..=9600", m.value),
                ))
            }
        };
        let vrf = super::vrfs::vrf_ref(cx, vrfs, p.vrf.as_ref(), &k("vrf"))?;
        let addresses = addresses(
            cx,
            &p.addresses,
            &k("addresses"),
            (mtu, vrf),
            &mut all_addrs,
        )?;
        let monitor_link_setting = match p.monitor_link.as_ref() {
            None => MonitorLink::Auto,
            Some(m) => match &m.value {
                RawMonitorLink::Flag(true) => MonitorLink::On,
                RawMonitorLink::Flag(false) => MonitorLink::Off,
                RawMonitorLink::Word(w) if w == "auto" => MonitorLink::Auto,
                RawMonitorLink::Word(w) => {
                    return Err(cx.err(
                        m.referenced,
                        k("monitor-link"),
                        format!(
                            "'{w}' is not a monitor-link setting (expected true, false or auto)"
                        ),
                    ))
                }
            },
        };
        let kernel_interface = raw.kernel_interfaces.as_ref().is_some_and(|k| k.value)
            && p.kernel_interface.as_ref().is_none_or(|k| k.value);
        if kernel_interface {
            if let Some(why) = interface_name_problem(name) {
                return Err(cx.err(
                    p.name.referenced,
                    k("name"),
                    format!("'{name}' {why}: with kernel-interfaces the port's kernel interface has its name (or set kernel-interface: false on the port)"),
                ));
            }
            let iface = device
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix("iface="));
            if iface == Some(name) {
                return Err(cx.err(
                    p.device.as_ref().map_or(p.name.referenced, |d| d.referenced),
                    k("device"),
                    format!("the PMD's own interface is named '{name}' too (iface=): with kernel-interfaces, '{name}' is the router's kernel interface; give the PMD another iface= name"),
                ));
            }
        }
        ports.push(PortConfig {
            kernel_interface,
            name: name.to_owned(),
            monitor_link: monitor_link_setting.effective(&device),
            device,
            bond,
            vrf,
            addresses,
            mtu,
            monitor_link_setting,
            vlan: None,
        });
    }
    bond_members(cx, raw, &ports)?;
    // The VLAN sub-interfaces, after every device port.
    for (i, p) in raw.ports.value.iter().enumerate() {
        let mut ids = HashSet::new();
        for (j, v) in p.vlans.iter().enumerate() {
            let vlan = vlan(cx, (i, j), &v.value, (&ports[i], vrfs), &mut all_addrs)?;
            let id = vlan.vlan.map_or(0, |v| v.id);
            if !ids.insert(id) {
                return Err(cx.err(
                    v.value.id.referenced,
                    format!("ports[{i}].vlans[{j}].id"),
                    format!("VLAN {id} is defined twice on port '{}'", ports[i].name),
                ));
            }
            let pid = PortId(ports.len() as u16);
            if names.insert(vlan.name.clone(), pid).is_some() {
                let at = v
                    .value
                    .name
                    .as_ref()
                    .map_or(v.value.id.referenced, |n| n.referenced);
                return Err(cx.err(
                    at,
                    format!("ports[{i}].vlans[{j}].name"),
                    format!("interface '{}' is defined twice", vlan.name),
                ));
            }
            ports.push(vlan);
        }
    }
    if ports.len() > u16::MAX as usize / 2 {
        return Err(cx.err(raw.ports.referenced, "ports", "too many interfaces"));
    }
    Ok(ports)
}

/// Port `i`'s device: its `device:`, or the bonding PMD's devargs made
/// from its `bond:` (with the bond's config).
fn device(
    cx: &Ctx<'_>,
    i: usize,
    p: &RawPort,
) -> Result<(String, Option<BondConfig>), ConfigError> {
    let k = |f: &str| format!("ports[{i}].{f}");
    match (&p.device, &p.bond) {
        (Some(d), None) => {
            if d.value.trim().is_empty() {
                return Err(cx.err(d.referenced, k("device"), "device (DPDK devargs) is empty"));
            }
            Ok((d.value.trim().to_owned(), None))
        }
        (None, Some(b)) => {
            let bond = bond(cx, i, &b.value, b.referenced)?;
            // mode 4 is 802.3ad; the members by their device names.
            let mut dev = format!(
                "net_bonding_ecmp{i},mode=4,xmit_policy={}",
                bond.xmit_hash_policy.devarg()
            );
            for m in &bond.members {
                dev.push_str(",slave=");
                dev.push_str(device_name(m));
            }
            Ok((dev, Some(bond)))
        }
        (Some(d), Some(_)) => Err(cx.err(
            d.referenced,
            k("device"),
            "a bond port has no device of its own: the router builds it from bond.members (keep one of device and bond)",
        )),
        (None, None) => Err(cx.err(
            p.name.referenced,
            k("device"),
            "a port needs a device (DPDK devargs) or a bond",
        )),
    }
}

/// A device's name: its devargs' first field (`net_af_packet0`, a PCI address).
fn device_name(devargs: &str) -> &str {
    devargs.split(',').next().unwrap_or(devargs).trim()
}

/// `ports[i].bond`.
fn bond(
    cx: &Ctx<'_>,
    i: usize,
    b: &RawBond,
    at: serde_saphyr::Location,
) -> Result<BondConfig, ConfigError> {
    let k = |f: &str| format!("ports[{i}].bond.{f}");
    if let Some(m) = &b.mode {
        if m.value.trim() != "802.3ad" {
            return Err(cx.err(
                m.referenced,
                k("mode"),
                format!(
                    "'{}' is not supported: the bond mode is 802.3ad (LACP)",
                    m.value
                ),
            ));
        }
    }
    let xmit_hash_policy = match &b.xmit_hash_policy {
        None => XmitHashPolicy::default(),
        Some(x) => XmitHashPolicy::ALL
            .iter()
            .find(|(_, n)| *n == x.value.trim())
            .map(|(p, _)| *p)
            .ok_or_else(|| {
                cx.err(
                    x.referenced,
                    k("xmit-hash-policy"),
                    format!(
                        "'{}' is not a transmit hash policy (expected layer2, layer2+3 or layer3+4)",
                        x.value
                    ),
                )
            })?,
    };
    if b.members.is_empty() {
        return Err(cx.err(
            at,
            k("members"),
            "a bond needs at least one member (DPDK devargs)",
        ));
    }
    let mut members: Vec<String> = Vec::new();
    for (j, m) in b.members.iter().enumerate() {
        let dev = m.value.trim();
        let name = device_name(dev);
        if name.is_empty() {
            return Err(cx.err(
                m.referenced,
                format!("ports[{i}].bond.members[{j}]"),
                "a member's device (DPDK devargs) is empty",
            ));
        }
        if name.starts_with("net_bonding") {
            return Err(cx.err(
                m.referenced,
                format!("ports[{i}].bond.members[{j}]"),
                format!("'{name}' is a bond: a bond's members are devices"),
            ));
        }
        if members.iter().any(|o| device_name(o) == name) {
            return Err(cx.err(
                m.referenced,
                format!("ports[{i}].bond.members[{j}]"),
                format!("'{name}' is a member twice"),
            ));
        }
        members.push(dev.to_owned());
    }
    Ok(BondConfig {
        members,
        xmit_hash_policy,
    })
}

/// A device is a member of one bond at most, and a member is no port of its
/// own (no addresses, no VLANs): what it carries is the bond's. Members
/// are a `bond:`'s, and the `slave=` of a `net_bonding` device.
fn bond_members(cx: &Ctx<'_>, raw: &RawConfig, ports: &[PortConfig]) -> Result<(), ConfigError> {
    let mut member_of: HashMap<&str, usize> = HashMap::new();
    // The device ports only: a VLAN is on its port's device.
    let devices = ports.iter().take_while(|p| p.vlan.is_none());
    for (i, p) in devices.clone().enumerate() {
        if !device_name(&p.device).starts_with("net_bonding") {
            continue;
        }
        for m in p
            .device
            .split(',')
            .filter_map(|kv| kv.trim().strip_prefix("slave="))
        {
            if let Some(&o) = member_of.get(m) {
                if o != i {
                    let rp = &raw.ports.value[i];
                    let at = rp
                        .bond
                        .as_ref()
                        .map(|b| b.referenced)
                        .or(rp.device.as_ref().map(|d| d.referenced))
                        .unwrap_or(rp.name.referenced);
                    return Err(cx.err(
                        at,
                        format!("ports[{i}]"),
                        format!(
                            "'{m}' is a member of bond port '{}' already: a device is in one bond at most",
                            ports[o].name
                        ),
                    ));
                }
            }
            member_of.insert(m, i);
        }
    }
    for (i, p) in devices.enumerate() {
        let Some(&b) = member_of.get(device_name(&p.device)) else {
            continue;
        };
        let rp = &raw.ports.value[i];
        let at = rp
            .device
            .as_ref()
            .map_or(rp.name.referenced, |d| d.referenced);
        if let Some(v) = rp.vlans.first() {
            return Err(cx.err(
                v.value.id.referenced,
                format!("ports[{i}].vlans[0]"),
                format!(
                    "a VLAN on a bond member: '{}' is a member of bond port '{}', and a member carries no traffic of its own; put the VLAN on '{}'",
                    device_name(&p.device),
                    ports[b].name,
                    ports[b].name
                ),
            ));
        }
        return Err(cx.err(
            at,
            format!("ports[{i}].device"),
            format!(
                "'{}' is a member of bond port '{}': a member is no port of its own; put its addresses on '{}'",
                device_name(&p.device),
                ports[b].name,
                ports[b].name
            ),
        ));
    }
    Ok(())
}

/// `ports[i].vlans[j]` of `parent` (port `i`): an interface like a port,
/// on the parent's device, with its kernel interface and link state.
fn vlan(
    cx: &Ctx<'_>,
    (i, j): (usize, usize),
    v: &RawVlan,
    (parent, vrfs): (&PortConfig, &[VrfConfig]),
    all_addrs: &mut HashSet<(u8, IpAddr)>,
) -> Result<PortConfig, ConfigError> {
    let k = |f: &str| format!("ports[{i}].vlans[{j}].{f}");
    let id = match u16::try_from(v.id.value) {
        Ok(id) if (1..=4094).contains(&id) => id,
        _ => {
            return Err(cx.err(
                v.id.referenced,
                k("id"),
                format!(
                    "{} is outside 1..=4094 (0 is priority tagging, 4095 is reserved)",
                    v.id.value
                ),
            ))
        }
    };
    let name = match &v.name {
        None => format!("{}.{id}", parent.name),
        Some(n) => {
            let name = n.value.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                return Err(cx.err(
                    n.referenced,
                    k("name"),
                    format!(
                        "'{}' is not a valid interface name (letters, digits, '-', '_', '.')",
                        n.value
                    ),
                ));
            }
            name.to_owned()
        }
    };
    if parent.kernel_interface {
        if let Some(why) = interface_name_problem(&name) {
            let at = v.name.as_ref().map_or(v.id.referenced, |n| n.referenced);
            return Err(cx.err(
                at,
                k("name"),
                format!("'{name}' {why}: with kernel-interfaces the VLAN's kernel interface has its name (give it a shorter name:)"),
            ));
        }
    }
    let mtu = match &v.mtu {
        None => parent.mtu,
        Some(m) if (68..=parent.mtu as u32).contains(&m.value) => m.value as u16,
        Some(m) => {
            return Err(cx.err(
                m.referenced,
                k("mtu"),
                format!(
                    "{} is outside 68..={} (a VLAN's MTU is at most its port's)",
                    m.value, parent.mtu
                ),
            ))
        }
    };
    // A VLAN is in the default VRF unless it says otherwise (Linux's
    // VLAN device is not in its parent's VRF either).
    let vrf = super::vrfs::vrf_ref(cx, vrfs, v.vrf.as_ref(), &k("vrf"))?;
    let addresses = addresses(cx, &v.addresses, &k("addresses"), (mtu, vrf), all_addrs)?;
    Ok(PortConfig {
        vrf,
        name,
        device: parent.device.clone(),
        bond: None,
        addresses,
        mtu,
        monitor_link_setting: parent.monitor_link_setting,
        monitor_link: parent.monitor_link,
        kernel_interface: parent.kernel_interface,
        vlan: Some(VlanOf {
            parent: PortId(i as u16),
            id,
        }),
    })
}

/// An interface's `addresses` (at `key`): each unique across the router,
/// IPv6 only with an MTU of 1280 or more.
fn addresses(
    cx: &Ctx<'_>,
    list: &[Spanned<String>],
    key: &str,
    (mtu, vrf): (u16, u8),
    all_addrs: &mut HashSet<(u8, IpAddr)>,
) -> Result<Vec<IfAddr>, ConfigError> {
    let mut addresses = Vec::new();
    for (j, a) in list.iter().enumerate() {
        let at = format!("{key}[{j}]");
        let Some(ia) = parse_ifaddr(&a.value) else {
            return Err(cx.err(
                a.referenced,
                at,
                format!(
                    "'{}' is not an interface address like 10.0.0.1/24 or fd00::1/64",
                    a.value
                ),
            ));
        };
        if !all_addrs.insert((vrf, ia.addr)) {
            return Err(cx.err(
                a.referenced,
                at,
                format!(
                    "address {} is already used{}",
                    ia.addr,
                    if vrf == 0 { "" } else { " in this VRF" }
                ),
            ));
        }
        if ia.addr.is_ipv6() && mtu < 1280 {
            return Err(cx.err(
                a.referenced,
                at,
                format!("IPv6 needs an MTU of at least 1280, the interface has {mtu}"),
            ));
        }
        addresses.push(ia);
    }
    Ok(addresses)
}

/// `tables:`, with iproute2's reserved names and ids refused.
pub(super) fn tables(
    cx: &Ctx<'_>,
    raw: &BTreeMap<String, Spanned<u32>>,
) -> Result<BTreeMap<String, u32>, ConfigError> {
    let mut tables = BTreeMap::new();
    for (name, id) in raw {
        let key = format!("tables.{name}");
        // iproute2's reserved names and ids (rt_tables): ecmpctl and
        // operators read them as `ip route show table ...` does.
        if RESERVED_TABLES.iter().any(|(n, _)| n == name)
            || name.is_empty()
            || name.parse::<u32>().is_ok()
        {
            return Err(cx.err(
                id.referenced,
                key,
                format!("'{name}' cannot name a table (main 254, default 253, local 255 and all are iproute2's; a name is not a number)"),
            ));
        }
        if id.value == 0 {
            return Err(cx.err(id.referenced, key, "table ids are 1 or more"));
        }
        if let Some((n, _)) = RESERVED_TABLES.iter().find(|(_, v)| *v == id.value) {
            return Err(cx.err(
                id.referenced,
                key,
                format!("{}: that id is iproute2's table '{n}'", id.value),
            ));
        }
        if let Some((other, _)) = tables.iter().find(|(_, &v)| v == id.value) {
            return Err(cx.err(
                id.referenced,
                key,
                format!("id {} is also table '{other}'", id.value),
            ));
        }
        tables.insert(name.clone(), id.value);
    }
    Ok(tables)
}

fn parse_ifaddr(s: &str) -> Option<IfAddr> {
    let (a, l) = s.split_once('/')?;
    let addr: IpAddr = a.parse().ok()?;
    let len: u8 = l.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max && !addr.is_unspecified() && !addr.is_multicast() && !addr.is_loopback())
        .then_some(IfAddr { addr, len })
}
