//! Owned bursts of mbufs: what rx, tx and the rings move.

use super::*;

/// Up to `N` owned mbufs: what `rte_eth_rx_burst` or a ring hands over, or
/// what waits for `rte_eth_tx_burst`. The first `len` entries are valid
/// mbufs that nobody else owns; they are viewed as `&mut [Mbuf]`, taken out
/// one by one, or handed on in bulk, and whatever is left is freed in bulk
/// when the burst is cleared or dropped. Raw mbuf pointers never leave this
/// module.
pub struct Burst<const N: usize> {
    ptrs: [*mut sys::rte_mbuf; N],
    len: usize,
}

impl<const N: usize> Default for Burst<N> {
    fn default() -> Self {
        Burst {
            ptrs: [std::ptr::null_mut(); N],
            len: 0,
        }
    }
}

impl<const N: usize> Burst<N> {
    /// How many mbufs the burst holds.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the burst holds no mbuf.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when the burst has no room left.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// The mbufs, to read and rewrite in place.
    #[inline]
    pub fn mbufs(&mut self) -> &mut [Mbuf] {
        // SAFETY: Mbuf is repr(transparent) over NonNull<rte_mbuf>, which has
        // the layout of *mut rte_mbuf, and the first `len` entries are valid,
        // non-null, owned mbufs (the type's invariant). The slice borrows
        // self, and a slice never drops its elements.
        unsafe { std::slice::from_raw_parts_mut(self.ptrs.as_mut_ptr() as *mut Mbuf, self.len) }
    }

    /// Receives up to the burst's free room from the queue; returns how
    /// many arrived.
    #[inline]
    pub fn rx(&mut self, q: &mut RxQueue) -> usize {
        let room = &mut self.ptrs[self.len..];
        // SAFETY: `q` is the only handle of the queue and `&mut` (one thread
        // polls it); the port is started while `q` lives (it holds the port);
        // `room` has space for the count asked, and the PMD fills the first
        // n entries with mbufs it hands over.
        let n = unsafe {
            sys::shim_rte_eth_rx_burst(q.port.id, q.queue, room.as_mut_ptr(), room.len() as u16)
                as usize
        };
        self.len += n;
        n
    }

    /// Dequeues up to the burst's free room from the ring; returns how many.
    #[inline]
    pub fn dequeue(&mut self, ring: &mut Consumer) -> usize {
        let room = &mut self.ptrs[self.len..];
        // SAFETY: `ring` is the ring's one Consumer, and `&mut`: a single
        // consumer; `room` has space for the count, and the ring hands over
        // the mbufs it returns.
        let n = unsafe {
            sys::shim_rte_ring_sc_dequeue_burst(
                ring.0.ptr.as_ptr(),
                room.as_mut_ptr() as *mut *mut std::ffi::c_void,
                room.len() as u32,
            ) as usize
        };
        self.len += n;
        n
    }

    /// Adds `m` at the end; gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(m);
        }
        self.ptrs[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Sends the mbufs on the queue, in order; returns how many the PMD
    /// took. Those it did not take stay in the burst.
    #[inline]
    pub fn tx(&mut self, q: &mut TxQueue) -> usize {
        // SAFETY: `q` is the only handle of the queue and `&mut` (one thread
        // uses it); the port is started while `q` lives; the first `len`
        // entries are owned mbufs, and the PMD owns the first `sent` after.
        let sent = unsafe {
            sys::shim_rte_eth_tx_burst(q.port.id, q.queue, self.ptrs.as_mut_ptr(), self.len as u16)
                as usize
        };
        self.forget_front(sent);
        sent
    }

    /// Enqueues the mbufs on the ring, in order; returns how many it took.
    /// Those it did not take stay in the burst.
    #[inline]
    pub fn enqueue(&mut self, ring: &mut Producer) -> usize {
        // SAFETY: `ring` is the ring's one Producer, and `&mut`: a single
        // producer; the ring owns the first `n` entries after.
        let n = unsafe {
            sys::shim_rte_ring_sp_enqueue_burst(
                ring.0.ptr.as_ptr(),
                self.ptrs.as_ptr() as *const *mut std::ffi::c_void,
                self.len as u32,
            ) as usize
        };
        self.forget_front(n);
        n
    }

    /// Moves every mbuf for which `take(index, mbuf)` is true into `into`
    /// (in order, while it has room), keeping the others in order here.
    pub fn split_into<const M: usize>(
        &mut self,
        into: &mut Burst<M>,
        mut take: impl FnMut(usize, &Mbuf) -> bool,
    ) {
        let mut keep = 0;
        for i in 0..self.len {
            let p = self.ptrs[i];
            // SAFETY: an owned entry of this burst, borrowed for the call only.
            let moved =
                !into.is_full() && take(i, unsafe { &*(&self.ptrs[i] as *const _ as *const Mbuf) });
            if moved {
                into.ptrs[into.len] = p;
                into.len += 1;
            } else {
                self.ptrs[keep] = p;
                keep += 1;
            }
        }
        self.len = keep;
    }

    /// Frees the mbufs for which `keep` is false; returns how many. `keep`
    /// may be asked more than once about an mbuf.
    #[inline]
    pub fn retain(&mut self, mut keep: impl FnMut(&Mbuf) -> bool) -> usize {
        // The common case, every mbuf kept, moves nothing.
        if self.mbufs().iter().all(&mut keep) {
            return 0;
        }
        let mut gone: Burst<N> = Burst::default();
        self.split_into(&mut gone, |_, m| !keep(m));
        gone.len()
    }

    /// Takes the mbufs out, in order, leaving the burst empty; those the
    /// iterator does not yield are freed with it.
    #[inline]
    pub fn drain(&mut self) -> Drain<N> {
        let d = Drain {
            ptrs: self.ptrs,
            next: 0,
            len: self.len,
        };
        self.len = 0;
        d
    }

    /// Prefetches the first cache line of each packet's data (rte_prefetch0).
    #[inline]
    pub fn prefetch(&self) {
        for &p in &self.ptrs[..self.len] {
            // SAFETY: an owned, valid mbuf (the invariant); field reads, and
            // a prefetch is only a hint that cannot fault.
            unsafe {
                let m = &*p;
                let d = (m.buf_addr as *const u8).wrapping_add(m.data_off as usize);
                #[cfg(target_arch = "x86_64")]
                std::arch::x86_64::_mm_prefetch(d as *const i8, std::arch::x86_64::_MM_HINT_T0);
                #[cfg(not(target_arch = "x86_64"))]
                let _ = d;
            }
        }
    }

    /// Frees every mbuf, in bulk; returns how many.
    #[inline]
    pub fn clear(&mut self) -> usize {
        let n = self.len;
        if n > 0 {
            // SAFETY: the first `len` entries are owned mbufs, forgotten here.
            unsafe { sys::shim_rte_pktmbuf_free_bulk(self.ptrs.as_mut_ptr(), n as u32) };
            self.len = 0;
        }
        n
    }

    /// Drops the first `n` entries from the burst without freeing them
    /// (someone else owns them now).
    #[inline]
    fn forget_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.ptrs.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl<const N: usize> Drop for Burst<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<const N: usize> dataplane::poll::Burst for Burst<N> {
    type Pkt = Mbuf;
    const CAP: usize = N;
    #[inline]
    fn len(&self) -> usize {
        self.len
    }
    #[inline]
    fn pkts(&mut self) -> &mut [Mbuf] {
        self.mbufs()
    }
    #[inline]
    fn push(&mut self, p: Mbuf) -> Result<(), Mbuf> {
        Burst::push(self, p)
    }
    #[inline]
    fn split_into(&mut self, into: &mut Self, take: impl FnMut(usize, &Mbuf) -> bool) {
        Burst::split_into(self, into, take)
    }
    #[inline]
    fn retain(&mut self, keep: impl FnMut(&Mbuf) -> bool) -> usize {
        Burst::retain(self, keep)
    }
    #[inline]
    fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        Burst::drain(self)
    }
    #[inline]
    fn clear(&mut self) -> usize {
        Burst::clear(self)
    }
    #[inline]
    fn prefetch(&self) {
        Burst::prefetch(self)
    }
}

/// The mbufs of a [`Burst`], taken out one by one ([`Burst::drain`]).
pub struct Drain<const N: usize> {
    ptrs: [*mut sys::rte_mbuf; N],
    next: usize,
    len: usize,
}

impl<const N: usize> Iterator for Drain<N> {
    type Item = Mbuf;
    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.len {
            return None;
        }
        let p = self.ptrs[self.next];
        self.next += 1;
        // SAFETY: an owned entry of the burst, yielded once.
        unsafe { Mbuf::from_raw(p) }
    }
}

impl<const N: usize> Drop for Drain<N> {
    fn drop(&mut self) {
        let left = &mut self.ptrs[self.next..self.len];
        if !left.is_empty() {
            // SAFETY: owned entries never yielded.
            unsafe { sys::shim_rte_pktmbuf_free_bulk(left.as_mut_ptr(), left.len() as u32) };
        }
    }
}
