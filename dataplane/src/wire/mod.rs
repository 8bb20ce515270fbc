//! Zero-copy views over protocol headers, one protocol per file.
//!
//! Each view is `Packet<T: AsRef<[u8]>>` (or `Frame`) with a `new_checked`
//! constructor that validates every length once; after it succeeds no
//! accessor panics. Fields are read at byte offsets, never through packed
//! structs.

pub mod arp;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

/// IP protocol numbers used by the dataplane (IANA).
pub mod proto {
    /// ICMP (RFC 792)
    pub const ICMP: u8 = 1;
    /// TCP
    pub const TCP: u8 = 6;
    /// UDP
    pub const UDP: u8 = 17;
    /// IPv6 fragment extension header
    pub const IPV6_FRAG: u8 = 44;
    /// ICMPv6 (RFC 4443)
    pub const ICMPV6: u8 = 58;
    /// SCTP
    pub const SCTP: u8 = 132;
}

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn set_be16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
