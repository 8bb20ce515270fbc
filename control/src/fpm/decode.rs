//! FPM frames and the netlink messages in them.

use dataplane::types::Prefix;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// FPM header length.
pub const HEADER_LEN: usize = 4;
/// Largest frame accepted (the u16 length allows 65535).
pub const MAX_FRAME: usize = 65535;

pub(super) const RTM_NEWROUTE: u16 = 24;
pub(super) const RTM_DELROUTE: u16 = 25;
pub(super) const RTM_NEWNEXTHOP: u16 = 104;
pub(super) const RTM_DELNEXTHOP: u16 = 105;

pub(super) const RTA_DST: u16 = 1;
pub(super) const RTA_OIF: u16 = 4;
pub(super) const RTA_GATEWAY: u16 = 5;
pub(super) const RTA_PRIORITY: u16 = 6;
pub(super) const RTA_MULTIPATH: u16 = 9;
pub(super) const RTA_TABLE: u16 = 15;
pub(super) const RTA_VIA: u16 = 18;
pub(super) const RTA_NH_ID: u16 = 30;

pub(super) const NHA_ID: u16 = 1;
pub(super) const NHA_GROUP: u16 = 2;
pub(super) const NHA_BLACKHOLE: u16 = 4;
pub(super) const NHA_OIF: u16 = 5;
pub(super) const NHA_GATEWAY: u16 = 6;

pub(super) const RTN_UNICAST: u8 = 1;
pub(super) const RTN_BLACKHOLE: u8 = 6;
pub(super) const RTN_UNREACHABLE: u8 = 7;
pub(super) const RTN_PROHIBIT: u8 = 8;
pub(super) const AF_INET: u8 = 2;
pub(super) const AF_INET6: u8 = 10;

/// Why a frame was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// FPM version or type other than 1 / 1 (netlink).
    #[error("FPM header: version {0} type {1} (expected 1 and 1)")]
    BadHeader(u8, u8),
    /// Length field shorter than the header.
    #[error("FPM length {0} is shorter than its header")]
    BadLength(usize),
    /// The netlink message does not fit its frame.
    #[error("netlink message truncated ({0})")]
    Truncated(&'static str),
    /// An attribute is malformed.
    #[error("netlink attribute {0}: {1}")]
    BadAttr(u16, &'static str),
    /// An address family other than IPv4/IPv6.
    #[error("address family {0} is not IPv4 or IPv6")]
    BadFamily(u8),
}

/// One path of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// Gateway, if any.
    pub gateway: Option<IpAddr>,
    /// FRR's interface index (informational).
    pub ifindex: u32,
    /// Weight, 1..=256.
    pub weight: u32,
}

/// What a route points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Inline paths (RTA_GATEWAY or RTA_MULTIPATH).
    Paths(Vec<Path>),
    /// A nexthop object (RTA_NH_ID).
    NexthopId(u32),
    /// Not unicast (blackhole, unreachable, prohibit...): the route type.
    Special(u8),
}

/// A nexthop object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nexthop {
    /// One gateway.
    Single(Path),
    /// A group of other objects: (id, weight).
    Group(Vec<(u32, u32)>),
    /// Blackhole.
    Blackhole,
}

/// A decoded FPM message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// RTM_NEWROUTE (`Some`) or RTM_DELROUTE (`None`).
    Route {
        /// Kernel table id.
        table: u32,
        /// Destination.
        prefix: Prefix,
        /// Metric.
        priority: u32,
        /// `rtm_protocol` (186 = bgp, ...).
        protocol: u8,
        /// New target, or `None` for a delete.
        target: Option<Target>,
    },
    /// RTM_NEWNEXTHOP (`Some`) or RTM_DELNEXTHOP (`None`).
    Nexthop {
        /// Object id.
        id: u32,
        /// The object, or `None` for a delete.
        nexthop: Option<Nexthop>,
    },
    /// A netlink type the router does not use.
    Ignored(u16),
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Iterates rtattrs in `b`: (type, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), Error>> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16le(b, 0)? as usize;
        let kind = u16le(b, 2)? & 0x3fff; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
        if len < 4 || len > b.len() {
            b = &[];
            return Some(Err(Error::BadAttr(kind, "length runs past the message")));
        }
        let payload = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some(Ok((kind, payload)))
    })
}

fn addr(family: u8, p: &[u8], kind: u16) -> Result<IpAddr, Error> {
    match (family, p.len()) {
        (AF_INET, 4) => Ok(IpAddr::V4(Ipv4Addr::new(p[0], p[1], p[2], p[3]))),
        (AF_INET6, 16) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(p);
            Ok(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => Err(Error::BadAttr(
            kind,
            "address of the wrong length for its family",
        )),
    }
}

/// RTA_VIA: `struct rtvia { u16 family; u8 addr[]; }` (a gateway of another
/// family: an IPv4 route via an IPv6 nexthop, RFC 5549, as BIRD and `ip route` send it).
fn via(p: &[u8]) -> Result<IpAddr, Error> {
    let family = u16le(p, 0).ok_or(Error::BadAttr(RTA_VIA, "shorter than its family"))?;
    let family =
        u8::try_from(family).map_err(|_| Error::BadAttr(RTA_VIA, "family out of range"))?;
    addr(family, &p[2..], RTA_VIA)
}

fn u32_attr(p: &[u8], kind: u16) -> Result<u32, Error> {
    if p.len() != 4 {
        return Err(Error::BadAttr(kind, "expected 4 bytes"));
    }
    Ok(u32le(p, 0).unwrap_or(0))
}

/// Splits a byte stream into FPM frames: returns the netlink payload of the
/// first complete frame and the bytes it used, `Ok(None)` when more bytes are needed.
///
/// # Errors
/// [`Error::BadHeader`] or [`Error::BadLength`].
pub fn frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, Error> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[0] != 1 || buf[1] != 1 {
        return Err(Error::BadHeader(buf[0], buf[1]));
    }
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    if len < HEADER_LEN {
        return Err(Error::BadLength(len));
    }
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some((&buf[HEADER_LEN..len], len)))
}

/// Decodes every netlink message of one FPM frame. zebra packs several into a
/// frame (a route update is an RTM_DELROUTE followed by an RTM_NEWROUTE). The
/// whole frame is decoded before anything is returned, so a malformed message
/// means nothing of its frame is applied.
///
/// # Errors
/// An [`Error`] naming what is malformed.
pub fn decode_frame(mut nl: &[u8]) -> Result<Vec<Message>, Error> {
    let mut out = Vec::new();
    while !nl.is_empty() {
        let len = u32le(nl, 0).ok_or(Error::Truncated("nlmsghdr"))? as usize;
        if len < 16 || len > nl.len() {
            return Err(Error::Truncated("nlmsg_len"));
        }
        out.push(decode(&nl[..len])?);
        nl = &nl[((len + 3) & !3).min(nl.len())..];
    }
    Ok(out)
}

/// Decodes one netlink message.
///
/// # Errors
/// An [`Error`] naming what is malformed.
pub fn decode(nl: &[u8]) -> Result<Message, Error> {
    let len = u32le(nl, 0).ok_or(Error::Truncated("nlmsghdr"))? as usize;
    if len < 16 || len > nl.len() {
        return Err(Error::Truncated("nlmsg_len"));
    }
    let kind = u16le(nl, 4).unwrap_or(0);
    let body = &nl[16..len];
    match kind {
        RTM_NEWROUTE | RTM_DELROUTE => decode_route(body, kind == RTM_DELROUTE),
        RTM_NEWNEXTHOP | RTM_DELNEXTHOP => decode_nexthop(body, kind == RTM_DELNEXTHOP),
        other => Ok(Message::Ignored(other)),
    }
}

fn decode_route(b: &[u8], del: bool) -> Result<Message, Error> {
    if b.len() < 12 {
        return Err(Error::Truncated("rtmsg"));
    }
    let (family, dst_len, table8, protocol, rtype) = (b[0], b[1], b[4], b[5], b[7]);
    if family != AF_INET && family != AF_INET6 {
        return Err(Error::BadFamily(family));
    }
    let mut dst = None;
    let mut table = table8 as u32;
    let mut priority = 0;
    let mut gateway = None;
    let mut oif = 0;
    let mut multipath = None;
    let mut nh_id = None;
    for a in attrs(&b[12..]) {
        let (k, p) = a?;
        match k {
            RTA_DST => dst = Some(addr(family, p, k)?),
            RTA_GATEWAY => gateway = Some(addr(family, p, k)?),
            RTA_VIA => gateway = Some(via(p)?),
            RTA_OIF => oif = u32_attr(p, k)?,
            RTA_PRIORITY => priority = u32_attr(p, k)?,
            RTA_TABLE => table = u32_attr(p, k)?,
            RTA_NH_ID => nh_id = Some(u32_attr(p, k)?),
            RTA_MULTIPATH => {
                let mut paths = Vec::new();
                let mut rest = p;
                while rest.len() >= 8 {
                    let l = u16le(rest, 0).unwrap_or(0) as usize;
                    if l < 8 || l > rest.len() {
                        return Err(Error::BadAttr(
                            k,
                            "rtnexthop length runs past the attribute",
                        ));
                    }
                    let hops = rest[3] as u32;
                    let ifindex = u32le(rest, 4).unwrap_or(0);
                    let mut gw = None;
                    for a in attrs(&rest[8..l]) {
                        let (k2, p2) = a?;
                        if k2 == RTA_GATEWAY {
                            gw = Some(addr(family, p2, k2)?);
                        } else if k2 == RTA_VIA {
                            gw = Some(via(p2)?);
                        }
                    }
                    paths.push(Path {
                        gateway: gw,
                        ifindex,
                        weight: hops + 1,
                    });
                    rest = &rest[((l + 3) & !3).min(rest.len())..];
                }
                multipath = Some(paths);
            }
            _ => {}
        }
    }
    let unspecified = if family == AF_INET {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let prefix = Prefix::new(dst.unwrap_or(unspecified), dst_len)
        .map_err(|_| Error::BadAttr(RTA_DST, "prefix length or host bits"))?;
    let target = if del {
        None
    } else if rtype != RTN_UNICAST {
        Some(Target::Special(rtype))
    } else if let Some(id) = nh_id {
        Some(Target::NexthopId(id))
    } else if let Some(paths) = multipath {
        Some(Target::Paths(paths))
    } else {
        Some(Target::Paths(vec![Path {
            gateway,
            ifindex: oif,
            weight: 1,
        }]))
    };
    Ok(Message::Route {
        table,
        prefix,
        priority,
        protocol,
        target,
    })
}

fn decode_nexthop(b: &[u8], del: bool) -> Result<Message, Error> {
    if b.len() < 8 {
        return Err(Error::Truncated("nhmsg"));
    }
    let family = b[0];
    let mut id = None;
    let mut gateway = None;
    let mut oif = 0;
    let mut group = None;
    let mut blackhole = false;
    for a in attrs(&b[8..]) {
        let (k, p) = a?;
        match k {
            NHA_ID => id = Some(u32_attr(p, k)?),
            NHA_GATEWAY => gateway = Some(addr(family, p, k)?),
            NHA_OIF => oif = u32_attr(p, k)?,
            NHA_BLACKHOLE => blackhole = true,
            NHA_GROUP => {
                if p.len() % 8 != 0 {
                    return Err(Error::BadAttr(k, "group entries are 8 bytes each"));
                }
                group = Some(
                    p.chunks_exact(8)
                        .map(|c| (u32le(c, 0).unwrap_or(0), c[4] as u32 + 1))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    let id = id.ok_or(Error::BadAttr(NHA_ID, "missing"))?;
    let nexthop = if del {
        None
    } else if let Some(g) = group {
        Some(Nexthop::Group(g))
    } else if blackhole {
        Some(Nexthop::Blackhole)
    } else {
        Some(Nexthop::Single(Path {
            gateway,
            ifindex: oif,
            weight: 1,
        }))
    };
    Ok(Message::Nexthop { id, nexthop })
}
