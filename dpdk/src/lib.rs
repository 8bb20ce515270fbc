//! The safe layer over DPDK: EAL, mempool, owned mbuf, port, rx/tx queues,
//! rings, lcore launch. Every `unsafe` block of the product outside
//! `dpdk-sys` is here, each with a `// SAFETY:` comment.
//!
//! DPDK's rules are kept by the types, not by the caller:
//! - **One lcore per queue.** [`Port::start`] hands out one [`RxQueue`] and
//!   one [`TxQueue`] per queue id. They are not `Clone` and not `Sync`: the
//!   thread that owns one is the only one that can poll it.
//! - **One producer and one consumer per ring.** [`Ring::create`] returns a
//!   [`Producer`] and a [`Consumer`], each not `Clone` and not `Sync`.
//! - **Teardown order.** Every mempool, ring and port holds the [`Eal`], a
//!   port holds its mempool, a queue holds its port. A port stops and
//!   closes when its last handle goes (no queue can be polled by then), its
//!   pool is freed after it, and `rte_eal_cleanup` runs after all of them.
//!
//! The compiler refuses to share a queue or a ring's end between threads:
//!
//! ```compile_fail
//! fn shared<T: Sync>() {}
//! shared::<dpdk::RxQueue>();
//! ```
//! ```compile_fail
//! fn shared<T: Sync>() {}
//! shared::<dpdk::Producer>();
//! ```
//! ```compile_fail
//! fn copied<T: Clone>() {}
//! copied::<dpdk::TxQueue>();
//! ```
//! ```
//! fn moved<T: Send>() {}
//! moved::<dpdk::RxQueue>();
//! moved::<dpdk::Consumer>();
//! ```
//!
//! One rule is left to the program: an [`Mbuf`] must not outlive the EAL
//! (an mbuf is a pointer; holding the EAL in each would cost a reference
//! count per packet). The router drops its last handles on the main lcore
//! after the workers and threads that hold mbufs have returned.
#![allow(unsafe_code)] // the one crate with unsafe code
#![deny(clippy::undocumented_unsafe_blocks)]

use dataplane::PacketBuf;
use dpdk_sys as sys;
use std::ffi::{c_void, CStr, CString};
use std::ptr::NonNull;
use std::sync::Arc;

/// The RSS policy of a port with several queues.
mod rss {
    use super::sys;

    /// A symmetric Toeplitz key (0x6d5a repeated): both directions of a flow
    /// hash alike, so they reach the same queue (and worker).
    static SYMMETRIC_KEY: [u8; 40] = {
        let mut k = [0u8; 40];
        let mut i = 0;
        while i < 40 {
            k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
            i += 1;
        }
        k
    };

    /// Sets RSS in `conf` when `queues` > 1 and the port supports it: the IP,
    /// TCP and UDP hash types the device offers, with the symmetric key when
    /// the device takes a 40-byte key. Returns the hash types configured; 0
    /// when the port has no RSS (then every packet arrives on queue 0).
    pub(super) fn configure(
        info: &sys::rte_eth_dev_info,
        conf: &mut sys::rte_eth_conf,
        queues: u16,
    ) -> u64 {
        // SAFETY: a constant of the shim, no preconditions.
        let wanted = unsafe { sys::shim_rss_ip_tcp_udp() };
        let hf = wanted & info.flow_type_rss_offloads;
        if queues < 2 || hf == 0 {
            return 0;
        }
        conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = hf;
        if usize::from(info.hash_key_size) == SYMMETRIC_KEY.len() {
            // DPDK reads the key and never writes it (rte_eth_dev_configure copies it).
            conf.rx_adv_conf.rss_conf.rss_key = SYMMETRIC_KEY.as_ptr() as *mut u8;
            conf.rx_adv_conf.rss_conf.rss_key_len = SYMMETRIC_KEY.len() as u8;
        }
        hf
    }
}

/// DPDK's explanation of an errno.
fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror accepts any errno and returns a pointer to a
    // static or thread-local NUL-terminated string.
    let msg = unsafe { CStr::from_ptr(sys::rte_strerror(errno)) };
    format!("{} (errno {errno})", msg.to_string_lossy())
}

/// Why the EAL did not start or launch.
#[derive(Debug, thiserror::Error)]
pub enum EalError {
    /// An argument with a NUL byte.
    #[error("EAL argument {0:?} contains NUL")]
    Argument(String),
    /// `rte_eal_init` refused.
    #[error("rte_eal_init({args}): {}", strerror(*errno))]
    Init {
        /// The arguments after the program name.
        args: String,
        /// The errno.
        errno: i32,
    },
    /// `rte_eal_remote_launch` refused (the lcore is not a free worker).
    #[error("rte_eal_remote_launch(lcore {lcore}): {}", strerror(*errno))]
    Launch {
        /// The lcore.
        lcore: u32,
        /// The errno.
        errno: i32,
    },
}

/// Why a mempool or a ring was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A name with a NUL byte.
    #[error("the name {0:?} contains NUL")]
    Name(String),
    /// `rte_pktmbuf_pool_create` failed (too little memory for `-m`, or the name is taken).
    #[error("rte_pktmbuf_pool_create({name}, {n} mbufs): {}", strerror(*errno))]
    Mempool {
        /// The pool's name.
        name: String,
        /// Its size.
        n: u32,
        /// The errno.
        errno: i32,
    },
    /// `rte_ring_create` failed (no memory, a size that is not a power of two, the name is taken).
    #[error("rte_ring_create({name}, {size}): {}", strerror(*errno))]
    Ring {
        /// The ring's name.
        name: String,
        /// Its size.
        size: u32,
        /// The errno.
        errno: i32,
    },
}

/// Why a port was not probed, configured or started.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Devargs with a NUL byte.
    #[error("device {0:?} contains NUL")]
    Devargs(String),
    /// `rte_dev_probe` failed.
    #[error("probing device '{devargs}': {}", strerror(*errno))]
    Probe {
        /// The devargs.
        devargs: String,
        /// The errno.
        errno: i32,
    },
    /// The probe succeeded but no port has the device's name.
    #[error("device '{devargs}' probed but no port named '{name}' appeared")]
    NoPort {
        /// The devargs.
        devargs: String,
        /// The name looked up.
        name: String,
    },
    /// The port was started already (its queues have their owners).
    #[error("port {0} is started already")]
    Started(u16),
    /// The device has fewer queues than workers.
    #[error("port {port} offers {rx} rx and {tx} tx queues, and each of the {wanted} workers needs its own (lower `workers:`, or give the device more queues: for net_pcap one rx_pcap/tx_pcap pair per queue)")]
    TooFewQueues {
        /// The port.
        port: u16,
        /// Its rx queues.
        rx: u16,
        /// Its tx queues.
        tx: u16,
        /// The queues asked for.
        wanted: u16,
    },
    /// A step of configuring the port failed.
    #[error("{step} of port {port}: {}", strerror(*errno))]
    Setup {
        /// The port.
        port: u16,
        /// What was being done: "reading the info", "configuring", "starting".
        step: &'static str,
        /// The errno.
        errno: i32,
    },
    /// An rx or tx queue's setup failed.
    #[error("{dir} queue {queue} of port {port}: {}{}", strerror(*errno), if *errno == 12 && *dir == "rx" { format!(" (out of mbufs, or the PMD's frames are larger than the mbufs' {data_room} bytes of data room for MTU {mtu}: see the EAL's message above)") } else { String::new() })]
    Queue {
        /// The port.
        port: u16,
        /// "rx" or "tx".
        dir: &'static str,
        /// The queue.
        queue: u16,
        /// The errno.
        errno: i32,
        /// The pool's data room (an rx ENOMEM is often a frame larger than it).
        data_room: u32,
        /// The port's MTU.
        mtu: u16,
    },
}

fn rte_errno() -> i32 {
    // SAFETY: reads the calling thread's rte_errno; no preconditions.
    unsafe { sys::shim_rte_errno() }
}

/// The initialised Environment Abstraction Layer. Cloning it is cheap:
/// every mempool, ring and port holds one. When the last goes, it waits for
/// the worker lcores and runs `rte_eal_cleanup`.
#[derive(Debug, Clone)]
pub struct Eal {
    _inner: Arc<EalInner>,
}

/// The EAL itself: cleaned up when the last handle goes.
#[derive(Debug)]
struct EalInner {
    _private: (),
}

/// True while an EAL is initialised in this process (`rte_eal_init` may run once).
static EAL_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Eal {
    /// Runs `rte_eal_init` with `args` (the first is the program name).
    ///
    /// # Errors
    /// When the EAL refuses the arguments or cannot start.
    pub fn init(args: &[String]) -> Result<Eal, EalError> {
        let cargs: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| EalError::Argument(a.clone())))
            .collect::<Result<_, _>>()?;
        if EAL_UP.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(EalError::Init {
                args: args.get(1..).unwrap_or_default().join(" "),
                errno: 114, // EALREADY, as rte_eal_init says it
            });
        }
        let mut argv: Vec<*mut std::os::raw::c_char> =
            cargs.iter().map(|c| c.as_ptr() as *mut _).collect();
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive the
        // call (the EAL keeps no pointer into them after init returns:
        // it copies what it keeps).
        let rc = unsafe { sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if rc < 0 {
            EAL_UP.store(false, std::sync::atomic::Ordering::SeqCst);
            return Err(EalError::Init {
                args: args.get(1..).unwrap_or_default().join(" "),
                errno: rte_errno(),
            });
        }
        Ok(Eal {
            _inner: Arc::new(EalInner { _private: () }),
        })
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
    pub fn launch(&self, lcore: u32, f: Box<dyn FnOnce() + Send>) -> Result<(), EalError> {
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
            return Err(EalError::Launch { lcore, errno: -rc });
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

impl Drop for EalInner {
    fn drop(&mut self) {
        // SAFETY: plain reads, valid after init.
        let (me, main) = unsafe { (sys::shim_rte_lcore_id(), sys::rte_get_main_lcore()) };
        if me != main && me != u32::MAX {
            // A worker lcore let the last handle go: it cannot wait for
            // itself, and cleanup belongs to the main lcore. The EAL stays up
            // until the process ends.
            return;
        }
        // SAFETY: valid after init, on the main lcore or a non-EAL thread.
        unsafe { sys::rte_eal_mp_wait_lcore() };
        // SAFETY: valid after init; DPDK returns a NUL-terminated path it owns.
        let dir = unsafe {
            let p = sys::rte_eal_get_runtime_dir();
            (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        // SAFETY: called once (the last handle), after every mempool, ring
        // and port is gone (each holds a handle) and the workers returned.
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

    fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: every port using the pool is closed by now: each holds
        // the pool (Arc) until it has closed.
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

/// A single-producer, single-consumer ring of mbufs between two threads
/// (`rte_ring` with `RING_F_SP_ENQ | RING_F_SC_DEQ`): lock-free, fixed
/// size, no allocation after creation. [`Ring::create`] gives its two ends.
#[derive(Debug)]
pub struct Ring {
    ptr: NonNull<sys::rte_ring>,
    /// Freed before the EAL.
    _eal: Eal,
}

// SAFETY: the ring is only reached through its one Producer and one
// Consumer (neither Clone nor Sync); rte_ring synchronises the two with its
// head/tail indexes. Ring itself is only shared (Arc) by the two ends, and
// dropped by the last.
unsafe impl Send for Ring {}
// SAFETY: as above: &Ring offers nothing but its drop.
unsafe impl Sync for Ring {}

/// The sending end of a [`Ring`]: one thread owns it.
#[derive(Debug)]
pub struct Producer(Arc<Ring>, OneThread);

/// The receiving end of a [`Ring`]: one thread owns it.
#[derive(Debug)]
pub struct Consumer(Arc<Ring>, OneThread);

/// Makes a handle `Send` but not `Sync`: one thread at a time owns it.
type OneThread = std::marker::PhantomData<std::cell::Cell<()>>;

impl Ring {
    /// A ring of `size` slots (a power of two; it holds `size - 1`): its
    /// producer and its consumer.
    ///
    /// # Errors
    /// When DPDK cannot allocate it, or the name is taken.
    pub fn create(eal: &Eal, name: &str, size: u32) -> Result<(Producer, Consumer), CreateError> {
        let cname = CString::new(name).map_err(|_| CreateError::Name(name.to_owned()))?;
        // SAFETY: the EAL is up (`eal`); cname is a valid C string; the flags are DPDK's own.
        let p = unsafe {
            sys::rte_ring_create(
                cname.as_ptr(),
                size,
                -1,
                sys::RING_F_SP_ENQ | sys::RING_F_SC_DEQ,
            )
        };
        let ring = NonNull::new(p)
            .map(|ptr| Ring {
                ptr,
                _eal: eal.clone(),
            })
            .ok_or_else(|| CreateError::Ring {
                name: name.to_owned(),
                size,
                errno: rte_errno(),
            })?;
        let ring = Arc::new(ring);
        Ok((
            Producer(ring.clone(), OneThread::default()),
            Consumer(ring, OneThread::default()),
        ))
    }
}

impl Producer {
    /// Enqueues one mbuf; gives it back when the ring is full.
    #[inline]
    pub fn enqueue_one(&mut self, m: Mbuf) -> Result<(), Mbuf> {
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
        // Both ends are gone: free what is still queued, then the ring.
        let mut left = [std::ptr::null_mut::<c_void>(); 32];
        loop {
            // SAFETY: no end is left, so this is the only consumer; `left`
            // has room for 32, and the ring hands over what it returns.
            let n = unsafe {
                sys::shim_rte_ring_sc_dequeue_burst(self.ptr.as_ptr(), left.as_mut_ptr(), 32)
            };
            if n == 0 {
                break;
            }
            // SAFETY: the n pointers are mbufs the ring owned, now ours.
            unsafe {
                sys::shim_rte_pktmbuf_free_bulk(left.as_mut_ptr() as *mut *mut sys::rte_mbuf, n)
            };
        }
        // SAFETY: created by rte_ring_create, freed once.
        unsafe { sys::rte_ring_free(self.ptr.as_ptr()) };
    }
}

/// A port's counters, as the PMD keeps them (`rte_eth_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped: no free rx descriptor.
    pub rx_missed: u64,
    /// Erroneous packets received.
    pub rx_errors: u64,
    /// Receive failures: no mbuf.
    pub rx_nombuf: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
}

/// An ethdev port. Cloning it is cheap (the API reads its MAC, link and
/// counters from any thread). It stops and closes when its last handle,
/// queues included, goes.
#[derive(Debug, Clone)]
pub struct Port {
    inner: Arc<PortInner>,
}

#[derive(Debug)]
struct PortInner {
    id: u16,
    /// The rx queues' pool, once started: freed after the port closes.
    pool: std::sync::OnceLock<Arc<Mempool>>,
    /// Closed before the EAL.
    _eal: Eal,
}

/// The ports a [`Port`] handle owns, by id: one owner per port, so no
/// other handle can close it under its queues.
static OWNED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

/// A port's rx queue: the one thread that owns it polls it
/// ([`Burst::rx`]). Not `Clone`, not `Sync`.
#[derive(Debug)]
pub struct RxQueue {
    port: Arc<PortInner>,
    queue: u16,
    _one: OneThread,
}

/// A port's tx queue: the one thread that owns it sends on it
/// ([`Burst::tx`]). Not `Clone`, not `Sync`.
#[derive(Debug)]
pub struct TxQueue {
    port: Arc<PortInner>,
    queue: u16,
    _one: OneThread,
}

impl RxQueue {
    /// The DPDK port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }
    /// The queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl TxQueue {
    /// The DPDK port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }
    /// The queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Port {
    /// Finds or hot-plugs the device `devargs` (e.g. `net_tap0,iface=lan` or a PCI address).
    ///
    /// # Errors
    /// When the device cannot be probed, or another handle owns it.
    pub fn probe(eal: &Eal, devargs: &str) -> Result<Port, PortError> {
        let name = devargs.split(',').next().unwrap_or(devargs);
        let id = match Self::by_name(name) {
            Some(id) => id,
            None => {
                let c = CString::new(devargs).map_err(|_| PortError::Devargs(devargs.into()))?;
                // SAFETY: the EAL is up (`eal`); c is a valid C string.
                let rc = unsafe { sys::rte_dev_probe(c.as_ptr()) };
                if rc < 0 {
                    return Err(PortError::Probe {
                        devargs: devargs.into(),
                        errno: -rc,
                    });
                }
                Self::by_name(name).ok_or_else(|| PortError::NoPort {
                    devargs: devargs.into(),
                    name: name.into(),
                })?
            }
        };
        let mut owned = OWNED.lock().unwrap_or_else(|e| e.into_inner());
        if owned.contains(&id) {
            return Err(PortError::Started(id));
        }
        owned.push(id);
        Ok(Port {
            inner: Arc::new(PortInner {
                id,
                pool: std::sync::OnceLock::new(),
                _eal: eal.clone(),
            }),
        })
    }

    fn by_name(name: &str) -> Option<u16> {
        let c = CString::new(name).ok()?;
        let mut id = 0u16;
        // SAFETY: c is valid; id is a valid out-pointer.
        (unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) } == 0).then_some(id)
    }

    /// The DPDK port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// Configures `queues` rx and tx queues with `desc` descriptors each,
    /// sets the MTU, and starts the port: the queues' handles, by queue id.
    /// A port starts once.
    ///
    /// # Errors
    /// When the PMD refuses the configuration, or the port was started.
    pub fn start(
        &self,
        queues: u16,
        desc: u16,
        mtu: u16,
        pool: &Arc<Mempool>,
    ) -> Result<Vec<(RxQueue, TxQueue)>, PortError> {
        let id = self.inner.id;
        if self.inner.pool.set(pool.clone()).is_err() {
            return Err(PortError::Started(id));
        }
        let setup = |step, rc: i32| {
            if rc < 0 {
                Err(PortError::Setup {
                    port: id,
                    step,
                    errno: -rc,
                })
            } else {
                Ok(())
            }
        };
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out-pointer.
        setup("reading the info", unsafe {
            sys::rte_eth_dev_info_get(id, &mut info)
        })?;
        if info.max_rx_queues < queues || info.max_tx_queues < queues {
            return Err(PortError::TooFewQueues {
                port: id,
                rx: info.max_rx_queues,
                tx: info.max_tx_queues,
                wanted: queues,
            });
        }
        let mut conf = sys::rte_eth_conf::default();
        let rss = rss::configure(&info, &mut conf, queues);
        if queues > 1 {
            if rss == 0 {
                tracing::warn!(
                    port = id,
                    queues,
                    "the port has no RSS: every packet arrives on queue 0, so worker 0 does all of this port's work"
                );
            } else {
                tracing::info!(
                    port = id,
                    queues,
                    rss_hf = format!("{rss:#x}"),
                    "RSS over the workers' queues (symmetric key)"
                );
            }
        }
        // SAFETY: conf is a valid config (its key, if any, is static); the port is stopped.
        setup("configuring", unsafe {
            sys::rte_eth_dev_configure(id, queues, queues, &conf)
        })?;
        // SAFETY: the port is configured and stopped.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        let queue_error = |dir, queue, rc: i32| PortError::Queue {
            port: id,
            dir,
            queue,
            errno: -rc,
            data_room: pool.data_room(),
            mtu,
        };
        for q in 0..queues {
            // SAFETY: q < queues; NULL conf selects the PMD defaults; the
            // pool outlives the port (the port holds it).
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, desc, socket, std::ptr::null(), pool.as_ptr())
            };
            if rc < 0 {
                return Err(queue_error("rx", q, rc));
            }
            // SAFETY: as above.
            let rc = unsafe { sys::rte_eth_tx_queue_setup(id, q, desc, socket, std::ptr::null()) };
            if rc < 0 {
                return Err(queue_error("tx", q, rc));
            }
        }
        // SAFETY: valid port; some PMDs do not support MTU changes, which we log and accept.
        let rc = unsafe { sys::rte_eth_dev_set_mtu(id, mtu) };
        if rc < 0 {
            tracing::warn!(
                port = id,
                mtu,
                "PMD did not accept the MTU: {}",
                strerror(-rc)
            );
        }
        // SAFETY: configured port with its queues set up.
        setup("starting", unsafe { sys::rte_eth_dev_start(id) })?;
        // Multicast is needed for NDP (solicited-node addresses). Not every PMD supports it.
        // SAFETY: started port.
        let _ = unsafe { sys::rte_eth_allmulticast_enable(id) };
        Ok((0..queues)
            .map(|queue| {
                (
                    RxQueue {
                        port: self.inner.clone(),
                        queue,
                        _one: OneThread::default(),
                    },
                    TxQueue {
                        port: self.inner.clone(),
                        queue,
                        _one: OneThread::default(),
                    },
                )
            })
            .collect())
    }

    /// The port's MAC address.
    pub fn mac(&self) -> dataplane::MacAddr {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        unsafe { sys::rte_eth_macaddr_get(self.inner.id, &mut a) };
        dataplane::MacAddr(a.addr_bytes)
    }

    /// True when the PMD reports the link up (non-blocking query).
    pub fn link_up(&self) -> bool {
        let mut l = sys::rte_eth_link::default();
        // SAFETY: valid port id and out-pointer; the nowait variant never sleeps.
        let rc = unsafe { sys::rte_eth_link_get_nowait(self.inner.id, &mut l) };
        rc == 0 && l.link_status() != 0
    }

    /// The PMD's counters.
    pub fn stats(&self) -> PortStats {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid port id and out-pointer; callable from any thread.
        unsafe { sys::rte_eth_stats_get(self.inner.id, &mut s) };
        PortStats {
            rx_packets: s.ipackets,
            rx_bytes: s.ibytes,
            tx_packets: s.opackets,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            rx_nombuf: s.rx_nombuf,
            tx_errors: s.oerrors,
        }
    }
}

impl Drop for PortInner {
    fn drop(&mut self) {
        if self.pool.get().is_some() {
            // SAFETY: this is the last handle: no queue of the port is left,
            // so nothing polls it. Its pool drops after (a field).
            unsafe {
                sys::rte_eth_dev_stop(self.id);
                sys::rte_eth_dev_close(self.id);
            }
        }
        OWNED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&i| i != self.id);
    }
}
