//! Mempools and the mbufs they hand out.

use super::*;

/// A packet mempool.
#[derive(Debug)]
pub struct Mempool {
    ptr: NonNull<sys::rte_mempool>,
    /// Bytes per mbuf, headroom included, as created.
    data_room: u16,
    /// Freed before the EAL.
    _eal: Eal,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; allocation
// and free may happen on any thread.
unsafe impl Send for Mempool {}
// SAFETY: as above; &Mempool only allows alloc, which is thread-safe.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n` mbufs of `data_room` bytes each (headroom
    /// included; see [`data_room_for_mtu`]).
    ///
    /// # Errors
    /// When DPDK cannot allocate the pool (too little memory for `-m`).
    pub fn new(
        eal: &Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
    ) -> Result<Mempool, CreateError> {
        let cname = CString::new(name).map_err(|_| CreateError::Name(name.to_owned()))?;
        // SAFETY: the EAL is up (`eal`); cname is a valid C string; sizes are in range.
        let p = unsafe { sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, -1) };
        NonNull::new(p)
            .map(|ptr| Mempool {
                ptr,
                data_room,
                _eal: eal.clone(),
            })
            .ok_or_else(|| CreateError::Mempool {
                name: name.to_owned(),
                n,
                errno: rte_errno(),
            })
    }

    /// Bytes of data room per mbuf, after the headroom.
    pub fn data_room(&self) -> u32 {
        (self.data_room as u32).saturating_sub(sys::RTE_PKTMBUF_HEADROOM)
    }

    /// Allocates one mbuf.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is valid for our lifetime.
        NonNull::new(unsafe { sys::shim_rte_pktmbuf_alloc(self.ptr.as_ptr()) })
            .map(|ptr| Mbuf { ptr })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: a valid pool; the count includes the per-lcore caches'
        // mbufs as free.
        let in_use = unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) };
        if in_use > 0 {
            // Someone still holds an mbuf of this pool (an `Mbuf` is a bare
            // pointer): freeing the pool, or the EAL's memory, would leave it
            // dangling. The pool and the EAL stay until the process ends.
            crate::eal::keep_memory();
            tracing::warn!(
                in_use,
                "mempool dropped with mbufs still held: kept until the process ends"
            );
            return;
        }
        // SAFETY: no mbuf of the pool is held, and every port using the pool
        // is closed by now: each holds the pool (Arc) until it has closed.
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) };
    }
}

/// An owned single-segment-view mbuf, freed on drop.
///
/// `repr(transparent)` over a non-null pointer, so a received burst can be
/// viewed as `&mut [Mbuf]` ([`Burst::mbufs`]).
#[derive(Debug)]
#[repr(transparent)]
pub struct Mbuf {
    ptr: NonNull<sys::rte_mbuf>,
}

impl Mbuf {
    /// Takes ownership of a raw mbuf from rx_burst.
    ///
    /// # Safety
    /// `p` must be a valid mbuf that nobody else owns.
    #[inline]
    pub(crate) unsafe fn from_raw(p: *mut sys::rte_mbuf) -> Option<Mbuf> {
        NonNull::new(p).map(|ptr| Mbuf { ptr })
    }

    /// Gives up ownership (to tx_burst).
    #[inline]
    pub(crate) fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// The user tag (`hash.usr`; after rx it holds the PMD's RSS hash, if any).
    #[inline]
    pub fn tag(&self) -> u32 {
        // SAFETY: we own a valid mbuf; a field read.
        unsafe { sys::shim_mbuf_usr(self.ptr.as_ptr()) }
    }

    /// Sets the user tag.
    #[inline]
    pub fn set_tag(&mut self, v: u32) {
        // SAFETY: we own a valid mbuf; a field write.
        unsafe { sys::shim_mbuf_set_usr(self.ptr.as_ptr(), v) }
    }

    /// Number of segments.
    #[inline]
    pub fn segments(&self) -> u16 {
        // SAFETY: valid owned mbuf; a plain field read (no FFI call per packet).
        unsafe { (*self.ptr.as_ptr()).nb_segs }
    }

    /// A packet holding `bytes`, in as many segments of `pool` as it takes
    /// (a jumbo frame from a kernel interface). `None` when the pool runs
    /// out or the chain would pass DPDK's segment limit.
    pub fn from_bytes(pool: &Mempool, bytes: &[u8]) -> Option<Mbuf> {
        let mut head = pool.alloc()?;
        let room = head.tailroom().max(1);
        let mut chunks = bytes.chunks(room);
        if !head.append(chunks.next().unwrap_or(&[])) {
            return None;
        }
        for c in chunks {
            let mut seg = pool.alloc()?;
            if !seg.append(c) {
                return None;
            }
            // SAFETY: both are valid owned mbufs; on success the head owns
            // the segment (and frees it with itself), so we forget ours.
            let rc = unsafe { sys::shim_rte_pktmbuf_chain(head.ptr.as_ptr(), seg.ptr.as_ptr()) };
            if rc != 0 {
                return None;
            }
            std::mem::forget(seg);
        }
        Some(head)
    }

    /// Free bytes after the data of the (first) segment.
    pub fn tailroom(&self) -> usize {
        // SAFETY: valid owned mbuf.
        unsafe { sys::shim_rte_pktmbuf_tailroom(self.ptr.as_ptr()) as usize }
    }

    /// The port field: the DPDK port it was received on.
    #[inline]
    pub fn port(&self) -> u16 {
        // SAFETY: valid owned mbuf; a plain field read.
        unsafe { (*self.ptr.as_ptr()).port }
    }

    /// Sets the port field (`mbuf->port`).
    pub fn set_port(&mut self, port: u16) {
        // SAFETY: valid owned mbuf; a field write.
        unsafe { sys::shim_mbuf_set_port(self.ptr.as_ptr(), port) }
    }

    /// Appends `bytes` at the tail. Returns false when they do not fit.
    pub fn append(&mut self, bytes: &[u8]) -> bool {
        // SAFETY: valid owned mbuf; append returns NULL or a pointer to
        // `bytes.len()` writable bytes inside the mbuf's data room.
        unsafe {
            let p = sys::shim_rte_pktmbuf_append(self.ptr.as_ptr(), bytes.len() as u16);
            if p.is_null() {
                return false;
            }
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p as *mut u8, bytes.len());
        }
        true
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; freeing returns it to its pool.
        unsafe { sys::shim_rte_pktmbuf_free(self.ptr.as_ptr()) };
    }
}

impl dataplane::poll::Owned for Mbuf {
    #[inline]
    fn segments(&self) -> u16 {
        Mbuf::segments(self)
    }
    #[inline]
    fn tag(&self) -> u32 {
        Mbuf::tag(self)
    }
    #[inline]
    fn set_tag(&mut self, tag: u32) {
        Mbuf::set_tag(self, tag)
    }
    #[inline]
    fn append(&mut self, bytes: &[u8]) -> bool {
        Mbuf::append(self, bytes)
    }
    fn rx_port(&self) -> u16 {
        self.port()
    }
}

impl PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        // SAFETY: buf_addr + data_off (what rte_pktmbuf_mtod computes) points at
        // data_len initialised bytes of the first segment, valid while we own
        // the mbuf and borrowed as &self. Field reads, not FFI calls: this runs
        // several times per packet.
        unsafe {
            let m = &*self.ptr.as_ptr();
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, and &mut self makes the borrow unique.
        unsafe {
            let m = &*self.ptr.as_ptr();
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        // SAFETY: valid owned mbuf; what rte_pktmbuf_prepend does, as field
        // writes (no FFI call per packet: the rewrite tags every frame that
        // leaves by a VLAN sub-interface): data_off moves back over `n`
        // bytes of headroom, which the check keeps inside the buffer.
        unsafe {
            let m = &mut *self.ptr.as_ptr();
            if n > m.data_off as usize {
                return false;
            }
            m.data_off -= n as u16;
            m.data_len += n as u16;
            m.pkt_len += n as u32;
        }
        true
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        // SAFETY: a single-segment mbuf (the worker drops multi-segment ones):
        // shortening data_len and pkt_len alike is what rte_pktmbuf_trim does.
        unsafe {
            let m = &mut *self.ptr.as_ptr();
            let cur = m.data_len as usize;
            if len < cur && m.nb_segs == 1 {
                m.data_len = len as u16;
                m.pkt_len = len as u32;
            }
        }
    }
    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        // SAFETY: as in `truncate`; moving data_off forward over bytes of the
        // first segment is what rte_pktmbuf_adj does.
        unsafe {
            let m = &mut *self.ptr.as_ptr();
            if n > m.data_len as usize || m.nb_segs != 1 {
                return false;
            }
            m.data_off += n as u16;
            m.data_len -= n as u16;
            m.pkt_len -= n as u32;
        }
        true
    }
}
