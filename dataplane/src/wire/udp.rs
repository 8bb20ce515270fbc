//! UDP headers (RFC 768): the fields a router reads or rewrites.
//!
//! Invariant: a [`Packet`] built by [`Packet::new_checked`] holds at least
//! the 8-byte header. No accessor panics after that.

use super::{be16, set_be16};

/// Byte ranges of the header's fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length of header and data.
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum (0: none, IPv4 only).
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the header.
pub const HEADER_LEN: usize = 8;

/// Why a UDP header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than 8 bytes.
    Truncated,
}

/// A view of a UDP datagram.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buf` once its header is there.
    ///
    /// # Errors
    /// [`Error::Truncated`].
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buf })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::SRC_PORT.start)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::DST_PORT.start)
    }
    /// Length of header and data.
    pub fn len(&self) -> u16 {
        be16(self.buf.as_ref(), field::LENGTH.start)
    }
    /// True when the length field says there is not even a header.
    pub fn is_empty(&self) -> bool {
        (self.len() as usize) < HEADER_LEN
    }
    /// Checksum (0: none).
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port (the checksum is the caller's).
    pub fn set_src_port(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::SRC_PORT.start, v);
    }
    /// Sets the destination port (the checksum is the caller's).
    pub fn set_dst_port(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::DST_PORT.start, v);
    }
    /// Sets the checksum.
    pub fn set_checksum(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::CHECKSUM.start, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_fields() {
        let mut b = [0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0x12, 0x34, 1, 2, 3, 4];
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.len(), p.checksum()),
            (40000, 53, 12, 0x1234)
        );
        assert!(!p.is_empty());
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_checksum(0);
        assert_eq!((p.src_port(), p.dst_port(), p.checksum()), (1, 2, 0));
        assert_eq!(Packet::new_checked(&b[..7]).unwrap_err(), Error::Truncated);
    }
}
