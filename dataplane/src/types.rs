//! Identifiers and small value types shared by the dataplane and control plane.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

macro_rules! id {
    ($(#[$m:meta])* $name:ident($t:ty)) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub $t);
        impl $name {
            /// The id as an index into a table.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// Index of a port in the router's port table (equals the DPDK port id order of the config).
    PortId(u16)
);
id!(
    /// Index of a nexthop (an adjacency: port plus neighbour address).
    NexthopId(u32)
);
id!(
    /// Index of a nexthop group in a FIB generation.
    GroupId(u32)
);

/// An Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// True for group (multicast and broadcast) addresses.
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// The IPv6 multicast MAC for `addr` (RFC 2464 section 7).
    pub fn ipv6_multicast(addr: Ipv6Addr) -> MacAddr {
        let o = addr.octets();
        MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }

    /// Packs the address into the low 48 bits of a `u64`.
    #[inline]
    pub fn to_u64(self) -> u64 {
        let mut b = [0u8; 8];
        b[2..].copy_from_slice(&self.0);
        u64::from_be_bytes(b)
    }

    /// Unpacks an address from the low 48 bits of a `u64`.
    #[inline]
    pub fn from_u64(v: u64) -> MacAddr {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Error parsing a MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address (expected six hex octets like 02:00:00:00:00:01)")]
pub struct MacParseError;

impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split([':', '-']) {
            if n == 6 || part.len() != 2 {
                return Err(MacParseError);
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| MacParseError)?;
            n += 1;
        }
        if n != 6 {
            return Err(MacParseError);
        }
        Ok(MacAddr(out))
    }
}

/// An IP prefix with no host bits set, such as `198.51.100.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The address part does not parse.
    #[error("'{0}' is not an IPv4 or IPv6 address")]
    BadAddress(String),
    /// The length is not a number or is too long for the family.
    #[error("prefix length '{0}' is not 0..={1}")]
    BadLength(String, u8),
    /// Bits beyond the prefix length are set.
    #[error("{0} has host bits set; did you mean {1}?")]
    HostBits(String, Prefix),
}

impl Prefix {
    /// Builds a prefix, refusing lengths beyond the family's width and host bits.
    ///
    /// # Errors
    /// [`PrefixError::BadLength`] or [`PrefixError::HostBits`].
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, PrefixError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(PrefixError::BadLength(len.to_string(), max));
        }
        let p = Prefix::new_truncating(addr, len);
        if p.addr != addr {
            return Err(PrefixError::HostBits(format!("{addr}/{len}"), p));
        }
        Ok(p)
    }

    /// Builds a prefix, clearing host bits. Lengths beyond the family width are clamped.
    pub fn new_truncating(addr: IpAddr, len: u8) -> Prefix {
        match addr {
            IpAddr::V4(a) => {
                let len = len.min(32);
                let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                Prefix {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(a) & m)),
                    len,
                }
            }
            IpAddr::V6(a) => {
                let len = len.min(128);
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                Prefix {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & m)),
                    len,
                }
            }
        }
    }

    /// A host prefix (/32 or /128).
    pub fn host(addr: IpAddr) -> Prefix {
        Prefix {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for the default route (length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if `a` is inside this prefix.
    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.addr.is_ipv4() && Prefix::new_truncating(a, self.len).addr == self.addr
    }

    /// The prefix as a left-aligned 128-bit LPM key (IPv4 in the top 32 bits).
    pub fn key(&self) -> u128 {
        key_of(self.addr)
    }
}

/// An address as a left-aligned 128-bit LPM key (IPv4 in the top 32 bits).
#[inline]
pub fn key_of(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => (u32::from(a) as u128) << 96,
        IpAddr::V6(a) => u128::from(a),
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| PrefixError::BadAddress(a.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| PrefixError::BadLength(l.to_owned(), max))?,
        };
        Prefix::new(addr, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_parse() {
        let p: Prefix = "198.51.100.0/24".parse().unwrap();
        assert_eq!(p.len(), 24);
        assert!(p.contains("198.51.100.7".parse().unwrap()));
        assert!(!p.contains("198.51.101.7".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        assert!(matches!(
            "198.51.100.1/24".parse::<Prefix>(),
            Err(PrefixError::HostBits(..))
        ));
        assert!(matches!(
            "10.0.0.0/33".parse::<Prefix>(),
            Err(PrefixError::BadLength(..))
        ));
        assert!(matches!(
            "nope/8".parse::<Prefix>(),
            Err(PrefixError::BadAddress(..))
        ));
        let h: Prefix = "2001:db8::1".parse().unwrap();
        assert_eq!(h.len(), 128);
    }

    #[test]
    fn mac_roundtrip() {
        let m: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        assert_eq!(MacAddr::from_u64(m.to_u64()), m);
        assert_eq!(m.to_string(), "02:00:00:00:00:01");
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:01:02".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast());
    }
}
