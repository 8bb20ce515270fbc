//! ICMPv6 (RFC 4443) and the Neighbor Discovery messages a router answers (RFC 4861).
//!
//! Invariant: a [`Packet`] built by [`Packet::new_checked`] holds at least the
//! 4-byte type/code/checksum header; NDP accessors check their own lengths.

use super::set_be16;
use crate::checksum;
use crate::types::MacAddr;
use std::net::Ipv6Addr;

/// Length of the ICMPv6 error/echo header.
pub const HEADER_LEN: usize = 8;

/// ICMPv6 message types.
pub mod kind {
    /// Destination Unreachable
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet Too Big
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time Exceeded
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter Problem
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo Request
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo Reply
    pub const ECHO_REPLY: u8 = 129;
    /// Router Solicitation
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router Advertisement
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor Solicitation
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor Advertisement
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect
    pub const REDIRECT: u8 = 137;
}

/// True for ICMPv6 error messages (types below 128, RFC 4443 section 2.1).
pub fn is_error(t: u8) -> bool {
    t < 128
}

/// True for the Neighbor Discovery messages the control plane handles.
pub fn is_ndp(t: u8) -> bool {
    (kind::ROUTER_SOLICIT..=kind::REDIRECT).contains(&t)
}

/// NDP option: source link-layer address.
pub const OPT_SOURCE_LLADDR: u8 = 1;
/// NDP option: target link-layer address.
pub const OPT_TARGET_LLADDR: u8 = 2;

/// Why an ICMPv6 message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Too short for its type.
    Truncated,
    /// Checksum does not verify.
    BadChecksum,
    /// An NDP option has length zero or runs past the message (RFC 4861 section 4.6).
    BadOption,
}

/// A view of an ICMPv6 message.
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
        if buf.as_ref().len() < 4 {
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
    /// True when the checksum verifies against the pseudo-header.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let b = self.buf.as_ref();
        let acc = checksum::pseudo_v6(
            &src.octets(),
            &dst.octets(),
            super::proto::ICMPV6,
            b.len() as u32,
        );
        checksum::finish(checksum::sum(acc, b)) == 0
    }
    /// The target address of a Neighbor Solicitation or Advertisement.
    ///
    /// # Errors
    /// [`Error::Truncated`] when the message is shorter than 24 bytes.
    pub fn nd_target(&self) -> Result<Ipv6Addr, Error> {
        let b = self.buf.as_ref();
        if b.len() < 24 {
            return Err(Error::Truncated);
        }
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[8..24]);
        Ok(Ipv6Addr::from(o))
    }
    /// The link-layer address option of kind `opt` in an NS/NA (options start at byte 24).
    ///
    /// # Errors
    /// [`Error::BadOption`] for a malformed option list.
    pub fn nd_lladdr(&self, opt: u8) -> Result<Option<MacAddr>, Error> {
        let b = self.buf.as_ref();
        let mut at = 24;
        while at + 2 <= b.len() {
            let len = b[at + 1] as usize * 8;
            if len == 0 || at + len > b.len() {
                return Err(Error::BadOption);
            }
            if b[at] == opt && len >= 8 {
                let mut m = [0u8; 6];
                m.copy_from_slice(&b[at + 2..at + 8]);
                return Ok(Some(MacAddr(m)));
            }
            at += len;
        }
        Ok(None)
    }
    /// Neighbor Advertisement flags: (router, solicited, override).
    pub fn na_flags(&self) -> (bool, bool, bool) {
        let b = self.buf.as_ref();
        let f = if b.len() > 4 { b[4] } else { 0 };
        (f & 0x80 != 0, f & 0x40 != 0, f & 0x20 != 0)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets type and code.
    pub fn set_type_code(&mut self, t: u8, c: u8) {
        let b = self.buf.as_mut();
        b[0] = t;
        b[1] = c;
    }
    /// Recomputes the checksum over the pseudo-header and the whole message.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let b = self.buf.as_mut();
        set_be16(b, 2, 0);
        let acc = checksum::pseudo_v6(
            &src.octets(),
            &dst.octets(),
            super::proto::ICMPV6,
            b.len() as u32,
        );
        let c = checksum::finish(checksum::sum(acc, b));
        set_be16(b, 2, c);
    }
}

/// Writes a Neighbor Solicitation for `target` with a source link-layer
/// option into `buf[..32]`. The checksum is left zero; fill it once the IPv6
/// addresses are known.
///
/// # Panics
/// When `buf` is shorter than 32 bytes.
pub fn write_ns_unchecked(buf: &mut [u8], target: Ipv6Addr, sll: MacAddr) {
    buf[..32].fill(0);
    buf[0] = kind::NEIGHBOR_SOLICIT;
    buf[8..24].copy_from_slice(&target.octets());
    buf[24] = OPT_SOURCE_LLADDR;
    buf[25] = 1;
    buf[26..32].copy_from_slice(&sll.0);
}

/// Writes a Neighbor Advertisement for `target` with a target link-layer
/// option into `buf[..32]`, flags router + override (+ solicited if asked).
///
/// # Panics
/// When `buf` is shorter than 32 bytes.
pub fn write_na_unchecked(buf: &mut [u8], target: Ipv6Addr, tll: MacAddr, solicited: bool) {
    buf[..32].fill(0);
    buf[0] = kind::NEIGHBOR_ADVERT;
    buf[4] = 0x80 | 0x20 | if solicited { 0x40 } else { 0 };
    buf[8..24].copy_from_slice(&target.octets());
    buf[24] = OPT_TARGET_LLADDR;
    buf[25] = 1;
    buf[26..32].copy_from_slice(&tll.0);
}

/// The solicited-node multicast address of `a` (RFC 4291 section 2.7.1).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_roundtrip() {
        let src: Ipv6Addr = "fd00::2".parse().unwrap();
        let tgt: Ipv6Addr = "fd00::1".parse().unwrap();
        let dst = solicited_node(tgt);
        assert_eq!(dst, "ff02::1:ff00:1".parse::<Ipv6Addr>().unwrap());
        let mac = MacAddr([2, 0, 0, 0, 0, 2]);
        let mut b = [0u8; 32];
        write_ns_unchecked(&mut b, tgt, mac);
        Packet::new_checked(&mut b[..])
            .unwrap()
            .fill_checksum(&src, &dst);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(&src, &dst));
        assert_eq!(p.nd_target().unwrap(), tgt);
        assert_eq!(p.nd_lladdr(OPT_SOURCE_LLADDR).unwrap(), Some(mac));
        assert_eq!(p.nd_lladdr(OPT_TARGET_LLADDR).unwrap(), None);
        let mut bad = b;
        bad[25] = 0;
        assert_eq!(
            Packet::new_checked(&bad[..]).unwrap().nd_lladdr(1),
            Err(Error::BadOption)
        );
    }

    #[test]
    fn na_flags() {
        let mut b = [0u8; 32];
        write_na_unchecked(
            &mut b,
            "fd00::1".parse().unwrap(),
            MacAddr([2, 0, 0, 0, 0, 1]),
            true,
        );
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap().na_flags(),
            (true, true, true)
        );
    }
}
