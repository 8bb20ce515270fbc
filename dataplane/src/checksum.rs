//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/// Adds `data` to a running one's-complement sum (not yet folded).
///
/// Eight bytes at a time into a 64-bit accumulator: since 2^16 = 1 modulo
/// 0xffff, adding 32-bit big-endian words is adding their two 16-bit halves.
/// The result is folded to at most 17 bits, so callers may keep adding.
#[inline]
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut s = acc as u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        s += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 4 {
        s += u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        s += u16::from_be_bytes([rest[0], rest[1]]) as u64;
        rest = &rest[2..];
    }
    if let [b] = rest {
        s += (*b as u64) << 8;
    }
    // Fold 64 -> 17 bits, keeping the value modulo 0xffff.
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u32
}

/// Folds a running sum into the one's-complement 16-bit checksum.
#[inline]
pub fn finish(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of `data` (RFC 1071).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(0, data))
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit field changed from `old` to `new`.
#[inline]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let mut acc = (!check as u32) + (!old as u32 & 0xffff) + new as u32;
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The IPv6 pseudo-header sum (RFC 8200 section 8.1) for an upper-layer packet.
#[inline]
pub fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u32 {
    let mut acc = sum(0, src);
    acc = sum(acc, dst);
    acc = acc.wrapping_add(len >> 16).wrapping_add(len & 0xffff);
    acc.wrapping_add(next_header as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(0, &d)), !0xddf2);
    }

    fn naive(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        for c in data.chunks(2) {
            acc += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64;
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    proptest! {
        #[test]
        fn wide_sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..200), split in 0usize..100) {
            prop_assert_eq!(checksum(&data), naive(&data));
            // A running sum over two even-length parts equals the whole.
            let k = (split.min(data.len())) & !1;
            prop_assert_eq!(finish(sum(sum(0, &data[..k]), &data[k..])), naive(&data));
        }


        #[test]
        fn incremental_matches_full(mut data in proptest::collection::vec(any::<u8>(), 20..60), idx in 0usize..9, new in any::<u16>()) {
            let i = idx * 2;
            data[10] = 0; data[11] = 0;
            let c = checksum(&data);
            data[10..12].copy_from_slice(&c.to_be_bytes());
            prop_assume!(i != 10);
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            let inc = update16(c, old, new);
            data[10] = 0; data[11] = 0;
            let full = checksum(&data);
            // 0x0000 and 0xffff are the same value in one's complement.
            prop_assert!(inc == full || (inc == 0xffff && full == 0) || (inc == 0 && full == 0xffff));
        }
    }
}
