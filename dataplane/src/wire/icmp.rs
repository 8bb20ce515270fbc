//! ICMP for IPv4 (RFC 792), the parts a router needs.
//!
//! Invariant: a [`Packet`] built by [`Packet::new_checked`] holds at least the
//! 8-byte header.

use super::{be16, set_be16};
use crate::checksum;

/// Length of the ICMP header (type, code, checksum, 4 bytes of rest-of-header).
pub const HEADER_LEN: usize = 8;

/// ICMP message types.
pub mod kind {
    /// Echo Reply
    pub const ECHO_REPLY: u8 = 0;
    /// Destination Unreachable
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Redirect
    pub const REDIRECT: u8 = 5;
    /// Echo Request
    pub const ECHO_REQUEST: u8 = 8;
    /// Time Exceeded
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter Problem
    pub const PARAM_PROBLEM: u8 = 12;
}

/// True for ICMP error messages (RFC 1812 section 4.3.2.7 forbids errors about them).
pub fn is_error(t: u8) -> bool {
    matches!(
        t,
        kind::DEST_UNREACHABLE | kind::REDIRECT | kind::TIME_EXCEEDED | kind::PARAM_PROBLEM | 4
    )
}

/// Why an ICMP message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than 8 bytes.
    Truncated,
}

/// A view of an ICMP message.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buf` after checking it holds the header.
    ///
    /// # Errors
    /// [`Error::Truncated`].
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buf })
    }
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buf.as_ref()[0]
    }
    /// Message code.
    pub fn code(&self) -> u8 {
        self.buf.as_ref()[1]
    }
    /// True when the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buf.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets type and code.
    pub fn set_type_code(&mut self, t: u8, c: u8) {
        let b = self.buf.as_mut();
        b[0] = t;
        b[1] = c;
    }
    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        let b = self.buf.as_mut();
        set_be16(b, 2, 0);
        let c = checksum::checksum(b);
        set_be16(b, 2, c);
    }
    /// Turns an echo request into an echo reply, patching the checksum (RFC 1624).
    pub fn make_echo_reply(&mut self) {
        let b = self.buf.as_mut();
        let old = be16(b, 0);
        b[0] = kind::ECHO_REPLY;
        let new = be16(b, 0);
        let c = checksum::update16(be16(b, 2), old, new);
        set_be16(b, 2, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_reply_checksum() {
        // ICMP echo request id 0x1234 seq 1 payload "abcd".
        let mut b = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd'];
        Packet::new_checked(&mut b[..]).unwrap().fill_checksum();
        assert!(Packet::new_checked(&b[..]).unwrap().verify_checksum());
        Packet::new_checked(&mut b[..]).unwrap().make_echo_reply();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), kind::ECHO_REPLY);
        assert!(p.verify_checksum());
        assert!(Packet::new_checked(&b[..7]).is_err());
        assert!(is_error(kind::TIME_EXCEEDED) && !is_error(kind::ECHO_REQUEST));
    }
}
