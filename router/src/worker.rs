//! A worker lcore: `dataplane::poll`'s loop over DPDK. [`DpdkIo`] is its
//! [`Io`]: the ports' rx and tx queues, the rings to the other workers and
//! the kernel interfaces' thread, and the control thread's queues.
//!
//! Per iteration it loads one FIB generation (ARCHITECTURE.md invariant 2),
//! and after dropping it passes a quiescent state so the control thread can
//! free old generations. It never allocates, locks, logs or makes a syscall:
//! the rx/tx arrays are fixed, and frames to and from the control thread go
//! through bounded lock-free queues.

use arc_swap::ArcSwap;
use control::punt::{Channels, HeldFrame, PuntFrame, ResolveRequest, PUNT_BYTES};
use control::rcu::Quiescent;
use dataplane::fib::Fib;
use dataplane::flowtable::FlowTable;
use dataplane::forward::{Ctx, IcmpLimiter};
use dataplane::poll::{Injected, Io, Poller, Refused, Steering, BURST};
use dataplane::stats::LcoreStats;
use dataplane::types::PortId;
use dpdk::{self, Burst, Mbuf, Mempool};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Everything a worker needs; moved onto its lcore.
pub struct Worker {
    /// Worker index, which is also its rx/tx queue id on every port.
    pub index: u16,
    /// Its rx and tx queue of each config port, in config order.
    pub queues: Vec<(dpdk::RxQueue, dpdk::TxQueue)>,
    /// Current FIB.
    pub fib: Arc<ArcSwap<Fib>>,
    /// This worker's counters.
    pub stats: Arc<LcoreStats>,
    /// This worker's quiescent-state counter.
    pub quiescent: Arc<Quiescent>,
    /// Queues to the control thread.
    pub channels: Channels,
    /// Pool for injected frames.
    pub pool: Arc<Mempool>,
    /// Set to stop.
    pub stop: Arc<AtomicBool>,
    /// TSC ticks per second.
    pub tsc_hz: u64,
    /// This worker's flow table (sticky routes).
    pub flows: Arc<FlowTable>,
    /// ICMP errors per second (0: only the burst, never refilled), from the config's `icmp`.
    pub icmp_rate: u32,
    /// Burst allowance of the ICMP error limit.
    pub icmp_burst: u32,
    /// TSC at the router's start: the flow table's millisecond clock counts from it.
    pub clock_epoch: u64,
    /// This worker's SNAT bindings, when an uplink translates.
    pub nat: Option<dataplane::nat::NatTable>,
    /// Hand-over of SNAT replies between workers (SNAT with several workers).
    pub steer: Option<Steer>,
    /// Rings to and from the kernel interfaces' thread (`kernel-interfaces`).
    pub kernel: Option<crate::kernel::KernelRings>,
    /// `punt-policer` limits (the worker polices its share of each).
    pub punt_limits: [dataplane::punt::Limit; dataplane::punt::PuntClass::COUNT],
    /// Workers in all (each polices 1/workers of the rate).
    pub workers: u16,
    /// The routing peers.
    pub peers: Arc<dataplane::punt::Peers>,
    /// The config ports that are 802.3ad bonds: their tx queues get an empty
    /// burst every millisecond, from which the bonding PMD sends its LACPDUs.
    pub bonds: Vec<usize>,
}

/// A worker's rings to and from the other workers. With SNAT and several
/// workers, a reply can arrive at a worker other than the one holding its
/// binding; `dataplane::nat::steer` names the owner, and the packet goes to
/// it through a single-producer, single-consumer ring.
pub struct Steer {
    /// Workers in all.
    pub workers: u16,
    /// `to[w]`: the ring to worker `w` (`None` at this worker's own index).
    pub to: Vec<Option<dpdk::Producer>>,
    /// The rings from every other worker.
    pub from: Vec<dpdk::Consumer>,
    /// Config port index of each DPDK port id (`u16::MAX`: not a router port).
    pub port_index: Vec<u16>,
}

/// A worker's queues over DPDK.
pub struct DpdkIo {
    /// Its rx and tx queue of each config port.
    queues: Vec<(dpdk::RxQueue, dpdk::TxQueue)>,
    channels: Channels,
    pool: Arc<Mempool>,
    kernel: Option<crate::kernel::KernelRings>,
    /// `steer_to[w]`: the ring to worker `w`.
    steer_to: Vec<Option<dpdk::Producer>>,
    steer_from: Vec<dpdk::Consumer>,
}

impl Io for DpdkIo {
    type Pkt = Mbuf;
    type Rx = Burst<BURST>;
    type Tx = Burst<{ 2 * BURST }>;

    #[inline]
    fn rx(&mut self, port: usize, into: &mut Self::Rx) -> usize {
        into.rx(&mut self.queues[port].0)
    }
    #[inline]
    fn tx(&mut self, port: usize, pkts: &mut Self::Tx) {
        pkts.tx(&mut self.queues[port].1);
    }
    #[inline]
    fn punt(&mut self, in_port: PortId, frame: &[u8]) -> bool {
        self.channels
            .punt
            .push(PuntFrame::copy_from(in_port, frame))
            .is_ok()
    }
    #[inline]
    fn resolve(&mut self, port: PortId, addr: IpAddr) {
        // Full queue: the control thread is already busy resolving.
        let _ = self.channels.resolve.push(ResolveRequest { port, addr });
    }
    #[inline]
    fn hold(&mut self, port: PortId, addr: IpAddr, in_port: PortId, frame: &[u8]) -> bool {
        // A packet too long to copy whole is not held.
        frame.len() <= PUNT_BYTES
            && self
                .channels
                .hold
                .push(HeldFrame {
                    port,
                    addr,
                    frame: PuntFrame::copy_from(in_port, frame),
                })
                .is_ok()
    }
    #[inline]
    fn to_kernel(&mut self, p: Mbuf) -> Result<(), Refused> {
        let k = self.kernel.as_mut().ok_or(Refused::Absent)?;
        k.to_kernel.enqueue_one(p).map_err(|_| Refused::Full)
    }
    #[inline]
    fn kernel_frames(&mut self, into: &mut Self::Rx) -> usize {
        match &mut self.kernel {
            Some(k) => into.dequeue(&mut k.from_kernel),
            None => 0,
        }
    }
    fn inject(&mut self) -> Option<Injected<Mbuf>> {
        let f = self.channels.inject.pop()?;
        Some(match self.pool.alloc() {
            Some(mut m) => {
                if !m.append(f.bytes()) {
                    // Longer than an mbuf: InjectFrame is smaller than any pool's data room.
                    return Some(Injected::NoBuffer);
                }
                Injected::Frame(f.port, m)
            }
            None => Injected::NoBuffer,
        })
    }
    #[inline]
    fn alloc(&mut self) -> Option<Mbuf> {
        self.pool.alloc()
    }
    #[inline]
    fn steer(&mut self, worker: u16, pkts: &mut Self::Rx) -> usize {
        match self.steer_to.get_mut(worker as usize) {
            Some(Some(r)) => pkts.enqueue(r),
            _ => 0,
        }
    }
    #[inline]
    fn steer_one(&mut self, worker: u16, p: Mbuf) -> Result<(), Mbuf> {
        match self.steer_to.get_mut(worker as usize) {
            Some(Some(r)) => r.enqueue_one(p),
            _ => Err(p),
        }
    }
    #[inline]
    fn steered_rings(&self) -> usize {
        self.steer_from.len()
    }
    #[inline]
    fn steered(&mut self, ring: usize, into: &mut Self::Rx) -> usize {
        into.dequeue(&mut self.steer_from[ring])
    }
}

impl Worker {
    /// The poll loop; returns when `stop` is set.
    pub fn run(mut self) {
        let nports = self.queues.len();
        let mut icmp = IcmpLimiter::new(self.icmp_burst);
        let mut policer = dataplane::punt::Policer::new(
            self.punt_limits,
            self.workers as u32,
            self.tsc_hz,
            dpdk::rdtsc(),
        );
        // Rate 0: the bucket never refills once the burst is spent.
        let ticks_per_token = match self.icmp_rate {
            0 => u64::MAX,
            r => (self.tsc_hz / r as u64).max(1),
        };
        let ticks_per_ms = (self.tsc_hz / 1000).max(1);
        let mut last_refill = dpdk::rdtsc();
        let mut spray = 0u32;
        let nat_counters = self.nat.as_ref().map(|n| n.counters.clone());
        let (steering, steer_to, steer_from) = match self.steer.take() {
            Some(st) => (
                Some(Steering {
                    workers: st.workers,
                    port_index: st.port_index,
                }),
                st.to,
                st.from,
            ),
            None => (None, Vec::new(), Vec::new()),
        };
        let snat_peers = steering.is_some();
        let io = DpdkIo {
            queues: std::mem::take(&mut self.queues),
            channels: self.channels.clone(),
            pool: self.pool.clone(),
            kernel: self.kernel.take(),
            steer_to,
            steer_from,
        };
        let mut poller = Poller::new(io, self.index, nports, steering, nat_counters);
        // Warm arc-swap's per-thread state before the loop (it may allocate once).
        drop(self.fib.load());

        let mut swept_ms = 0u32;
        let mut kicked_ms = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            let now = dpdk::rdtsc();
            let tokens = now.wrapping_sub(last_refill) / ticks_per_token;
            if tokens > 0 {
                icmp.refill(tokens.min(u32::MAX as u64) as u32);
                last_refill = last_refill.wrapping_add(tokens * ticks_per_token);
            }
            policer.refill(now);
            {
                let fib = self.fib.load();
                let now_ms = (now.wrapping_sub(self.clock_epoch) / ticks_per_ms) as u32;
                if let Some(n) = self.nat.as_mut() {
                    // Expiry a little at a time: 64 bindings per millisecond
                    // (a table of 64k every second). Per poll it was 10 M
                    // bindings a second at full rate, 9 % of the worker.
                    let ms = now_ms.wrapping_sub(swept_ms);
                    if ms > 0 {
                        n.sweep(now_ms, (ms as usize).saturating_mul(64).min(1 << 16));
                        swept_ms = now_ms;
                    }
                }
                let mut ctx = Ctx {
                    flows: Some(&self.flows),
                    now_ms,
                    spray,
                    nat: self.nat.as_mut(),
                    snat_peers,
                    policer: Some(&mut policer),
                    peers: Some(&self.peers),
                    ..Ctx::new(&fib, &self.stats, &mut icmp)
                };
                poller.poll(&mut ctx);
                spray = ctx.spray;
                if now_ms != kicked_ms && !self.bonds.is_empty() {
                    kicked_ms = now_ms;
                    for &b in &self.bonds {
                        poller.io().queues[b].1.kick();
                    }
                }
            }
            self.quiescent.pass();
        }
        self.quiescent.go_offline();
    }
}
