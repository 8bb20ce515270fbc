//! The safe layer over DPDK: EAL, mempool, owned mbuf, port, rx/tx queues,
//! lcore launch. Every `unsafe` block of the product outside `dpdk-sys` is
//! here, each with a `// SAFETY:` comment.
//!
//! Teardown order matters and is the caller's job: stop the workers, then
//! [`Port::stop_and_close`], then drop the [`Mempool`], then the [`Eal`].
#![deny(clippy::undocumented_unsafe_blocks)]

use dataplane::PacketBuf;
use dpdk_sys as sys;
use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::ptr::NonNull;

/// A failed DPDK call: the operation and DPDK's explanation.
#[derive(Debug, thiserror::Error)]
pub struct DpdkError {
    /// What was being done.
    pub op: String,
    /// The (positive) errno.
    pub errno: i32,
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: rte_strerror accepts any errno and returns a pointer to a
        // static or thread-local NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(sys::rte_strerror(self.errno)) };
        write!(
            f,
            "{}: {} (errno {})",
            self.op,
            msg.to_string_lossy(),
            self.errno
        )
    }
}

fn check(rc: i32, op: impl Into<String>) -> Result<i32, DpdkError> {
    if rc < 0 {
        Err(DpdkError {
            op: op.into(),
            errno: -rc,
        })
    } else {
        Ok(rc)
    }
}

fn rte_errno() -> i32 {
    // SAFETY: reads the calling thread's rte_errno; no preconditions.
    unsafe { sys::shim_rte_errno() }
}

/// The initialised Environment Abstraction Layer. Dropping it runs `rte_eal_cleanup`.
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Runs `rte_eal_init` with `args` (the first is the program name).
    ///
    /// # Errors
    /// When the EAL refuses the arguments or cannot start.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        let cargs: Vec<CString> = args
            .iter()
            .map(|a| {
                CString::new(a.as_str()).map_err(|_| DpdkError {
                    op: format!("EAL argument {a:?} contains NUL"),
                    errno: 22,
                })
            })
            .collect::<Result<_, _>>()?;
        let mut argv: Vec<*mut std::os::raw::c_char> =
            cargs.iter().map(|c| c.as_ptr() as *mut _).collect();
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive the
        // call (the EAL keeps no pointer into them after init returns:
        // it copies what it keeps).
        let rc = unsafe { sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError {
                op: format!("rte_eal_init({})", args[1..].join(" ")),
                errno: rte_errno(),
            });
        }
        Ok(Eal { _private: () })
    }

    /// The worker lcores (all enabled lcores but the main one).
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = u32::MAX;
        loop {
            // SAFETY: valid after rte_eal_init; any index is accepted.
            i = unsafe { sys::rte_get_next_lcore(i, 1, 0) };
            if i >= sys::RTE_MAX_LCORE {
                return out;
            }
            out.push(i);
        }
    }

    /// Starts `f` on worker lcore `lcore`.
    ///
    /// # Errors
    /// When the lcore is not a free worker.
    pub fn launch(&self, lcore: u32, f: Box<dyn FnOnce() + Send>) -> Result<(), DpdkError> {
        unsafe extern "C" fn trampoline(arg: *mut c_void) -> i32 {
            // SAFETY: `arg` is the Box<Box<dyn FnOnce>> leaked below, passed
            // exactly once to exactly one lcore.
            let f = unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) };
            f();
            0
        }
        let arg = Box::into_raw(Box::new(f)) as *mut c_void;
        // SAFETY: trampoline has the lcore_function_t signature and takes
        // ownership of `arg`; on failure we reclaim it below.
        let rc = unsafe { sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if rc < 0 {
            // SAFETY: the launch failed, so nobody else owns `arg`.
            drop(unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) });
            return Err(DpdkError {
                op: format!("rte_eal_remote_launch(lcore {lcore})"),
                errno: -rc,
            });
        }
        Ok(())
    }

    /// Waits for every worker lcore to return.
    pub fn wait_workers(&self) {
        // SAFETY: valid on the main lcore after init.
        unsafe { sys::rte_eal_mp_wait_lcore() };
    }

    /// TSC ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: valid after init.
        unsafe { sys::rte_get_tsc_hz() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: valid after init; DPDK returns a NUL-terminated path it owns.
        let dir = unsafe {
            let p = sys::rte_eal_get_runtime_dir();
            (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        // SAFETY: called once, after every DPDK object is gone (caller's order).
        unsafe { sys::rte_eal_cleanup() };
        // rte_eal_cleanup leaves the runtime directory (/var/run/dpdk/PREFIX)
        // behind, with the telemetry socket that an exit handler unlinks
        // later: remove both, so a stopped router leaves nothing. Only a
        // directory DPDK named (PREFIX under a `dpdk` directory), never
        // anything else.
        if let Some(d) = dir.map(std::path::PathBuf::from) {
            if d.parent().and_then(|p| p.file_name()) == Some(std::ffi::OsStr::new("dpdk")) {
                let _ = std::fs::remove_dir_all(&d);
            }
        }
    }
}

/// Reads the TSC.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: a plain instruction read.
    unsafe { sys::shim_rte_rdtsc() }
}

/// The mbuf data room (headroom included) that holds a whole frame of a
/// port with IP MTU `mtu` in one segment: Ethernet header, two VLAN tags and
/// the CRC on top. Never less than DPDK's default (2048 + headroom). One
/// segment per frame is what the pipeline reads, so jumbo MTUs get big mbufs
/// rather than scattered rx (which the worker would drop).
pub fn data_room_for_mtu(mtu: u16) -> u16 {
    let frame = mtu as u32 + 14 + 8 + 4;
    let room = (sys::RTE_PKTMBUF_HEADROOM + frame).next_multiple_of(64);
    room.max(sys::RTE_MBUF_DEFAULT_BUF_SIZE)
        .min(u16::MAX as u32) as u16
}

/// A packet mempool.
#[derive(Debug)]
pub struct Mempool {
    ptr: NonNull<sys::rte_mempool>,
    /// Bytes per mbuf, headroom included, as created.
    data_room: u16,
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
    pub fn new(name: &str, n: u32, cache: u32, data_room: u16) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name).expect("pool name has no NUL");
        // SAFETY: cname is a valid C string; sizes are in range.
        let p = unsafe { sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, -1) };
        NonNull::new(p)
            .map(|ptr| Mempool { ptr, data_room })
            .ok_or_else(|| DpdkError {
                op: format!("rte_pktmbuf_pool_create({name}, {n} mbufs)"),
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

    fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: every port using the pool is closed by now (teardown order).
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
    unsafe fn from_raw(p: *mut sys::rte_mbuf) -> Option<Mbuf> {
        NonNull::new(p).map(|ptr| Mbuf { ptr })
    }

    /// Gives up ownership (to tx_burst).
    #[inline]
    fn into_raw(self) -> *mut sys::rte_mbuf {
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
        if n > u16::MAX as usize {
            return false;
        }
        // SAFETY: prepend checks the headroom and returns NULL when short.
        !unsafe { sys::shim_rte_pktmbuf_prepend(self.ptr.as_ptr(), n as u16) }.is_null()
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
}

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

    /// Receives up to the burst's free room from `port`'s `queue`; returns
    /// how many arrived. Only the lcore that owns the queue may call this.
    #[inline]
    pub fn rx(&mut self, port: u16, queue: u16) -> usize {
        let room = &mut self.ptrs[self.len..];
        // SAFETY: the queue is polled by this lcore only; `room` has space
        // for the count asked, and the PMD fills the first n entries with
        // mbufs it hands over.
        let n = unsafe {
            sys::shim_rte_eth_rx_burst(port, queue, room.as_mut_ptr(), room.len() as u16) as usize
        };
        self.len += n;
        n
    }

    /// Dequeues up to the burst's free room from `ring`; returns how many.
    /// Only the ring's one consumer may call this.
    #[inline]
    pub fn dequeue(&mut self, ring: &Ring) -> usize {
        let room = &mut self.ptrs[self.len..];
        // SAFETY: single consumer (the caller's contract); `room` has space
        // for the count, and the ring hands over the mbufs it returns.
        let n = unsafe {
            sys::shim_rte_ring_sc_dequeue_burst(
                ring.ptr.as_ptr(),
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

    /// Sends the mbufs on `port`'s `queue`, in order; returns how many the
    /// PMD took. Those it did not take stay in the burst.
    #[inline]
    pub fn tx(&mut self, port: u16, queue: u16) -> usize {
        // SAFETY: the queue is used by this lcore only; the first `len`
        // entries are owned mbufs, and the PMD owns the first `sent` after.
        let sent = unsafe {
            sys::shim_rte_eth_tx_burst(port, queue, self.ptrs.as_mut_ptr(), self.len as u16)
                as usize
        };
        self.forget_front(sent);
        sent
    }

    /// Enqueues the mbufs on `ring`, in order; returns how many it took.
    /// Those it did not take stay in the burst. Only the ring's one
    /// producer may call this.
    #[inline]
    pub fn enqueue(&mut self, ring: &Ring) -> usize {
        // SAFETY: single producer (the caller's contract); the ring owns the
        // first `n` entries after.
        let n = unsafe {
            sys::shim_rte_ring_sp_enqueue_burst(
                ring.ptr.as_ptr(),
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

/// A single-producer, single-consumer ring of mbufs between two lcores
/// (`rte_ring` with `RING_F_SP_ENQ | RING_F_SC_DEQ`): lock-free, fixed
/// size, no allocation after creation. Workers hand packets to each other
/// through these (SNAT reply steering).
#[derive(Debug)]
pub struct Ring {
    ptr: NonNull<sys::rte_ring>,
}

// SAFETY: one lcore enqueues and one dequeues (the SP/SC contract, kept by
// the worker set-up, which gives each ring one sender and one receiver);
// rte_ring synchronises the two with its head/tail indexes.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// A ring of `size` slots (a power of two; it holds `size - 1`).
    ///
    /// # Errors
    /// When DPDK cannot allocate it, or the name is taken.
    pub fn new(name: &str, size: u32) -> Result<Ring, DpdkError> {
        let cname = CString::new(name).expect("ring name has no NUL");
        // SAFETY: cname is a valid C string; the flags are DPDK's own.
        let p = unsafe {
            sys::rte_ring_create(
                cname.as_ptr(),
                size,
                -1,
                sys::RING_F_SP_ENQ | sys::RING_F_SC_DEQ,
            )
        };
        NonNull::new(p)
            .map(|ptr| Ring { ptr })
            .ok_or_else(|| DpdkError {
                op: format!("rte_ring_create({name}, {size})"),
                errno: rte_errno(),
            })
    }

    /// Enqueues one mbuf; gives it back when the ring is full. Only the
    /// ring's one producer may call this.
    #[inline]
    pub fn enqueue_one(&self, m: Mbuf) -> Result<(), Mbuf> {
        let mut b: Burst<1> = Burst::default();
        let _ = b.push(m);
        if b.enqueue(self) == 1 {
            return Ok(());
        }
        Err(b.drain().next().expect("the burst holds the mbuf"))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Free what is still queued, then the ring (both lcores are done by
        // the time the last reference goes).
        let mut left: Burst<32> = Burst::default();
        while left.dequeue(self) > 0 {
            left.clear();
        }
        // SAFETY: created by rte_ring_create, freed once.
        unsafe { sys::rte_ring_free(self.ptr.as_ptr()) };
    }
}

/// An ethdev port.
#[derive(Debug, Clone, Copy)]
pub struct Port {
    /// DPDK port id.
    pub id: u16,
}

impl Port {
    /// Finds or hot-plugs the device `devargs` (e.g. `net_tap0,iface=lan` or a PCI address).
    ///
    /// # Errors
    /// When the device cannot be probed.
    pub fn probe(devargs: &str) -> Result<Port, DpdkError> {
        let name = devargs.split(',').next().unwrap_or(devargs);
        if let Some(p) = Self::by_name(name) {
            return Ok(p);
        }
        let c = CString::new(devargs).map_err(|_| DpdkError {
            op: "device contains NUL".into(),
            errno: 22,
        })?;
        // SAFETY: c is a valid C string; probing is allowed on the main lcore.
        let rc = unsafe { sys::rte_dev_probe(c.as_ptr()) };
        check(rc, format!("probing device '{devargs}'"))?;
        Self::by_name(name).ok_or_else(|| DpdkError {
            op: format!("device '{devargs}' probed but no port named '{name}' appeared"),
            errno: 19,
        })
    }

    fn by_name(name: &str) -> Option<Port> {
        let c = CString::new(name).ok()?;
        let mut id = 0u16;
        // SAFETY: c is valid; id is a valid out-pointer.
        (unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) } == 0)
            .then_some(Port { id })
    }

    /// Configures `queues` rx and tx queues with `desc` descriptors each, sets the MTU, and starts the port.
    ///
    /// # Errors
    /// When the PMD refuses the configuration.
    pub fn configure_and_start(
        &self,
        queues: u16,
        desc: u16,
        mtu: u16,
        pool: &Mempool,
    ) -> Result<(), DpdkError> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { sys::rte_eth_dev_info_get(self.id, &mut info) };
        check(rc, format!("reading port {} info", self.id))?;
        if info.max_rx_queues < queues || info.max_tx_queues < queues {
            return Err(DpdkError {
                op: format!(
                    "port {} offers {} rx and {} tx queues, and each of the {queues} workers needs its own (lower `workers:`, or give the device more queues: for net_pcap one rx_pcap/tx_pcap pair per queue)",
                    self.id, info.max_rx_queues, info.max_tx_queues
                ),
                errno: 22,
            });
        }
        let mut conf = sys::rte_eth_conf::default();
        // SAFETY: valid port id and config.
        let rss = unsafe { sys::shim_configure_rss(self.id, &mut conf, queues) };
        if queues > 1 {
            if rss == 0 {
                tracing::warn!(
                    port = self.id,
                    queues,
                    "the port has no RSS: every packet arrives on queue 0, so worker 0 does all of this port's work"
                );
            } else {
                tracing::info!(
                    port = self.id,
                    queues,
                    rss_hf = format!("{rss:#x}"),
                    "RSS over the workers' queues (symmetric key)"
                );
            }
        }
        // SAFETY: conf is a valid config; the port is stopped.
        let rc = unsafe { sys::rte_eth_dev_configure(self.id, queues, queues, &conf) };
        check(rc, format!("configuring port {}", self.id))?;
        // SAFETY: the port is configured and stopped.
        let socket = unsafe { sys::rte_eth_dev_socket_id(self.id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..queues {
            let mp = pool.as_ptr();
            // SAFETY: q < queues; NULL conf selects the PMD defaults; the pool outlives the port.
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(self.id, q, desc, socket, std::ptr::null(), mp)
            };
            // ENOMEM here is also a PMD whose frames do not fit in the
            // pool's mbufs (ethdev logs the sizes just before).
            check(
                rc,
                if rc == -12 {
                    format!(
                        "rx queue {q} of port {} (out of mbufs, or the PMD's frames are larger than the mbufs' {} bytes of data room for MTU {mtu}: see the EAL's message above)",
                        self.id,
                        pool.data_room()
                    )
                } else {
                    format!("rx queue {q} of port {}", self.id)
                },
            )?;
            // SAFETY: as above.
            let rc =
                unsafe { sys::rte_eth_tx_queue_setup(self.id, q, desc, socket, std::ptr::null()) };
            check(rc, format!("tx queue {q} of port {}", self.id))?;
        }
        // SAFETY: valid port; some PMDs do not support MTU changes, which we log and accept.
        let rc = unsafe { sys::rte_eth_dev_set_mtu(self.id, mtu) };
        if rc < 0 {
            tracing::warn!(
                port = self.id,
                mtu,
                "PMD did not accept the MTU: {}",
                DpdkError {
                    op: "rte_eth_dev_set_mtu".into(),
                    errno: -rc
                }
            );
        }
        // SAFETY: configured port with its queues set up.
        let rc = unsafe { sys::rte_eth_dev_start(self.id) };
        check(rc, format!("starting port {}", self.id))?;
        // Multicast is needed for NDP (solicited-node addresses). Not every PMD supports it.
        // SAFETY: started port.
        let _ = unsafe { sys::rte_eth_allmulticast_enable(self.id) };
        Ok(())
    }

    /// The port's MAC address.
    pub fn mac(&self) -> dataplane::MacAddr {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        unsafe { sys::rte_eth_macaddr_get(self.id, &mut a) };
        dataplane::MacAddr(a.addr_bytes)
    }

    /// True when the PMD reports the link up (non-blocking query).
    pub fn link_up(&self) -> bool {
        let mut l = sys::rte_eth_link::default();
        // SAFETY: valid port id and out-pointer; the nowait variant never sleeps.
        let rc = unsafe { sys::rte_eth_link_get_nowait(self.id, &mut l) };
        rc == 0 && l.link_status() != 0
    }

    /// The PMD's counters.
    pub fn stats(&self) -> control::metrics::PortCounters {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid port id and out-pointer; callable from any thread.
        unsafe { sys::rte_eth_stats_get(self.id, &mut s) };
        control::metrics::PortCounters {
            rx_packets: s.ipackets,
            rx_bytes: s.ibytes,
            tx_packets: s.opackets,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            rx_nombuf: s.rx_nombuf,
            tx_errors: s.oerrors,
            link_up: false,
            kernel: None,
        }
    }

    /// Stops and closes the port (the workers must be stopped).
    pub fn stop_and_close(&self) {
        // SAFETY: no lcore polls the port any more (teardown order).
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
        }
    }
}
