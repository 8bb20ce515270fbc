//! TCP headers (RFC 9293): the fields a router reads or rewrites.
//!
//! Invariant: a [`Packet`] built by [`Packet::new_checked`] holds at least
//! its whole header: 20 <= header_len <= buf.len(). No accessor panics
//! after that.

use super::{be16, set_be16};
use core::ops::Range;

/// Byte ranges of the header's fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ: Range<usize> = 4..8;
    /// Acknowledgment number.
    pub const ACK: Range<usize> = 8..12;
    /// Data offset (high nibble) and reserved bits.
    pub const DATA_OFF: usize = 12;
    /// Flags (CWR ECE URG ACK PSH RST SYN FIN).
    pub const FLAGS: usize = 13;
    /// Window.
    pub const WINDOW: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// Flag bits of [`field::FLAGS`].
pub mod flags {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// The acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
}

/// Why a TCP header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than 20 bytes, or fewer than the data offset says.
    Truncated,
    /// Data offset below 5.
    BadDataOffset,
}

/// A view of a TCP segment.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

fn at(r: Range<usize>) -> usize {
    r.start
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buf` once its whole header is there.
    ///
    /// # Errors
    /// [`Error::Truncated`] or [`Error::BadDataOffset`].
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = (b[field::DATA_OFF] >> 4) as usize * 4;
        if hl < HEADER_LEN {
            return Err(Error::BadDataOffset);
        }
        if b.len() < hl {
            return Err(Error::Truncated);
        }
        Ok(Packet { buf })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), at(field::SRC_PORT))
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), at(field::DST_PORT))
    }
    /// Header length in bytes (the data offset).
    pub fn header_len(&self) -> usize {
        (self.buf.as_ref()[field::DATA_OFF] >> 4) as usize * 4
    }
    /// The flag bits ([`flags`]).
    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[field::FLAGS]
    }
    /// Checksum.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), at(field::CHECKSUM))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port (the checksum is the caller's).
    pub fn set_src_port(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), at(field::SRC_PORT), v);
    }
    /// Sets the destination port (the checksum is the caller's).
    pub fn set_dst_port(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), at(field::DST_PORT), v);
    }
    /// Sets the checksum.
    pub fn set_checksum(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), at(field::CHECKSUM), v);
    }
}

/// The flags of the TCP segment `l4`, or 0 when it is shorter than the
/// flags' offset (a fragment's tail, or a truncated quote): what the flow
/// table needs, and it never needs the rest of the header to be whole.
#[inline]
pub fn flags_of(l4: &[u8]) -> u8 {
    l4.get(field::FLAGS).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syn() -> Vec<u8> {
        let mut b = vec![0u8; 24];
        b[..2].copy_from_slice(&40000u16.to_be_bytes());
        b[2..4].copy_from_slice(&443u16.to_be_bytes());
        b[field::DATA_OFF] = 6 << 4;
        b[field::FLAGS] = flags::SYN;
        b
    }

    #[test]
    fn reads_and_writes_the_fields() {
        let mut b = syn();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.header_len(), p.flags()),
            (40000, 443, 24, flags::SYN)
        );
        p.set_src_port(1024);
        p.set_dst_port(80);
        p.set_checksum(0xbeef);
        assert_eq!(
            (p.src_port(), p.dst_port(), p.checksum()),
            (1024, 80, 0xbeef)
        );
        assert_eq!(flags_of(&b), flags::SYN);
        assert_eq!(flags_of(&b[..13]), 0);
    }

    #[test]
    fn refuses_short_headers_and_bad_offsets() {
        let b = syn();
        assert_eq!(Packet::new_checked(&b[..19]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&b[..22]).unwrap_err(), Error::Truncated);
        let mut b = syn();
        b[field::DATA_OFF] = 4 << 4;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::BadDataOffset
        );
    }
}
