//! Drop reasons. Every dropped packet increments exactly one of these
//! (ARCHITECTURE.md invariant 3), and each maps 1:1 to a Prometheus label
//! value of `ecmp_router_drops_total{reason="..."}`.

use crate::wire::{ethernet, ipv4, ipv6};

macro_rules! reasons {
    ($($(#[doc = $doc:literal])* $v:ident => $name:literal,)*) => {
        /// Why a packet was dropped.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason { $($(#[doc = $doc])* $v,)* }

        impl DropReason {
            /// Every reason, in counter-index order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$v,)*];
            /// Number of reasons.
            pub const COUNT: usize = DropReason::ALL.len();

            /// The Prometheus label value.
            pub fn name(self) -> &'static str {
                match self { $(DropReason::$v => $name,)* }
            }

            /// What it means: the variant's doc comment (for the generated
            /// metrics reference).
            pub fn help(self) -> &'static str {
                match self { $(DropReason::$v => concat!($($doc, "\n"),*),)* }
            }
        }
    };
}

reasons! {
    /// Frame shorter than an Ethernet header.
    EthTruncated => "eth_truncated",
    /// Unicast frame for another MAC address.
    NotForUs => "l2_not_for_us",
    /// Ethernet source address is multicast or broadcast (invalid, IEEE 802.3);
    /// such a frame gets no reply of any kind.
    L2MulticastSource => "l2_multicast_source",
    /// EtherType the router does not handle (802.1ad QinQ included).
    UnsupportedEthertype => "unsupported_ethertype",
    /// An 802.1Q-tagged frame whose VID is no sub-interface of the port it
    /// came in on (`ports[].vlans`), or a second tag inside the first.
    UnknownVlan => "unknown_vlan",
    /// IPv4 shorter than its header (RFC 1812 5.2.2).
    Ipv4Truncated => "ipv4_truncated",
    /// IPv4 version field not 4.
    Ipv4BadVersion => "ipv4_bad_version",
    /// IPv4 IHL below 5.
    Ipv4BadHeaderLen => "ipv4_bad_header_len",
    /// IPv4 total length below the header or beyond the frame.
    Ipv4BadTotalLen => "ipv4_bad_total_len",
    /// IPv4 header checksum wrong.
    Ipv4BadChecksum => "ipv4_bad_checksum",
    /// IPv6 shorter than 40 bytes.
    Ipv6Truncated => "ipv6_truncated",
    /// IPv6 version field not 6.
    Ipv6BadVersion => "ipv6_bad_version",
    /// IPv6 payload length beyond the frame.
    Ipv6BadPayloadLen => "ipv6_bad_payload_len",
    /// Source address that must never be forwarded (RFC 1812 5.3.7, RFC 4291 2.5.2).
    MartianSource => "martian_source",
    /// Destination that must never be forwarded (loopback, link-local, unspecified).
    MartianDestination => "martian_destination",
    /// Multicast or broadcast destination (the router does not route multicast).
    Multicast => "multicast",
    /// No route to the destination (ICMP Destination Unreachable sent when allowed).
    NoRoute => "no_route",
    /// TTL or hop limit expired (ICMP Time Exceeded sent when allowed).
    TtlExceeded => "ttl_exceeded",
    /// Packet larger than the egress MTU that may not be fragmented (IPv4
    /// with DF, IPv6): ICMP Fragmentation Needed / Packet Too Big sent when allowed.
    MtuExceeded => "mtu_exceeded",
    /// An IPv4 packet to fragment that could not be: no buffer in the
    /// worker's pool for a fragment, or an MTU too small for its header.
    FragmentationFailed => "fragmentation_failed",
    /// Every nexthop of the route's group is down (ICMP Destination Unreachable sent when allowed).
    AllNexthopsDown => "all_nexthops_down",
    /// Route is a blackhole (dropped silently, as the kernel does).
    Blackhole => "blackhole",
    /// Route is `unreachable` (ICMP Host Unreachable, ICMPv6 No Route, sent when allowed).
    Unreachable => "unreachable",
    /// Route is `prohibit` (ICMP Communication Administratively Prohibited, code 13;
    /// ICMPv6 code 1; sent when allowed).
    Prohibit => "prohibit",
    /// Nexthop's MAC address not yet resolved, and the packet could not wait for it (too long,
    /// hold queue full, or still held when the host was given up).
    NeighborUnresolved => "neighbor_unresolved",
    /// A host on a connected subnet that answered none of its solicitations
    /// (FAILED): ICMP Host Unreachable (ICMPv6 Address Unreachable) sent when allowed.
    NeighborFailed => "neighbor_failed",
    /// Packet addressed to the router that it does not handle (only echo, ARP and NDP are).
    LocalUnhandled => "local_unhandled",
    /// Malformed ICMP or ICMPv6 addressed to the router.
    BadIcmp => "bad_icmp",
    /// Control-plane punt queue full.
    PuntQueueFull => "punt_queue_full",
    /// NIC transmit queue full.
    TxQueueFull => "tx_queue_full",
    /// A frame the PMD scattered over several mbufs. The router sizes its
    /// mbufs for the largest port MTU, so only a PMD that ignores that does.
    MultiSegment => "multi_segment",
    /// A route, group or binding points at a group, nexthop or port id
    /// that its FIB generation does not hold: a control-plane bug, never a
    /// routing outcome (it used to be counted as `no_route`).
    DanglingId => "dangling_id",
    /// No mbuf available for a packet the router generates.
    MbufAllocFailed => "mbuf_alloc_failed",
    /// A new flow to an SNAT uplink found no free source port on its addresses.
    SnatExhausted => "snat_exhausted",
    /// A packet to an SNAT uplink that NAT cannot translate (not TCP, UDP or
    /// ICMP echo, or a fragment).
    SnatUnsupported => "snat_unsupported",
    /// A translated flow's uplink went down and `on-uplink-down: flush` removed it.
    FlowFlushed => "flow_flushed",
    /// A packet for another worker's SNAT port found the ring to that worker full.
    SnatSteerQueueFull => "snat_steer_queue_full",
    /// For the router's kernel interface, over its class's budget (`punt-policer`).
    PuntPoliced => "punt_policed",
    /// For the router's kernel interface, but the queue to it was full.
    KernelQueueFull => "kernel_queue_full",
}

impl From<ethernet::Error> for DropReason {
    fn from(e: ethernet::Error) -> Self {
        match e {
            ethernet::Error::Truncated => DropReason::EthTruncated,
        }
    }
}

impl From<ipv4::Error> for DropReason {
    fn from(e: ipv4::Error) -> Self {
        match e {
            ipv4::Error::Truncated => DropReason::Ipv4Truncated,
            ipv4::Error::BadVersion => DropReason::Ipv4BadVersion,
            ipv4::Error::BadHeaderLen => DropReason::Ipv4BadHeaderLen,
            ipv4::Error::BadTotalLen => DropReason::Ipv4BadTotalLen,
            ipv4::Error::BadChecksum => DropReason::Ipv4BadChecksum,
        }
    }
}

impl From<ipv6::Error> for DropReason {
    fn from(e: ipv6::Error) -> Self {
        match e {
            ipv6::Error::Truncated => DropReason::Ipv6Truncated,
            ipv6::Error::BadVersion => DropReason::Ipv6BadVersion,
            ipv6::Error::BadPayloadLen => DropReason::Ipv6BadPayloadLen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_prometheus_labels() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(seen.insert(r.name()));
            assert!(r
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()));
        }
    }
}
