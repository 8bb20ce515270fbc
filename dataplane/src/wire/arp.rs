//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! Invariant: a [`Packet`] built by [`Packet::new_checked`] holds 28 bytes and
//! is Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4).

use super::{be16, set_be16};
use crate::types::MacAddr;
use std::net::Ipv4Addr;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// ARP request.
pub const OP_REQUEST: u16 = 1;
/// ARP reply.
pub const OP_REPLY: u16 = 2;

/// Why an ARP packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than 28 bytes.
    Truncated,
    /// Not Ethernet/IPv4 ARP.
    Unsupported,
}

/// A view of an ARP packet.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buf` after checking length and address types.
    ///
    /// # Errors
    /// [`Error::Truncated`] or [`Error::Unsupported`].
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        if b.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        if be16(b, field::HTYPE) != 1
            || be16(b, field::PTYPE) != 0x0800
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(Packet { buf })
    }
    /// Operation (request or reply).
    pub fn operation(&self) -> u16 {
        be16(self.buf.as_ref(), field::OPER)
    }
    /// Sender hardware address.
    pub fn sender_mac(&self) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buf.as_ref()[field::SHA..field::SHA + 6]);
        MacAddr(m)
    }
    /// Sender protocol address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        let b = self.buf.as_ref();
        Ipv4Addr::new(
            b[field::SPA],
            b[field::SPA + 1],
            b[field::SPA + 2],
            b[field::SPA + 3],
        )
    }
    /// Target hardware address.
    pub fn target_mac(&self) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buf.as_ref()[field::THA..field::THA + 6]);
        MacAddr(m)
    }
    /// Target protocol address.
    pub fn target_ip(&self) -> Ipv4Addr {
        let b = self.buf.as_ref();
        Ipv4Addr::new(
            b[field::TPA],
            b[field::TPA + 1],
            b[field::TPA + 2],
            b[field::TPA + 3],
        )
    }
}

/// Writes an Ethernet/IPv4 ARP packet into `buf[..28]`.
///
/// # Panics
/// When `buf` is shorter than [`PACKET_LEN`].
pub fn write_unchecked(
    buf: &mut [u8],
    op: u16,
    sha: MacAddr,
    spa: Ipv4Addr,
    tha: MacAddr,
    tpa: Ipv4Addr,
) {
    set_be16(buf, field::HTYPE, 1);
    set_be16(buf, field::PTYPE, 0x0800);
    buf[field::HLEN] = 6;
    buf[field::PLEN] = 4;
    set_be16(buf, field::OPER, op);
    buf[field::SHA..field::SHA + 6].copy_from_slice(&sha.0);
    buf[field::SPA..field::SPA + 4].copy_from_slice(&spa.octets());
    buf[field::THA..field::THA + 6].copy_from_slice(&tha.0);
    buf[field::TPA..field::TPA + 4].copy_from_slice(&tpa.octets());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut b = [0u8; 28];
        let m = MacAddr([2, 0, 0, 0, 0, 9]);
        write_unchecked(
            &mut b,
            OP_REQUEST,
            m,
            Ipv4Addr::new(10, 0, 0, 2),
            MacAddr::ZERO,
            Ipv4Addr::new(10, 0, 0, 1),
        );
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.operation(), OP_REQUEST);
        assert_eq!(p.sender_mac(), m);
        assert_eq!(p.sender_ip(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.target_ip(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(Packet::new_checked(&b[..27]).unwrap_err(), Error::Truncated);
        b[5] = 16;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Unsupported);
    }
}
