//! A worker lcore: poll every port's queue, run each burst to completion
//! through `dataplane::forward::process_burst`, and flush one tx buffer per port.
//!
//! Per iteration it loads one FIB generation (ARCHITECTURE.md invariant 2),
//! and after dropping it passes a quiescent state so the control thread can
//! free old generations. It never allocates, locks, logs or makes a syscall:
//! the rx/tx arrays are fixed, and frames to and from the control thread go
//! through bounded lock-free queues.

use crate::dpdk::{self, Mbuf, Mempool};
use arc_swap::ArcSwap;
use control::punt::{Channels, HeldFrame, PuntFrame, ResolveRequest, PUNT_BYTES};
use control::rcu::Quiescent;
use dataplane::drop::DropReason;
use dataplane::fib::Fib;
use dataplane::flowtable::FlowTable;
use dataplane::forward::{process_burst, Ctx, IcmpLimiter, Verdict};
use dataplane::nat::NatCounters;
use dataplane::stats::{bump, LcoreStats};
use dataplane::types::PortId;
use dataplane::PacketBuf;
use dpdk_sys::rte_mbuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Packets received per rx_burst call.
pub const BURST: usize = 32;
const TX_CAP: usize = 2 * BURST;

/// Everything a worker needs; moved onto its lcore.
pub struct Worker {
    /// Worker index, which is also its rx/tx queue id on every port.
    pub index: u16,
    /// DPDK port id of each config port.
    pub ports: Vec<u16>,
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
}

/// Hands a whole frame to the kernel interfaces' thread.
#[inline]
fn to_kernel(m: Mbuf, kernel: Option<&crate::kernel::KernelRings>, stats: &LcoreStats) {
    let Some(k) = kernel else {
        // A port has a kernel interface only when the thread runs.
        stats.count_drop(DropReason::LocalUnhandled);
        return;
    };
    let p = [m.into_raw()];
    if k.to_kernel.enqueue(&p) == 0 {
        // SAFETY: the ring did not take it: still ours.
        drop(unsafe { Mbuf::from_raw(p[0]) });
        stats.count_drop(DropReason::KernelQueueFull);
    }
}

/// A worker's rings to and from the other workers. With SNAT and several
/// workers, a reply can arrive at a worker other than the one holding its
/// binding; `dataplane::nat::steer` names the owner, and the packet goes to
/// it through a single-producer, single-consumer ring.
pub struct Steer {
    /// Workers in all.
    pub workers: u16,
    /// `to[w]`: the ring to worker `w` (`None` at this worker's own index).
    pub to: Vec<Option<Arc<dpdk::Ring>>>,
    /// The rings from every other worker.
    pub from: Vec<Arc<dpdk::Ring>>,
    /// Config port index of each DPDK port id (`u16::MAX`: not a router port).
    pub port_index: Vec<u16>,
}

/// An ICMP error from inside whose flow this worker holds no binding for
/// ([`Verdict::SnatElsewhere`]): on to the next worker, until every worker
/// has tried. How many have tried travels in the mbuf's user tag, which is
/// meaningful only on packets that came from a ring (`from_ring`).
fn hand_on(
    mut m: Mbuf,
    steer: Option<&Steer>,
    me: u16,
    from_ring: bool,
    stats: &LcoreStats,
    nat: Option<&NatCounters>,
) {
    let tried = if from_ring { m.tag() } else { 0 }.saturating_add(1);
    let Some(st) = steer.filter(|st| tried < st.workers as u32) else {
        stats.count_drop(DropReason::SnatUnsupported);
        return;
    };
    let Some(Some(ring)) = st.to.get(((me + 1) % st.workers) as usize) else {
        stats.count_drop(DropReason::SnatUnsupported);
        return;
    };
    m.set_tag(tried);
    let raw = [m.into_raw()];
    if ring.enqueue(&raw) == 0 {
        // SAFETY: the ring did not take it, so it is still ours.
        drop(unsafe { Mbuf::from_raw(raw[0]) });
        stats.count_drop(DropReason::SnatSteerQueueFull);
    } else if let Some(c) = nat {
        c.handed_on.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends each packet of a processed burst where its verdict says.
#[allow(clippy::too_many_arguments)]
#[inline]
fn dispatch(
    raw: &[*mut rte_mbuf],
    verdicts: &[Verdict],
    pi: usize,
    ports: &[u16],
    q: u16,
    tx: &mut [TxBuf],
    stats: &LcoreStats,
    channels: &Channels,
    steer: Option<&Steer>,
    from_ring: bool,
    nat: Option<&NatCounters>,
    kernel: Option<&crate::kernel::KernelRings>,
) {
    let in_port = PortId(pi as u16);
    for (&raw, &verdict) in raw.iter().zip(verdicts) {
        // SAFETY: still owned by this worker; the burst's view has ended.
        let Some(m) = (unsafe { Mbuf::from_raw(raw) }) else {
            continue;
        };
        match verdict {
            Verdict::Forward(out) => {
                let o = out.index();
                tx[o].push(m, ports[o], q, stats);
            }
            Verdict::Reply => tx[pi].push(m, ports[pi], q, stats),
            Verdict::Punt | Verdict::PuntKernel => {
                let copied = channels
                    .punt
                    .push(PuntFrame::copy_from(in_port, m.data()))
                    .is_ok();
                if copied {
                    bump(&stats.punted, 1);
                }
                if verdict == Verdict::PuntKernel {
                    // The kernel has it: not a drop whatever the control plane's queue did.
                    to_kernel(m, kernel, stats);
                } else if !copied {
                    stats.count_drop(DropReason::PuntQueueFull);
                }
            }
            Verdict::Kernel => to_kernel(m, kernel, stats),
            Verdict::Resolve { port, addr } => {
                // Full queue: the control thread is already busy resolving.
                let _ = channels.resolve.push(ResolveRequest { port, addr });
                // The packet waits in the control plane for the answer; one
                // too long to copy whole, or a full queue, is dropped here.
                let d = m.data();
                let held = d.len() <= PUNT_BYTES
                    && channels
                        .hold
                        .push(HeldFrame {
                            port,
                            addr,
                            frame: PuntFrame::copy_from(in_port, d),
                        })
                        .is_ok();
                if !held {
                    stats.count_drop(DropReason::NeighborUnresolved);
                }
            }
            Verdict::SnatElsewhere => hand_on(m, steer, q, from_ring, stats, nat),
            Verdict::Drop(_) => {}
        }
    }
}

/// Hands the packets of `rx` that another worker owns ([`Steer`]) to it,
/// and keeps the rest at the front; returns how many are kept.
fn steer_out(
    st: &Steer,
    me: u16,
    snat: &dataplane::nat::Snat,
    rx: &mut [*mut rte_mbuf],
    stats: &LcoreStats,
    steered: &mut u64,
) -> usize {
    const KEEP: u16 = u16::MAX;
    let mut dest = [KEEP; BURST];
    for (d, m) in dest.iter_mut().zip(dpdk::burst_view(rx).iter()) {
        if let Some(w) = dataplane::nat::steer(m.data(), snat, st.workers) {
            if w != me {
                *d = w;
            }
        }
    }
    let n = rx.len();
    if dest[..n].iter().all(|&d| d == KEEP) {
        return n;
    }
    let mut done = 0u64;
    let mut out = [std::ptr::null_mut::<rte_mbuf>(); BURST];
    for i in 0..n {
        let w = dest[i];
        if w == KEEP || done >> (w % 64) & 1 != 0 {
            continue;
        }
        done |= 1 << (w % 64);
        let mut k = 0;
        for j in i..n {
            if dest[j] == w {
                out[k] = rx[j];
                k += 1;
            }
        }
        let sent = match st.to.get(w as usize) {
            Some(Some(r)) => r.enqueue(&out[..k]),
            _ => 0,
        };
        *steered += sent as u64;
        if sent < k {
            dpdk::free_raw(&mut out[sent..k]);
            for _ in sent..k {
                stats.count_drop(DropReason::SnatSteerQueueFull);
            }
        }
    }
    let mut keep = 0;
    for i in 0..n {
        if dest[i] == KEEP {
            rx[keep] = rx[i];
            keep += 1;
        }
    }
    keep
}

struct TxBuf {
    pkts: [*mut rte_mbuf; TX_CAP],
    n: usize,
}

impl TxBuf {
    fn flush(&mut self, port: u16, queue: u16, stats: &LcoreStats) {
        if self.n == 0 {
            return;
        }
        let sent = dpdk::tx_burst(port, queue, &mut self.pkts[..self.n]);
        if sent < self.n {
            let left = self.n - sent;
            dpdk::free_raw(&mut self.pkts[sent..self.n]);
            for _ in 0..left {
                stats.count_drop(DropReason::TxQueueFull);
            }
        }
        self.n = 0;
    }

    #[inline]
    fn push(&mut self, m: Mbuf, port: u16, queue: u16, stats: &LcoreStats) {
        if self.n == TX_CAP {
            self.flush(port, queue, stats);
        }
        self.pkts[self.n] = m.into_raw();
        self.n += 1;
    }
}

impl Worker {
    /// The poll loop; returns when `stop` is set.
    pub fn run(mut self) {
        let q = self.index;
        let nports = self.ports.len();
        let mut rx = [std::ptr::null_mut::<rte_mbuf>(); BURST];
        let mut verdicts = [Verdict::Drop(DropReason::NoRoute); BURST];
        let mut tx: Vec<TxBuf> = (0..nports)
            .map(|_| TxBuf {
                pkts: [std::ptr::null_mut(); TX_CAP],
                n: 0,
            })
            .collect();
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
        let mut steered = 0u64;
        let nat_counters = self.nat.as_ref().map(|n| n.counters.clone());
        // Warm arc-swap's per-thread state before the loop (it may allocate once).
        drop(self.fib.load());

        while !self.stop.load(Ordering::Relaxed) {
            let now = dpdk::rdtsc();
            let mut got = 0usize;
            // Packets other workers handed over (not received here: not in rx_packets).
            let mut handed = 0usize;
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
                    // Expiry a little at a time: 64 bindings per poll.
                    n.sweep(now_ms, 64);
                }
                let mut ctx = Ctx {
                    flows: Some(&self.flows),
                    now_ms,
                    spray,
                    nat: self.nat.as_mut(),
                    snat_peers: self.steer.is_some(),
                    policer: Some(&mut policer),
                    peers: Some(&self.peers),
                    ..Ctx::new(&fib, &self.stats, &mut icmp)
                };
                for (pi, &dport) in self.ports.iter().enumerate() {
                    let n = dpdk::rx_burst(dport, q, &mut rx);
                    if n == 0 {
                        continue;
                    }
                    got += n;
                    bump(&self.stats.rx_bursts, 1);
                    // The pipeline sees one contiguous buffer per packet:
                    // multi-segment frames are dropped here.
                    let mut k = 0;
                    for i in 0..n {
                        // SAFETY: rx_burst handed us ownership of the first n entries.
                        let Some(m) = (unsafe { Mbuf::from_raw(rx[i]) }) else {
                            continue;
                        };
                        if m.segments() != 1 {
                            self.stats.count_drop(DropReason::MultiSegment);
                            continue;
                        }
                        rx[k] = m.into_raw();
                        k += 1;
                    }
                    if let Some(st) = &self.steer {
                        k = steer_out(st, q, &fib.snat, &mut rx[..k], &self.stats, &mut steered);
                    }
                    dpdk::prefetch_data(&rx[..k]);
                    process_burst(
                        &mut ctx,
                        PortId(pi as u16),
                        dpdk::burst_view(&mut rx[..k]),
                        &mut verdicts[..k],
                    );
                    dispatch(
                        &rx[..k],
                        &verdicts[..k],
                        pi,
                        &self.ports,
                        q,
                        &mut tx,
                        &self.stats,
                        &self.channels,
                        self.steer.as_ref(),
                        false,
                        nat_counters.as_deref(),
                        self.kernel.as_ref(),
                    );
                }
                // Packets other workers received for this worker's SNAT
                // ports, processed as if received on their own port (the
                // receiver counted them in its rx_packets).
                if let Some(st) = &self.steer {
                    // The config port a packet came in on (every mbuf on a
                    // ring was received on one of the router's ports).
                    let port_of = |m: *mut rte_mbuf| {
                        st.port_index
                            .get(dpdk::mbuf_port(m) as usize)
                            .map_or(0, |&p| if (p as usize) < nports { p as usize } else { 0 })
                    };
                    for ring in &st.from {
                        let n = ring.dequeue(&mut rx);
                        handed += n;
                        // Runs of packets from one port, each processed as a burst.
                        let mut a = 0;
                        while a < n {
                            let pi = port_of(rx[a]);
                            let mut b = a + 1;
                            while b < n && port_of(rx[b]) == pi {
                                b += 1;
                            }
                            process_burst(
                                &mut ctx,
                                PortId(pi as u16),
                                dpdk::burst_view(&mut rx[a..b]),
                                &mut verdicts[a..b],
                            );
                            dispatch(
                                &rx[a..b],
                                &verdicts[a..b],
                                pi,
                                &self.ports,
                                q,
                                &mut tx,
                                &self.stats,
                                &self.channels,
                                Some(st),
                                true,
                                nat_counters.as_deref(),
                                self.kernel.as_ref(),
                            );
                            a = b;
                        }
                    }
                }
                spray = ctx.spray;
            }
            // Only worker 0 sends the control thread's frames, on its own queues.
            if q == 0 {
                while let Some(f) = self.channels.inject.pop() {
                    let o = f.port.index();
                    if o >= nports {
                        continue;
                    }
                    match self.pool.alloc() {
                        Some(mut m) => {
                            if m.append(f.bytes()) {
                                tx[o].push(m, self.ports[o], q, &self.stats);
                            }
                        }
                        None => self.stats.count_drop(DropReason::MbufAllocFailed),
                    }
                }
            }
            // What the kernel interfaces sent, on this worker's tx queues;
            // the tag is the config port.
            if let Some(k) = &self.kernel {
                let n = k.from_kernel.dequeue(&mut rx);
                for &raw in &rx[..n] {
                    // SAFETY: the ring handed us ownership of the first n entries.
                    let Some(m) = (unsafe { Mbuf::from_raw(raw) }) else {
                        continue;
                    };
                    let o = m.tag() as usize;
                    if o < nports {
                        tx[o].push(m, self.ports[o], q, &self.stats);
                    }
                }
            }
            for (i, t) in tx.iter_mut().enumerate() {
                t.flush(self.ports[i], q, &self.stats);
            }
            if steered > 0 {
                if let Some(c) = &nat_counters {
                    c.steered.fetch_add(steered, Ordering::Relaxed);
                }
                steered = 0;
            }
            if got + handed > 0 {
                bump(&self.stats.polls_busy, 1);
                bump(&self.stats.rx_packets, got as u64);
            } else {
                bump(&self.stats.polls_idle, 1);
            }
            self.quiescent.pass();
        }
        self.quiescent.go_offline();
    }
}
