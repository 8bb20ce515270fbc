//! A worker's poll loop, without DPDK: receive a burst from each port,
//! run it through [`process_burst`], and send each packet where its
//! verdict says (a port's tx buffer, the control thread, the kernel
//! interfaces, another worker), then flush the tx buffers.
//!
//! The loop sees its queues through [`Io`] and its packets through
//! [`Owned`] and [`Burst`]. The router implements them over DPDK mbufs,
//! rings and `rte_eth_{rx,tx}_burst` (`router::worker`); [`mem`]
//! implements them over [`VecBuf`](crate::VecBuf), so the loop's rules
//! (which verdict goes where, what each refusal counts as) are tested here
//! on real frames, without an EAL.
//!
//! What stays in the router: the FIB generation each pass loads, the
//! clocks and token refills, and the quiescent state it passes after.
//!
//! Invariant: [`Poller::poll`] allocates nothing, locks nothing, logs
//! nothing and makes no system call of its own (an [`Io`] may, the DPDK
//! one does not).

use crate::drop::DropReason;
use crate::forward::{process_burst, Ctx, Verdict};
use crate::nat::NatCounters;
use crate::stats::{bump, LcoreStats};
use crate::types::PortId;
use crate::PacketBuf;
use std::net::IpAddr;
use std::sync::Arc;

/// The most packets one receive takes, and so one pass of the pipeline.
pub const BURST: usize = 32;

/// A packet buffer the loop owns: dropping it frees it.
pub trait Owned: PacketBuf {
    /// Buffers the frame is in (the pipeline needs 1).
    fn segments(&self) -> u16;
    /// The user tag. On a packet from another worker, how many workers
    /// have tried it ([`Verdict::SnatElsewhere`]); on a frame from the
    /// kernel interfaces, the config port to send it on; on a frame for
    /// them, the interface (port or VLAN sub-interface) it came in on.
    fn tag(&self) -> u32;
    /// Sets the user tag.
    fn set_tag(&mut self, tag: u32);
    /// The device port it was received on (the DPDK port id).
    fn rx_port(&self) -> u16;
    /// Appends `bytes` at the end (a fresh buffer from [`Io::alloc`]);
    /// false when they do not fit.
    fn append(&mut self, bytes: &[u8]) -> bool;
}

/// Up to [`Burst::CAP`] owned packets, in order. Whatever a burst still
/// holds when cleared or dropped is freed.
pub trait Burst: Default {
    /// The packets it holds.
    type Pkt: Owned;
    /// Its capacity.
    const CAP: usize;
    /// How many it holds.
    fn len(&self) -> usize;
    /// True when it holds none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True when it has no room.
    fn is_full(&self) -> bool {
        self.len() == Self::CAP
    }
    /// The packets, to read and rewrite in place.
    fn pkts(&mut self) -> &mut [Self::Pkt];
    /// Adds `p` at the end; gives it back when full.
    fn push(&mut self, p: Self::Pkt) -> Result<(), Self::Pkt>;
    /// Moves every packet for which `take(index, packet)` is true into
    /// `into` (in order, while it has room); the others stay, in order.
    fn split_into(&mut self, into: &mut Self, take: impl FnMut(usize, &Self::Pkt) -> bool);
    /// Frees the packets for which `keep` is false; returns how many.
    fn retain(&mut self, keep: impl FnMut(&Self::Pkt) -> bool) -> usize;
    /// Takes the packets out in order, leaving the burst empty.
    fn drain(&mut self) -> impl Iterator<Item = Self::Pkt> + '_;
    /// Frees every packet; returns how many.
    fn clear(&mut self) -> usize;
    /// A hint: the packets' first bytes are read soon.
    fn prefetch(&self) {}
}

/// Why a queue did not take a packet (which is then freed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// There is no such queue (no kernel interfaces, no such worker).
    Absent,
    /// It is full.
    Full,
}

/// What the control thread asked to send ([`Io::inject`]).
pub enum Injected<P> {
    /// A frame for a config port.
    Frame(PortId, P),
    /// A frame whose buffer could not be allocated.
    NoBuffer,
}

/// A worker's queues: its rx and tx queue on every port, and its queues to
/// and from the control thread, the kernel interfaces' thread and the
/// other workers. Ports are config port indices. Every method is called
/// from the worker's own thread only.
pub trait Io {
    /// The packets.
    type Pkt: Owned;
    /// A received burst (at most [`BURST`] packets).
    type Rx: Burst<Pkt = Self::Pkt>;
    /// Packets waiting for a port's tx queue.
    type Tx: Burst<Pkt = Self::Pkt>;
    /// Receives into the empty `into` from `port`; returns how many.
    fn rx(&mut self, port: usize, into: &mut Self::Rx) -> usize;
    /// Sends `pkts` on `port`, in order; what the queue did not take stays.
    fn tx(&mut self, port: usize, pkts: &mut Self::Tx);
    /// A copy of `frame` for the control thread (ARP, NDP, echo); false
    /// when its queue is full.
    fn punt(&mut self, in_port: PortId, frame: &[u8]) -> bool;
    /// Asks the control thread to resolve `addr` on `port` (a full queue
    /// is ignored: it is busy resolving already).
    fn resolve(&mut self, port: PortId, addr: IpAddr);
    /// Hands the control thread a copy of `frame` to hold until `addr` on
    /// `port` resolves; false when it cannot (queue full, frame too long).
    fn hold(&mut self, port: PortId, addr: IpAddr, in_port: PortId, frame: &[u8]) -> bool;
    /// A whole frame for the ingress port's kernel interface.
    fn to_kernel(&mut self, p: Self::Pkt) -> Result<(), Refused>;
    /// Frames the kernel interfaces sent, each tagged with its config port.
    fn kernel_frames(&mut self, into: &mut Self::Rx) -> usize;
    /// The next frame the control thread asked to send, if any.
    fn inject(&mut self) -> Option<Injected<Self::Pkt>>;
    /// An empty buffer from the worker's pool (fragments), if it has one.
    fn alloc(&mut self) -> Option<Self::Pkt>;
    /// Hands `pkts` to `worker`'s ring; what it did not take stays.
    fn steer(&mut self, worker: u16, pkts: &mut Self::Rx) -> usize;
    /// Hands one packet to `worker`'s ring.
    fn steer_one(&mut self, worker: u16, p: Self::Pkt) -> Result<(), Self::Pkt>;
    /// How many rings from other workers there are.
    fn steered_rings(&self) -> usize;
    /// Takes what another worker handed over on ring `ring`.
    fn steered(&mut self, ring: usize, into: &mut Self::Rx) -> usize;
}

/// SNAT with several workers: where replies go ([`crate::nat::steer`]).
pub struct Steering {
    /// Workers in all.
    pub workers: u16,
    /// The config port of each device port id (`u16::MAX`: not a router port).
    pub port_index: Vec<u16>,
}

/// What one pass of the loop moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// Packets received on the ports.
    pub received: usize,
    /// Packets other workers handed over.
    pub handed: usize,
}

/// A worker's loop state: its queues, bursts and tx buffers.
pub struct Poller<I: Io> {
    rx: I::Rx,
    verdicts: [Verdict; BURST],
    out: Out<I>,
}

/// Where a worker sends what its bursts decide.
struct Out<I: Io> {
    io: I,
    me: u16,
    tx: Vec<I::Tx>,
    steering: Option<Steering>,
    nat: Option<Arc<NatCounters>>,
}

impl<I: Io> Poller<I> {
    /// The loop of worker `me` over `ports` ports. `steering`: SNAT with
    /// several workers; `nat`: the SNAT counters (steered, handed on).
    pub fn new(
        io: I,
        me: u16,
        ports: usize,
        steering: Option<Steering>,
        nat: Option<Arc<NatCounters>>,
    ) -> Self {
        assert!(
            I::Rx::CAP <= BURST,
            "a received burst holds at most BURST packets"
        );
        Poller {
            rx: I::Rx::default(),
            verdicts: [Verdict::Drop(DropReason::NoRoute); BURST],
            out: Out {
                io,
                me,
                tx: (0..ports).map(|_| I::Tx::default()).collect(),
                steering,
                nat,
            },
        }
    }

    /// The queues.
    pub fn io(&mut self) -> &mut I {
        &mut self.out.io
    }

    /// One pass: every port's rx queue through the pipeline, then what
    /// other workers handed over, then the control thread's and the kernel
    /// interfaces' frames (worker 0 sends the control thread's), then every
    /// tx buffer flushed. Counts the pass as busy or idle.
    pub fn poll(&mut self, ctx: &mut Ctx<'_>) -> Polled {
        let stats = ctx.stats;
        let Poller { rx, verdicts, out } = self;
        let mut done = Polled::default();
        let mut steered = 0u64;
        let nports = out.tx.len();
        for pi in 0..nports {
            let n = out.io.rx(pi, rx);
            if n == 0 {
                continue;
            }
            done.received += n;
            bump(&stats.rx_bursts, 1);
            // The pipeline sees one contiguous buffer per packet: the
            // buffers fit the largest frame, so a driver that still
            // scatters one has it dropped here.
            for _ in 0..rx.retain(|m| m.segments() == 1) {
                stats.count_drop(DropReason::MultiSegment);
            }
            if let Some(st) = &out.steering {
                steered += steer_out(&mut out.io, st, out.me, &ctx.fib.snat, rx, stats);
            }
            rx.prefetch();
            let k = rx.len();
            if ctx.fib.vlans.has(pi) {
                run_trunk(ctx, pi, rx, &mut verdicts[..k], out);
                continue;
            }
            process_burst(ctx, PortId(pi as u16), rx.pkts(), &mut verdicts[..k]);
            out.dispatch(rx, &verdicts[..k], |_| Ingress::device(pi), stats, false);
        }
        // Packets other workers received for this worker's SNAT ports,
        // processed as if received on their own port (the receiver counted
        // them in its rx_packets).
        for ring in 0..out.steering.as_ref().map_or(0, |_| out.io.steered_rings()) {
            let n = out.io.steered(ring, rx);
            if n == 0 {
                continue;
            }
            done.handed += n;
            let mut pis = [0usize; BURST];
            if let Some(st) = &out.steering {
                for (p, m) in pis.iter_mut().zip(rx.pkts().iter()) {
                    let i = st.port_index.get(m.rx_port() as usize).copied();
                    *p = i.map_or(0, |i| if (i as usize) < nports { i as usize } else { 0 });
                }
            }
            // A trunk's tagged frames are their sub-interfaces', as on receive.
            let (ing, unknown) = untag::<I>(ctx, rx, n, |i| pis[i]);
            let iface = |i: usize| (unknown & (1 << i) == 0).then_some(ing[i].iface);
            process_runs::<I>(ctx, rx, &mut verdicts[..n], iface);
            out.dispatch(rx, &verdicts[..n], |i| ing[i], stats, true);
        }
        if out.me == 0 {
            while let Some(f) = out.io.inject() {
                match f {
                    Injected::Frame(port, p) if port.index() < nports => {
                        out.send(port.index(), p, stats)
                    }
                    Injected::Frame(..) => {}
                    Injected::NoBuffer => stats.count_drop(DropReason::MbufAllocFailed),
                }
            }
        }
        // What the kernel interfaces sent, on this worker's tx queues.
        if out.io.kernel_frames(rx) > 0 {
            for m in rx.drain() {
                let o = m.tag() as usize;
                if o < nports {
                    out.send(o, m, stats);
                }
            }
        }
        for o in 0..nports {
            out.flush(o, stats);
        }
        if steered > 0 {
            if let Some(c) = &out.nat {
                bump(&c.steered, steered);
            }
        }
        if done.received + done.handed > 0 {
            bump(&stats.polls_busy, 1);
            bump(&stats.rx_packets, done.received as u64);
        } else {
            bump(&stats.polls_idle, 1);
        }
        done
    }
}

/// Where a packet of a burst came in: its device port, its interface
/// (the device port, or a VLAN sub-interface of it), and the VID of the tag
/// the loop took off (0: none).
#[derive(Clone, Copy)]
struct Ingress {
    device: usize,
    iface: u16,
    vid: u16,
}

impl Ingress {
    #[inline(always)]
    fn device(pi: usize) -> Self {
        Ingress {
            device: pi,
            iface: pi as u16,
            vid: 0,
        }
    }
}

/// A burst from device port `pi`, which has VLAN sub-interfaces: each
/// tagged frame loses its tag and runs as received on its sub-interface
/// (runs of frames of one interface go through the staged pipeline
/// together); a VID that is no sub-interface is dropped as `unknown_vlan`.
/// Replies get their tag back when dispatched; frames for the kernel
/// interfaces go untagged, to the sub-interface's own.
#[inline(never)]
fn run_trunk<I: Io>(
    ctx: &mut Ctx<'_>,
    pi: usize,
    rx: &mut I::Rx,
    verdicts: &mut [Verdict],
    out: &mut Out<I>,
) {
    let stats = ctx.stats;
    let k = rx.len().min(verdicts.len());
    let (ing, unknown) = untag::<I>(ctx, rx, k, |_| pi);
    let iface = |i: usize| (unknown & (1 << i) == 0).then_some(ing[i].iface);
    process_runs::<I>(ctx, rx, &mut verdicts[..k], iface);
    out.dispatch(rx, &verdicts[..k], |i| ing[i], stats, false);
}

/// The ingress of each of the first `k` packets of `rx`, `device(i)` being
/// packet `i`'s device port: on a device with VLAN sub-interfaces, a tagged
/// frame loses its tag and is its sub-interface's. Bit `i` of the mask: a
/// tag that names no sub-interface (`unknown_vlan`).
#[inline]
fn untag<I: Io>(
    ctx: &Ctx<'_>,
    rx: &mut I::Rx,
    k: usize,
    device: impl Fn(usize) -> usize,
) -> ([Ingress; BURST], u64) {
    let mut ing = [Ingress::device(0); BURST];
    let mut unknown = 0u64;
    for (i, m) in rx.pkts().iter_mut().enumerate().take(k) {
        let d = device(i);
        ing[i] = Ingress::device(d);
        if !ctx.fib.vlans.has(d) {
            continue;
        }
        let Some(vid) = crate::vlan::vid_of(m.data()) else {
            continue;
        };
        match ctx.fib.vlans.lookup(PortId(d as u16), vid) {
            Some(p) if crate::vlan::strip(m) => {
                ing[i].iface = p.0;
                ing[i].vid = vid;
            }
            _ => unknown |= 1 << i,
        }
    }
    (ing, unknown)
}

/// Runs the packets of `rx` through the staged pipeline in runs of one
/// ingress interface each, `port_of(i)` being packet `i`'s; `None` is an
/// 802.1Q tag of no sub-interface, dropped as `unknown_vlan`.
#[inline]
fn process_runs<I: Io>(
    ctx: &mut Ctx<'_>,
    rx: &mut I::Rx,
    verdicts: &mut [Verdict],
    port_of: impl Fn(usize) -> Option<u16>,
) {
    let n = rx.len().min(verdicts.len());
    let mut a = 0;
    while a < n {
        let Some(port) = port_of(a) else {
            ctx.stats.count_drop(DropReason::UnknownVlan);
            verdicts[a] = Verdict::Drop(DropReason::UnknownVlan);
            a += 1;
            continue;
        };
        let mut b = a + 1;
        while b < n && port_of(b) == Some(port) {
            b += 1;
        }
        process_burst(ctx, PortId(port), &mut rx.pkts()[a..b], &mut verdicts[a..b]);
        a = b;
    }
}

impl<I: Io> Out<I> {
    /// Sends each packet of a processed burst where its verdict says;
    /// `ingress(i)` is where packet `i` came in. The burst is empty after.
    #[inline]
    fn dispatch(
        &mut self,
        rx: &mut I::Rx,
        verdicts: &[Verdict],
        ingress: impl Fn(usize) -> Ingress,
        stats: &LcoreStats,
        from_ring: bool,
    ) {
        for (i, (mut m, &verdict)) in rx.drain().zip(verdicts).enumerate() {
            let g = ingress(i);
            let (pi, in_port) = (g.device, PortId(g.iface));
            // A reply goes back out of the trunk with the tag it came with.
            let retag = |m: &mut I::Pkt| g.vid == 0 || crate::vlan::tag(m, g.vid);
            match verdict {
                Verdict::Forward(out) => self.send(out.index(), m, stats),
                Verdict::Fragment { port, mtu } => self.fragment(port.index(), mtu, m, stats),
                Verdict::Reply if retag(&mut m) => self.send(pi, m, stats),
                Verdict::Reply => stats.count_drop(DropReason::MbufAllocFailed),
                v @ (Verdict::Punt | Verdict::PuntKernel) => {
                    let copied = self.io.punt(in_port, m.data());
                    if copied {
                        bump(&stats.punted, 1);
                    }
                    if v == Verdict::PuntKernel {
                        // The kernel has it: not a drop whatever the control plane's queue did.
                        self.kernel(m, in_port, stats);
                    } else if !copied {
                        stats.count_drop(DropReason::PuntQueueFull);
                    }
                }
                Verdict::Kernel => self.kernel(m, in_port, stats),
                Verdict::Resolve { port } => {
                    // The packet waits in the control plane for the answer;
                    // one it cannot take is dropped here.
                    let held = crate::forward::resolve_addr(m.data()).is_some_and(|addr| {
                        self.io.resolve(port, addr);
                        self.io.hold(port, addr, in_port, m.data())
                    });
                    if !held {
                        stats.count_drop(DropReason::NeighborUnresolved);
                    }
                }
                Verdict::SnatElsewhere => self.hand_on(m, from_ring, stats),
                Verdict::Drop(_) => {}
            }
        }
    }

    /// Puts `m` in `port`'s tx buffer, flushing it first when full.
    #[inline]
    fn send(&mut self, port: usize, m: I::Pkt, stats: &LcoreStats) {
        if self.tx[port].is_full() {
            self.flush(port, stats);
        }
        if self.tx[port].push(m).is_err() {
            // The queue took nothing and the buffer is still full.
            stats.count_drop(DropReason::TxQueueFull);
        }
    }

    /// Sends `m` on `port` as IPv4 fragments of at most `mtu` bytes, made
    /// with buffers from the worker's pool; counts the packet and its
    /// fragments, or one `fragmentation_failed` drop.
    #[cold]
    fn fragment(&mut self, port: usize, mtu: u16, m: I::Pkt, stats: &LcoreStats) {
        // The fragments are all made before any is sent (the pool and the
        // tx buffers are both the loop's).
        let io = &mut self.io;
        let mut pending: [Option<I::Pkt>; crate::frag::MAX_FRAGMENTS] =
            std::array::from_fn(|_| None);
        let mut k = 0;
        let made = crate::frag::fragment_v4(
            m,
            mtu,
            || io.alloc(),
            |f| {
                pending[k] = Some(f);
                k += 1;
            },
        );
        match made {
            Ok(n) => {
                bump(&stats.fragmented, 1);
                bump(&stats.fragments_created, n as u64);
                for f in pending.iter_mut().take(k) {
                    if let Some(f) = f.take() {
                        self.send(port, f, stats);
                    }
                }
            }
            Err(_) => stats.count_drop(DropReason::FragmentationFailed),
        }
    }

    /// Sends `port`'s tx buffer; what the queue did not take is dropped.
    fn flush(&mut self, port: usize, stats: &LcoreStats) {
        let t = &mut self.tx[port];
        if t.is_empty() {
            return;
        }
        self.io.tx(port, t);
        for _ in 0..t.clear() {
            stats.count_drop(DropReason::TxQueueFull);
        }
    }

    /// Hands `m` (untagged) to the kernel interface of `port`, whose index
    /// its user tag carries.
    fn kernel(&mut self, mut m: I::Pkt, port: PortId, stats: &LcoreStats) {
        m.set_tag(port.0 as u32);
        match self.io.to_kernel(m) {
            Ok(()) => {}
            // A port has a kernel interface only when the thread runs.
            Err(Refused::Absent) => stats.count_drop(DropReason::LocalUnhandled),
            Err(Refused::Full) => stats.count_drop(DropReason::KernelQueueFull),
        }
    }

    /// An ICMP error from inside whose flow this worker holds no binding
    /// for ([`Verdict::SnatElsewhere`]): on to the next worker, until every
    /// worker has tried. How many have tried travels in the tag, which
    /// means something only on packets that came from a ring.
    fn hand_on(&mut self, mut m: I::Pkt, from_ring: bool, stats: &LcoreStats) {
        let tried = if from_ring { m.tag() } else { 0 }.saturating_add(1);
        let Some(st) = self
            .steering
            .as_ref()
            .filter(|st| tried < st.workers as u32)
        else {
            stats.count_drop(DropReason::SnatUnsupported);
            return;
        };
        let next = (self.me + 1) % st.workers;
        m.set_tag(tried);
        match self.io.steer_one(next, m) {
            Ok(()) => {
                if let Some(c) = &self.nat {
                    bump(&c.handed_on, 1);
                }
            }
            Err(_) => stats.count_drop(DropReason::SnatSteerQueueFull),
        }
    }
}

/// Hands the packets of `rx` that another worker owns ([`Steering`]) to
/// it; the rest stay in `rx`, in order. Returns how many were handed.
fn steer_out<I: Io>(
    io: &mut I,
    st: &Steering,
    me: u16,
    snat: &crate::nat::Snat,
    rx: &mut I::Rx,
    stats: &LcoreStats,
) -> u64 {
    const KEEP: u16 = u16::MAX;
    let mut dest = [KEEP; BURST];
    for (d, m) in dest.iter_mut().zip(rx.pkts().iter()) {
        if let Some(w) = crate::nat::steer(m.data(), snat, st.workers) {
            if w != me {
                *d = w;
            }
        }
    }
    let mut n = rx.len();
    if dest[..n].iter().all(|&d| d == KEEP) {
        return 0;
    }
    let mut steered = 0;
    for w in 0..st.workers {
        if w == me || !dest[..n].contains(&w) {
            continue;
        }
        let mut out = I::Rx::default();
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
        steered += io.steer(w, &mut out) as u64;
        for _ in 0..out.clear() {
            stats.count_drop(DropReason::SnatSteerQueueFull);
        }
    }
    steered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::Fib;
    use crate::forward::IcmpLimiter;
    use crate::frames;
    use crate::testkit::lab::*;
    use crate::testkit::mem::{Frame, MemIo, Queue};
    use crate::types::NexthopId;
    use crate::wire::{ethernet, proto};
    use std::collections::VecDeque;
    use std::sync::atomic::Ordering;

    /// One pass of worker `me` over `io` with `fib`.
    fn pass(fib: &Fib, st: &LcoreStats, p: &mut Poller<MemIo>) -> Polled {
        let mut icmp = IcmpLimiter::new(100);
        let mut ctx = Ctx::new(fib, st, &mut icmp);
        p.poll(&mut ctx)
    }

    /// Passes until one finds nothing; what they moved in all.
    fn until_idle(fib: &Fib, st: &LcoreStats, p: &mut Poller<MemIo>) -> Polled {
        let mut all = Polled::default();
        loop {
            let d = pass(fib, st, p);
            if d == Polled::default() {
                return all;
            }
            all.received += d.received;
            all.handed += d.handed;
        }
    }

    fn poller(io: MemIo) -> Poller<MemIo> {
        Poller::new(io, 0, 3, None, None)
    }

    /// `n` UDP datagrams from the client to the ECMP route, on port 0.
    fn feed(io: &mut MemIo, n: usize) {
        for i in 0..n {
            let dst = ip4(&format!("198.51.100.{}", 1 + i % 200));
            io.rx[0].push_back(Frame::new(0, &udp_from_client(dst)));
        }
    }

    #[test]
    fn forwarded_packets_leave_on_their_nexthops_port_rewritten() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let mut io = MemIo::new(3);
        feed(&mut io, 100);
        let mut p = poller(io);
        // A pass takes one burst (at most 32) from each port.
        assert_eq!(
            pass(&fib, &st, &mut p),
            Polled {
                received: 32,
                handed: 0
            }
        );
        assert_eq!(
            until_idle(&fib, &st, &mut p),
            Polled {
                received: 68,
                handed: 0
            }
        );
        let io = p.io();
        assert_eq!(
            io.sent[1].len() + io.sent[2].len(),
            100,
            "every packet sent"
        );
        assert!(
            !io.sent[1].is_empty() && !io.sent[2].is_empty(),
            "over both members"
        );
        for (port, mac) in [(1, SRV1_MAC), (2, SRV2_MAC)] {
            for f in &io.sent[port] {
                let e = ethernet::Frame::new_checked(f.data()).unwrap();
                assert_eq!(e.dst(), mac);
                assert_eq!(e.src(), fib.ports[port].mac);
                assert_eq!(f.data()[14 + 8], 63, "TTL decremented");
            }
        }
        // 100 packets are 4 bursts in 4 busy passes, and the last pass was idle.
        assert_eq!(st.rx_packets.load(Ordering::Relaxed), 100);
        assert_eq!(st.rx_bursts.load(Ordering::Relaxed), 4);
        assert_eq!(st.polls_busy.load(Ordering::Relaxed), 4);
        assert_eq!(st.polls_idle.load(Ordering::Relaxed), 1);
        let nh = |i: usize| st.nh_packets[i].load(Ordering::Relaxed);
        assert_eq!(nh(0) + nh(1), 100);
    }

    #[test]
    fn packets_over_the_mtu_without_df_leave_as_fragments_or_count_a_drop() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let big = |sp: u16| {
            let mut u = vec![7u8; 2000];
            u[..2].copy_from_slice(&sp.to_be_bytes());
            frames::ipv4(
                CLIENT_MAC,
                LAN_MAC,
                ip4("10.0.0.2"),
                ip4("198.51.100.10"),
                proto::UDP,
                64,
                &u,
            )
        };
        let mut io = MemIo::new(3);
        for sp in 0..40 {
            io.rx[0].push_back(Frame::new(0, &big(sp)));
        }
        let mut p = poller(io);
        until_idle(&fib, &st, &mut p);
        let io = p.io();
        // Port 1 (MTU 1500) and port 2 (MTU 1400) each get 2 fragments a packet.
        let n = io.sent[1].len() + io.sent[2].len();
        assert_eq!(n, 80);
        assert_eq!(st.fragmented.load(Ordering::Relaxed), 40);
        assert_eq!(st.fragments_created.load(Ordering::Relaxed), 80);
        for (port, mtu) in [(1, 1500), (2, 1400)] {
            for f in &io.sent[port] {
                let ip = crate::wire::ipv4::Packet::new_checked(&f.data()[14..]).unwrap();
                assert!(ip.total_len() <= mtu);
                assert_eq!(ip.ttl(), 63);
            }
        }
        // An empty pool: the packet is one counted drop, nothing is sent.
        let mut io = MemIo::new(3);
        io.pool = 0;
        io.rx[0].push_back(Frame::new(0, &big(1)));
        let mut p = poller(io);
        until_idle(&fib, &st, &mut p);
        assert!(p.io().sent.iter().all(|s| s.is_empty()));
        assert_eq!(st.drops_of(DropReason::FragmentationFailed), 1);
    }

    #[test]
    fn a_tx_queue_that_takes_fewer_drops_the_rest_as_tx_queue_full() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let mut io = MemIo::new(3);
        io.tx_room = 5;
        feed(&mut io, 200);
        let mut p = poller(io);
        until_idle(&fib, &st, &mut p);
        let sent = p.io().sent[1].len() + p.io().sent[2].len();
        assert!(sent < 200, "the queue took {sent}");
        assert_eq!(st.drops_of(DropReason::TxQueueFull) as usize, 200 - sent);
    }

    #[test]
    fn multi_segment_frames_are_dropped_and_counted() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let mut io = MemIo::new(3);
        feed(&mut io, 3);
        io.rx[0][1].segments = 2;
        let mut p = poller(io);
        pass(&fib, &st, &mut p);
        assert_eq!(p.io().sent[1].len() + p.io().sent[2].len(), 2);
        assert_eq!(st.drops_of(DropReason::MultiSegment), 1);
    }

    fn arp_request() -> Vec<u8> {
        frames::arp(
            1,
            CLIENT_MAC,
            crate::types::MacAddr::BROADCAST,
            CLIENT_MAC,
            ip4("10.0.0.2"),
            crate::types::MacAddr([0; 6]),
            ip4("10.0.0.1"),
        )
    }

    #[test]
    fn punted_frames_are_copied_to_the_control_thread_or_counted_when_it_is_full() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let mut io = MemIo::new(3);
        io.punted = Queue::new(2);
        for _ in 0..3 {
            io.rx[0].push_back(Frame::new(0, &arp_request()));
        }
        let mut p = poller(io);
        pass(&fib, &st, &mut p);
        let io = p.io();
        assert_eq!(io.punted.items.len(), 2);
        assert_eq!(io.punted.items[0], (PortId(0), arp_request()));
        assert_eq!(st.punted.load(Ordering::Relaxed), 2);
        assert_eq!(st.drops_of(DropReason::PuntQueueFull), 1);
    }

    #[test]
    fn arp_with_a_kernel_interface_goes_to_both_and_a_full_punt_queue_is_no_drop() {
        let (fib, st) = (kernel_fib(), LcoreStats::new(16));
        let mut io = MemIo::new(3);
        io.punted = Queue::new(0);
        io.kernel = Some(Queue::new(8));
        io.rx[0].push_back(Frame::new(0, &arp_request()));
        let mut p = poller(io);
        pass(&fib, &st, &mut p);
        assert_eq!(p.io().kernel.as_ref().unwrap().items.len(), 1);
        assert_eq!(st.drops_of(DropReason::PuntQueueFull), 0);
    }

    /// A TCP SYN from the client to the router's LAN address, port `dport`.
    fn to_router(dport: u16) -> Vec<u8> {
        frames::ipv4(
            CLIENT_MAC,
            LAN_MAC,
            ip4("10.0.0.2"),
            ip4("10.0.0.1"),
            proto::TCP,
            64,
            &frames::tcp_syn(40000, dport),
        )
    }

    #[test]
    fn frames_for_the_kernel_interface_go_there_or_count_why_not() {
        let st = LcoreStats::new(16);
        // A kernel interface in the FIB but no thread: local_unhandled.
        let fib = kernel_fib();
        let mut io = MemIo::new(3);
        io.rx[0].push_back(Frame::new(0, &to_router(22)));
        let mut p = poller(io);
        pass(&fib, &st, &mut p);
        assert_eq!(st.drops_of(DropReason::LocalUnhandled), 1);
        // With the thread: delivered whole, then a full ring counts.
        let mut io = MemIo::new(3);
        io.kernel = Some(Queue::new(1));
        io.rx[0].push_back(Frame::new(0, &to_router(22)));
        io.rx[0].push_back(Frame::new(0, &to_router(23)));
        let mut p = poller(io);
        pass(&fib, &st, &mut p);
        let k = &p.io().kernel.as_ref().unwrap().items;
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].data(), &to_router(22)[..]);
        assert_eq!(st.drops_of(DropReason::KernelQueueFull), 1);
    }

    #[test]
    fn frames_from_the_kernel_leave_on_the_port_of_their_tag() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let mut io = MemIo::new(3);
        for tag in [2, 1, 9] {
            let mut f = Frame::new(u16::MAX, &arp_request());
            f.tag = tag;
            io.from_kernel.push_back(f);
        }
        let mut p = poller(io);
        assert_eq!(
            pass(&fib, &st, &mut p),
            Polled::default(),
            "not received on a port"
        );
        let io = p.io();
        assert_eq!(
            (io.sent[0].len(), io.sent[1].len(), io.sent[2].len()),
            (0, 1, 1)
        );
    }

    #[test]
    fn unresolved_neighbours_are_asked_for_and_the_packet_held_or_counted() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let to = |dst: &str, payload: &[u8]| {
            let f = frames::ipv4(
                SRV1_MAC,
                fib.ports[1].mac,
                ip4("198.51.100.10"),
                ip4(dst),
                proto::UDP,
                64,
                &frames::udp(53, 5353, payload),
            );
            Frame::new(1, &f)
        };
        let mut io = MemIo::new(3);
        io.rx[1].push_back(to("10.0.0.77", &[0; 8]));
        io.rx[1].push_back(to("10.0.0.78", &[0; 600]));
        let mut p = poller(io);
        pass(&fib, &st, &mut p);
        let io = p.io();
        let a77: IpAddr = ip4("10.0.0.77").into();
        let a78: IpAddr = ip4("10.0.0.78").into();
        assert_eq!(io.resolving, vec![(PortId(0), a77), (PortId(0), a78)]);
        assert_eq!(io.held.items.len(), 1, "the long one is not held");
        assert_eq!(
            (io.held.items[0].addr, io.held.items[0].in_port),
            (a77, PortId(1))
        );
        assert_eq!(st.drops_of(DropReason::NeighborUnresolved), 1);
    }

    #[test]
    fn the_control_threads_frames_leave_from_worker_0_only() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let frames_in = |io: &mut MemIo| {
            io.inject.push_back(Some((PortId(2), arp_request())));
            io.inject.push_back(None);
            io.inject.push_back(Some((PortId(7), arp_request())));
        };
        let mut io = MemIo::new(3);
        frames_in(&mut io);
        let mut p = poller(io);
        pass(&fib, &st, &mut p);
        assert_eq!(p.io().sent[2].len(), 1);
        assert_eq!(p.io().sent[2][0].data(), &arp_request()[..]);
        assert_eq!(st.drops_of(DropReason::MbufAllocFailed), 1);
        let mut io = MemIo::new(3);
        frames_in(&mut io);
        let mut p = Poller::new(io, 1, 3, None, None);
        pass(&fib, &st, &mut p);
        assert_eq!(p.io().inject.len(), 3, "worker 1 leaves them");
    }

    #[test]
    fn a_full_tx_buffer_is_flushed_before_it_takes_more() {
        // More packets for one port than its buffer holds (64), in one
        // pass: a burst from the LAN, one from srv2, and the kernel
        // interfaces' frames. Every one leaves, in order.
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        // Only srv1 resolved: the group's one live member.
        fib.neighbors.clear(NexthopId(1));
        let mut io = MemIo::new(3);
        feed(&mut io, BURST);
        for i in 0..BURST {
            let f = frames::ipv4(
                SRV2_MAC,
                fib.ports[2].mac,
                ip4("10.2.0.2"),
                ip4(&format!("198.51.100.{}", 101 + i)),
                proto::UDP,
                64,
                &frames::udp(53, 5353, &[0; 8]),
            );
            io.rx[2].push_back(Frame::new(2, &f));
        }
        for i in 0..10u8 {
            let mut f = Frame::new(
                u16::MAX,
                &udp_from_client(ip4(&format!("198.51.100.{}", 201 + i))),
            );
            f.tag = 1;
            io.from_kernel.push_back(f);
        }
        let mut p = poller(io);
        assert_eq!(pass(&fib, &st, &mut p).received, 2 * BURST);
        let got: Vec<u8> = p.io().sent[1].iter().map(|f| f.data()[14 + 19]).collect();
        let want: Vec<u8> = (1..=BURST as u8)
            .chain(101..101 + BURST as u8)
            .chain(201..211)
            .collect();
        assert_eq!(got, want);
        assert_eq!(st.drops_of(DropReason::TxQueueFull), 0);
    }

    /// Worker 0 of 2 with SNAT on both uplinks (device port ids 10, 11, 12).
    fn steering() -> Steering {
        let mut port_index = vec![u16::MAX; 16];
        port_index[10..13].copy_from_slice(&[0, 1, 2]);
        Steering {
            workers: 2,
            port_index,
        }
    }

    #[test]
    fn replies_for_another_workers_bindings_go_to_it_and_a_full_ring_counts() {
        let mut fib = lab_fib();
        fib.snat = Arc::new(crate::nat::tests::two_uplinks(
            ip4("10.1.0.1"),
            ip4("10.2.0.1"),
            crate::nat::OnDown::Repick,
        ));
        let st = LcoreStats::new(16);
        let reply = |dport: u16| {
            let f = frames::ipv4(
                SRV1_MAC,
                fib.ports[1].mac,
                ip4("198.51.100.9"),
                ip4("10.1.0.1"),
                proto::TCP,
                64,
                &frames::tcp_syn(80, dport),
            );
            Frame::new(11, &f)
        };
        // Ports 1088..1151 belong to worker 1 (blocks of 64, dealt in turn), 1024..1087 to 0.
        assert_eq!(crate::nat::owner(1088, 2), 1);
        assert_eq!(crate::nat::owner(1024, 2), 0);
        let mut io = MemIo::new(3);
        io.steer_to = vec![Queue::new(0), Queue::new(2)];
        for d in [1088, 1024, 1100, 1101] {
            io.rx[1].push_back(reply(d));
        }
        let counters = Arc::new(NatCounters::default());
        let mut p = Poller::new(io, 0, 3, Some(steering()), Some(counters.clone()));
        pass(&fib, &st, &mut p);
        let ring: Vec<u8> = p.io().steer_to[1]
            .items
            .iter()
            .map(|f| f.data()[37])
            .collect();
        assert_eq!(
            ring,
            vec![(1088 & 0xff) as u8, (1100 & 0xff) as u8],
            "in order"
        );
        assert_eq!(counters.steered.load(Ordering::Relaxed), 2);
        assert_eq!(
            st.drops_of(DropReason::SnatSteerQueueFull),
            1,
            "the ring held 2"
        );
        assert_eq!(
            st.rx_packets.load(Ordering::Relaxed),
            4,
            "the receiver counts them"
        );
    }

    #[test]
    fn what_other_workers_hand_over_runs_as_if_received_on_its_own_port() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let mut io = MemIo::new(3);
        io.steer_from = vec![VecDeque::new()];
        // From the LAN (device port 10: config port 0), to the ECMP route.
        for i in 0..5u8 {
            let f = udp_from_client(ip4(&format!("198.51.100.{}", 1 + i)));
            io.steer_from[0].push_back(Frame::new(10, &f));
        }
        // From srv1 (device port 11) to the client.
        let back = frames::ipv4(
            SRV1_MAC,
            fib.ports[1].mac,
            ip4("198.51.100.9"),
            ip4("10.0.0.2"),
            proto::UDP,
            64,
            &frames::udp(53, 5353, &[0; 8]),
        );
        io.steer_from[0].push_back(Frame::new(11, &back));
        let mut p = Poller::new(io, 0, 3, Some(steering()), None);
        assert_eq!(
            pass(&fib, &st, &mut p),
            Polled {
                received: 0,
                handed: 6
            }
        );
        let io = p.io();
        assert_eq!(io.sent[1].len() + io.sent[2].len(), 5);
        assert_eq!(io.sent[0].len(), 1, "the reply, to the client");
        assert_eq!(
            st.rx_packets.load(Ordering::Relaxed),
            0,
            "counted by the receiver"
        );
        assert_eq!(st.polls_busy.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_trunks_tagged_frames_handed_over_run_as_their_sub_interfaces() {
        // srv1 (config port 1, device port id 11) is a trunk with VLAN 100:
        // interface 3. Another worker received these on it and handed them
        // on (SNAT replies), tags and all.
        let (mut fib, st) = (lab_fib(), LcoreStats::new(16));
        let mut ports = fib.ports.to_vec();
        ports.push(crate::fib::PortInfo {
            parent: PortId(1),
            vlan: 100,
            v4: Some(ip4("10.100.0.1")),
            ..ports[1]
        });
        fib.ports = ports.into();
        fib.vlans = Arc::new(crate::vlan::VlanMap::new([(PortId(1), 100, PortId(3))]));
        let to_client = |vid: u16| {
            let f = frames::ipv4(
                SRV1_MAC,
                fib.ports[1].mac,
                ip4("198.51.100.9"),
                ip4("10.0.0.2"),
                proto::UDP,
                64,
                &frames::udp(53, 5353, &[0; 8]),
            );
            let mut t = f[..12].to_vec();
            t.extend_from_slice(&[0x81, 0x00, (vid >> 8) as u8, vid as u8]);
            t.extend_from_slice(&f[12..]);
            Frame::new(11, &t)
        };
        let mut io = MemIo::new(3);
        io.steer_from = vec![VecDeque::new()];
        io.steer_from[0].push_back(to_client(100));
        io.steer_from[0].push_back(to_client(300));
        let mut p = Poller::new(io, 0, 3, Some(steering()), None);
        assert_eq!(
            pass(&fib, &st, &mut p),
            Polled {
                received: 0,
                handed: 2
            }
        );
        let io = p.io();
        assert_eq!(io.sent[0].len(), 1, "VLAN 100's frame, to the client");
        assert_eq!(
            &io.sent[0][0].data()[12..14],
            &[0x08, 0x00],
            "untagged on the LAN"
        );
        assert_eq!(
            st.drops_of(DropReason::UnknownVlan),
            1,
            "VID 300 is no sub-interface"
        );
    }

    #[test]
    fn replies_leave_on_the_port_the_packet_came_in_on() {
        let (fib, st) = (lab_fib(), LcoreStats::new(16));
        let mut io = MemIo::new(3);
        // TTL 1 from srv1's side: time exceeded, back to srv1.
        let f = frames::ipv4(
            SRV1_MAC,
            fib.ports[1].mac,
            ip4("198.51.100.9"),
            ip4("10.0.0.2"),
            proto::UDP,
            1,
            &frames::udp(53, 5353, &[0; 8]),
        );
        io.rx[1].push_back(Frame::new(1, &f));
        let mut p = poller(io);
        pass(&fib, &st, &mut p);
        let io = p.io();
        assert_eq!((io.sent[0].len(), io.sent[1].len()), (0, 1));
        assert_eq!(io.sent[1][0].data()[14 + 9], proto::ICMP);
        assert_eq!(
            ethernet::Frame::new_checked(io.sent[1][0].data())
                .unwrap()
                .dst(),
            SRV1_MAC
        );
    }
}
