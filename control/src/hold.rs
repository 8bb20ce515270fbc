//! Packets waiting for a neighbour to answer, as the kernel queues them on an
//! INCOMPLETE entry (`unres_qlen`): the first packet to a host that is not
//! resolved yet (a TCP SYN, one ping) is sent once the host answers instead of
//! being lost.
//!
//! Bounded twice: [`PER_NEIGHBOR`] packets per neighbour (a fourth pushes out
//! the oldest, as the kernel does) and [`TOTAL`] in all. Every packet that
//! leaves without being sent is counted by the caller.

use crate::punt::PuntFrame;
use dataplane::types::{MacAddr, NexthopId};
use dataplane::wire::{ethernet, ipv4, ipv6};
use std::collections::{HashMap, VecDeque};

/// Packets held per neighbour.
pub const PER_NEIGHBOR: usize = 3;
/// Packets held in all (three per `neighbor-table.max-incomplete` default).
pub const TOTAL: usize = 768;

/// What became of a packet offered to [`HoldQueue::hold`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Held.
    Queued,
    /// Held; the neighbour's oldest packet was dropped to make room.
    PushedOut,
    /// Not held: [`TOTAL`] packets are waiting.
    Full,
}

/// The packets held, per neighbour.
#[derive(Debug, Default)]
pub struct HoldQueue {
    held: HashMap<NexthopId, VecDeque<PuntFrame>>,
    total: usize,
}

impl HoldQueue {
    /// Holds `f` until `id` answers.
    pub fn hold(&mut self, id: NexthopId, f: PuntFrame) -> Held {
        let q = self.held.entry(id).or_default();
        if q.len() >= PER_NEIGHBOR {
            q.pop_front();
            q.push_back(f);
            return Held::PushedOut;
        }
        if self.total >= TOTAL {
            if q.is_empty() {
                self.held.remove(&id);
            }
            return Held::Full;
        }
        q.push_back(f);
        self.total += 1;
        Held::Queued
    }

    /// The packets held for `id`, oldest first; none are held afterwards.
    pub fn take(&mut self, id: NexthopId) -> VecDeque<PuntFrame> {
        let q = self.held.remove(&id).unwrap_or_default();
        self.total -= q.len();
        q
    }

    /// Neighbours with packets held.
    pub fn ids(&self) -> Vec<NexthopId> {
        self.held.keys().copied().collect()
    }

    /// Packets held in all.
    pub fn len(&self) -> usize {
        self.total
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// Rewrites a held packet, as received, for the neighbour `dst` on a port
/// with MAC `src`: Ethernet addresses, and the TTL or hop limit one lower
/// (the worker checked that it was above 1). False when it is not IP.
pub fn rewrite(frame: &mut [u8], dst: MacAddr, src: MacAddr) -> bool {
    let Ok(mut eth) = ethernet::Frame::new_checked(&mut *frame) else {
        return false;
    };
    let kind = eth.ethertype();
    eth.set_dst(dst);
    eth.set_src(src);
    let l3 = &mut frame[ethernet::HEADER_LEN..];
    match kind {
        ethernet::ethertype::IPV4 => match ipv4::Packet::new_checked(l3) {
            Ok(mut p) if p.ttl() > 1 => p.decrement_ttl(),
            _ => return false,
        },
        ethernet::ethertype::IPV6 => match ipv6::Packet::new_checked(l3) {
            Ok(mut p) if p.hop_limit() > 1 => {
                let h = p.hop_limit();
                p.set_hop_limit(h - 1);
            }
            _ => return false,
        },
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::types::PortId;

    fn frame(n: u8) -> PuntFrame {
        PuntFrame::copy_from(PortId(0), &[n; 60])
    }

    #[test]
    fn bounded_per_neighbour_and_in_all() {
        let mut q = HoldQueue::default();
        let a = NexthopId(1);
        for n in 0..3 {
            assert_eq!(q.hold(a, frame(n)), Held::Queued);
        }
        assert_eq!(q.hold(a, frame(3)), Held::PushedOut);
        assert_eq!(q.len(), 3);
        let got: Vec<u8> = q.take(a).iter().map(|f| f.bytes()[0]).collect();
        assert_eq!(got, [1, 2, 3], "the oldest went, the order stayed");
        assert!(q.is_empty());
        for i in 0..TOTAL as u32 {
            assert_eq!(q.hold(NexthopId(10 + i), frame(0)), Held::Queued);
        }
        assert_eq!(q.hold(NexthopId(5), frame(0)), Held::Full);
        assert_eq!(q.ids().len(), TOTAL);
    }

    #[test]
    fn rewrite_sets_macs_and_lowers_ttl_with_a_valid_checksum() {
        let mut p = vec![0u8; 14 + 20];
        ethernet::write_header_unchecked(
            &mut p,
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr([2, 0, 0, 0, 0, 9]),
            ethernet::ethertype::IPV4,
        );
        p[14] = 0x45;
        p[16..18].copy_from_slice(&20u16.to_be_bytes());
        p[22] = 64;
        p[23] = 17;
        ipv4::Packet::new_unchecked(&mut p[14..]).fill_checksum();
        let (dst, src) = (MacAddr([2, 0, 0, 0, 7, 7]), MacAddr([2, 0, 0, 0, 0, 2]));
        assert!(rewrite(&mut p, dst, src));
        let eth = ethernet::Frame::new_checked(&p[..]).unwrap();
        assert_eq!((eth.dst(), eth.src()), (dst, src));
        let ip = ipv4::Packet::new_checked(&p[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        let c = ip.checksum();
        let mut again = p[14..].to_vec();
        ipv4::Packet::new_unchecked(&mut again[..]).fill_checksum();
        assert_eq!(ipv4::Packet::new_checked(&again[..]).unwrap().checksum(), c);
        p[22] = 1;
        assert!(!rewrite(&mut p, dst, src), "TTL 1 is not sent on");
        assert!(!rewrite(&mut [0u8; 10], dst, src));
    }
}
