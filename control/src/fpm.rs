//! The FPM protocol (FRR's Forwarding Plane Manager) as zebra's
//! `dplane_fpm_nl` module speaks it: a 4-byte header (version 1, type 1 =
//! netlink, big-endian u16 length including the header) and one netlink
//! message per frame (RFC 3549 framing, `rtnetlink(7)` bodies).
//!
//! Decoded: RTM_NEWROUTE / RTM_DELROUTE for IPv4 and IPv6 (RTA_DST,
//! RTA_GATEWAY, RTA_OIF, RTA_MULTIPATH with weight = rtnh_hops + 1,
//! RTA_TABLE, RTA_PRIORITY, RTA_NH_ID) and RTM_NEWNEXTHOP / RTM_DELNEXTHOP
//! (NHA_ID, NHA_GATEWAY, NHA_OIF, NHA_GROUP with weight = weight + 1,
//! NHA_BLACKHOLE). Everything else is skipped and counted.
//!
//! Netlink is host-endian (little-endian here). Decoding never panics and
//! never allocates more than the frame holds: a malformed frame is an
//! [`Error`], and the server resets the connection without applying it.
//!
//! Interfaces: FRR runs in its own namespace, with its own ifindexes, so the
//! router does not use RTA_OIF. A gateway maps to the router port whose subnet
//! holds it (see [`Session::resolve`]).

use dataplane::types::Prefix;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// FPM header length.
pub const HEADER_LEN: usize = 4;
/// Largest frame accepted (the u16 length allows 65535).
pub const MAX_FRAME: usize = 65535;

const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWNEXTHOP: u16 = 104;
const RTM_DELNEXTHOP: u16 = 105;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
const RTA_NH_ID: u16 = 30;

const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_BLACKHOLE: u16 = 4;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;

const RTN_UNICAST: u8 = 1;
const RTN_BLACKHOLE: u8 = 6;
const RTN_UNREACHABLE: u8 = 7;
const RTN_PROHIBIT: u8 = 8;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

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

/// A route as the session resolved it: paths with gateways, a nexthop
/// object, a reject route, or withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Table and prefix.
    pub key: (u32, Prefix),
    /// The paths of inline routes; empty (with no `reject` and no
    /// `object`) means withdraw.
    pub members: Vec<Hop>,
    /// A blackhole, unreachable or prohibit route (an RTN_* type).
    pub reject: Option<crate::config::Reject>,
    /// Set when the session holds the route but its type cannot be installed
    /// (RTN_LOCAL, RTN_BROADCAST, ...): the `rtm_type`.
    pub unsupported_type: Option<u8>,
    /// The nexthop object the route uses (RTA_NH_ID): its resolution comes
    /// as an [`Object`] change and is shared by every route that uses it.
    pub object: Option<u32>,
    /// `rtm_protocol`.
    pub protocol: u8,
    /// `RTA_PRIORITY`.
    pub metric: u32,
}

impl Resolved {
    /// `key` withdrawn (or, with `members` set, a plain unicast route).
    pub fn withdrawn(key: (u32, Prefix)) -> Resolved {
        Resolved {
            key,
            members: Vec::new(),
            reject: None,
            unsupported_type: None,
            object: None,
            protocol: 0,
            metric: 0,
        }
    }
}

/// One path of a resolved route or object: a gateway (none: a device route,
/// `dev X` with no gateway), the interface FRR named (RTA_OIF / NHA_OIF, 0
/// when absent), and a weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    /// Gateway.
    pub via: Option<IpAddr>,
    /// FRR's ifindex: with kernel interfaces, the router's own interface.
    pub ifindex: u32,
    /// Weight.
    pub weight: u32,
}

impl From<(IpAddr, u32)> for Hop {
    fn from((via, weight): (IpAddr, u32)) -> Hop {
        Hop {
            via: Some(via),
            ifindex: 0,
            weight,
        }
    }
}

impl PartialEq<(IpAddr, u32)> for Hop {
    fn eq(&self, o: &(IpAddr, u32)) -> bool {
        self.via == Some(o.0) && self.weight == o.1
    }
}

/// A nexthop object as the session resolved it: the gateways of a single
/// nexthop or of a group's members, a blackhole, or deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// The object's id (NHA_ID).
    pub id: u32,
    /// Its paths. A single nexthop has one, of weight 1.
    pub members: Vec<Hop>,
    /// A blackhole object.
    pub blackhole: bool,
    /// False when the object was deleted.
    pub exists: bool,
}

/// One change an FPM session hands the control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A route's resolution changed.
    Route(Resolved),
    /// A nexthop object changed: one update for all the routes that use it.
    Object(Object),
}

impl From<Resolved> for Change {
    fn from(r: Resolved) -> Change {
        Change::Route(r)
    }
}

/// How much one session may hold (`fpm.max-routes`, `fpm.max-nexthops`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Routes.
    pub routes: usize,
    /// Nexthop objects.
    pub nexthops: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            routes: usize::MAX,
            nexthops: usize::MAX,
        }
    }
}

/// Why a well-formed message was not applied. The session goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A new route past `fpm.max-routes`.
    #[error("route limit (fpm.max-routes) reached")]
    RouteLimit,
    /// A new nexthop object past `fpm.max-nexthops`.
    #[error("nexthop object limit (fpm.max-nexthops) reached")]
    NexthopLimit,
}

/// A route as the session holds it.
#[derive(Debug, Clone)]
struct Held {
    target: Target,
    protocol: u8,
    metric: u32,
}

/// One FPM session's state: nexthop objects and the routes that use them.
#[derive(Debug, Default)]
pub struct Session {
    nexthops: HashMap<u32, Nexthop>,
    routes: BTreeMap<(u32, Prefix), Held>,
    limits: Limits,
}

impl Session {
    /// A session bounded by `limits`.
    pub fn with_limits(limits: Limits) -> Session {
        Session {
            limits,
            ..Session::default()
        }
    }

    /// Applies a message; returns what changed. A route message changes
    /// that route; a nexthop message changes that object and the groups that
    /// hold it, never the routes that use them (their number does not matter).
    ///
    /// # Errors
    /// [`Refused`] when a new route or nexthop object is past its limit; the
    /// message changes nothing (an update of an existing one is applied).
    pub fn apply(&mut self, m: Message) -> Result<Vec<Change>, Refused> {
        Ok(match m {
            Message::Ignored(_) => Vec::new(),
            Message::Route {
                table,
                prefix,
                target,
                priority,
                protocol,
            } => {
                let key = (table, prefix);
                match target {
                    Some(target) => {
                        if self.routes.len() >= self.limits.routes
                            && !self.routes.contains_key(&key)
                        {
                            return Err(Refused::RouteLimit);
                        }
                        self.routes.insert(
                            key,
                            Held {
                                target,
                                protocol,
                                metric: priority,
                            },
                        );
                    }
                    None => {
                        self.routes.remove(&key);
                    }
                }
                vec![Change::Route(self.resolve(key))]
            }
            Message::Nexthop { id, nexthop } => {
                match nexthop {
                    Some(n) => {
                        if self.nexthops.len() >= self.limits.nexthops
                            && !self.nexthops.contains_key(&id)
                        {
                            return Err(Refused::NexthopLimit);
                        }
                        self.nexthops.insert(id, n)
                    }
                    None => self.nexthops.remove(&id),
                };
                // The object and every group that holds it: the routes follow
                // through the control plane's group, whatever their number.
                let mut ids: Vec<u32> = self
                    .nexthops
                    .iter()
                    .filter(|(_, n)| matches!(n, Nexthop::Group(g) if g.iter().any(|m| m.0 == id)))
                    .map(|(g, _)| *g)
                    .collect();
                ids.sort_unstable();
                std::iter::once(id)
                    .chain(ids)
                    .map(|i| Change::Object(self.object(i)))
                    .collect()
            }
        })
    }

    /// A nexthop object's paths.
    pub fn object(&self, id: u32) -> Object {
        let single = |p: &Path| {
            Some(Hop {
                via: p.gateway,
                ifindex: p.ifindex,
                weight: p.weight,
            })
        };
        let n = self.nexthops.get(&id);
        Object {
            id,
            members: match n {
                Some(Nexthop::Single(p)) => single(p).into_iter().collect(),
                Some(Nexthop::Group(g)) => g
                    .iter()
                    .filter_map(|(m, w)| match self.nexthops.get(m) {
                        Some(Nexthop::Single(p)) => Some(Hop {
                            via: p.gateway,
                            ifindex: p.ifindex,
                            weight: *w,
                        }),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            },
            blackhole: matches!(n, Some(Nexthop::Blackhole)),
            exists: n.is_some(),
        }
    }

    /// The paths of a route (empty: withdrawn, special, or an object's).
    pub fn resolve(&self, key: (u32, Prefix)) -> Resolved {
        use crate::config::Reject;
        let single = |p: &Path| {
            Some(Hop {
                via: p.gateway,
                ifindex: p.ifindex,
                weight: p.weight,
            })
        };
        let Some(held) = self.routes.get(&key) else {
            return Resolved::withdrawn(key);
        };
        let mut out = Resolved {
            protocol: held.protocol,
            metric: held.metric,
            ..Resolved::withdrawn(key)
        };
        out.members = match &held.target {
            Target::Special(RTN_BLACKHOLE) => {
                out.reject = Some(Reject::Blackhole);
                Vec::new()
            }
            Target::Special(RTN_UNREACHABLE) => {
                out.reject = Some(Reject::Unreachable);
                Vec::new()
            }
            Target::Special(RTN_PROHIBIT) => {
                out.reject = Some(Reject::Prohibit);
                Vec::new()
            }
            Target::Special(t) => {
                out.unsupported_type = Some(*t);
                Vec::new()
            }
            Target::Paths(ps) => ps.iter().filter_map(single).collect(),
            Target::NexthopId(id) => {
                out.object = Some(*id);
                Vec::new()
            }
        };
        out
    }

    /// Every object and route the session holds, resolved: objects first.
    pub fn all(&self) -> Vec<Change> {
        let mut ids: Vec<u32> = self.nexthops.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .map(|i| Change::Object(self.object(i)))
            .chain(self.routes.keys().map(|k| Change::Route(self.resolve(*k))))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds netlink messages the way zebra's dplane_fpm_nl does.
    pub struct Nl(Vec<u8>);

    impl Nl {
        pub fn new(kind: u16) -> Nl {
            let mut v = vec![0u8; 16];
            v[4..6].copy_from_slice(&kind.to_le_bytes());
            Nl(v)
        }
        pub fn raw(mut self, b: &[u8]) -> Nl {
            self.0.extend_from_slice(b);
            self
        }
        pub fn attr(mut self, kind: u16, p: &[u8]) -> Nl {
            self.0
                .extend_from_slice(&((4 + p.len()) as u16).to_le_bytes());
            self.0.extend_from_slice(&kind.to_le_bytes());
            self.0.extend_from_slice(p);
            while !self.0.len().is_multiple_of(4) {
                self.0.push(0);
            }
            self
        }
        /// The whole FPM frame.
        pub fn fpm(mut self) -> Vec<u8> {
            let n = self.0.len() as u32;
            self.0[0..4].copy_from_slice(&n.to_le_bytes());
            let mut f = vec![1u8, 1];
            f.extend_from_slice(&((n as usize + 4) as u16).to_be_bytes());
            f.extend_from_slice(&self.0);
            f
        }
    }

    pub fn rtmsg(family: u8, dst_len: u8, rtype: u8) -> [u8; 12] {
        [family, dst_len, 0, 0, 254, 196, 0, rtype, 0, 0, 0, 0]
    }

    /// The route changes among `c`.
    fn routes(c: Vec<Change>) -> Vec<Resolved> {
        c.into_iter()
            .filter_map(|c| match c {
                Change::Route(r) => Some(r),
                Change::Object(_) => None,
            })
            .collect()
    }

    fn one(f: &[u8]) -> Message {
        let (nl, used) = frame(f).unwrap().unwrap();
        assert_eq!(used, f.len());
        decode(nl).unwrap()
    }

    #[test]
    fn multipath_route() {
        let mut mp = Vec::new();
        for (gw, hops) in [([10u8, 1, 0, 2], 0u8), ([10, 2, 0, 2], 1)] {
            mp.extend_from_slice(&16u16.to_le_bytes());
            mp.extend_from_slice(&[0, hops]);
            mp.extend_from_slice(&7u32.to_le_bytes());
            mp.extend_from_slice(&8u16.to_le_bytes());
            mp.extend_from_slice(&RTA_GATEWAY.to_le_bytes());
            mp.extend_from_slice(&gw);
        }
        let f = Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
            .attr(RTA_TABLE, &254u32.to_le_bytes())
            .attr(RTA_DST, &[198, 51, 100, 0])
            .attr(RTA_PRIORITY, &20u32.to_le_bytes())
            .attr(RTA_MULTIPATH, &mp)
            .fpm();
        let m = one(&f);
        let Message::Route {
            table,
            prefix,
            priority,
            target: Some(Target::Paths(p)),
            ..
        } = m.clone()
        else {
            panic!("{m:?}")
        };
        assert_eq!(
            (table, prefix.to_string(), priority),
            (254, "198.51.100.0/24".to_owned(), 20)
        );
        assert_eq!(
            p.iter()
                .map(|x| (x.gateway.unwrap().to_string(), x.weight))
                .collect::<Vec<_>>(),
            [("10.1.0.2".into(), 1), ("10.2.0.2".into(), 2)]
        );
        let mut s = Session::default();
        let r = routes(s.apply(m).unwrap());
        assert_eq!(r[0].members.len(), 2);
    }

    #[test]
    fn route_types_protocol_metric_and_rta_via() {
        use crate::config::Reject;
        let mut s = Session::default();
        let typed = |rtype: u8, o: u8| {
            let mut rtm = rtmsg(AF_INET, 24, rtype);
            rtm[5] = 186; // RTPROT_BGP
            Nl::new(RTM_NEWROUTE)
                .raw(&rtm)
                .attr(RTA_DST, &[192, 0, o, 0])
                .attr(RTA_PRIORITY, &20u32.to_le_bytes())
                .fpm()
        };
        for (rtype, o, want) in [
            (RTN_BLACKHOLE, 1, Reject::Blackhole),
            (RTN_UNREACHABLE, 2, Reject::Unreachable),
            (RTN_PROHIBIT, 3, Reject::Prohibit),
        ] {
            let r = routes(s.apply(one(&typed(rtype, o))).unwrap());
            assert_eq!(
                (r[0].reject, r[0].protocol, r[0].metric),
                (Some(want), 186, 20)
            );
            assert!(r[0].members.is_empty());
        }
        // RTN_LOCAL (2): held, not installable, with its type.
        let r = routes(s.apply(one(&typed(2, 4))).unwrap());
        assert_eq!((r[0].reject, r[0].unsupported_type), (None, Some(2)));
        // RTA_VIA: an IPv4 route through an IPv6 gateway.
        let mut v = 10u16.to_le_bytes().to_vec();
        v.extend_from_slice(&"fd01::2".parse::<Ipv6Addr>().unwrap().octets());
        let f = Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
            .attr(RTA_DST, &[198, 51, 100, 0])
            .attr(RTA_VIA, &v)
            .fpm();
        let r = routes(s.apply(one(&f)).unwrap());
        assert_eq!(r[0].members, [("fd01::2".parse::<IpAddr>().unwrap(), 1)]);
        assert_eq!(r[0].protocol, 196);
        // A truncated RTA_VIA is an error naming it.
        let f = Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
            .attr(RTA_DST, &[198, 51, 100, 0])
            .attr(RTA_VIA, &[10])
            .fpm();
        let (nl, _) = frame(&f).unwrap().unwrap();
        assert!(matches!(decode(nl), Err(Error::BadAttr(RTA_VIA, _))));
        // A route through a blackhole nexthop object is a blackhole.
        let bh = Nl::new(RTM_NEWNEXTHOP)
            .raw(&[AF_INET, 0, 0, 0, 0, 0, 0, 0])
            .attr(NHA_ID, &7u32.to_le_bytes())
            .attr(NHA_BLACKHOLE, &[])
            .fpm();
        let o = s.apply(one(&bh)).unwrap();
        assert!(matches!(
            &o[..],
            [Change::Object(Object {
                id: 7,
                blackhole: true,
                ..
            })]
        ));
        let f = Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
            .attr(RTA_DST, &[203, 0, 113, 0])
            .attr(RTA_NH_ID, &7u32.to_le_bytes())
            .fpm();
        assert_eq!(routes(s.apply(one(&f)).unwrap())[0].object, Some(7));
    }

    #[test]
    fn limits_refuse_new_objects_and_keep_the_session() {
        let mut s = Session::with_limits(Limits {
            routes: 1,
            nexthops: 1,
        });
        let route = |o: u8| {
            Nl::new(RTM_NEWROUTE)
                .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
                .attr(RTA_DST, &[198, 51, o, 0])
                .attr(RTA_GATEWAY, &[10, 1, 0, 2])
                .fpm()
        };
        let nh = |id: u32| {
            Nl::new(RTM_NEWNEXTHOP)
                .raw(&[AF_INET, 0, 0, 0, 0, 0, 0, 0])
                .attr(NHA_ID, &id.to_le_bytes())
                .attr(NHA_GATEWAY, &[10, 1, 0, 2])
                .fpm()
        };
        assert_eq!(s.apply(one(&route(1))).unwrap().len(), 1);
        assert_eq!(s.apply(one(&route(2))), Err(Refused::RouteLimit));
        // An update of a route it holds is not a new one.
        assert!(s.apply(one(&route(1))).is_ok());
        assert!(s.apply(one(&nh(1))).is_ok());
        assert_eq!(s.apply(one(&nh(2))), Err(Refused::NexthopLimit));
        assert!(s.apply(one(&nh(1))).is_ok());
        assert_eq!(s.all().len(), 2);
    }

    #[test]
    fn nexthop_objects_and_groups() {
        let mut s = Session::default();
        let nh = |id: u32, gw: [u8; 16]| {
            Nl::new(RTM_NEWNEXTHOP)
                .raw(&[AF_INET6, 0, 0, 0, 0, 0, 0, 0])
                .attr(NHA_ID, &id.to_le_bytes())
                .attr(NHA_GATEWAY, &gw)
                .attr(NHA_OIF, &3u32.to_le_bytes())
                .fpm()
        };
        let g1: Ipv6Addr = "fd01::2".parse().unwrap();
        let g2: Ipv6Addr = "fd02::2".parse().unwrap();
        s.apply(one(&nh(1, g1.octets()))).unwrap();
        s.apply(one(&nh(2, g2.octets()))).unwrap();
        let mut grp = Vec::new();
        for (id, w) in [(1u32, 0u8), (2, 2)] {
            grp.extend_from_slice(&id.to_le_bytes());
            grp.extend_from_slice(&[w, 0, 0, 0]);
        }
        s.apply(one(&Nl::new(RTM_NEWNEXTHOP)
            .raw(&[0; 8])
            .attr(NHA_ID, &10u32.to_le_bytes())
            .attr(NHA_GROUP, &grp)
            .fpm()))
            .unwrap();
        let route = Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET6, 64, RTN_UNICAST))
            .attr(
                RTA_DST,
                &"2001:db8:100::".parse::<Ipv6Addr>().unwrap().octets(),
            )
            .attr(RTA_NH_ID, &10u32.to_le_bytes())
            .fpm();
        let r = routes(s.apply(one(&route)).unwrap());
        assert_eq!(r[0].object, Some(10));
        assert!(r[0].members.is_empty());
        assert_eq!(
            s.object(10).members,
            [(IpAddr::V6(g1), 1), (IpAddr::V6(g2), 3)]
        );
        // Changing a member object is one change to it and one to the group
        // that holds it, not one per route that uses the group.
        for o in 0..100u8 {
            let more = Nl::new(RTM_NEWROUTE)
                .raw(&rtmsg(AF_INET6, 64, RTN_UNICAST))
                .attr(
                    RTA_DST,
                    &[0x20, 1, 0xd, 0xb8, 2, o, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                )
                .attr(RTA_NH_ID, &10u32.to_le_bytes())
                .fpm();
            s.apply(one(&more)).unwrap();
        }
        let g3: Ipv6Addr = "fd03::2".parse().unwrap();
        let r = s.apply(one(&nh(2, g3.octets()))).unwrap();
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(
            matches!(&r[0], Change::Object(o) if o.id == 2 && o.members == [(IpAddr::V6(g3), 1)])
        );
        assert!(
            matches!(&r[1], Change::Object(o) if o.id == 10 && o.members[1] == (IpAddr::V6(g3), 3))
        );
        // Deleting the route withdraws it.
        let del = Nl::new(RTM_DELROUTE)
            .raw(&rtmsg(AF_INET6, 64, RTN_UNICAST))
            .attr(
                RTA_DST,
                &"2001:db8:100::".parse::<Ipv6Addr>().unwrap().octets(),
            )
            .fpm();
        let r = routes(s.apply(one(&del)).unwrap());
        assert_eq!((r[0].object, r[0].members.len()), (None, 0));
        assert_eq!(
            s.all().len(),
            3 + 100,
            "the objects and the other routes stay"
        );
    }

    #[test]
    fn a_frame_may_carry_several_messages() {
        // zebra's route update: RTM_DELROUTE then RTM_NEWROUTE in one frame.
        let del = Nl::new(RTM_DELROUTE)
            .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
            .attr(RTA_DST, &[203, 0, 113, 0])
            .fpm();
        let new = Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
            .attr(RTA_DST, &[203, 0, 113, 0])
            .attr(RTA_NH_ID, &16u32.to_le_bytes())
            .fpm();
        let mut frame_bytes = vec![1u8, 1, 0, 0];
        frame_bytes.extend_from_slice(&del[4..]);
        frame_bytes.extend_from_slice(&new[4..]);
        let n = frame_bytes.len() as u16;
        frame_bytes[2..4].copy_from_slice(&n.to_be_bytes());
        let (nl, _) = frame(&frame_bytes).unwrap().unwrap();
        let msgs = decode_frame(nl).unwrap();
        assert_eq!(msgs.len(), 2);
        assert!(matches!(
            msgs[1],
            Message::Route {
                target: Some(Target::NexthopId(16)),
                ..
            }
        ));
        // A malformed second message rejects the whole frame.
        let mut bad = nl.to_vec();
        let last = bad.len() - 1;
        bad.truncate(last);
        assert!(decode_frame(&bad).is_err());
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert_eq!(frame(&[2, 1, 0, 8]).unwrap_err(), Error::BadHeader(2, 1));
        assert_eq!(frame(&[1, 1, 0, 2]).unwrap_err(), Error::BadLength(2));
        assert_eq!(
            frame(&[1, 1, 0, 40, 0]).unwrap(),
            None,
            "incomplete frame waits for more bytes"
        );
        let bad_attr = Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
            .raw(&[200, 0, 1, 0])
            .fpm();
        assert!(matches!(
            decode(frame(&bad_attr).unwrap().unwrap().0),
            Err(Error::BadAttr(..))
        ));
        let bad_family = Nl::new(RTM_NEWROUTE).raw(&rtmsg(7, 24, RTN_UNICAST)).fpm();
        assert_eq!(
            decode(frame(&bad_family).unwrap().unwrap().0),
            Err(Error::BadFamily(7))
        );
        let host_bits = Nl::new(RTM_NEWROUTE)
            .raw(&rtmsg(AF_INET, 24, RTN_UNICAST))
            .attr(RTA_DST, &[198, 51, 100, 1])
            .fpm();
        assert!(decode(frame(&host_bits).unwrap().unwrap().0).is_err());
        assert_eq!(
            decode(
                frame(&Nl::new(RTM_NEWNEXTHOP).raw(&[0; 8]).fpm())
                    .unwrap()
                    .unwrap()
                    .0
            ),
            Err(Error::BadAttr(NHA_ID, "missing"))
        );
        assert_eq!(one(&Nl::new(16).raw(&[0; 16]).fpm()), Message::Ignored(16));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = frame(&data);
            let _ = decode(&data);
            let mut d = data.clone();
            if d.len() >= 6 {
                d[4] = 24;
                d[5] = 0;
                let n = (d.len() as u32).to_le_bytes();
                d[..4].copy_from_slice(&n);
                let _ = decode(&d);
                d[4] = 104;
                let _ = decode(&d);
            }
        }
    }
}
