//! Policy rules: ordered matches on a packet's input port and 5-tuple that
//! send it to a nexthop group (an uplink is a group of its gateway). The
//! first rule that matches *and* has a live member wins; a rule whose group
//! is all down is skipped, as mwan3 and pfSense gateway groups do. When rules
//! matched but none was usable, `last_resort` decides.
//!
//! Rules apply to packets the route table would forward over a group;
//! traffic to the router's own or connected addresses is never policy-routed.

use crate::flow::Endpoints;
use crate::types::{GroupId, PortId};

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
    #[inline]
    fn contains(&self, a: u128, v6: bool) -> bool {
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
    pub group: GroupId,
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
            group: GroupId(0),
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
}
