//! IPv4 fragmentation (RFC 791 section 3.2, RFC 1812 section 5.2.6): a
//! forwarded packet without DF that is longer than its egress MTU leaves
//! as fragments, each a whole frame of its own.
//!
//! - Each fragment carries as much payload as the MTU allows, a multiple of
//!   8 bytes except in the last one.
//! - The first fragment keeps every option; the others carry only those
//!   with the copied flag (RFC 791: security, source routes), padded with
//!   End of Options to a 4-byte boundary.
//! - Offsets count from the packet's own offset, so a fragment is
//!   fragmented again correctly, and the last piece keeps the packet's MF.
//! - Each fragment has its own total length and header checksum.
//!
//! The first fragment is the packet's own buffer, cut short; the others are
//! copies into buffers from the worker's pool. Either every fragment is
//! made or none is: a failure frees what was taken and the caller counts
//! one drop.

use crate::poll::Owned;
use crate::wire::{ethernet, ipv4};

/// The most fragments one packet becomes. A jumbo frame of 9,600 bytes
/// into the smallest IPv6-capable MTU (1,280) is 8; more than this means an
/// MTU so small that the packet is dropped instead.
pub const MAX_FRAGMENTS: usize = 64;

/// Why a packet was not fragmented (the caller counts it as a drop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragError {
    /// The pool had no buffer for a fragment.
    NoBuffer,
    /// It would take more than [`MAX_FRAGMENTS`] fragments, or the MTU
    /// leaves no room for 8 bytes of payload after the header.
    MtuTooSmall,
    /// Not an IPv4 packet the pipeline validated (no header to copy), or
    /// one whose offset and length reach past 65,535 bytes (no datagram).
    NotIpv4,
}

/// The options of an IPv4 header (`opts`, what follows the fixed 20 bytes)
/// that every fragment carries (RFC 791: the copied flag, bit 0x80 of the
/// type), written to `out`; returns their length. A malformed option ends
/// the list (what follows it is not copied).
fn copied_options(opts: &[u8], out: &mut [u8; 40]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < opts.len() {
        let t = opts[i];
        match t {
            0 => break,  // End of Options
            1 => i += 1, // No Operation: not copied
            _ => {
                let Some(&len) = opts.get(i + 1) else { break };
                let len = len as usize;
                if len < 2 || i + len > opts.len() {
                    break;
                }
                if t & 0x80 != 0 {
                    out[n..n + len].copy_from_slice(&opts[i..i + len]);
                    n += len;
                }
                i += len;
            }
        }
    }
    n
}

/// Sets a fragment's IPv4 header fields: header length `hlen`, payload
/// `len`, offset `off` (bytes from the start of the original datagram),
/// MF, and the checksum.
fn finish_header(ip: &mut [u8], hlen: usize, len: usize, off: usize, mf: bool) {
    // Total length at 2, flags and offset at 6.
    ip[0] = 0x40 | (hlen / 4) as u8;
    ip[2..][..2].copy_from_slice(&((hlen + len) as u16).to_be_bytes());
    // DF is clear (only such packets are fragmented); the reserved bit is kept.
    let flags = u16::from(ip[6] & 0x80) << 8;
    let ff = flags | if mf { 0x2000 } else { 0 } | ((off / 8) as u16 & 0x1fff);
    ip[6..][..2].copy_from_slice(&ff.to_be_bytes());
    ipv4::Packet::new_unchecked(&mut ip[..hlen]).fill_checksum();
}

/// Fragments `m`: an Ethernet frame holding one IPv4 packet (truncated to
/// its total length, already rewritten for the next hop) longer than `mtu`.
/// `alloc` gives empty buffers; `emit` takes the fragments in order, the
/// first being `m` itself. Returns how many fragments were emitted; on an
/// error nothing is emitted and every buffer is freed.
pub fn fragment_v4<P: Owned>(
    mut m: P,
    mtu: u16,
    mut alloc: impl FnMut() -> Option<P>,
    mut emit: impl FnMut(P),
) -> Result<usize, FragError> {
    // Ethernet, with or without an 802.1Q tag.
    let eth = crate::vlan::l2_len(m.data());
    let mtu = mtu as usize;
    let mut rest: [Option<P>; MAX_FRAGMENTS - 1] = std::array::from_fn(|_| None);
    let (first, n) = {
        let d = m.data();
        let ip = d.get(eth..).ok_or(FragError::NotIpv4)?;
        let hlen = ipv4::header_len_of(ip);
        if ip.len() < hlen || hlen < ipv4::MIN_HEADER_LEN || ip[0] >> 4 != 4 {
            return Err(FragError::NotIpv4);
        }
        let payload = ip.len() - hlen;
        let ff = u16::from_be_bytes([ip[6], ip[7]]);
        let (base, mf) = ((ff & 0x1fff) as usize * 8, ff & 0x2000 != 0);
        if base + payload > u16::MAX as usize {
            return Err(FragError::NotIpv4);
        }
        let mut opts = [0u8; 40];
        let olen = copied_options(&ip[ipv4::MIN_HEADER_LEN..hlen], &mut opts);
        let hlen2 = ipv4::MIN_HEADER_LEN + olen.div_ceil(4) * 4;
        let first = mtu.saturating_sub(hlen) & !7;
        let each = mtu.saturating_sub(hlen2) & !7;
        if first == 0 || each == 0 || first >= payload {
            return Err(FragError::MtuTooSmall);
        }
        let n = 1 + (payload - first).div_ceil(each);
        if n > MAX_FRAGMENTS {
            return Err(FragError::MtuTooSmall);
        }
        // The header every later fragment starts with: Ethernet, the fixed
        // 20 bytes, the copied options, End of Options padding.
        let mut hdr = [0u8; ethernet::HEADER_LEN + crate::vlan::TAG_LEN + 60];
        hdr[..eth + ipv4::MIN_HEADER_LEN].copy_from_slice(&d[..eth + ipv4::MIN_HEADER_LEN]);
        hdr[eth + ipv4::MIN_HEADER_LEN..][..olen].copy_from_slice(&opts[..olen]);
        let mut pos = first;
        for slot in rest.iter_mut().take(n - 1) {
            let mut f = alloc().ok_or(FragError::NoBuffer)?;
            let len = each.min(payload - pos);
            let last = pos + len == payload;
            finish_header(&mut hdr[eth..], hlen2, len, base + pos, mf || !last);
            if !f.append(&hdr[..eth + hlen2]) || !f.append(&ip[hlen + pos..][..len]) {
                return Err(FragError::NoBuffer);
            }
            *slot = Some(f);
            pos += len;
        }
        (eth + hlen + first, n)
    };
    m.truncate(first);
    let d = m.data_mut();
    let hlen = ipv4::header_len_of(&d[eth..]);
    let base = (u16::from_be_bytes([d[eth + 6], d[eth + 7]]) & 0x1fff) as usize * 8;
    finish_header(&mut d[eth..], hlen, first - eth - hlen, base, true);
    emit(m);
    for f in rest.iter_mut().take(n - 1) {
        if let Some(f) = f.take() {
            emit(f);
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::mem::Frame;
    use crate::PacketBuf;

    /// An Ethernet frame with an IPv4 header of `opts` options and
    /// `payload` bytes of a counting pattern; `ff` is the flags/offset word.
    fn packet(opts: &[u8], payload: usize, ff: u16) -> Vec<u8> {
        let hlen = 20 + opts.len();
        let mut f = vec![0u8; 14];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let mut ip = vec![0u8; hlen];
        ip[0] = 0x40 | (hlen / 4) as u8;
        ip[2..4].copy_from_slice(&((hlen + payload) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        ip[6..8].copy_from_slice(&ff.to_be_bytes());
        ip[8] = 63;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 9, 0, 1]);
        ip[20..].copy_from_slice(opts);
        ipv4::Packet::new_unchecked(&mut ip[..]).fill_checksum();
        f.extend_from_slice(&ip);
        f.extend((0..payload).map(|i| (i % 251) as u8));
        f
    }

    fn run(frame: &[u8], mtu: u16, pool: usize) -> (Result<usize, FragError>, Vec<Vec<u8>>) {
        let mut left = pool;
        let mut out = Vec::new();
        let r = fragment_v4(
            Frame::new(0, frame),
            mtu,
            || {
                left = left.checked_sub(1)?;
                Some(Frame::new(0, &[]))
            },
            |f| out.push(f.data().to_vec()),
        );
        (r, out)
    }

    /// Reassembles fragments (any order) into the payload, checking each
    /// header on the way: checksum, length, MTU, identification.
    fn reassemble(frags: &[Vec<u8>], mtu: usize) -> (Vec<u8>, bool) {
        let mut data = vec![None; 70_000];
        let mut end = 0;
        let mut last_mf = true;
        for f in frags {
            let ip = ipv4::Packet::new_checked(&f[14..]).expect("a valid header");
            assert!(ip.total_len() <= mtu, "{} > mtu {mtu}", ip.total_len());
            assert_eq!(ip.total_len(), f.len() - 14);
            let hl = ip.header_len();
            let mut c = f[14..14 + hl].to_vec();
            ipv4::Packet::new_unchecked(&mut c[..]).fill_checksum();
            assert_eq!(c, f[14..14 + hl], "checksum");
            assert_eq!(&f[14 + 4..14 + 6], &[0x12, 0x34]);
            let off = ip.frag_offset() as usize * 8;
            let mf = u16::from_be_bytes([f[20], f[21]]) & 0x2000 != 0;
            let pl = ip.payload();
            if mf {
                assert_eq!(
                    pl.len() % 8,
                    0,
                    "a non-last fragment's payload is a multiple of 8"
                );
            }
            for (i, &b) in pl.iter().enumerate() {
                data[off + i] = Some(b);
            }
            if off + pl.len() > end {
                end = off + pl.len();
                last_mf = mf;
            }
        }
        let d: Vec<u8> = data[..end].iter().map(|b| b.expect("no hole")).collect();
        (d, last_mf)
    }

    #[test]
    fn a_packet_becomes_fragments_that_reassemble_to_it() {
        let p = packet(&[], 3972, 0);
        let (r, frags) = run(&p, 1280, 8);
        assert_eq!(r, Ok(4));
        assert_eq!(frags.len(), 4);
        let (data, mf) = reassemble(&frags, 1280);
        assert_eq!(data, p[34..]);
        assert!(!mf, "the last fragment has MF clear");
        assert_eq!(frags[0].len(), 14 + 20 + 1256);
        // TTL, protocol and addresses are in every fragment.
        for f in &frags {
            assert_eq!(f[..14], p[..14]);
            assert_eq!(f[14 + 8..14 + 10], p[14 + 8..14 + 10]);
            assert_eq!(f[14 + 12..14 + 20], p[14 + 12..14 + 20]);
        }
    }

    #[test]
    fn a_fragment_is_fragmented_again_from_its_own_offset_and_keeps_its_mf() {
        // The middle piece of a datagram: offset 1480, MF set.
        let p = packet(&[], 1480, 0x2000 | (1480 / 8));
        let (r, frags) = run(&p, 1000, 8);
        assert_eq!(r, Ok(2));
        let off = |f: &Vec<u8>| (u16::from_be_bytes([f[20], f[21]]) & 0x1fff) as usize * 8;
        let mf = |f: &Vec<u8>| u16::from_be_bytes([f[20], f[21]]) & 0x2000 != 0;
        assert_eq!(off(&frags[0]), 1480);
        assert_eq!(off(&frags[1]), 1480 + 976);
        assert!(mf(&frags[0]) && mf(&frags[1]));
        // The last piece of a datagram: MF clear on its last fragment only.
        let p = packet(&[], 1480, 1480 / 8);
        let (_, frags) = run(&p, 1000, 8);
        assert!(mf(&frags[0]) && !mf(&frags[1]));
    }

    #[test]
    fn only_copied_options_follow_the_first_fragment() {
        // Record Route (7, not copied), NOP, Loose Source Route (131, copied), EOL padding.
        let rr = [7, 7, 4, 0, 0, 0, 0];
        let lsrr = [131, 7, 4, 10, 9, 0, 1];
        let mut opts = Vec::new();
        opts.extend_from_slice(&rr);
        opts.push(1);
        opts.extend_from_slice(&lsrr);
        opts.resize(16, 0);
        let p = packet(&opts, 2000, 0);
        let (r, frags) = run(&p, 1000, 8);
        assert_eq!(r, Ok(3));
        assert_eq!(
            frags[0][14] & 0x0f,
            9,
            "the first keeps all 36 bytes of header"
        );
        assert_eq!(frags[0][34..50], opts[..]);
        for f in &frags[1..] {
            assert_eq!(f[14] & 0x0f, 7, "20 + 7 copied, padded to 28");
            assert_eq!(f[34..41], lsrr);
            assert_eq!(f[41], 0);
        }
        let (data, _) = reassemble(&frags, 1000);
        assert_eq!(data, p[14 + 36..]);
    }

    #[test]
    fn an_empty_pool_or_a_tiny_mtu_makes_no_fragment() {
        let p = packet(&[], 3972, 0);
        let (r, frags) = run(&p, 1280, 2);
        assert_eq!(r, Err(FragError::NoBuffer));
        assert!(frags.is_empty());
        let (r, _) = run(&p, 27, 64);
        assert_eq!(r, Err(FragError::MtuTooSmall));
        // 8 bytes a fragment: 497 fragments.
        let (r, _) = run(&p, 28, 1000);
        assert_eq!(r, Err(FragError::MtuTooSmall));
        // A piece that would end past 65,535 bytes is no datagram's.
        let (r, _) = run(&packet(&[], 1500, 0x1fff), 1280, 8);
        assert_eq!(r, Err(FragError::NotIpv4));
        let (r, frags) = run(&packet(&[], 400, 0), 68, 64);
        assert_eq!(r, Ok(9));
        assert_eq!(reassemble(&frags, 68).0, packet(&[], 400, 0)[34..]);
    }

    #[test]
    fn a_tagged_frame_is_fragmented_behind_its_tag() {
        let p = packet(&[], 2000, 0);
        let mut t = crate::VecBuf::new(&p);
        assert!(crate::vlan::tag(&mut t, 200));
        let (r, frags) = run(t.data(), 1000, 8);
        assert_eq!(r, Ok(3));
        for f in &frags {
            assert_eq!(crate::vlan::vid_of(f), Some(200));
            let mut u = crate::VecBuf::new(f);
            assert!(crate::vlan::strip(&mut u));
        }
        let untagged: Vec<Vec<u8>> = frags
            .iter()
            .map(|f| {
                let mut u = crate::VecBuf::new(f);
                crate::vlan::strip(&mut u);
                u.data().to_vec()
            })
            .collect();
        assert_eq!(reassemble(&untagged, 1000).0, p[34..]);
    }

    #[test]
    fn malformed_options_end_what_is_copied() {
        let mut opts = vec![131, 7, 4, 10, 9, 0, 1, 0x94, 40];
        opts.resize(12, 1);
        let p = packet(&opts, 600, 0);
        let (r, frags) = run(&p, 300, 8);
        assert!(r.is_ok());
        assert_eq!(frags[1][14] & 0x0f, 7);
        assert_eq!(reassemble(&frags, 300).0, p[14 + 32..]);
    }
}
