//! IPv4 headers (RFC 791), validated as RFC 1812 section 5.2.2 requires of a router.
//!
//! Invariant: a [`Packet`] built by [`Packet::new_checked`] satisfies
//! 20 <= header_len <= total_len <= buf.len(), has version 4 and a correct
//! header checksum. No accessor panics after that.

use super::{be16, set_be16};
use crate::checksum;
use std::net::Ipv4Addr;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// The header length (IHL) of a buffer that starts with an IPv4 header,
/// checked or not: 0 for an empty buffer. For the code that reads headers
/// it did not wrap in a [`Packet`] (quoted headers in ICMP errors, the
/// packets NAT rewrites after validation).
#[inline]
pub fn header_len_of(b: &[u8]) -> usize {
    b.first().map_or(0, |v| (v & 0x0f) as usize * 4)
}

/// Why an IPv4 packet was refused (RFC 1812 section 5.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than 20 bytes, or fewer than the header length says.
    Truncated,
    /// Version field is not 4.
    BadVersion,
    /// IHL below 5.
    BadHeaderLen,
    /// Total length below the header length or beyond the frame.
    BadTotalLen,
    /// Header checksum does not verify.
    BadChecksum,
}

/// A view of an IPv4 packet.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buf` after the RFC 1812 section 5.2.2 checks. `buf` may be
    /// longer than the total length (Ethernet padding).
    ///
    /// # Errors
    /// One [`Error`] variant per failed check.
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Error::BadVersion);
        }
        let hl = ((b[field::VER_IHL] & 0x0f) as usize) * 4;
        if hl < MIN_HEADER_LEN {
            return Err(Error::BadHeaderLen);
        }
        if b.len() < hl {
            return Err(Error::Truncated);
        }
        let total = be16(b, field::TOTAL_LEN) as usize;
        if total < hl || total > b.len() {
            return Err(Error::BadTotalLen);
        }
        if checksum::checksum(&b[..hl]) != 0 {
            return Err(Error::BadChecksum);
        }
        Ok(Packet { buf })
    }

    /// Wraps `buf` without checks, for building packets.
    pub fn new_unchecked(buf: T) -> Self {
        Packet { buf }
    }

    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        ((self.buf.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }
    /// Total length (header plus payload).
    pub fn total_len(&self) -> usize {
        be16(self.buf.as_ref(), field::TOTAL_LEN) as usize
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buf.as_ref()[field::TTL]
    }
    /// Protocol number.
    pub fn protocol(&self) -> u8 {
        self.buf.as_ref()[field::PROTOCOL]
    }
    /// Header checksum.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM)
    }
    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.buf.as_ref()[field::FLAGS_FRAG] & 0x40 != 0
    }
    /// True when this is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        be16(self.buf.as_ref(), field::FLAGS_FRAG) & 0x3fff != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buf.as_ref(), field::FLAGS_FRAG) & 0x1fff
    }
    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        let b = self.buf.as_ref();
        Ipv4Addr::new(
            b[field::SRC],
            b[field::SRC + 1],
            b[field::SRC + 2],
            b[field::SRC + 3],
        )
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        let b = self.buf.as_ref();
        Ipv4Addr::new(
            b[field::DST],
            b[field::DST + 1],
            b[field::DST + 2],
            b[field::DST + 3],
        )
    }
    /// The payload, up to the total length (padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Decrements the TTL and patches the checksum incrementally (RFC 1624).
    /// The caller has checked TTL > 1.
    #[inline(always)]
    pub fn decrement_ttl(&mut self) {
        let b = self.buf.as_mut();
        let old = be16(b, field::TTL);
        b[field::TTL] = b[field::TTL].wrapping_sub(1);
        let new = be16(b, field::TTL);
        let c = checksum::update16(be16(b, field::CHECKSUM), old, new);
        set_be16(b, field::CHECKSUM, c);
    }
    /// Sets the TTL (checksum not updated; call [`Self::fill_checksum`]).
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buf.as_mut()[field::TTL] = ttl;
    }
    /// Sets the source address (checksum not updated).
    pub fn set_src(&mut self, a: Ipv4Addr) {
        self.buf.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&a.octets());
    }
    /// Sets the destination address (checksum not updated).
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        self.buf.as_mut()[field::DST..field::DST + 4].copy_from_slice(&a.octets());
    }
    /// Recomputes the header checksum.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.buf.as_mut();
        set_be16(b, field::CHECKSUM, 0);
        let c = checksum::checksum(&b[..hl]);
        set_be16(b, field::CHECKSUM, c);
    }
    /// The payload, writable, up to the total length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), self.total_len());
        &mut self.buf.as_mut()[h..t]
    }
}

/// Writes a 20-byte IPv4 header (no options, DF clear) into `buf[..20]` with its checksum.
///
/// # Panics
/// When `buf` is shorter than 20 bytes.
pub fn write_header_unchecked(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ttl: u8,
    total_len: u16,
) {
    buf[..MIN_HEADER_LEN].fill(0);
    buf[field::VER_IHL] = 0x45;
    set_be16(buf, field::TOTAL_LEN, total_len);
    set_be16(buf, field::IDENT, 0);
    buf[field::TTL] = ttl;
    buf[field::PROTOCOL] = protocol;
    buf[field::SRC..field::SRC + 4].copy_from_slice(&src.octets());
    buf[field::DST..field::DST + 4].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&buf[..MIN_HEADER_LEN]);
    set_be16(buf, field::CHECKSUM, c);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A real ICMP echo request header captured from `ping -c1 198.51.100.10` (TTL 64).
    pub const ECHO_HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x54, 0x6d, 0x2b, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 0x0a, 0x00, 0x00,
        0x02, 0xc6, 0x33, 0x64, 0x0a,
    ];

    fn valid() -> Vec<u8> {
        let mut b = ECHO_HDR.to_vec();
        b.resize(0x54, 0);
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    #[test]
    fn rfc1812_checks() {
        let b = valid();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.src(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.dst(), Ipv4Addr::new(198, 51, 100, 10));
        assert!(p.dont_frag());
        assert!(!p.is_fragment());
        assert_eq!(p.payload().len(), 0x54 - 20);

        assert_eq!(Packet::new_checked(&b[..19]).unwrap_err(), Error::Truncated);
        let mut v = b.clone();
        v[0] = 0x65;
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), Error::BadVersion);
        let mut v = b.clone();
        v[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap_err(),
            Error::BadHeaderLen
        );
        let mut v = b.clone();
        v[3] = 0x10; // total length 16 < header length
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), Error::BadTotalLen);
        assert_eq!(
            Packet::new_checked(&b[..0x53]).unwrap_err(),
            Error::BadTotalLen
        );
        let mut v = b.clone();
        v[10] ^= 0xff;
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), Error::BadChecksum);
        // Padding beyond the total length is accepted.
        let mut v = b.clone();
        v.extend_from_slice(&[0; 6]);
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap().payload().len(),
            0x54 - 20
        );
    }

    #[test]
    fn ttl_decrement_keeps_checksum_valid() {
        let mut b = valid();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.decrement_ttl();
        assert_eq!(p.ttl(), 63);
        assert!(Packet::new_checked(&b[..]).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.payload(), p.src(), p.dst(), p.ttl(), p.frag_offset());
            }
        }
        #[test]
        fn decrement_any_ttl(ttl in 2u8..=255, src in any::<u32>()) {
            let mut b = valid();
            b[8] = ttl;
            b[12..16].copy_from_slice(&src.to_be_bytes());
            Packet::new_unchecked(&mut b[..]).fill_checksum();
            Packet::new_checked(&mut b[..]).unwrap().decrement_ttl();
            prop_assert!(Packet::new_checked(&b[..]).is_ok());
            prop_assert_eq!(b[8], ttl - 1);
        }
    }
}
