//! A worker lcore: poll every port's queue, run each burst to completion
//! through `dataplane::forward::process_burst`, and flush one tx buffer per port.
//!
//! Per iteration it loads one FIB generation (ARCHITECTURE.md invariant 2),
//! and after dropping it passes a quiescent state so the control thread can
//! free old generations. It never allocates, locks, logs or makes a syscall:
//! the rx/tx arrays are fixed, and frames to and from the control thread go
//! through bounded lock-free queues.

use crate::dpdk::{self, Burst, Mbuf, Mempool};
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
    if k.to_kernel.enqueue_one(m).is_err() {
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
    if ring.enqueue_one(m).is_err() {
        stats.count_drop(DropReason::SnatSteerQueueFull);
    } else if let Some(c) = nat {
        c.handed_on.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where a worker sends what its bursts decide: its tx buffers and its
/// queues to the control thread, the other workers and the kernel thread.
struct Outputs<'a> {
    ports: &'a [u16],
    q: u16,
    tx: &'a mut [TxBuf],
    stats: &'a LcoreStats,
    channels: &'a Channels,
    steer: Option<&'a Steer>,
    nat: Option<&'a NatCounters>,
    kernel: Option<&'a crate::kernel::KernelRings>,
}

/// Sends each packet of a processed burst where its verdict says; `port_of`
/// gives the config port each came in on. The burst is empty after.
#[inline]
fn dispatch(
    burst: &mut Burst<BURST>,
    verdicts: &[Verdict],
    port_of: impl Fn(usize) -> usize,
    out: &mut Outputs<'_>,
    from_ring: bool,
) {
    let Outputs {
        ports,
        q,
        ref mut tx,
        stats,
        channels,
        steer,
        nat,
        kernel,
    } = *out;
    for (i, (m, &verdict)) in burst.drain().zip(verdicts).enumerate() {
        let pi = port_of(i);
        let in_port = PortId(pi as u16);
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

/// Hands the packets of `rx` that another worker owns ([`Steer`]) to it;
/// the rest stay in `rx`, in order.
fn steer_out(
    st: &Steer,
    me: u16,
    snat: &dataplane::nat::Snat,
    rx: &mut Burst<BURST>,
    stats: &LcoreStats,
    steered: &mut u64,
) {
    const KEEP: u16 = u16::MAX;
    let mut dest = [KEEP; BURST];
    for (d, m) in dest.iter_mut().zip(rx.mbufs().iter()) {
        if let Some(w) = dataplane::nat::steer(m.data(), snat, st.workers) {
            if w != me {
                *d = w;
            }
        }
    }
    let mut n = rx.len();
    if dest[..n].iter().all(|&d| d == KEEP) {
        return;
    }
    for w in 0..st.workers {
        if w == me || !dest[..n].contains(&w) {
            continue;
        }
        let mut out: Burst<BURST> = Burst::default();
        rx.split_into(&mut out, |i, _| dest[i] == w);
        // What stayed, renumbered in its new order.
        let mut k = 0;
        for j in 0..n {
            if dest[j] != w {
                dest[k] = dest[j];
                k += 1;
            }
        }
        n = k;
        let sent = match st.to.get(w as usize) {
            Some(Some(r)) => out.enqueue(r),
            _ => 0,
        };
        *steered += sent as u64;
        for _ in 0..out.clear() {
            stats.count_drop(DropReason::SnatSteerQueueFull);
        }
    }
}

/// Packets waiting for one port's tx queue.
#[derive(Default)]
struct TxBuf {
    pkts: Burst<TX_CAP>,
}

impl TxBuf {
    fn flush(&mut self, port: u16, queue: u16, stats: &LcoreStats) {
        if self.pkts.is_empty() {
            return;
        }
        self.pkts.tx(port, queue);
        for _ in 0..self.pkts.clear() {
            stats.count_drop(DropReason::TxQueueFull);
        }
    }

    #[inline]
    fn push(&mut self, m: Mbuf, port: u16, queue: u16, stats: &LcoreStats) {
        if self.pkts.is_full() {
            self.flush(port, queue, stats);
        }
        // Room was just made.
        let _ = self.pkts.push(m);
    }
}

impl Worker {
    /// The poll loop; returns when `stop` is set.
    pub fn run(mut self) {
        let q = self.index;
        let nports = self.ports.len();
        let mut rx: Burst<BURST> = Burst::default();
        let mut verdicts = [Verdict::Drop(DropReason::NoRoute); BURST];
        let mut tx: Vec<TxBuf> = (0..nports).map(|_| TxBuf::default()).collect();
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
                let mut out = Outputs {
                    ports: &self.ports,
                    q,
                    tx: &mut tx,
                    stats: &self.stats,
                    channels: &self.channels,
                    steer: self.steer.as_ref(),
                    nat: nat_counters.as_deref(),
                    kernel: self.kernel.as_ref(),
                };
                for (pi, &dport) in self.ports.iter().enumerate() {
                    let n = rx.rx(dport, q);
                    if n == 0 {
                        continue;
                    }
                    got += n;
                    bump(&self.stats.rx_bursts, 1);
                    // The pipeline sees one contiguous buffer per packet:
                    // the mbufs fit the largest frame, so a PMD that still
                    // scatters one has its frame dropped here.
                    for _ in 0..rx.retain(|m| m.segments() == 1) {
                        self.stats.count_drop(DropReason::MultiSegment);
                    }
                    if let Some(st) = &self.steer {
                        steer_out(st, q, &fib.snat, &mut rx, &self.stats, &mut steered);
                    }
                    rx.prefetch();
                    let k = rx.len();
                    process_burst(&mut ctx, PortId(pi as u16), rx.mbufs(), &mut verdicts[..k]);
                    dispatch(&mut rx, &verdicts[..k], |_| pi, &mut out, false);
                }
                // Packets other workers received for this worker's SNAT
                // ports, processed as if received on their own port (the
                // receiver counted them in its rx_packets).
                if let Some(st) = &self.steer {
                    // The config port a packet came in on (every mbuf on a
                    // ring was received on one of the router's ports).
                    let port_of = |m: &Mbuf| {
                        st.port_index.get(m.port() as usize).map_or(0, |&p| {
                            if (p as usize) < nports {
                                p as usize
                            } else {
                                0
                            }
                        })
                    };
                    for ring in &st.from {
                        let n = rx.dequeue(ring);
                        handed += n;
                        let mut pis = [0usize; BURST];
                        for (p, m) in pis.iter_mut().zip(rx.mbufs().iter()) {
                            *p = port_of(m);
                        }
                        // Runs of packets from one port, each processed as a burst.
                        let mut a = 0;
                        while a < n {
                            let mut b = a + 1;
                            while b < n && pis[b] == pis[a] {
                                b += 1;
                            }
                            process_burst(
                                &mut ctx,
                                PortId(pis[a] as u16),
                                &mut rx.mbufs()[a..b],
                                &mut verdicts[a..b],
                            );
                            a = b;
                        }
                        dispatch(&mut rx, &verdicts[..n], |i| pis[i], &mut out, true);
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
                rx.dequeue(&k.from_kernel);
                for m in rx.drain() {
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
