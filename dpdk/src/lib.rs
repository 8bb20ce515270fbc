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
//! An [`Mbuf`] is a bare pointer (a reference count per packet would cost
//! the fast path), so it holds neither its pool nor the EAL. Instead, a pool
//! dropped while some of its mbufs are still held is not freed, and the EAL
//! then skips `rte_eal_cleanup`: the memory stays until the process ends,
//! and the mbuf stays valid. The router drops its last handles on the main
//! lcore after the workers and threads that hold mbufs have returned, so it
//! cleans up.
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

mod burst;
mod eal;
mod mbuf;
mod port;
mod ring;

pub use burst::{Burst, Drain};
pub use eal::{data_room_for_mtu, rdtsc, Eal};
pub use mbuf::{Mbuf, Mempool};
pub use port::{Port, RxQueue, TxQueue};
use ring::OneThread;
pub use ring::{Consumer, Producer, Ring};

/// Asks the kernel to back `len` bytes at `addr` with transparent huge
/// pages (`madvise(MADV_HUGEPAGE)`), where the system leaves that to the
/// process (`/sys/kernel/mm/transparent_hugepage/enabled` is `madvise`, the
/// Debian default). The router passes it to `dataplane::lpm::advise_tables`:
/// a full table's lookups then miss the TLB far less. The whole 4 KiB pages
/// inside the range are advised; a failure (THP off, an odd range) leaves
/// the memory as it was, and is only a missed speed-up.
pub fn advise_hugepages(addr: usize, len: usize) {
    const PAGE: usize = 4096;
    let start = addr.div_ceil(PAGE) * PAGE;
    let end = (addr + len) / PAGE * PAGE;
    if end <= start {
        return;
    }
    // SAFETY: MADV_HUGEPAGE changes how the pages of a mapping are backed,
    // never their contents or their validity; on a range that is not mapped
    // the call fails with ENOMEM and changes nothing.
    let _ = unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_HUGEPAGE) };
}
