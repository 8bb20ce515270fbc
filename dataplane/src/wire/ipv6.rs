//! IPv6 fixed headers (RFC 8200 section 3).
//!
//! Invariant: a [`Packet`] built by [`Packet::new_checked`] has version 6 and
//! 40 + payload_len <= buf.len(). No accessor panics after that.

use super::{be16, set_be16};
use std::net::Ipv6Addr;

mod field {
    pub const VER_TC_FL: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// Why an IPv6 packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than 40 bytes.
    Truncated,
    /// Version field is not 6.
    BadVersion,
    /// Payload length runs beyond the frame.
    BadPayloadLen,
}

/// A view of an IPv6 packet.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(o)
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buf` after checking version and lengths. `buf` may be longer
    /// than the packet (Ethernet padding). Jumbograms (payload length 0 with
    /// a hop-by-hop jumbo option) are not supported and are refused as
    /// [`Error::BadPayloadLen`] only if they do not fit; a zero payload length
    /// is otherwise an empty payload.
    ///
    /// # Errors
    /// One [`Error`] variant per failed check.
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_TC_FL] >> 4 != 6 {
            return Err(Error::BadVersion);
        }
        if HEADER_LEN + be16(b, field::PAYLOAD_LEN) as usize > b.len() {
            return Err(Error::BadPayloadLen);
        }
        Ok(Packet { buf })
    }

    /// Wraps `buf` without checks, for a packet already validated or being built.
    pub fn new_unchecked(buf: T) -> Self {
        Packet { buf }
    }

    /// Payload length.
    pub fn payload_len(&self) -> usize {
        be16(self.buf.as_ref(), field::PAYLOAD_LEN) as usize
    }
    /// Total length (header plus payload).
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }
    /// Next header.
    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[field::NEXT_HEADER]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buf.as_ref()[field::HOP_LIMIT]
    }
    /// The 20-bit flow label.
    pub fn flow_label(&self) -> u32 {
        let b = self.buf.as_ref();
        u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]])
    }
    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        addr_at(self.buf.as_ref(), field::SRC)
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        addr_at(self.buf.as_ref(), field::DST)
    }
    /// Source address bytes.
    pub fn src_bytes(&self) -> [u8; 16] {
        self.src().octets()
    }
    /// The payload (padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buf.as_mut()[field::HOP_LIMIT] = v;
    }
    /// Sets the source address.
    pub fn set_src(&mut self, a: Ipv6Addr) {
        self.buf.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.octets());
    }
    /// Sets the destination address.
    pub fn set_dst(&mut self, a: Ipv6Addr) {
        self.buf.as_mut()[field::DST..field::DST + 16].copy_from_slice(&a.octets());
    }
    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let t = self.total_len();
        &mut self.buf.as_mut()[HEADER_LEN..t]
    }
}

/// Writes a 40-byte IPv6 header into `buf[..40]`.
///
/// # Panics
/// When `buf` is shorter than 40 bytes.
pub fn write_header_unchecked(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload_len: u16,
) {
    buf[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    set_be16(buf, field::PAYLOAD_LEN, payload_len);
    buf[field::NEXT_HEADER] = next_header;
    buf[field::HOP_LIMIT] = hop_limit;
    buf[field::SRC..field::SRC + 16].copy_from_slice(&src.octets());
    buf[field::DST..field::DST + 16].copy_from_slice(&dst.octets());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_validate() {
        let mut b = [0u8; 48];
        write_header_unchecked(
            &mut b,
            "fd00::2".parse().unwrap(),
            "2001:db8::10".parse().unwrap(),
            58,
            64,
            8,
        );
        b[1] = 0x0a;
        b[2] = 0xbc;
        b[3] = 0xde;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.flow_label(), 0xabcde);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.next_header(), 58);
        assert_eq!(p.dst(), "2001:db8::10".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload().len(), 8);
        assert_eq!(Packet::new_checked(&b[..39]).unwrap_err(), Error::Truncated);
        assert_eq!(
            Packet::new_checked(&b[..47]).unwrap_err(),
            Error::BadPayloadLen
        );
        let mut v = b;
        v[0] = 0x40;
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), Error::BadVersion);
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.payload(), p.src(), p.dst(), p.flow_label());
            }
        }
    }
}
