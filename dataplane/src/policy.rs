//! Policy rules: ordered matches on a packet's input port and 5-tuple that
//! send it to a nexthop group (an uplink is a group of its gateway). The
//! first rule that matches *and* has a live member wins; a rule whose group
//! is all down is skipped, as mwan3 and pfSense gateway groups do. When rules
//! matched but none was usable, `last_resort` decides.
//!
//! Rules apply to packets the route table would forward over a group;
//! traffic to the router's own or connected addresses is never policy-routed.
//!
//! A rule's action is a group, or a routing table other than main: the
//! packet's destination is looked up there (like `ip rule ... lookup T`), and
//! a table with no route for it, or whose route is all down, makes the rule
//! unusable, so the next one is tried.

use crate::fib::Route;
use crate::flow::Endpoints;
use crate::types::{GroupId, PortId};

/// Where a rule sends matching packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A nexthop group (an uplink is a group of its gateway).
    Group(GroupId),
    /// A lookup in routing table `id` (see [`Table`]).
    Table(u32),
}

/// A routing table other than main, for rules that look up in it. These
/// tables are for policy routing (a default route per uplink, a few
/// prefixes), so a lookup is a scan of routes sorted longest first; the
/// control plane rebuilds one whole when it changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Table id (as in `ip route ... table N`).
    pub id: u32,
    /// Routes, longest prefix first.
    pub routes: Box<[(KeyPrefix, Route)]>,
}

impl Table {
    /// Builds a table; sorts the routes longest first.
    pub fn new(id: u32, mut routes: Vec<(KeyPrefix, Route)>) -> Table {
        routes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len));
        Table {
            id,
            routes: routes.into(),
        }
    }
    /// The longest-prefix route for `dst` (a left-aligned key) of family `v6`.
    #[inline]
    pub fn lookup(&self, dst: u128, v6: bool) -> Option<&Route> {
        self.routes
            .iter()
            .find(|(p, _)| p.contains(dst, v6))
            .map(|(_, r)| r)
    }
}

/// What happens when rules matched a packet but none was usable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LastResort {
    /// Use the route table's route (the default).
    #[default]
    Default,
    /// Drop with ICMP Destination Unreachable (counted as `all_nexthops_down`).
    Unreachable,
    /// Drop silently (counted as `blackhole`).
    Blackhole,
}

/// A prefix to match, on left-aligned 128-bit keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPrefix {
    /// The prefix bits.
    pub key: u128,
    /// Its length (0..=32 for IPv4, 0..=128 for IPv6).
    pub len: u8,
    /// True for IPv6.
    pub v6: bool,
}

impl KeyPrefix {
    /// True when `a` (a left-aligned key of family `v6`) is inside.
    #[inline]
    pub fn contains(&self, a: u128, v6: bool) -> bool {
        v6 == self.v6 && (self.len == 0 || (a ^ self.key) >> (128 - self.len as u32) == 0)
    }
}

/// One rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Input port.
    pub in_port: Option<PortId>,
    /// Source prefix.
    pub src: Option<KeyPrefix>,
    /// Destination prefix.
    pub dst: Option<KeyPrefix>,
    /// Protocol.
    pub proto: Option<u8>,
    /// Source port range (inclusive; `(0, 65535)` matches any, and packets without ports).
    pub sport: (u16, u16),
    /// Destination port range.
    pub dport: (u16, u16),
    /// Where matching packets go.
    pub action: Action,
    /// Keep each flow on its first nexthop (the worker's flow table).
    pub sticky: bool,
}

const ANY: (u16, u16) = (0, u16::MAX);

impl Rule {
    /// True when the packet with endpoints `e`, received on `in_port`, matches.
    #[inline]
    pub fn matches(&self, in_port: PortId, e: &Endpoints) -> bool {
        let ports = |r: (u16, u16), p: u16| r == ANY || (e.has_ports && r.0 <= p && p <= r.1);
        self.in_port.is_none_or(|p| p == in_port)
            && self.proto.is_none_or(|p| p == e.proto)
            && self.src.is_none_or(|p| p.contains(e.src, e.v6))
            && self.dst.is_none_or(|p| p.contains(e.dst, e.v6))
            && ports(self.sport, e.sport)
            && ports(self.dport, e.dport)
    }
}

/// The rules of one FIB generation.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// In order; the first usable match wins.
    pub rules: Box<[Rule]>,
    /// When rules matched but none was usable.
    pub last_resort: LastResort,
    /// Routing tables other than main that rules look up in, by id.
    pub tables: Box<[Table]>,
}

impl Policy {
    /// Table `id`, if it has routes.
    #[inline]
    pub fn table(&self, id: u32) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(src: u32, dport: u16, proto: u8) -> Endpoints {
        Endpoints {
            src: (src as u128) << 96,
            dst: 0xc633_640au128 << 96,
            proto,
            sport: 40000,
            dport,
            flow_label: 0,
            has_ports: proto == 6 || proto == 17,
            v6: false,
        }
    }

    #[test]
    fn matches_each_field() {
        let r = Rule {
            in_port: Some(PortId(0)),
            src: Some(KeyPrefix {
                key: 0x0a00_0000u128 << 96,
                len: 16,
                v6: false,
            }),
            dst: None,
            proto: Some(6),
            sport: ANY,
            dport: (8000, 8100),
            action: Action::Group(GroupId(0)),
            sticky: false,
        };
        assert!(r.matches(PortId(0), &ep(0x0a00_0002, 8080, 6)));
        assert!(!r.matches(PortId(1), &ep(0x0a00_0002, 8080, 6)), "port");
        assert!(!r.matches(PortId(0), &ep(0x0a01_0002, 8080, 6)), "src");
        assert!(!r.matches(PortId(0), &ep(0x0a00_0002, 8080, 17)), "proto");
        assert!(!r.matches(PortId(0), &ep(0x0a00_0002, 9000, 6)), "dport");
        let mut v6 = ep(0x0a00_0002, 8080, 6);
        v6.v6 = true;
        assert!(!r.matches(PortId(0), &v6), "family");
        let any = Rule {
            in_port: None,
            src: None,
            proto: None,
            dport: ANY,
            ..r
        };
        assert!(
            any.matches(PortId(3), &ep(1, 0, 1)),
            "ICMP (no ports) matches a rule with no port range"
        );
    }

    #[test]
    fn table_lookup_is_longest_prefix() {
        use crate::fib::Target;
        let r = |g: u32| Route {
            target: Target::Group(GroupId(g)),
            hash: Default::default(),
            sticky: false,
        };
        let kp = |key: u32, len: u8| KeyPrefix {
            key: (key as u128) << 96,
            len,
            v6: false,
        };
        let t = Table::new(
            100,
            vec![
                (kp(0, 0), r(1)),
                (kp(0xc633_6400, 24), r(2)),
                (kp(0xc633_0000, 16), r(3)),
            ],
        );
        assert_eq!(t.lookup(0xc633_640au128 << 96, false), Some(&r(2)));
        assert_eq!(t.lookup(0xc633_010au128 << 96, false), Some(&r(3)));
        assert_eq!(t.lookup(0x0808_0808u128 << 96, false), Some(&r(1)));
        assert_eq!(t.lookup(1, true), None, "no IPv6 route");
    }
}
