//! The packet buffer the dataplane works on: a contiguous byte slice with
//! headroom in front, so ICMP errors can be built in place.
//!
//! DPDK mbufs implement [`PacketBuf`] in the router crate; [`VecBuf`]
//! implements it over a `Vec<u8>` for tests and benchmarks.

/// A packet held in one contiguous buffer with headroom before the data.
pub trait PacketBuf {
    /// The packet's bytes, starting at the Ethernet header.
    fn data(&self) -> &[u8];
    /// The packet's bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the packet by `n` bytes at the front, taken from the headroom.
    /// Returns `false` (and changes nothing) when the headroom is too small.
    fn prepend(&mut self, n: usize) -> bool;
    /// Shortens the packet to `len` bytes; does nothing if it is not longer.
    fn truncate(&mut self, len: usize);
    /// Removes `n` bytes from the front (they become headroom). Returns
    /// `false` (and changes nothing) when the packet is shorter.
    fn adj(&mut self, n: usize) -> bool;
}

/// A `Vec<u8>`-backed [`PacketBuf`] with configurable headroom.
#[derive(Clone, Debug)]
pub struct VecBuf {
    buf: Vec<u8>,
    start: usize,
}

impl VecBuf {
    /// Headroom DPDK gives every mbuf (`RTE_PKTMBUF_HEADROOM`).
    pub const DEFAULT_HEADROOM: usize = 128;

    /// Copies `bytes` into a new buffer with [`Self::DEFAULT_HEADROOM`].
    pub fn new(bytes: &[u8]) -> Self {
        Self::with_headroom(bytes, Self::DEFAULT_HEADROOM)
    }

    /// Copies `bytes` into a new buffer with `headroom` free bytes in front.
    pub fn with_headroom(bytes: &[u8], headroom: usize) -> Self {
        let mut buf = vec![0u8; headroom];
        buf.extend_from_slice(bytes);
        Self {
            buf,
            start: headroom,
        }
    }

    /// Appends `bytes` at the end.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Replaces the contents with `bytes`, keeping the allocation and headroom.
    pub fn reset(&mut self, bytes: &[u8], headroom: usize) {
        self.buf.clear();
        self.buf.resize(headroom, 0);
        self.buf.extend_from_slice(bytes);
        self.start = headroom;
    }
}

impl PacketBuf for VecBuf {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }
    fn truncate(&mut self, len: usize) {
        self.buf.truncate(self.start + len);
    }
    fn adj(&mut self, n: usize) -> bool {
        if self.start + n > self.buf.len() {
            return false;
        }
        self.start += n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_and_truncate() {
        let mut b = VecBuf::with_headroom(&[1, 2, 3, 4], 2);
        assert!(b.prepend(2));
        assert_eq!(b.data(), &[0, 0, 1, 2, 3, 4]);
        assert!(!b.prepend(1));
        b.truncate(3);
        assert_eq!(b.data(), &[0, 0, 1]);
        b.truncate(10);
        assert_eq!(b.data().len(), 3);
    }
}
