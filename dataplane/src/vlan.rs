//! 802.1Q VLAN sub-interfaces in the dataplane.
//!
//! A sub-interface is a port of its own in the FIB ([`crate::fib::PortInfo`]
//! with `vlan` set and `parent` its device port), so routes, neighbours and
//! counters treat it like any port. Only the edges know about tags:
//! - on receive, the worker's loop strips the tag of a frame from a device
//!   port with sub-interfaces and runs it as received on the sub-interface
//!   ([`VlanMap`]); an unknown VID is dropped (`unknown_vlan`), VID 0
//!   (priority tagging) belongs to the device port itself;
//! - on transmit, the rewrite tags a frame leaving by a sub-interface and
//!   sends it on the device port.
//!
//! QinQ is not supported: an 802.1ad (0x88a8) frame is an unsupported
//! ethertype, and a second 802.1Q tag inside the first is an unknown VLAN.

use crate::buf::PacketBuf;
use crate::types::PortId;
use crate::wire::ethernet;

/// 802.1Q's TPID (the ethertype of a tagged frame).
pub const TPID: u16 = 0x8100;
/// The tag's length.
pub const TAG_LEN: usize = 4;
/// VIDs are 12 bits.
const VIDS: usize = 4096;
const NONE: u16 = u16::MAX;

/// Which sub-interface each VID of each device port is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VlanMap {
    /// By device port: `None` when it has no sub-interfaces, else the port
    /// id of each VID (`u16::MAX`: none).
    by_device: Vec<Option<Box<[u16]>>>,
}

impl VlanMap {
    /// A map of `(device, vid, sub-interface)` triples.
    pub fn new(vlans: impl IntoIterator<Item = (PortId, u16, PortId)>) -> Self {
        let mut m = VlanMap::default();
        for (dev, vid, port) in vlans {
            let d = dev.index();
            if m.by_device.len() <= d {
                m.by_device.resize(d + 1, None);
            }
            let t = m.by_device[d].get_or_insert_with(|| vec![NONE; VIDS].into_boxed_slice());
            t[vid as usize & (VIDS - 1)] = port.0;
        }
        m
    }

    /// True when device port `dev` has sub-interfaces.
    #[inline]
    pub fn has(&self, dev: usize) -> bool {
        matches!(self.by_device.get(dev), Some(Some(_)))
    }

    /// The sub-interface of `dev` with VID `vid`; VID 0 is `dev` itself.
    #[inline]
    pub fn lookup(&self, dev: PortId, vid: u16) -> Option<PortId> {
        if vid == 0 {
            return Some(dev);
        }
        let t = self.by_device.get(dev.index())?.as_ref()?;
        let p = t[vid as usize & (VIDS - 1)];
        (p != NONE).then_some(PortId(p))
    }
}

/// The VID of a frame with an 802.1Q tag, if it has one.
#[inline]
pub fn vid_of(frame: &[u8]) -> Option<u16> {
    match frame.get(12..16)? {
        [0x81, 0x00, hi, lo] => Some(u16::from_be_bytes([*hi & 0x0f, *lo])),
        _ => None,
    }
}

/// Removes the 802.1Q tag of `pkt` (which [`vid_of`] found): the MAC
/// addresses move up over it. False when the buffer cannot give the bytes back.
pub fn strip<B: PacketBuf>(pkt: &mut B) -> bool {
    let d = pkt.data_mut();
    if d.len() < ethernet::HEADER_LEN + TAG_LEN {
        return false;
    }
    d.copy_within(0..12, TAG_LEN);
    pkt.adj(TAG_LEN)
}

/// Inserts an 802.1Q tag with `vid` (priority 0) after the MAC addresses of
/// `pkt`. False when its headroom is too small (nothing changes then).
pub fn tag<B: PacketBuf>(pkt: &mut B, vid: u16) -> bool {
    if pkt.data().len() < 12 || !pkt.prepend(TAG_LEN) {
        return false;
    }
    let d = pkt.data_mut();
    d.copy_within(TAG_LEN..TAG_LEN + 12, 0);
    d[12..14].copy_from_slice(&TPID.to_be_bytes());
    d[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
    true
}

/// The length of a frame's link-layer header: 18 with an 802.1Q tag, else 14.
#[inline]
pub fn l2_len(frame: &[u8]) -> usize {
    match frame.get(12..14) {
        Some([0x81, 0x00]) => ethernet::HEADER_LEN + TAG_LEN,
        _ => ethernet::HEADER_LEN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VecBuf;

    #[test]
    fn a_tag_goes_in_and_out_and_the_frame_is_as_before() {
        let f: Vec<u8> = (0..64u8).collect();
        let mut b = VecBuf::new(&f);
        assert!(tag(&mut b, 100));
        let d = b.data();
        assert_eq!(d.len(), 68);
        assert_eq!(d[..12], f[..12]);
        assert_eq!(d[12..16], [0x81, 0x00, 0x00, 100]);
        assert_eq!(d[16..], f[12..]);
        assert_eq!(vid_of(d), Some(100));
        assert_eq!(l2_len(d), 18);
        assert!(strip(&mut b));
        assert_eq!(b.data(), &f[..]);
        assert_eq!(vid_of(b.data()), None);
        // No headroom: no tag, nothing changed.
        let mut b = VecBuf::with_headroom(&f, 2);
        assert!(!tag(&mut b, 5));
        assert_eq!(b.data(), &f[..]);
    }

    #[test]
    fn the_map_finds_sub_interfaces_by_device_and_vid_and_vid_0_is_the_device() {
        let m = VlanMap::new([
            (PortId(0), 100, PortId(3)),
            (PortId(0), 200, PortId(4)),
            (PortId(2), 100, PortId(5)),
        ]);
        assert!(m.has(0) && !m.has(1) && m.has(2) && !m.has(7));
        assert_eq!(m.lookup(PortId(0), 100), Some(PortId(3)));
        assert_eq!(m.lookup(PortId(0), 200), Some(PortId(4)));
        assert_eq!(m.lookup(PortId(2), 100), Some(PortId(5)));
        assert_eq!(m.lookup(PortId(0), 300), None);
        assert_eq!(m.lookup(PortId(1), 100), None);
        assert_eq!(m.lookup(PortId(1), 0), Some(PortId(1)));
        // The priority bits and DEI are not part of the VID.
        assert_eq!(
            vid_of(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0xb0, 100]),
            Some(100)
        );
    }
}
